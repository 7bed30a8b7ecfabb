use serde::{Deserialize, Serialize};

use crate::file::{number, read_parsed};
use crate::{ParseError, ProcRoot, ReadError};

/// `/proc/net/sockstat`: socket totals, O(1) to read at any scale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockStat {
    /// `sockets: used`: every socket on the system.
    pub sockets_used: u64,
    /// `TCP: inuse`: hashed TCP sockets (established + listening) in this network namespace.
    pub tcp_inuse: u64,
    /// `TCP: orphan`: sockets no longer attached to a file (global).
    pub tcp_orphan: u64,
    /// `TCP: tw`: TIME_WAIT (and FIN_WAIT2-substate) minisockets in this namespace.
    pub tcp_tw: u64,
    /// `TCP: alloc`: all TCP sockets allocated (global).
    pub tcp_alloc: u64,
    /// `TCP: mem`: pages charged to `tcp_mem` (buffer memory, not slab).
    pub tcp_mem_pages: u64,
    /// `UDP: inuse`.
    pub udp_inuse: u64,
}

impl SockStat {
    /// Parse the text of `/proc/net/sockstat`.
    pub fn parse(text: &str) -> Result<SockStat, ParseError> {
        let mut s = SockStat::default();
        let mut saw_tcp = false;
        for_each_field(text, |proto, key, value| match (proto, key) {
            ("sockets", "used") => s.sockets_used = value,
            ("TCP", "inuse") => {
                s.tcp_inuse = value;
                saw_tcp = true;
            }
            ("TCP", "orphan") => s.tcp_orphan = value,
            ("TCP", "tw") => s.tcp_tw = value,
            ("TCP", "alloc") => s.tcp_alloc = value,
            ("TCP", "mem") => s.tcp_mem_pages = value,
            ("UDP", "inuse") => s.udp_inuse = value,
            _ => {}
        })?;
        if !saw_tcp {
            return Err(ParseError::new(
                0,
                "no 'TCP: inuse' field: not a /proc/net/sockstat file",
            ));
        }
        Ok(s)
    }

    /// Read `proc/net/sockstat` under `root`.
    pub fn read(root: &ProcRoot) -> Result<Option<SockStat>, ReadError> {
        read_parsed(root, "proc/net/sockstat", SockStat::parse)
    }
}

/// `/proc/net/sockstat6`: IPv6 socket totals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SockStat6 {
    /// `TCP6: inuse`.
    pub tcp6_inuse: u64,
    /// `UDP6: inuse`.
    pub udp6_inuse: u64,
}

impl SockStat6 {
    /// Parse the text of `/proc/net/sockstat6`.
    pub fn parse(text: &str) -> Result<SockStat6, ParseError> {
        let mut s = SockStat6::default();
        let mut saw_tcp = false;
        for_each_field(text, |proto, key, value| match (proto, key) {
            ("TCP6", "inuse") => {
                s.tcp6_inuse = value;
                saw_tcp = true;
            }
            ("UDP6", "inuse") => s.udp6_inuse = value,
            _ => {}
        })?;
        if !saw_tcp {
            return Err(ParseError::new(
                0,
                "no 'TCP6: inuse' field: not a /proc/net/sockstat6 file",
            ));
        }
        Ok(s)
    }

    /// Read `proc/net/sockstat6` under `root` (absent without IPv6).
    pub fn read(root: &ProcRoot) -> Result<Option<SockStat6>, ReadError> {
        read_parsed(root, "proc/net/sockstat6", SockStat6::parse)
    }
}

/// Walk `PROTO: key value key value ...` lines without allocating.
fn for_each_field(text: &str, mut f: impl FnMut(&str, &str, u64)) -> Result<(), ParseError> {
    for (i, line) in text.lines().enumerate() {
        let Some((proto, rest)) = line.split_once(':') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        while let Some(key) = fields.next() {
            let value = fields
                .next()
                .ok_or_else(|| ParseError::new(i + 1, format!("{proto} {key} has no value")))?;
            f(proto, key, number(value, key, i + 1)?);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockstat() {
        let text = "sockets: used 15\nTCP: inuse 1 orphan 2 tw 3 alloc 4 mem 109\nUDP: inuse 5 mem 0\nUDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n";
        let s = SockStat::parse(text).unwrap();
        assert_eq!(
            s,
            SockStat {
                sockets_used: 15,
                tcp_inuse: 1,
                tcp_orphan: 2,
                tcp_tw: 3,
                tcp_alloc: 4,
                tcp_mem_pages: 109,
                udp_inuse: 5
            }
        );
        assert!(SockStat::parse("sockets: used 1\n").is_err());
        assert!(SockStat::parse("TCP: inuse x\n").is_err());
        assert!(SockStat::parse("TCP: inuse\n").is_err());
    }

    #[test]
    fn sockstat6() {
        let s = SockStat6::parse(
            "TCP6: inuse 7\nUDP6: inuse 1\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n",
        )
        .unwrap();
        assert_eq!(
            s,
            SockStat6 {
                tcp6_inuse: 7,
                udp6_inuse: 1
            }
        );
        assert!(SockStat6::parse("").is_err());
    }
}
