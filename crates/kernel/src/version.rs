use serde::{Deserialize, Serialize};

use crate::error::quote;
use crate::{ParseError, ProcRoot, ReadError, read_sysctl_parsed};

/// The running kernel's release (`kernel.osrelease`, what `uname -r` prints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelVersion {
    /// The full release string, such as `6.18.44-fc-v669`.
    pub release: String,
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch level (0 when the release has none).
    pub patch: u32,
}

impl KernelVersion {
    /// Parse a release string such as `6.18.44-fc-v669` or `5.4.0-150-generic`.
    pub fn parse(text: &str) -> Result<KernelVersion, ParseError> {
        let release = text.trim();
        let err = || {
            ParseError::new(
                1,
                format!(
                    "expected a kernel release such as 6.8.0, found {}",
                    quote(release)
                ),
            )
        };
        let numeric = release
            .split(|c: char| !c.is_ascii_digit() && c != '.')
            .next()
            .ok_or_else(err)?;
        let mut parts = numeric
            .split('.')
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u32>());
        let major = parts.next().ok_or_else(err)?.map_err(|_| err())?;
        let minor = parts.next().ok_or_else(err)?.map_err(|_| err())?;
        let patch = parts.next().transpose().map_err(|_| err())?.unwrap_or(0);
        Ok(KernelVersion {
            release: release.to_string(),
            major,
            minor,
            patch,
        })
    }

    /// Read `kernel.osrelease` under `root`.
    pub fn read(root: &ProcRoot) -> Result<Option<KernelVersion>, ReadError> {
        read_sysctl_parsed(root, "kernel.osrelease", KernelVersion::parse)
    }

    /// Whether this kernel is at least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases() {
        let v = KernelVersion::parse("6.18.44-fc-v669\n").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (6, 18, 44));
        assert!(v.at_least(5, 4) && v.at_least(6, 18) && !v.at_least(6, 19));
        let v = KernelVersion::parse("5.4.0-150-generic").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (5, 4, 0));
        assert_eq!(KernelVersion::parse("6.1").unwrap().patch, 0);
        assert!(KernelVersion::parse("linux").is_err());
        assert!(KernelVersion::parse("6").is_err());
    }
}
