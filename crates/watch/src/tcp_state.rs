use std::fmt;
use std::ops::AddAssign;

use serde::Serialize;

/// A TCP state as sock_diag reports it (the kernel's `TCP_*` numbering in `include/net/tcp_states.h`).
///
/// Request sockets (`TCP_NEW_SYN_RECV` inside the kernel) are reported as [`TcpState::SynRecv`], and
/// TIME_WAIT minisockets as their substate ([`TcpState::TimeWait`] or, for orphans, [`TcpState::FinWait2`]),
/// exactly as `ss` shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TcpState {
    /// `TCP_ESTABLISHED` (1).
    Established,
    /// `TCP_SYN_SENT` (2).
    SynSent,
    /// `TCP_SYN_RECV` (3).
    SynRecv,
    /// `TCP_FIN_WAIT1` (4).
    FinWait1,
    /// `TCP_FIN_WAIT2` (5).
    FinWait2,
    /// `TCP_TIME_WAIT` (6).
    TimeWait,
    /// `TCP_CLOSE` (7).
    Close,
    /// `TCP_CLOSE_WAIT` (8).
    CloseWait,
    /// `TCP_LAST_ACK` (9).
    LastAck,
    /// `TCP_LISTEN` (10).
    Listen,
    /// `TCP_CLOSING` (11).
    Closing,
}

impl TcpState {
    /// Every state, in kernel order.
    pub const ALL: [TcpState; 11] = [
        TcpState::Established,
        TcpState::SynSent,
        TcpState::SynRecv,
        TcpState::FinWait1,
        TcpState::FinWait2,
        TcpState::TimeWait,
        TcpState::Close,
        TcpState::CloseWait,
        TcpState::LastAck,
        TcpState::Listen,
        TcpState::Closing,
    ];

    /// The kernel's number for this state.
    pub fn number(self) -> u8 {
        self as u8 + 1
    }

    /// The state with kernel number `n`, if it is one sock_diag reports.
    pub fn from_number(n: u8) -> Option<TcpState> {
        Self::ALL.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// The name `ss` prints (`ESTAB`, `TIME-WAIT`, ...).
    pub fn ss_name(self) -> &'static str {
        match self {
            TcpState::Established => "ESTAB",
            TcpState::SynSent => "SYN-SENT",
            TcpState::SynRecv => "SYN-RECV",
            TcpState::FinWait1 => "FIN-WAIT-1",
            TcpState::FinWait2 => "FIN-WAIT-2",
            TcpState::TimeWait => "TIME-WAIT",
            TcpState::Close => "UNCONN",
            TcpState::CloseWait => "CLOSE-WAIT",
            TcpState::LastAck => "LAST-ACK",
            TcpState::Listen => "LISTEN",
            TcpState::Closing => "CLOSING",
        }
    }

    /// The state named by `ss_name` (as printed by `ss -tan`).
    pub fn from_ss_name(name: &str) -> Option<TcpState> {
        Self::ALL.into_iter().find(|s| s.ss_name() == name)
    }
}

impl fmt::Display for TcpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.ss_name())
    }
}

/// How many sockets are in each TCP state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts([u64; 11]);

impl StateCounts {
    /// Count one socket whose kernel state number is `state`; unknown numbers are ignored.
    #[inline]
    pub fn add_number(&mut self, state: u8) {
        if let Some(slot) = usize::from(state).checked_sub(1).and_then(|i| self.0.get_mut(i)) {
            *slot += 1;
        }
    }

    /// Count `n` sockets in `state`.
    pub fn add(&mut self, state: TcpState, n: u64) {
        self.0[usize::from(state.number() - 1)] += n;
    }

    /// Sockets in `state`.
    pub fn get(&self, state: TcpState) -> u64 {
        self.0[usize::from(state.number() - 1)]
    }

    /// Sockets in every state.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(state, count)` for every state, in kernel order.
    pub fn iter(&self) -> impl Iterator<Item = (TcpState, u64)> + '_ {
        TcpState::ALL.into_iter().map(|s| (s, self.get(s)))
    }
}

impl AddAssign for StateCounts {
    fn add_assign(&mut self, rhs: Self) {
        for (a, b) in self.0.iter_mut().zip(rhs.0) {
            *a += b;
        }
    }
}

impl Serialize for StateCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (state, n) in self.iter() {
            map.serialize_entry(&state, &n)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip() {
        for s in TcpState::ALL {
            assert_eq!(TcpState::from_number(s.number()), Some(s));
            assert_eq!(TcpState::from_ss_name(s.ss_name()), Some(s));
        }
        assert_eq!(TcpState::Listen.number(), 10);
        assert_eq!(TcpState::from_number(0), None);
        assert_eq!(TcpState::from_number(12), None);
    }

    #[test]
    fn counts_add_and_serialize() {
        let mut c = StateCounts::default();
        c.add_number(1);
        c.add_number(1);
        c.add_number(6);
        c.add_number(0);
        c.add_number(200);
        assert_eq!(c.get(TcpState::Established), 2);
        assert_eq!(c.get(TcpState::TimeWait), 1);
        assert_eq!(c.total(), 3);
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(json["ESTABLISHED"], 2);
        assert_eq!(json["TIME_WAIT"], 1);
        assert_eq!(json["CLOSE_WAIT"], 0);
    }
}
