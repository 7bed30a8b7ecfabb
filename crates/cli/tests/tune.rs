//! `c1m tune` end to end inside throwaway network namespaces: net.* keys are per namespace, so the host is not
//! touched (asserted). Needs root (`ip netns add`); without it the tests say so and skip.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const C1M: &str = env!("CARGO_BIN_EXE_c1m");

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
}

/// A network namespace named `c1m-doctor-TAG-PID`, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("c1m-doctor-{tag}-{}", std::process::id());
        let out = Command::new("ip").args(["netns", "add", &name]).output().unwrap();
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Netns(name)
    }

    /// `c1m ARGS` inside the namespace.
    fn c1m(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0, C1M]).args(args);
        cmd
    }

    fn sysctl_w(&self, key: &str, value: &str) {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.0,
                "sysctl",
                "-qw",
                &format!("{key}={value}"),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    fn sysctl_n(&self, key: &str) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, "sysctl", "-n", key])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .trim_end_matches('\n')
            .to_string()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[track_caller]
fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

#[track_caller]
fn json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every sysctl doctor reads, as `sysctl -n` prints it, from inside `ns` (or from the host).
fn all_sysctls(ns: Option<&Netns>) -> BTreeMap<String, Value> {
    let mut cmd = match ns {
        Some(ns) => ns.c1m(&["doctor", "--json"]),
        None => {
            let mut c = Command::new(C1M);
            c.args(["doctor", "--json"]);
            c
        }
    };
    let out = cmd.output().unwrap();
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    r["sysctls"].as_object().unwrap().clone().into_iter().collect()
}

fn backups(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn tune_then_rollback_restores_every_value_byte_for_byte() {
    if !is_root() {
        eprintln!("skipped: needs root for ip netns");
        return;
    }
    let ns = Netns::new("tune");
    // Old-kernel values, namespaced: tune must raise them; the host keeps its own.
    ns.sysctl_w("net.core.somaxconn", "128");
    ns.sysctl_w("net.ipv4.tcp_tw_reuse", "0");
    let state = tempfile::tempdir().unwrap();
    let etc = tempfile::tempdir().unwrap();
    let dirs = [
        "--state-dir",
        state.path().to_str().unwrap(),
        "--etc-root",
        etc.path().to_str().unwrap(),
    ];
    let tune = |extra: &[&str]| {
        let mut args = vec!["tune", "--role", "both", "--target", "10000"];
        args.extend_from_slice(&dirs);
        args.extend_from_slice(extra);
        ns.c1m(&args)
    };
    let host_before = all_sysctls(None);
    let ns_before = all_sysctls(Some(&ns));

    let dry = json(&run(&mut tune(&["--dry-run", "--json"])));
    let changes: Vec<(&str, &str, &str)> = dry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["key"].as_str().unwrap(),
                c["from"].as_str().unwrap(),
                c["to"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("net.ipv4.tcp_tw_reuse", "0", "1"),
            ("net.core.somaxconn", "128", "4096")
        ]
    );
    assert!(
        dry["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["namespaced"] == true)
    );
    assert!(backups(state.path()).is_empty(), "a dry run writes nothing");
    run(&mut tune(&["--dry-run"]));

    let applied = json(&run(&mut tune(&["--persist", "--json"])));
    assert_eq!(applied["applied"]["written"].as_array().unwrap().len(), 2);
    assert_eq!(ns.sysctl_n("net.core.somaxconn"), "4096");
    assert_eq!(ns.sysctl_n("net.ipv4.tcp_tw_reuse"), "1");
    let conf = std::fs::read_to_string(etc.path().join("etc/sysctl.d/60-c1m.conf")).unwrap();
    assert!(
        conf.contains("net.core.somaxconn = 4096\n") && conf.contains("net.ipv4.tcp_tw_reuse = 1\n"),
        "{conf}"
    );
    assert_eq!(backups(state.path()).len(), 1);
    assert_eq!(all_sysctls(None), host_before, "the host is untouched");

    let again = json(&run(&mut tune(&["--json"])));
    assert!(
        again["plan"]["changes"].as_array().unwrap().is_empty(),
        "a second tune is a no-op"
    );
    assert!(again["applied"]["backup"].is_null());
    assert_eq!(backups(state.path()).len(), 1, "a no-op run leaves no backup");

    let mut rollback = ns.c1m(&["tune", "--rollback", "--json"]);
    rollback.args(dirs);
    let back = json(&run(&mut rollback));
    assert_eq!(back["restored"].as_array().unwrap().len(), 2);
    assert_eq!(
        all_sysctls(Some(&ns)),
        ns_before,
        "every value back byte for byte"
    );
    assert!(
        !etc.path().join("etc/sysctl.d/60-c1m.conf").exists(),
        "the file tune created is removed"
    );
    let names = backups(state.path());
    assert!(
        names.len() == 1 && names[0].ends_with(".rolled-back.json"),
        "{names:?}"
    );
    assert_eq!(all_sysctls(None), host_before);
}

#[test]
fn tune_killed_after_backup_can_be_rolled_back() {
    if !is_root() {
        eprintln!("skipped: needs root for ip netns");
        return;
    }
    let ns = Netns::new("fault");
    ns.sysctl_w("net.core.somaxconn", "256");
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().to_str().unwrap();
    let out = run(ns
        .c1m(&[
            "tune",
            "--role",
            "server",
            "--target",
            "1000",
            "--state-dir",
            state_arg,
        ])
        .env("C1M_TUNE_FAULT", "after-backup"));
    assert!(!out.status.success(), "the fault hook aborts");
    assert_eq!(
        backups(state.path()).len(),
        1,
        "the backup was saved before any write"
    );
    assert_eq!(ns.sysctl_n("net.core.somaxconn"), "256", "nothing written");
    let back = json(&run(&mut ns.c1m(&[
        "tune",
        "--rollback",
        "--json",
        "--state-dir",
        state_arg,
    ])));
    assert_eq!(back["unchanged"], serde_json::json!(["net.core.somaxconn"]));
    assert_eq!(ns.sysctl_n("net.core.somaxconn"), "256");
}

#[test]
fn tune_refuses_without_root_but_dry_run_works() {
    if !is_root() {
        eprintln!("skipped: needs root to switch to an unprivileged user");
        return;
    }
    let state = tempfile::tempdir().unwrap();
    let as_nobody = |extra: &[&str]| {
        let mut cmd = Command::new("setpriv");
        cmd.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            C1M,
            "tune",
            "--target",
            "1000",
            "--state-dir",
        ])
        .arg(state.path())
        .args(extra);
        run(&mut cmd)
    };
    let out = as_nobody(&[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.starts_with("c1m: tune writes /proc/sys and needs root"),
        "{err}"
    );
    assert_eq!(as_nobody(&["--dry-run"]).status.code(), Some(0));
    let out = as_nobody(&["--rollback"]);
    assert!(String::from_utf8(out.stderr).unwrap().contains("needs root"));
}

#[test]
fn rollback_of_a_missing_or_bad_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("tune-1.json");
    std::fs::write(&bad, "not json").unwrap();
    let state = dir.path().to_str().unwrap();
    for file in [bad.to_str().unwrap(), "/nonexistent/tune-2.json"] {
        let out = Command::new(C1M)
            .args(["tune", "--rollback", file, "--state-dir", state])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.starts_with("c1m: ") && err.lines().count() == 1 && !err.contains("panicked"),
            "{err}"
        );
    }
}
