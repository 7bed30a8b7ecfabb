use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Which end of a connection a [`PortFilter`] looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PortSide {
    /// The socket's own port (`ss sport`).
    Local,
    /// The peer's port (`ss dport`).
    Remote,
    /// Either end: a server's accepted sockets and a client's connected ones for the same service port.
    Either,
}

/// Keep only sockets with this port at this end; several filters are OR-ed. Evaluated in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PortFilter {
    /// Which end to compare.
    pub side: PortSide,
    /// The port number.
    pub port: u16,
}

impl FromStr for PortFilter {
    type Err = String;

    /// `7000` (either end), `local=7000` or `remote=7000`.
    fn from_str(s: &str) -> Result<Self, String> {
        let (side, num) = match s.split_once('=') {
            None => (PortSide::Either, s),
            Some(("local", n)) => (PortSide::Local, n),
            Some(("remote", n)) => (PortSide::Remote, n),
            Some(_) => return Err(bad_port(s)),
        };
        match num.parse::<u16>() {
            Ok(port) if port > 0 => Ok(PortFilter { side, port }),
            _ => Err(bad_port(s)),
        }
    }
}

fn bad_port(s: &str) -> String {
    format!("invalid port filter '{s}': expected a port 1-65535, optionally as local=PORT or remote=PORT")
}

impl fmt::Display for PortFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.side {
            PortSide::Local => write!(f, "local={}", self.port),
            PortSide::Remote => write!(f, "remote={}", self.port),
            PortSide::Either => write!(f, "{}", self.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sides() {
        assert_eq!(
            "7000".parse(),
            Ok(PortFilter {
                side: PortSide::Either,
                port: 7000
            })
        );
        assert_eq!(
            "local=80".parse(),
            Ok(PortFilter {
                side: PortSide::Local,
                port: 80
            })
        );
        assert_eq!(
            "remote=443".parse(),
            Ok(PortFilter {
                side: PortSide::Remote,
                port: 443
            })
        );
        for bad in ["", "0", "65536", "x", "peer=80", "local=", "-1"] {
            assert!(bad.parse::<PortFilter>().is_err(), "{bad} should be refused");
        }
        assert_eq!("local=80".parse::<PortFilter>().unwrap().to_string(), "local=80");
    }
}
