use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::TuneError;
use super::atomic::write_atomic;
use crate::Role;

/// A sysctl as it was before tune touched it, and what tune meant to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedValue {
    /// Dotted key.
    pub key: String,
    /// The value before, exactly as the kernel printed it (`sysctl -n`).
    pub before: String,
    /// The value tune writes.
    pub after: String,
}

/// A file as it was before tune wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedFile {
    /// The file.
    pub path: PathBuf,
    /// Its contents before, or `None` when tune created it (rollback removes it).
    pub before: Option<String>,
}

/// Everything one `tune` run will touch, saved before the first change so that a run killed at any point can
/// still be rolled back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backup {
    /// Format version.
    pub schema: u32,
    /// Seconds since the epoch when the run started.
    pub created_unix: u64,
    /// The tune run's role.
    pub role: Role,
    /// The tune run's target.
    pub target: u64,
    /// Every sysctl the run will write.
    pub values: Vec<SavedValue>,
    /// Every file the run will write.
    pub files: Vec<SavedFile>,
}

/// Backups waiting to be rolled back end in this; rolled-back ones get [`ROLLED_BACK`] before it.
const SUFFIX: &str = ".json";
/// Marker inserted into a backup's name once it has been rolled back, so "the latest" skips it.
pub(crate) const ROLLED_BACK: &str = ".rolled-back";

impl Backup {
    /// Save to a new file in `dir` (never overwriting an earlier one) and return its path.
    pub(crate) fn save(&self, dir: &Path) -> Result<PathBuf, TuneError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        // Fixed-width seconds and nanoseconds sort by name in time order; the pid separates concurrent runs.
        let name = format!(
            "tune-{:011}.{:09}-{}{SUFFIX}",
            now.as_secs(),
            now.subsec_nanos(),
            std::process::id()
        );
        let path = dir.join(name);
        if path.exists() {
            return Err(TuneError::Io {
                path,
                source: io::Error::from(io::ErrorKind::AlreadyExists),
            });
        }
        let json = serde_json::to_vec_pretty(self).expect("a backup always serializes");
        write_atomic(&path, &json).map_err(|source| TuneError::Io {
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }

    /// Load a backup file.
    pub(crate) fn load(path: &Path) -> Result<Backup, TuneError> {
        let text = fs::read_to_string(path).map_err(|source| TuneError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| TuneError::BadBackup {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }
}

/// The newest backup in `dir` that has not been rolled back.
pub fn latest_backup(dir: &Path) -> Result<Option<PathBuf>, TuneError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(TuneError::Io {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut newest: Option<PathBuf> = None;
    for entry in entries {
        let path = entry
            .map_err(|source| TuneError::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let pending = name.starts_with("tune-") && name.ends_with(SUFFIX) && !name.contains(ROLLED_BACK);
        if pending && newest.as_ref().is_none_or(|n| n.file_name() < path.file_name()) {
            newest = Some(path);
        }
    }
    Ok(newest)
}

/// Rename a backup so [`latest_backup`] no longer returns it; the file is kept as a record.
pub(crate) fn mark_rolled_back(path: &Path) -> Result<PathBuf, TuneError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if name.contains(ROLLED_BACK) {
        return Ok(path.to_path_buf());
    }
    let stem = name.strip_suffix(SUFFIX).unwrap_or(&name);
    let to = path.with_file_name(format!("{stem}{ROLLED_BACK}{SUFFIX}"));
    fs::rename(path, &to).map_err(|source| TuneError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup() -> Backup {
        Backup {
            schema: 1,
            created_unix: 1,
            role: Role::Both,
            target: 10,
            values: vec![SavedValue {
                key: "net.core.somaxconn".into(),
                before: "128".into(),
                after: "4096".into(),
            }],
            files: vec![],
        }
    }

    #[test]
    fn each_save_is_a_new_file_and_latest_skips_rolled_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(latest_backup(dir.path()).unwrap(), None);
        let first = backup().save(dir.path()).unwrap();
        let second = backup().save(dir.path()).unwrap();
        assert_ne!(first, second);
        assert_eq!(latest_backup(dir.path()).unwrap().as_ref(), Some(&second));
        assert_eq!(Backup::load(&second).unwrap(), backup());
        let marked = mark_rolled_back(&second).unwrap();
        assert!(marked.exists() && !second.exists());
        assert_eq!(latest_backup(dir.path()).unwrap(), Some(first));
        assert_eq!(latest_backup(&dir.path().join("missing")).unwrap(), None);
    }

    #[test]
    fn corrupt_backup_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tune-1.json");
        fs::write(&path, "{").unwrap();
        assert!(matches!(Backup::load(&path), Err(TuneError::BadBackup { .. })));
    }
}
