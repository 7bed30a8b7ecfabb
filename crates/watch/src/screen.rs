//! The live screen: the [`report`](crate::render::report) of the latest sample, redrawn every interval,
//! until `q`, Esc or Ctrl-C.

use std::io;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event, KeyCode, KeyModifiers};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Text};
use ratatui::widgets::Paragraph;

use crate::render::{Emphasis, report};
use crate::{Sample, Sampler, WatchError};

/// Why the live screen stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ScreenError {
    /// Sampling failed.
    #[error(transparent)]
    Watch(#[from] WatchError),
    /// The terminal could not be driven.
    #[error("terminal: {0}")]
    Terminal(#[from] io::Error),
}

/// Puts the terminal back however the screen ends (error or panic included).
struct RestoreOnDrop;

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Sample every `interval` and redraw, at most `limit` samples (forever when `None`).
pub fn run_screen(sampler: &mut Sampler, interval: Duration, limit: Option<u64>) -> Result<(), ScreenError> {
    let mut terminal = ratatui::try_init()?;
    let _restore = RestoreOnDrop;
    let mut taken = 0u64;
    loop {
        let sample = sampler.sample()?;
        taken += 1;
        terminal.draw(|frame| frame.render_widget(Paragraph::new(text(&sample)), frame.area()))?;
        if limit.is_some_and(|l| taken >= l) {
            return Ok(());
        }
        let next = Instant::now() + interval;
        while let Some(left) = next.checked_duration_since(Instant::now()) {
            if event::poll(left)?
                && let Event::Key(key) = event::read()?
            {
                let ctrl_c = key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL);
                if ctrl_c || matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) {
                    return Ok(());
                }
            }
        }
    }
}

fn text(sample: &Sample) -> Text<'static> {
    let mut lines = vec![Line::styled(
        "c1m watch   (q to quit)",
        Style::new().add_modifier(Modifier::DIM),
    )];
    lines.extend(report(sample).into_iter().map(|l| {
        let style = match l.emphasis {
            Emphasis::Heading => Style::new().add_modifier(Modifier::BOLD),
            Emphasis::Plain => Style::new(),
            Emphasis::Alert => Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        };
        Line::styled(l.text, style)
    }));
    Text::from(lines)
}
