use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the server does with an accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Keep the connection open; read and drop anything sent; close on EOF or reset.
    Hold,
    /// Write back everything read; unsent bytes are buffered up to the pending cap.
    Echo,
    /// Accept and close at once (the article's accept-and-close program).
    Close,
    /// Read and count bytes, like a sink; the connection stays open until the peer closes.
    Discard,
}

impl Mode {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Hold => "hold",
            Mode::Echo => "echo",
            Mode::Close => "close",
            Mode::Discard => "discard",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        [Mode::Hold, Mode::Echo, Mode::Close, Mode::Discard]
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("invalid mode '{s}': expected hold, echo, close or discard"))
    }
}

/// Everything one worker process needs; the supervisor hands it to each worker as JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// Addresses to listen on (each event-loop thread binds every one with SO_REUSEPORT).
    pub listen: Vec<SocketAddr>,
    /// What to do with connections.
    pub mode: Mode,
    /// Event-loop threads per worker process.
    pub threads: usize,
    /// The backlog passed to listen(2); the kernel caps it at net.core.somaxconn.
    pub backlog: u32,
    /// Echo mode: a connection whose unsent bytes would exceed this is closed.
    pub max_pending_bytes: usize,
    /// Close connections with no traffic for this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// How often a worker reports its counters.
    pub report_interval: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip() {
        for m in ["hold", "echo", "close", "discard"] {
            assert_eq!(m.parse::<Mode>().unwrap().name(), m);
        }
        assert!("sink".parse::<Mode>().unwrap_err().contains("'sink'"));
    }
}
