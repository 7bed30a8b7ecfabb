//! Faults and safety defaults, end to end: a worker killed with SIGKILL under load, SIGTERM under load, clear
//! one-line errors from serve and load, `tune` killed between its backup and its writes (inside throwaway
//! network namespaces, namespaced keys only), and the security defaults. Ports 23100-23199.

mod fault_kit;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use fault_kit::*;
use serde_json::Value;

#[test]
fn a_worker_killed_with_sigkill_is_restarted_within_a_second_and_the_others_keep_every_connection() {
    let serve = Serve::start(
        23100,
        &["--mode", "echo", "--workers", "3", "--threads", "1"],
        None,
    );
    let workers = serve.wait_workers(3);
    let mut streams = connect_many(serve.port, 900);
    let local_ports: Vec<u16> = streams.iter().map(|s| s.local_addr().unwrap().port()).collect();
    let mut owners = BTreeMap::new();
    assert!(
        poll_until(SETTLE, || {
            owners = established_peers(serve.port, &workers);
            local_ports.iter().all(|p| owners.contains_key(p))
        }),
        "ss does not show all 900 connections: {}",
        owners.len()
    );
    let by_pid = established_by_pid(serve.port, &workers);
    // The victim is the worker with the most connections, so that most are lost and the rest must survive.
    let victim = *by_pid
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(pid, _)| pid)
        .unwrap();
    assert!(
        workers.contains(&victim) && by_pid.len() == 3,
        "SO_REUSEPORT spread {by_pid:?} over {workers:?}"
    );
    let survivors: Vec<usize> = (0..streams.len())
        .filter(|&i| owners[&local_ports[i]] != victim)
        .collect();

    // Load on the survivors while the victim dies: echo traffic that must never fail.
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU64::new(0));
    let echoed = Arc::new(AtomicU64::new(0));
    let mut busy: Vec<_> = survivors
        .iter()
        .take(60)
        .map(|&i| streams[i].try_clone().unwrap())
        .collect();
    let traffic = {
        let (stop, failures, echoed) = (stop.clone(), failures.clone(), echoed.clone());
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for s in &mut busy {
                    if echoes(s, b"under load\n") {
                        echoed.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };

    let killed_at = Instant::now();
    send_signal(victim, "KILL");
    let mut now = vec![];
    let restarted = poll_until(Duration::from_secs(5), || {
        now = serve.workers();
        now.iter().any(|pid| !workers.contains(pid))
    });
    let restart_took = killed_at.elapsed();
    assert!(
        restarted,
        "no replacement worker after 5 s: {now:?}; stderr:\n{}",
        serve.stderr.text()
    );
    assert!(
        restart_took < Duration::from_secs(1),
        "the replacement took {restart_took:?} (goal: within 1 s)"
    );
    assert!(
        poll_until(SETTLE, || !serve.workers().contains(&victim)),
        "the killed worker is never reaped"
    );

    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "echo traffic on the other workers failed during the kill"
    );
    assert!(echoed.load(Ordering::Relaxed) > 0);

    let after = established_by_pid(serve.port, &workers);
    for (pid, n) in by_pid.iter().filter(|(pid, _)| **pid != victim) {
        assert_eq!(
            after.get(pid),
            Some(n),
            "worker {pid} lost connections: before {by_pid:?}, after {after:?}"
        );
    }
    for &i in &survivors {
        assert!(
            echoes(&mut streams[i], b"still here\n"),
            "connection {i} of a surviving worker broke"
        );
    }
    assert!(
        serve.stderr.text().contains("restarted"),
        "the restart is not logged:\n{}",
        serve.stderr.text()
    );
    serve.wait_stat("workers_restarted", |n| n >= 1);
    // The replacement serves new connections.
    let mut fresh = connect_many(serve.port, 30);
    assert!(fresh.iter_mut().all(|s| echoes(s, b"new\n")));
}

#[test]
fn sigterm_under_load_drains_and_exits_zero() {
    let mut serve = Serve::start(
        23101,
        &["--mode", "echo", "--workers", "2", "--threads", "1"],
        None,
    );
    serve.wait_workers(2);
    let mut streams = connect_many(serve.port, 600);
    assert!(streams.iter_mut().take(50).all(|s| echoes(s, b"hello\n")));
    let stop = Arc::new(AtomicBool::new(false));
    let mut busy: Vec<_> = streams.iter().take(40).map(|s| s.try_clone().unwrap()).collect();
    let traffic = {
        let stop = stop.clone();
        thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if !busy.iter_mut().all(|s| echoes(s, b"x\n")) {
                    break;
                }
            }
        })
    };
    thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    serve.signal("TERM");
    let status = serve.wait_exit(SETTLE);
    let took = sent.elapsed();
    stop.store(true, Ordering::Relaxed);
    traffic.join().unwrap();
    let status = status.unwrap_or_else(|| panic!("serve still running {SETTLE:?} after SIGTERM"));
    assert_eq!(
        status.code(),
        Some(0),
        "SIGTERM must exit 0; stderr:\n{}",
        serve.stderr.text()
    );
    assert!(took < Duration::from_secs(15), "drain took {took:?}");
    assert!(serve.workers().is_empty(), "workers outlived the supervisor");
    let closed = streams
        .iter_mut()
        .filter(|s| closed_by_server(s, Duration::from_secs(5)))
        .count();
    assert_eq!(closed, streams.len(), "every connection is closed by the drain");
    assert_eq!(server_sockets(serve.port, "listening"), 0, "the port is released");
}

#[test]
fn a_second_signal_exits_at_once() {
    let mut serve = Serve::start(
        23102,
        &["--mode", "hold", "--workers", "2", "--threads", "1"],
        None,
    );
    serve.wait_workers(2);
    let _streams = connect_many(serve.port, 300);
    serve.signal("TERM");
    serve.signal("INT");
    let sent = Instant::now();
    let status = serve.wait_exit(SETTLE);
    assert!(status.is_some(), "serve ignored two signals");
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "two signals took {:?} to stop serve",
        sent.elapsed()
    );
    assert!(poll_until(Duration::from_secs(5), || serve.workers().is_empty()));
    assert!(
        !serve.stderr.text().contains("panicked"),
        "{}",
        serve.stderr.text()
    );
}

#[test]
fn serve_refuses_clearly_when_the_port_is_taken_the_address_is_bad_or_the_fd_limit_is_too_low() {
    let taken = TcpListener::bind("127.0.0.1:23103").unwrap();
    let c1m = |args: &[&str]| run(Command::new(C1M).args(args));
    assert_clear_error(
        &c1m(&["serve", "--listen", "127.0.0.1:23103", "--workers", "1"]),
        "23103",
    );
    drop(taken);
    for bad in [
        "300.1.2.3:80",
        "127.0.0.1",
        "localhost:notaport",
        "127.0.0.1:70000",
    ] {
        assert_clear_error(&c1m(&["serve", "--listen", bad]), bad);
    }
    let low_limit = run(Command::new("prlimit")
        .args(["--nofile=100:100", "--", C1M])
        .args([
            "serve",
            "--listen",
            "127.0.0.1:23104",
            "--workers",
            "1",
            "--target",
            "10000",
        ]));
    assert_clear_error(&low_limit, "10000");
}

#[test]
fn load_refuses_clearly_on_a_bad_address_a_refusing_target_or_a_too_low_fd_limit() {
    let c1m = |args: &[&str]| run(Command::new(C1M).args(args));
    for bad in ["nonsense:xx", "127.0.0.1", "127.0.0.1:0x50"] {
        assert_clear_error(&c1m(&["load", bad, "-c", "10"]), bad);
    }
    assert_clear_error(
        &c1m(&["load", "127.0.0.1:23105", "-c", "50000", "--workers", "1"]),
        "--workers",
    );
    let low = run(Command::new("prlimit")
        .args(["--nofile=100:100", "--", C1M])
        .args(["load", "127.0.0.1:23105", "-c", "500", "--workers", "1"]));
    assert_clear_error(&low, "fds");

    // Nothing listens on 23105: the run ends (exit 1, not a crash) and its last line names the cause.
    let (code, stdout, stderr) = c1m(&[
        "load",
        "127.0.0.1:23105",
        "-c",
        "20",
        "--hold",
        "0s",
        "--no-progress",
    ]);
    assert_eq!(code, Some(1), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("refused") && last.contains("127.0.0.1:23105"),
        "last line: {last}"
    );
}

#[test]
fn load_refuses_non_loopback_targets_without_allow_remote() {
    // Documentation-range and private addresses: refused before any socket is made, so nothing is sent.
    for target in [
        "192.0.2.1:80",
        "10.1.2.3:7000",
        "[2001:db8::1]:7000",
        "8.8.8.8:53",
    ] {
        let started = Instant::now();
        let result = run(Command::new(C1M).args(["load", target, "-c", "10"]));
        assert_clear_error(&result, "--allow-remote");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the refusal waited on the network"
        );
    }
}

#[test]
fn metrics_bind_to_loopback_unless_told_otherwise() {
    let serve = Serve::start(
        23106,
        &["--mode", "hold", "--workers", "1", "--metrics", "23107"],
        None,
    );
    let listening = |port: u16| {
        let out = Command::new("ss")
            .args(["-Htln", "sport", "=", &format!(":{port}")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut seen = String::new();
    assert!(poll_until(SETTLE, || {
        seen = listening(23107);
        !seen.is_empty()
    }));
    assert!(
        seen.split_whitespace().any(|f| f == "127.0.0.1:23107"),
        "metrics must listen on 127.0.0.1 only:\n{seen}"
    );
    drop(serve);
}

/// Backups tune left in `dir`, by name.
fn backups(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

/// `c1m tune` in `ns` for a server at 1M connections, backups in `state`.
fn tune(ns: &Netns, state: &Path, extra: &[&str]) -> Command {
    let mut cmd = ns.command(C1M);
    cmd.args(["tune", "--role", "server", "--target", "1000000", "--state-dir"])
        .arg(state)
        .args(extra);
    cmd
}

/// Every sysctl in the namespace (doctor's own dump), as key -> value.
fn sysctls(ns: &Netns) -> BTreeMap<String, Value> {
    let (_, stdout, _) = run(ns.command(C1M).args(["doctor", "--json"]));
    let report: Value = serde_json::from_str(&stdout).expect("doctor --json");
    report["sysctls"]
        .as_object()
        .expect("sysctls")
        .clone()
        .into_iter()
        .collect()
}

#[test]
fn tune_killed_between_backup_and_writes_is_rolled_back_and_a_second_run_keeps_the_first_backup() {
    let ns = Netns::new("tunekill");
    let host_somaxconn = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap();
    ns.sysctl_w("net.core.somaxconn", "128");
    let original = sysctls(&ns);
    let state = tempfile::tempdir().unwrap();

    let (code, _, stderr) = run(tune(&ns, state.path(), &[]).env("C1M_TUNE_FAULT", "after-backup"));
    assert_ne!(code, Some(0), "the fault hook kills the run: {stderr}");
    let first = backups(state.path());
    assert_eq!(first.len(), 1, "the backup is written before the first value");
    let first_bytes = std::fs::read(&first[0]).unwrap();
    assert_eq!(ns.sysctl_n("net.core.somaxconn"), "128", "killed before writing");

    // The kill could as well have landed after the first write: play that write, then roll back by default
    // (the latest backup).
    ns.sysctl_w("net.core.somaxconn", "4096");
    let (code, _, stderr) = run(&mut tune(&ns, state.path(), &["--rollback"]));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(sysctls(&ns), original, "every original value is back");

    // Two complete runs: each gets its own backup, none overwrites the first.
    let (_, _, stderr) = run(&mut tune(&ns, state.path(), &[]));
    assert_eq!(ns.sysctl_n("net.core.somaxconn"), "4096", "{stderr}");
    ns.sysctl_w("net.core.somaxconn", "1024");
    run(&mut tune(&ns, state.path(), &[]));
    let all = backups(state.path());
    assert_eq!(all.len(), 3, "{all:?}");
    let stem = first[0].file_stem().unwrap().to_string_lossy().into_owned();
    let first_now = all
        .iter()
        .find(|p| p.to_string_lossy().contains(&stem))
        .expect("the first backup is kept");
    assert_eq!(
        std::fs::read(first_now).unwrap(),
        first_bytes,
        "the first backup is never rewritten"
    );

    // Roll back the run named on the command line (the older of the two): its saved value (128) returns.
    let pending: Vec<&PathBuf> = all
        .iter()
        .filter(|p| !p.to_string_lossy().contains("rolled-back"))
        .collect();
    assert_eq!(pending.len(), 2, "{all:?}");
    let (code, _, stderr) = run(tune(&ns, state.path(), &["--rollback"]).arg(pending[0]));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(ns.sysctl_n("net.core.somaxconn"), "128");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap(),
        host_somaxconn,
        "host untouched"
    );
}

#[test]
fn tune_writes_only_keys_from_its_rule_table() {
    let ns = Netns::new("tunekeys");
    // Lower every namespaced key the server rules read, so tune has plenty to raise.
    ns.sysctl_w("net.core.somaxconn", "64");
    ns.sysctl_w("net.ipv4.tcp_max_syn_backlog", "64");
    let state = tempfile::tempdir().unwrap();
    let before = sysctls(&ns);
    let host_before: BTreeMap<String, String> = [
        "net.core.somaxconn",
        "net.ipv4.tcp_max_syn_backlog",
        "fs.file-max",
    ]
    .iter()
    .map(|k| {
        (
            k.to_string(),
            std::fs::read_to_string(format!("/proc/sys/{}", k.replace('.', "/"))).unwrap(),
        )
    })
    .collect();

    let (_, stdout, _) = run(ns
        .command(C1M)
        .args(["doctor", "--role", "server", "--target", "1000000", "--json"]));
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let rule_keys: BTreeSet<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["sysctl"].as_str().map(str::to_string))
        .collect();

    let (_, stdout, stderr) = run(&mut tune(&ns, state.path(), &["--json"]));
    let run_json: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|_| panic!("tune --json: {stdout}{stderr}"));
    let after = sysctls(&ns);
    let changed: BTreeSet<String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect();
    assert!(!changed.is_empty(), "tune changed nothing: {stdout}");
    let written: BTreeSet<String> = run_json["applied"]["written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(changed, written, "tune changed exactly what it says it wrote");
    assert!(
        changed.is_subset(&rule_keys),
        "keys outside the rule table: {:?}",
        changed.difference(&rule_keys)
    );
    for (key, value) in host_before {
        let now = std::fs::read_to_string(format!("/proc/sys/{}", key.replace('.', "/"))).unwrap();
        assert_eq!(now, value, "host {key} changed");
    }
}

#[test]
fn bench_stops_with_one_clear_line_when_the_fd_limit_is_below_its_plan() {
    let out = tempfile::tempdir().unwrap();
    let result = run(Command::new("prlimit")
        .args(["--nofile=100:100", "--", C1M, "bench", "-c", "20000", "--out"])
        .arg(out.path()));
    assert_clear_error(&result, "open files");
    assert!(!result.2.contains("panicked"), "{}", result.2);
}
