use serde::{Deserialize, Serialize};

use crate::ParseError;
use crate::file::number;

/// One resource limit; `None` means unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// The soft limit, the one the kernel enforces.
    pub soft: Option<u64>,
    /// The hard limit, the ceiling an unprivileged process can raise its soft limit to.
    pub hard: Option<u64>,
}

/// The limits of `/proc/PID/limits` that matter for holding connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcLimits {
    /// RLIMIT_NOFILE ("Max open files").
    pub nofile: Rlimit,
    /// RLIMIT_NPROC ("Max processes"), which bounds worker processes per user.
    pub nproc: Option<Rlimit>,
}

impl ProcLimits {
    /// Parse `/proc/PID/limits` (a header, then `Name  Soft  Hard  Units` rows with multi-word names).
    pub fn parse(text: &str) -> Result<ProcLimits, ParseError> {
        let mut nofile = None;
        let mut nproc = None;
        for (i, line) in text.lines().enumerate() {
            let (row, rest) = if let Some(rest) = line.strip_prefix("Max open files") {
                (&mut nofile, rest)
            } else if let Some(rest) = line.strip_prefix("Max processes") {
                (&mut nproc, rest)
            } else {
                continue;
            };
            let mut fields = rest.split_whitespace();
            let mut value = |what: &str| -> Result<Option<u64>, ParseError> {
                match fields.next() {
                    Some("unlimited") => Ok(None),
                    Some(v) => number(v, what, i + 1).map(Some),
                    None => Err(ParseError::new(i + 1, format!("missing {what}"))),
                }
            };
            let soft = value("the soft limit")?;
            *row = Some(Rlimit {
                soft,
                hard: value("the hard limit")?,
            });
        }
        let nofile = nofile.ok_or_else(|| ParseError::new(0, "no 'Max open files' row"))?;
        Ok(ProcLimits { nofile, nproc })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "\
Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max processes             96365                96365                processes 
Max open files            20000                20000                files     
Max locked memory         8388608              8388608              bytes     
";

    #[test]
    fn parses_nofile_and_nproc() {
        let l = ProcLimits::parse(LIMITS).unwrap();
        assert_eq!(
            l.nofile,
            Rlimit {
                soft: Some(20000),
                hard: Some(20000)
            }
        );
        assert_eq!(
            l.nproc,
            Some(Rlimit {
                soft: Some(96365),
                hard: Some(96365)
            })
        );
    }

    #[test]
    fn unlimited_and_errors() {
        let l =
            ProcLimits::parse("Max open files            1024                 unlimited            files\n")
                .unwrap();
        assert_eq!(
            l.nofile,
            Rlimit {
                soft: Some(1024),
                hard: None
            }
        );
        assert!(ProcLimits::parse("Max cpu time  unlimited unlimited seconds\n").is_err());
        assert!(ProcLimits::parse("Max open files  lots  1 files\n").is_err());
    }
}
