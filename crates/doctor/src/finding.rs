use std::fmt;

use c1m_kernel::Limit;
use serde::{Deserialize, Serialize};

/// How a limit stands against the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nothing to do.
    Ok,
    /// Worth knowing; not in the way (does not affect the exit code).
    Info,
    /// Will get in the way under some load, or needs a particular way of running.
    Warn,
    /// Will stop the target.
    Fail,
}

impl Status {
    /// The lowercase word printed in tables and JSON.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// A sysctl value that would lift a limit: what `tune` writes and the fix line prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    /// Dotted sysctl key.
    pub key: String,
    /// The value to write, as `sysctl -w` takes it.
    pub value: String,
}

impl Setting {
    /// A setting of `key` to `value`.
    pub fn new(key: &str, value: impl fmt::Display) -> Setting {
        Setting {
            key: key.to_string(),
            value: value.to_string(),
        }
    }

    /// The command that applies it live.
    pub fn command(&self) -> String {
        if self.value.contains(char::is_whitespace) {
            format!("sysctl -w {}=\"{}\"", self.key, self.value)
        } else {
            format!("sysctl -w {}={}", self.key, self.value)
        }
    }
}

/// One limit judged for a role and a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Which limit (its stable key in JSON).
    pub limit: Limit,
    /// Human name.
    pub title: String,
    /// The sysctl that governs it, if any.
    pub sysctl: Option<String>,
    /// ok / info / warn / fail.
    pub status: Status,
    /// The value in force now, as read.
    pub current: String,
    /// What the target needs.
    pub needed: String,
    /// One line on why it matters.
    pub why: String,
    /// The exact command or file line that fixes it (`None` when nothing needs doing).
    pub fix: Option<String>,
    /// What the user sees if it is ignored: errno, counter or kernel log line.
    pub symptom: String,
    /// The sysctl value `c1m tune` would write (`None` when tune leaves this limit alone).
    pub set: Option<Setting>,
}
