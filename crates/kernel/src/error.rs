use std::fmt;
use std::io;
use std::path::PathBuf;

/// A `/proc` text that does not have the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number of the offending line (0 when the whole text is at fault).
    pub line: usize,
    /// What was expected and what was found.
    pub message: String,
}

impl ParseError {
    /// An error at `line` (1-based; 0 for the whole text).
    pub fn new(line: usize, message: impl fmt::Display) -> Self {
        Self {
            line,
            message: message.to_string(),
        }
    }
}

/// Input as quoted in an error message: its first 40 characters, with control characters escaped, so a message
/// stays one short line whatever the file held.
pub(crate) fn quote(text: &str) -> String {
    let text = text.trim();
    let head: String = text.chars().take(40).collect();
    let more = if head.len() < text.len() { "..." } else { "" };
    format!("'{}{more}'", head.escape_default())
}

/// Reading a kernel source failed for a reason other than its absence (absence is `Ok(None)`).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file exists but could not be read (for example `/proc/slabinfo` without root).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        source: io::Error,
    },
    /// The file was read but its text is not what this kernel layer understands.
    #[error("cannot parse {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Where and why.
        source: ParseError,
    },
}

impl ReadError {
    /// Whether the read failed for lack of permission (a non-root user reading `/proc/slabinfo`).
    pub fn is_permission_denied(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied)
    }
}

/// Writing a sysctl failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The key is not a sysctl name such as `net.core.somaxconn`.
    #[error("invalid sysctl key '{0}': expected dotted names such as net.core.somaxconn")]
    InvalidKey(String),
    /// This kernel has no such key (a module not loaded, an older kernel).
    #[error("sysctl {0} does not exist on this kernel")]
    Absent(String),
    /// The kernel refused the value or the write failed.
    #[error("cannot write sysctl {key} = {value}: {source}")]
    Io {
        /// The key.
        key: String,
        /// The value that was refused.
        value: String,
        /// The operating system's reason (EINVAL for a value out of range, EACCES/EPERM without root).
        source: io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_stay_on_one_short_line() {
        assert_eq!(quote(" 1 2\n"), "'1 2'");
        assert_eq!(quote("a\nb"), "'a\\nb'");
        let long = quote(&"x".repeat(100));
        assert!(long.ends_with("...'") && long.len() < 50, "{long}");
    }
}
