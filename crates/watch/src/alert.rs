use std::fmt;

use c1m_kernel::Limit;
use serde::Serialize;

/// A level counts as close to its limit from this fraction on.
pub const NEAR_LIMIT: f64 = 0.9;

/// A limit that is close to being hit, or a trouble counter that rose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The limit in the way, in doctor's vocabulary (`None` for a rising counter no single limit explains).
    pub limit: Option<Limit>,
    /// What was seen, e.g. `file handles 2300000 of 2466174 (93%)` or `TcpExt.ListenOverflows +120`.
    pub what: String,
}

impl Alert {
    /// An alert when `current` is at least [`NEAR_LIMIT`] of `max`.
    pub fn near(limit: Limit, what: &str, current: u64, max: u64) -> Option<Alert> {
        (max > 0 && current as f64 >= NEAR_LIMIT * max as f64).then(|| Alert {
            limit: Some(limit),
            what: format!(
                "{what} {current} of {max} ({:.0}%)",
                100.0 * current as f64 / max as f64
            ),
        })
    }
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.limit {
            Some(limit) => write!(f, "{}: {} [{}]", limit.title(), self.what, limit.key()),
            None => f.write_str(&self.what),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_means_ninety_percent() {
        assert_eq!(Alert::near(Limit::FileMax, "file handles", 89, 100), None);
        let a = Alert::near(Limit::FileMax, "file handles", 90, 100).unwrap();
        assert_eq!(
            a.to_string(),
            "fs.file-max: file handles 90 of 100 (90%) [file_max]"
        );
        assert_eq!(Alert::near(Limit::FileMax, "x", 5, 0), None);
    }
}
