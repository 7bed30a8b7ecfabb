use std::fs;
use std::io;

use crate::error::quote;
use crate::{ParseError, ProcRoot, ReadError};

/// Read `rel` under `root`; a missing file is `Ok(None)`, the typed absence every reader returns.
pub(crate) fn read_optional(root: &ProcRoot, rel: &str) -> Result<Option<String>, ReadError> {
    let path = root.path(rel);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ReadError::Io { path, source }),
    }
}

/// Read and parse `rel` under `root` with a pure parser; a missing file is `Ok(None)`.
pub(crate) fn read_parsed<T>(
    root: &ProcRoot,
    rel: &str,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<Option<T>, ReadError> {
    match read_optional(root, rel)? {
        None => Ok(None),
        Some(text) => parse(&text).map(Some).map_err(|source| ReadError::Parse {
            path: root.path(rel),
            source,
        }),
    }
}

/// Parse a decimal field, naming it in the error.
pub(crate) fn number(field: &str, what: &str, line: usize) -> Result<u64, ParseError> {
    field.parse().map_err(|_| {
        ParseError::new(
            line,
            format!("expected a number for {what}, found {}", quote(field)),
        )
    })
}
