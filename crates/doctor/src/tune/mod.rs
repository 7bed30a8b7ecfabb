//! `c1m tune`: apply doctor's sysctl fixes live (and with `persist`, in `/etc/sysctl.d`), never lowering a
//! value, with a backup written before the first change and an exact rollback.
//!
//! The library API is what `c1m tune` and `c1m bench --tune` use: [`plan`] says what would change,
//! [`apply`] changes it and returns the backup's path, [`rollback`] restores a backup.

mod atomic;
mod backup;
mod persist;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use c1m_kernel::{Limit, ProcRoot, ReadError, Snapshot, is_root, read_sysctl, write_sysctl};
use serde::{Deserialize, Serialize};

use crate::{Report, Role, Status};
use atomic::write_atomic;
pub use backup::{Backup, SavedFile, SavedValue, latest_backup};
pub use persist::{modules_conf_path, sysctl_conf_path};

/// Environment variable naming the backup directory (default [`DEFAULT_STATE_DIR`]).
pub const STATE_DIR_ENV: &str = "C1M_STATE_DIR";
/// Where backups go by default.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/c1m";
/// Environment variable for fault injection in tests: `after-backup` aborts the process right after the backup
/// is saved and before any value is written.
pub const FAULT_ENV: &str = "C1M_TUNE_FAULT";

/// Keys whose values are modes, not sizes: a numerically lower value is not a reduction
/// (`tcp_tw_reuse` 2 = loopback only, 1 = everywhere).
const MODE_KEYS: &[&str] = &["net.ipv4.tcp_tw_reuse"];

/// Keys under `net.` that are global rather than per network namespace (the conntrack limits are per namespace
/// in name only: a child namespace sees them read-only, and the initial one's value applies to all).
const GLOBAL_NET_KEYS: &[&str] = &[
    "net.ipv4.tcp_mem",
    "net.ipv4.tcp_max_orphans",
    "net.core.netdev_max_backlog",
    "net.core.default_qdisc",
    "net.netfilter.nf_conntrack_max",
    "net.netfilter.nf_conntrack_buckets",
];

/// Whether a sysctl belongs to the network namespace (so a throwaway netns isolates writing it).
pub fn is_namespaced(key: &str) -> bool {
    key.starts_with("net.") && !GLOBAL_NET_KEYS.contains(&key)
}

/// One sysctl tune would write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The limit it lifts.
    pub limit: Limit,
    /// Dotted key.
    pub key: String,
    /// Value now.
    pub from: String,
    /// Value to write.
    pub to: String,
    /// Whether the key is per network namespace.
    pub namespaced: bool,
}

/// A proposed value tune will not write, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Dotted key.
    pub key: String,
    /// One line: absent on this kernel, or it would lower the current value.
    pub reason: String,
}

/// What tune would do for a role and a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunePlan {
    /// The role.
    pub role: Role,
    /// The target.
    pub target: u64,
    /// Values to write, in doctor's order.
    pub changes: Vec<Change>,
    /// Proposed values left alone.
    pub skipped: Vec<Skipped>,
}

/// Whether `to` is at least `from` in every numeric field (a mode key may move either way).
fn never_lowers(key: &str, from: &str, to: &str) -> bool {
    if MODE_KEYS.contains(&key) {
        return true;
    }
    let nums = |s: &str| {
        s.split_whitespace()
            .map(|f| f.parse::<u64>())
            .collect::<Result<Vec<_>, _>>()
    };
    match (nums(from), nums(to)) {
        (Ok(a), Ok(b)) if a.len() == b.len() => a.iter().zip(&b).all(|(x, y)| y >= x),
        _ => false,
    }
}

/// What tune would change for `role` and `target` on the machine `snapshot` describes: the sysctl fixes of
/// every finding that is a warning or a failure.
pub fn plan(snapshot: &Snapshot, role: Role, target: u64) -> TunePlan {
    let report = Report::new(snapshot, role, target);
    let mut changes = Vec::new();
    let mut skipped = Vec::new();
    for finding in report.findings.iter().filter(|f| f.status > Status::Info) {
        let Some(set) = &finding.set else { continue };
        let Some(from) = snapshot.sysctl(&set.key) else {
            skipped.push(Skipped {
                key: set.key.clone(),
                reason: "absent on this kernel or in this network namespace".into(),
            });
            continue;
        };
        if from.split_whitespace().eq(set.value.split_whitespace()) {
            continue;
        }
        if !never_lowers(&set.key, from, &set.value) {
            skipped.push(Skipped {
                key: set.key.clone(),
                reason: format!("{} would lower the current {from}", set.value),
            });
            continue;
        }
        changes.push(Change {
            limit: finding.limit,
            key: set.key.clone(),
            from: from.to_string(),
            to: set.value.clone(),
            namespaced: is_namespaced(&set.key),
        });
    }
    TunePlan {
        role,
        target,
        changes,
        skipped,
    }
}

/// Where tune writes.
#[derive(Debug, Clone)]
pub struct TuneOptions {
    /// The kernel to write to (`/` for the running one; a directory for tests).
    pub root: ProcRoot,
    /// Backup directory.
    pub state_dir: PathBuf,
    /// Root under which `etc/sysctl.d` and `etc/modules-load.d` live (`/` normally).
    pub etc_root: PathBuf,
    /// Also write the boot-time files.
    pub persist: bool,
}

impl TuneOptions {
    /// The running machine, with the backup directory from [`STATE_DIR_ENV`] or [`DEFAULT_STATE_DIR`].
    pub fn live(persist: bool) -> TuneOptions {
        TuneOptions {
            root: ProcRoot::live(),
            state_dir: std::env::var_os(STATE_DIR_ENV)
                .map_or_else(|| PathBuf::from(DEFAULT_STATE_DIR), PathBuf::from),
            etc_root: PathBuf::from("/"),
            persist,
        }
    }
}

/// Why tune could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    /// Writing `/proc/sys` needs root.
    #[error("tune writes /proc/sys and needs root: run it with sudo (or preview with --dry-run)")]
    NotRoot,
    /// A file could not be read or written (the io error is the source, printed after it).
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: io::Error,
    },
    /// A backup file is not one tune wrote.
    #[error("{} is not a c1m tune backup: {reason}", path.display())]
    BadBackup {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A sysctl could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// `--rollback` without a file and no backup to take.
    #[error("no backup to roll back in {}: tune has not changed anything here (or every backup is rolled back already)", .0.display())]
    NoBackup(PathBuf),
}

/// A value tune tried to write and could not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failed {
    /// Dotted key.
    pub key: String,
    /// The kernel's reason.
    pub error: String,
}

/// What [`apply`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// The backup to pass to [`rollback`] (`None` when there was nothing to do).
    pub backup: Option<PathBuf>,
    /// Values written and read back.
    pub written: Vec<Change>,
    /// Values the kernel refused (read-only in this namespace, out of range); left as they were.
    pub failed: Vec<Failed>,
    /// Boot-time files written.
    pub files: Vec<PathBuf>,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TuneError + '_ {
    move |source| TuneError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write a sysctl and read it back: the kernel may clamp or refuse a value without an error.
fn write_checked(root: &ProcRoot, key: &str, value: &str) -> Result<(), String> {
    write_sysctl(root, key, value).map_err(|e| e.to_string())?;
    match read_sysctl(root, key) {
        Ok(Some(now)) if now.split_whitespace().eq(value.split_whitespace()) => Ok(()),
        Ok(now) => Err(format!(
            "wrote {value} but the kernel reads back {}",
            now.as_deref().unwrap_or("nothing")
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// Apply `plan`: save a backup of every value and file it will touch, then write the values live (and the
/// boot-time files with `persist`). A plan with no changes writes nothing and leaves no backup.
pub fn apply(plan: &TunePlan, opts: &TuneOptions) -> Result<Applied, TuneError> {
    if opts.root.is_live() && !is_root() {
        return Err(TuneError::NotRoot);
    }
    if plan.changes.is_empty() {
        return Ok(Applied {
            backup: None,
            written: vec![],
            failed: vec![],
            files: vec![],
        });
    }
    let origin = format!("c1m tune --role {} --target {}", plan.role, plan.target);
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    if opts.persist {
        files.push((
            sysctl_conf_path(&opts.etc_root),
            persist::sysctl_conf(&plan.changes, &origin),
        ));
        if let Some(modules) = persist::modules_conf(&plan.changes, &origin) {
            files.push((modules_conf_path(&opts.etc_root), modules));
        }
    }
    let mut values = Vec::new();
    for c in &plan.changes {
        // Re-read: the backup must hold what the kernel has at this moment, not what the snapshot saw.
        let before = read_sysctl(&opts.root, &c.key)?.unwrap_or_else(|| c.from.clone());
        values.push(SavedValue {
            key: c.key.clone(),
            before,
            after: c.to.clone(),
        });
    }
    let mut saved_files = Vec::new();
    for (path, _) in &files {
        let before = match fs::read_to_string(path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(TuneError::Io {
                    path: path.clone(),
                    source,
                });
            }
        };
        saved_files.push(SavedFile {
            path: path.clone(),
            before,
        });
    }
    let created_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let backup = Backup {
        schema: 1,
        created_unix,
        role: plan.role,
        target: plan.target,
        values,
        files: saved_files,
    };
    let backup_path = backup.save(&opts.state_dir)?;
    if std::env::var(FAULT_ENV).as_deref() == Ok("after-backup") {
        eprintln!(
            "c1m: {FAULT_ENV}=after-backup: aborting after saving {}",
            backup_path.display()
        );
        std::process::abort();
    }
    let mut written = Vec::new();
    let mut failed = Vec::new();
    for c in &plan.changes {
        match write_checked(&opts.root, &c.key, &c.to) {
            Ok(()) => written.push(c.clone()),
            Err(error) => failed.push(Failed {
                key: c.key.clone(),
                error,
            }),
        }
    }
    let mut written_files = Vec::new();
    for (path, text) in &files {
        write_atomic(path, text.as_bytes()).map_err(io_err(path))?;
        written_files.push(path.clone());
    }
    Ok(Applied {
        backup: Some(backup_path),
        written,
        failed,
        files: written_files,
    })
}

/// What [`rollback`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolledBack {
    /// The backup used (renamed with `.rolled-back` once done).
    pub backup: PathBuf,
    /// Keys written back to their saved value.
    pub restored: Vec<String>,
    /// Keys that already had their saved value (the run stopped before writing them).
    pub unchanged: Vec<String>,
    /// Keys that could not be restored.
    pub failed: Vec<Failed>,
    /// Files written back with their saved contents.
    pub files_restored: Vec<PathBuf>,
    /// Files tune had created, removed.
    pub files_removed: Vec<PathBuf>,
}

/// Restore every value and file saved in `backup` (or in the latest backup not yet rolled back).
pub fn rollback(backup: Option<&Path>, opts: &TuneOptions) -> Result<RolledBack, TuneError> {
    if opts.root.is_live() && !is_root() {
        return Err(TuneError::NotRoot);
    }
    let path = match backup {
        Some(p) => p.to_path_buf(),
        None => latest_backup(&opts.state_dir)?.ok_or_else(|| TuneError::NoBackup(opts.state_dir.clone()))?,
    };
    let saved = Backup::load(&path)?;
    let mut done = RolledBack {
        backup: path.clone(),
        restored: vec![],
        unchanged: vec![],
        failed: vec![],
        files_restored: vec![],
        files_removed: vec![],
    };
    for v in &saved.values {
        let now = read_sysctl(&opts.root, &v.key).ok().flatten();
        if now.as_deref() == Some(v.before.as_str()) {
            done.unchanged.push(v.key.clone());
            continue;
        }
        match write_checked(&opts.root, &v.key, &v.before) {
            Ok(()) => done.restored.push(v.key.clone()),
            Err(error) => done.failed.push(Failed {
                key: v.key.clone(),
                error,
            }),
        }
    }
    for f in &saved.files {
        match &f.before {
            Some(text) => {
                write_atomic(&f.path, text.as_bytes()).map_err(io_err(&f.path))?;
                done.files_restored.push(f.path.clone());
            }
            None => {
                match fs::remove_file(&f.path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(source) => {
                        return Err(TuneError::Io {
                            path: f.path.clone(),
                            source,
                        });
                    }
                }
                done.files_removed.push(f.path.clone());
            }
        }
    }
    if done.failed.is_empty() {
        done.backup = backup::mark_rolled_back(&path)?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use c1m_kernel::Pid;

    use super::*;

    /// A writable copy of the this-host fixture, so apply/rollback run on files instead of the kernel.
    fn fake_machine() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/this-host");
        let status = std::process::Command::new("cp")
            .args(["-r", &format!("{src}/proc")])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        dir
    }

    fn options(dir: &Path, persist: bool) -> TuneOptions {
        TuneOptions {
            root: ProcRoot::at(dir),
            state_dir: dir.join("state"),
            etc_root: dir.join("root"),
            persist,
        }
    }

    fn values(root: &ProcRoot, keys: &[&str]) -> Vec<Option<String>> {
        keys.iter().map(|k| read_sysctl(root, k).unwrap()).collect()
    }

    #[test]
    fn plan_raises_only() {
        let snap = crate::rules::tests::fixture("this-host");
        let p = plan(&snap, Role::Both, 1_000_000);
        let keys: Vec<&str> = p.changes.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "fs.file-max",
                "net.ipv4.tcp_mem",
                "net.netfilter.nf_conntrack_max"
            ]
        );
        assert!(p.changes.iter().all(|c| never_lowers(&c.key, &c.from, &c.to)));
        assert!(!never_lowers("fs.file-max", "10", "9"));
        assert!(!never_lowers("net.ipv4.tcp_mem", "1 2 3", "1 2 2"));
        assert!(never_lowers("net.ipv4.tcp_tw_reuse", "2", "1"));
        assert!(
            is_namespaced("net.core.somaxconn")
                && !is_namespaced("net.ipv4.tcp_mem")
                && !is_namespaced("fs.file-max")
        );
    }

    #[test]
    fn apply_then_rollback_restores_bytes_and_files() {
        let dir = fake_machine();
        let opts = options(dir.path(), true);
        let snap = Snapshot::read(&opts.root, Pid::Own).unwrap();
        let p = plan(&snap, Role::Both, 1_000_000);
        let keys: Vec<&str> = p.changes.iter().map(|c| c.key.as_str()).collect();
        let before = values(&opts.root, &keys);
        let conf = sysctl_conf_path(&opts.etc_root);
        fs::create_dir_all(conf.parent().unwrap()).unwrap();
        fs::write(&conf, "# an older file\n").unwrap();

        let applied = apply(&p, &opts).unwrap();
        assert_eq!(applied.written.len(), keys.len());
        assert_ne!(values(&opts.root, &keys), before);
        assert!(
            fs::read_to_string(&conf)
                .unwrap()
                .contains("fs.file-max = 3010000")
        );
        assert!(
            modules_conf_path(&opts.etc_root).exists(),
            "conntrack keys need the module at boot"
        );
        // A second run finds nothing to do.
        let again = plan(
            &Snapshot::read(&opts.root, Pid::Own).unwrap(),
            Role::Both,
            1_000_000,
        );
        assert!(again.changes.is_empty(), "{:?}", again.changes);

        let done = rollback(None, &opts).unwrap();
        assert_eq!(done.restored.len(), keys.len());
        assert_eq!(values(&opts.root, &keys), before);
        assert_eq!(fs::read_to_string(&conf).unwrap(), "# an older file\n");
        assert!(!modules_conf_path(&opts.etc_root).exists());
        assert_eq!(done.files_restored, std::slice::from_ref(&conf));
        assert_eq!(done.files_removed, [modules_conf_path(&opts.etc_root)]);
        assert!(done.backup.to_string_lossy().ends_with(".rolled-back.json"));
        assert!(matches!(rollback(None, &opts), Err(TuneError::NoBackup(_))));
    }

    #[test]
    fn nothing_to_do_leaves_no_backup() {
        let dir = fake_machine();
        let opts = options(dir.path(), false);
        let p = plan(
            &Snapshot::read(&opts.root, Pid::Own).unwrap(),
            Role::Server,
            1_000,
        );
        assert!(p.changes.is_empty());
        assert_eq!(apply(&p, &opts).unwrap().backup, None);
        assert!(!opts.state_dir.exists());
    }
}
