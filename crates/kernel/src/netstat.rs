use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::quote;
use crate::file::read_optional;
use crate::{ParseError, ProcRoot, ReadError};

/// The counters of `/proc/net/netstat` (`TcpExt`, `IpExt`, ...) and `/proc/net/snmp` (`Tcp`, `Ip`, ...), keyed
/// `Group.Name` (for example `TcpExt.ListenOverflows`, `Tcp.CurrEstab`).
///
/// Negative values (only `Tcp.MaxConn`, which prints -1 for "no limit") are left out: every counter kept is a
/// count that only grows or a gauge that cannot go below zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NetCounters {
    values: BTreeMap<String, u64>,
}

macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident => $key:literal;)*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self) -> Option<u64> {
                self.get($key)
            }
        )*
    };
}

impl NetCounters {
    /// Parse one file of paired `Group: Name Name ...` / `Group: value value ...` lines and add its counters.
    pub fn parse_into(&mut self, text: &str) -> Result<(), ParseError> {
        let mut lines = text.lines().enumerate();
        while let Some((i, header)) = lines.next() {
            if header.trim().is_empty() {
                continue;
            }
            let (group, names) = header.split_once(':').ok_or_else(|| {
                ParseError::new(i + 1, format!("expected 'Group: names', found {}", quote(header)))
            })?;
            let (j, values_line) = lines
                .next()
                .ok_or_else(|| ParseError::new(i + 1, format!("{group} header has no value line")))?;
            let values = values_line
                .strip_prefix(group)
                .and_then(|v| v.strip_prefix(':'))
                .ok_or_else(|| ParseError::new(j + 1, format!("expected the {group} value line")))?;
            let (names, values): (Vec<&str>, Vec<&str>) = (
                names.split_whitespace().collect(),
                values.split_whitespace().collect(),
            );
            if names.len() != values.len() {
                return Err(ParseError::new(
                    j + 1,
                    format!("{group} has {} names but {} values", names.len(), values.len()),
                ));
            }
            for (name, value) in names.into_iter().zip(values) {
                if value.starts_with('-') {
                    continue;
                }
                let v = value.parse().map_err(|_| {
                    ParseError::new(
                        j + 1,
                        format!("expected a number for {group}.{name}, found {}", quote(value)),
                    )
                })?;
                self.values.insert(format!("{group}.{name}"), v);
            }
        }
        Ok(())
    }

    /// Parse a single file's text.
    pub fn parse(text: &str) -> Result<NetCounters, ParseError> {
        let mut c = NetCounters::default();
        c.parse_into(text)?;
        Ok(c)
    }

    /// Read `proc/net/netstat` and `proc/net/snmp` under `root`; `None` when neither exists.
    pub fn read(root: &ProcRoot) -> Result<Option<NetCounters>, ReadError> {
        let mut c = NetCounters::default();
        let mut found = false;
        for rel in ["proc/net/netstat", "proc/net/snmp"] {
            if let Some(text) = read_optional(root, rel)? {
                c.parse_into(&text).map_err(|source| ReadError::Parse {
                    path: root.path(rel),
                    source,
                })?;
                found = true;
            }
        }
        Ok(found.then_some(c))
    }

    /// A counter by `Group.Name`; `None` when this kernel does not have it.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.values.get(key).copied()
    }

    /// Every counter, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.values.iter().map(|(k, v)| (k.as_str(), *v))
    }

    getters! {
        /// Accept queue full: a completed handshake was dropped (`TcpExt.ListenOverflows`).
        listen_overflows => "TcpExt.ListenOverflows";
        /// Any drop at a listener, overflows included (`TcpExt.ListenDrops`).
        listen_drops => "TcpExt.ListenDrops";
        /// TIME_WAIT sockets not created because `tcp_max_tw_buckets` was reached.
        time_wait_overflow => "TcpExt.TCPTimeWaitOverflow";
        /// Sockets entering TIME_WAIT (`TcpExt.TW`).
        time_wait => "TcpExt.TW";
        /// connect() reusing a TIME_WAIT 4-tuple (`TcpExt.TWRecycled`).
        time_wait_recycled => "TcpExt.TWRecycled";
        /// Connections aborted for lack of memory (`tcp_mem` or orphans).
        abort_on_memory => "TcpExt.TCPAbortOnMemory";
        /// Times TCP entered memory pressure (`tcp_mem[1]` crossed).
        memory_pressures => "TcpExt.TCPMemoryPressures";
        /// SYN queue full, cookie sent instead.
        req_queue_full_do_cookies => "TcpExt.TCPReqQFullDoCookies";
        /// SYN queue full, request dropped.
        req_queue_full_drop => "TcpExt.TCPReqQFullDrop";
        /// SYN cookies sent.
        syncookies_sent => "TcpExt.SyncookiesSent";
        /// Connections aborted after retransmission timeouts.
        abort_on_timeout => "TcpExt.TCPAbortOnTimeout";
        /// Connections currently ESTABLISHED or CLOSE_WAIT (`Tcp.CurrEstab`).
        curr_estab => "Tcp.CurrEstab";
        /// connect() calls that sent a SYN (`Tcp.ActiveOpens`).
        active_opens => "Tcp.ActiveOpens";
        /// Connections accepted from SYN_RECV (`Tcp.PassiveOpens`).
        passive_opens => "Tcp.PassiveOpens";
        /// Failed connection attempts (`Tcp.AttemptFails`).
        attempt_fails => "Tcp.AttemptFails";
        /// Resets received in ESTABLISHED or CLOSE_WAIT (`Tcp.EstabResets`).
        estab_resets => "Tcp.EstabResets";
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_of_lines() {
        let netstat = "TcpExt: SyncookiesSent ListenOverflows ListenDrops TW\nTcpExt: 1 2 3 4\nIpExt: InOctets\nIpExt: 99\n";
        let snmp = "Tcp: RtoAlgorithm MaxConn ActiveOpens CurrEstab\nTcp: 1 -1 10 5\n";
        let mut c = NetCounters::parse(netstat).unwrap();
        c.parse_into(snmp).unwrap();
        assert_eq!(c.listen_overflows(), Some(2));
        assert_eq!(c.listen_drops(), Some(3));
        assert_eq!(c.syncookies_sent(), Some(1));
        assert_eq!(c.time_wait(), Some(4));
        assert_eq!(c.get("IpExt.InOctets"), Some(99));
        assert_eq!(c.curr_estab(), Some(5));
        assert_eq!(c.active_opens(), Some(10));
        assert_eq!(c.get("Tcp.MaxConn"), None, "negative sentinel is left out");
        assert_eq!(c.time_wait_overflow(), None);
    }

    #[test]
    fn malformed() {
        assert!(NetCounters::parse("TcpExt: A B\nTcpExt: 1\n").is_err());
        assert!(NetCounters::parse("TcpExt: A\n").is_err());
        assert!(NetCounters::parse("TcpExt: A\nIpExt: 1\n").is_err());
        assert!(NetCounters::parse("TcpExt: A\nTcpExt: x\n").is_err());
    }
}
