use serde::{Deserialize, Serialize};

use crate::ParseError;
use crate::error::quote;
use crate::file::number;

/// `net.ipv4.ip_local_port_range`: the ports connect() picks from, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    /// First port.
    pub low: u16,
    /// Last port (inclusive).
    pub high: u16,
}

impl PortRange {
    /// The kernel default since 4.2.
    pub const DEFAULT: PortRange = PortRange {
        low: 32768,
        high: 60999,
    };

    /// Parse `"32768\t60999"`.
    pub fn parse(text: &str) -> Result<PortRange, ParseError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [low, high] = fields[..] else {
            return Err(ParseError::new(
                1,
                format!("expected two ports, found {}", quote(text)),
            ));
        };
        let port = |f: &str, what: &str| {
            u16::try_from(number(f, what, 1)?)
                .map_err(|_| ParseError::new(1, format!("{what} {f} is above 65535")))
        };
        Ok(PortRange {
            low: port(low, "the low port")?,
            high: port(high, "the high port")?,
        })
    }

    /// How many ports the range holds.
    pub fn len(self) -> u64 {
        u64::from(self.high.saturating_sub(self.low)) + u64::from(self.high >= self.low)
    }

    /// Whether the range is empty (high below low).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// `net.ipv4.ip_local_reserved_ports`: ports autobind skips, such as `3306,8080,30000-32767`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservedPorts {
    /// Inclusive ranges (a single port is a range of one).
    pub ranges: Vec<PortRange>,
}

impl ReservedPorts {
    /// Parse the comma-separated list (empty means none).
    pub fn parse(text: &str) -> Result<ReservedPorts, ParseError> {
        let mut ranges = Vec::new();
        for item in text.trim().split(',').filter(|s| !s.is_empty()) {
            let (low, high) = item.split_once('-').unwrap_or((item, item));
            let range = PortRange::parse(&format!("{low} {high}")).map_err(|_| {
                ParseError::new(
                    1,
                    format!("expected a port or a port range, found {}", quote(item)),
                )
            })?;
            ranges.push(range);
        }
        Ok(ReservedPorts { ranges })
    }

    /// How many ports of `range` are reserved.
    pub fn overlap(&self, range: PortRange) -> u64 {
        self.ranges
            .iter()
            .map(|r| {
                PortRange {
                    low: r.low.max(range.low),
                    high: r.high.min(range.high),
                }
                .len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_range() {
        let r = PortRange::parse("32768\t60999\n").unwrap();
        assert_eq!(r, PortRange::DEFAULT);
        assert_eq!(r.len(), 28232);
        assert_eq!(PortRange::parse("1024 65535").unwrap().len(), 64512);
        assert!(PortRange::parse("1024").is_err());
        assert!(PortRange::parse("1024 70000").is_err());
        assert!(PortRange { low: 10, high: 9 }.is_empty());
    }

    #[test]
    fn reserved() {
        let r = ReservedPorts::parse("3306,8080,30000-32767,40000-40009\n").unwrap();
        assert_eq!(r.ranges.len(), 4);
        assert_eq!(r.overlap(PortRange::DEFAULT), 10);
        assert_eq!(ReservedPorts::parse("\n").unwrap().ranges.len(), 0);
        assert!(ReservedPorts::parse("30000-x").is_err());
    }
}
