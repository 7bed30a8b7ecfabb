use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which side of the connections this machine plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Accepts connections.
    Server,
    /// Opens connections (the load generator).
    Client,
    /// Both on one machine, as in a loopback benchmark: every socket, fd and byte counts twice.
    Both,
}

impl Role {
    /// Whether this role accepts connections.
    pub fn serves(self) -> bool {
        matches!(self, Role::Server | Role::Both)
    }

    /// Whether this role opens connections.
    pub fn connects(self) -> bool {
        matches!(self, Role::Client | Role::Both)
    }

    /// Sockets per connection on this machine: 2 when both ends are local.
    pub fn sockets_per_connection(self) -> u64 {
        if self == Role::Both { 2 } else { 1 }
    }

    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
            Role::Both => "both",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "server" => Ok(Role::Server),
            "client" => Ok(Role::Client),
            "both" => Ok(Role::Both),
            _ => Err(format!("invalid role '{s}': expected server, client or both")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_count() {
        assert_eq!("both".parse::<Role>(), Ok(Role::Both));
        assert!(
            "proxy"
                .parse::<Role>()
                .unwrap_err()
                .contains("server, client or both")
        );
        assert_eq!(Role::Both.sockets_per_connection(), 2);
        assert!(Role::Server.serves() && !Role::Server.connects());
        assert!(Role::Client.connects() && !Role::Client.serves());
    }
}
