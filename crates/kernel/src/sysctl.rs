//! `/proc/sys`: read and write sysctls by their dotted name.

use std::fs;

use serde::{Deserialize, Serialize};

use crate::error::quote;
use crate::file::{number, read_optional, read_parsed};
use crate::{ParseError, ProcRoot, ReadError, WriteError};

/// The path of a sysctl under a root: `net.core.somaxconn` -> `proc/sys/net/core/somaxconn`.
///
/// Returns `None` for a name that is not a sysctl key (empty parts, `..`, characters outside
/// `[A-Za-z0-9_-]`), so a key can never escape `/proc/sys`.
pub fn sysctl_path(key: &str) -> Option<String> {
    let valid_part = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    let parts: Vec<&str> = key.split(['.', '/']).collect();
    if parts.len() < 2 || !parts.iter().all(|p| valid_part(p)) {
        return None;
    }
    Some(format!("proc/sys/{}", parts.join("/")))
}

/// `sysctl -n KEY` under `root`: the value with its trailing newline removed, or `None` when this kernel has no
/// such key. Tabs between fields (as in `tcp_mem`) are kept as the kernel prints them.
pub fn read_sysctl(root: &ProcRoot, key: &str) -> Result<Option<String>, ReadError> {
    let Some(rel) = sysctl_path(key) else {
        return Ok(None);
    };
    Ok(read_optional(root, &rel)?.map(|v| v.trim_end_matches('\n').to_string()))
}

/// Read the sysctl `key` under `root` and parse it with `parse`; `None` when the key is absent.
pub fn read_sysctl_parsed<T>(
    root: &ProcRoot,
    key: &str,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, ReadError> {
    let Some(rel) = sysctl_path(key) else {
        return Ok(None);
    };
    read_parsed(root, &rel, parse)
}

/// Write `value` to the sysctl `key` under `root` (the running kernel when `root` is [`ProcRoot::live`]).
///
/// The kernel checks the value (EINVAL when out of range); absent keys are [`WriteError::Absent`].
pub fn write_sysctl(root: &ProcRoot, key: &str, value: &str) -> Result<(), WriteError> {
    let rel = sysctl_path(key).ok_or_else(|| WriteError::InvalidKey(key.to_string()))?;
    let path = root.path(&rel);
    if !path.exists() {
        return Err(WriteError::Absent(key.to_string()));
    }
    // A sysctl file takes the whole value in one write; `sysctl -w` writes the same bytes.
    fs::write(&path, format!("{value}\n")).map_err(|source| WriteError::Io {
        key: key.to_string(),
        value: value.to_string(),
        source,
    })
}

/// Parse a single-number sysctl value.
pub fn parse_u64(text: &str) -> Result<u64, ParseError> {
    number(text.trim(), "the value", 1)
}

/// A three-number sysctl such as `tcp_mem` (pages: min, pressure, max) or `tcp_rmem` (bytes: min, default, max).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Triple {
    /// First value: the minimum.
    pub min: u64,
    /// Second value: the pressure threshold (`tcp_mem`) or the default (`tcp_rmem`, `tcp_wmem`).
    pub mid: u64,
    /// Third value: the maximum.
    pub max: u64,
}

impl Triple {
    /// Parse `"4096\t131072\t33554432"` (any whitespace).
    pub fn parse(text: &str) -> Result<Triple, ParseError> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        let [min, mid, max] = fields[..] else {
            return Err(ParseError::new(
                1,
                format!("expected three numbers, found {}", quote(text)),
            ));
        };
        Ok(Triple {
            min: number(min, "the first value", 1)?,
            mid: number(mid, "the second value", 1)?,
            max: number(max, "the third value", 1)?,
        })
    }

    /// The form `sysctl -w` accepts: three numbers separated by spaces.
    pub fn to_sysctl(self) -> String {
        format!("{} {} {}", self.min, self.mid, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_to_path() {
        assert_eq!(
            sysctl_path("net.core.somaxconn").as_deref(),
            Some("proc/sys/net/core/somaxconn")
        );
        assert_eq!(
            sysctl_path("fs.file-max").as_deref(),
            Some("proc/sys/fs/file-max")
        );
        assert_eq!(
            sysctl_path("net/ipv4/tcp_mem").as_deref(),
            Some("proc/sys/net/ipv4/tcp_mem")
        );
        for bad in [
            "",
            "somaxconn",
            "net..core",
            "net.core.../x",
            "net.core.a b",
            "../etc.passwd",
        ] {
            assert_eq!(sysctl_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn triples() {
        let t = Triple::parse("287898\t383867\t575796\n").unwrap();
        assert_eq!(
            t,
            Triple {
                min: 287898,
                mid: 383867,
                max: 575796
            }
        );
        assert_eq!(t.to_sysctl(), "287898 383867 575796");
        assert!(Triple::parse("1 2").is_err());
        assert!(Triple::parse("1 2 x").is_err());
    }

    #[test]
    fn read_write_on_a_fake_tree() {
        let dir = tempfile::tempdir().unwrap();
        let root = ProcRoot::at(dir.path());
        fs::create_dir_all(dir.path().join("proc/sys/net/core")).unwrap();
        fs::write(dir.path().join("proc/sys/net/core/somaxconn"), "4096\n").unwrap();
        assert_eq!(
            read_sysctl(&root, "net.core.somaxconn").unwrap().as_deref(),
            Some("4096")
        );
        assert_eq!(read_sysctl(&root, "net.core.absent").unwrap(), None);
        write_sysctl(&root, "net.core.somaxconn", "8192").unwrap();
        assert_eq!(
            read_sysctl(&root, "net.core.somaxconn").unwrap().as_deref(),
            Some("8192")
        );
        assert!(matches!(
            write_sysctl(&root, "net.core.absent", "1"),
            Err(WriteError::Absent(_))
        ));
        assert!(matches!(
            write_sysctl(&root, "bad key", "1"),
            Err(WriteError::InvalidKey(_))
        ));
    }
}
