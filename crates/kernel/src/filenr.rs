use serde::{Deserialize, Serialize};

use crate::error::quote;
use crate::file::{number, read_parsed};
use crate::{ParseError, ProcRoot, ReadError};

/// `/proc/sys/fs/file-nr`: open files system-wide against `fs.file-max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileNr {
    /// File handles allocated now.
    pub allocated: u64,
    /// Allocated but unused (always 0 since 2.6).
    pub unused: u64,
    /// The maximum (`fs.file-max`).
    pub max: u64,
}

impl FileNr {
    /// Parse `"521\t0\t2466170"`.
    pub fn parse(text: &str) -> Result<FileNr, ParseError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [allocated, unused, max] = fields[..] else {
            return Err(ParseError::new(
                1,
                format!("expected three numbers, found {}", quote(text)),
            ));
        };
        Ok(FileNr {
            allocated: number(allocated, "allocated", 1)?,
            unused: number(unused, "unused", 1)?,
            max: number(max, "max", 1)?,
        })
    }

    /// Read `proc/sys/fs/file-nr` under `root`.
    pub fn read(root: &ProcRoot) -> Result<Option<FileNr>, ReadError> {
        read_parsed(root, "proc/sys/fs/file-nr", FileNr::parse)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            FileNr::parse("521\t0\t2466170\n").unwrap(),
            FileNr {
                allocated: 521,
                unused: 0,
                max: 2466170
            }
        );
        assert!(FileNr::parse("521 0").is_err());
        // systemd may set file-max to LONG_MAX, which still fits in u64.
        assert_eq!(
            FileNr::parse("1 0 9223372036854775807").unwrap().max,
            i64::MAX as u64
        );
    }
}
