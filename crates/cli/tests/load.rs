//! `c1m load` end to end on loopback: many workers against `c1m serve`, port exhaustion in a throwaway network
//! namespace, shards that merge to the unsharded counts, SIGINT, and bad input.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const C1M: &str = env!("CARGO_BIN_EXE_c1m");

/// A `c1m serve --mode hold` process (optionally inside a network namespace), stopped with SIGTERM on drop so
/// its workers go with it.
struct Server(Child);

impl Server {
    /// A hold server sized for `connections`.
    fn start(netns: Option<&str>, port: u16, connections: u64) -> Server {
        Server::start_mode(netns, port, connections, "hold")
    }

    fn start_mode(netns: Option<&str>, port: u16, connections: u64, mode: &str) -> Server {
        let listen = format!("127.0.0.1:{port}");
        let mut cmd = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, C1M]);
                c
            }
            None => Command::new(C1M),
        };
        // One server worker per 9,000 connections keeps each under this machine's 20,000-fd cap.
        let workers = (connections / 9_000 + 1).to_string();
        let target = connections.to_string();
        cmd.args([
            "serve",
            "--listen",
            &listen,
            "--mode",
            mode,
            "--target",
            &target,
            "--workers",
            &workers,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let server = Server(cmd.spawn().expect("c1m serve starts"));
        let deadline = Instant::now() + Duration::from_secs(30);
        // Probe with ss, not a connection: a probe would leave a TIME_WAIT port behind and skew port counts.
        let mut ss = Command::new("ip");
        ss.args([
            "netns",
            "exec",
            netns.unwrap_or("default"),
            "ss",
            "-Hltn",
            &format!("sport = :{port}"),
        ]);
        if netns.is_none() {
            ss = Command::new("ss");
            ss.args(["-Hltn", &format!("sport = :{port}")]);
        }
        while !ss.output().is_ok_and(|o| !o.stdout.is_empty()) {
            assert!(
                Instant::now() < deadline,
                "c1m serve did not listen on {listen} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A throwaway network namespace with `lo` up, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(suffix: &str) -> Netns {
        let name = format!("c1m-load-{}-{suffix}", std::process::id());
        assert!(
            Command::new("ip")
                .args(["netns", "add", &name])
                .status()
                .unwrap()
                .success(),
            "ip netns add {name}"
        );
        let ns = Netns(name);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    fn exec(&self, args: &[&str]) {
        let status = Command::new("ip")
            .args(["netns", "exec", &self.0])
            .args(args)
            .status()
            .unwrap();
        assert!(status.success(), "{args:?} in {}", self.0);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn c1m(args: &[&str]) -> Output {
    Command::new(C1M).args(args).output().expect("c1m runs")
}

fn report(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("report written")).expect("report is JSON")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn twenty_thousand_connections_over_several_workers() {
    let _server = Server::start(None, 13100, 20_000);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    // A soft and hard fd limit of 4000 forces ceil(20000 / (4000 - 64)) = 6 worker processes.
    let out = Command::new("prlimit")
        .args([
            "--nofile=4000:4000",
            C1M,
            "load",
            "127.0.0.1:13100",
            "-c",
            "20000",
            "--rate",
            "10000/s",
        ])
        .args([
            "--sources",
            "auto",
            "--hold",
            "1s",
            "--no-progress",
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    let r = report(&json);
    assert_eq!(r["workers"], 6);
    let c = &r["counts"];
    for (key, want) in [
        ("planned", 20000),
        ("attempted", 20000),
        ("established", 20000),
        ("failed", 0),
    ] {
        assert_eq!(c[key], want, "{key}: {c}");
    }
    assert_eq!(c["open_at_end"], 20000);
    assert_eq!(c["dropped"], 0);
    assert_eq!(
        r["connect_latency"]["count"], 20000,
        "merged histogram holds every sample"
    );
    assert_eq!(r["connect_latency_from_start"]["count"], 20000);
    assert_eq!(
        r["plan"]["sources"].as_array().unwrap().len(),
        2,
        "20000 > half of the port range"
    );
    assert_eq!(r["verdict"]["ok"], true);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("all 20,000 connections established and held"),
        "{text}"
    );
}

#[test]
fn port_exhaustion_names_the_limit_the_pair_and_the_fix() {
    let ns = Netns::new("ports");
    ns.exec(&["sysctl", "-qw", "net.ipv4.ip_local_port_range=40000 40499"]);
    let _server = Server::start(Some(&ns.0), 13101, 1500);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            C1M,
            "load",
            "127.0.0.1:13101",
            "-c",
            "1500",
            "--rate",
            "5000/s",
        ])
        .args([
            "--sources",
            "127.0.0.1",
            "--hold",
            "0s",
            "--no-progress",
            "--json",
            json.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = report(&json);
    assert_eq!(
        r["counts"]["established"], 500,
        "exactly the 500 ports of the range"
    );
    assert_eq!(r["verdict"]["limit"], "ephemeral_ports");
    let row = &r["errors"][0];
    assert_eq!(
        (row["phase"].as_str(), row["name"].as_str()),
        (Some("connect"), Some("EADDRNOTAVAIL"))
    );
    assert_eq!(
        (row["source"].as_str(), row["target"].as_str()),
        (Some("127.0.0.1"), Some("127.0.0.1:13101"))
    );
    let sentence = r["verdict"]["sentence"].as_str().unwrap();
    assert!(
        sentence.starts_with(
            "stopped at 500 of 1,500 connections: ephemeral ports for 127.0.0.1 -> 127.0.0.1:13101"
        ),
        "{sentence}"
    );
    assert!(
        sentence.contains("net.ipv4.ip_local_port_range") && sentence.contains("; fix: "),
        "{sentence}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(sentence));
}

#[test]
fn close_with_reset_leaves_no_time_wait_and_fin_leaves_it_on_the_load_side() {
    let ns = Netns::new("close");
    let _server = Server::start(Some(&ns.0), 13110, 600);
    let sockets_in = |state: &str| {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.0, "ss", "-Htn", "state", state])
            .arg("( sport = :13110 or dport = :13110 )")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    // With fin the load side keeps each connection in TIME_WAIT (a few may be cut short: a TIME_WAIT socket
    // that receives a reset is dropped, RFC 1337); with reset no socket of either side does.
    for (close_with, time_wait) in [("reset", 0..=0), ("fin", 250..=300)] {
        let out = Command::new("ip")
            .args(["netns", "exec", &ns.0, C1M, "load", "127.0.0.1:13110"])
            .args(["-c", "300", "--rate", "3000/s", "--hold", "0s", "--no-progress"])
            .args(["--close-with", close_with])
            .output()
            .unwrap();
        assert!(out.status.success(), "{close_with}: {}", stderr(&out));
        // The server closes its ends once it sees the FIN or the reset; give it a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while (sockets_in("established") > 0 || !time_wait.contains(&sockets_in("time-wait")))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(
            sockets_in("established"),
            0,
            "{close_with}: every connection closed"
        );
        let left = sockets_in("time-wait");
        assert!(
            time_wait.contains(&left),
            "{close_with}: {left} in TIME_WAIT, expected {time_wait:?}"
        );
    }
}

#[test]
fn shards_merge_to_the_unsharded_counts() {
    let _server = Server::start(None, 13102, 3001);
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let base = [
        "load",
        "127.0.0.1:13102",
        "-c",
        "3001",
        "--rate",
        "5000/s",
        "--hold",
        "200ms",
        "--no-progress",
    ];
    let run = |shard: Option<&str>, env: Option<&str>, json: &str| {
        let mut cmd = Command::new(C1M);
        cmd.args(base).args(["--json", json]);
        if let Some(s) = shard {
            cmd.args(["--shard", s]);
        }
        if let Some(s) = env {
            cmd.env("C1M_SHARD", s);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    run(None, None, &path("whole.json"));
    run(None, Some("0/2"), &path("s0.json"));
    run(Some("1/2"), None, &path("s1.json"));
    let out = c1m(&[
        "report",
        "merge",
        &path("s0.json"),
        &path("s1.json"),
        "--out",
        &path("merged.json"),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (whole, s0, merged) = (
        report(Path::new(&path("whole.json"))),
        report(Path::new(&path("s0.json"))),
        report(Path::new(&path("merged.json"))),
    );
    assert_eq!(
        s0["counts"]["planned"], 1501,
        "shard 0 of 2 takes the even indices"
    );
    for key in [
        "planned",
        "attempted",
        "established",
        "failed",
        "skipped",
        "open_at_end",
    ] {
        assert_eq!(merged["counts"][key], whole["counts"][key], "{key}");
    }
    assert_eq!(
        merged["connect_latency"]["count"],
        whole["connect_latency"]["count"]
    );
    for key in ["connections", "rate", "targets", "sources"] {
        assert_eq!(merged["plan"][key], whole["plan"][key], "{key}");
    }
    assert_eq!(merged["plan"]["shard_count"], 2);
}

#[test]
fn refused_connections_are_reported_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    // Nothing listens on 13103.
    let out = c1m(&[
        "load",
        "127.0.0.1:13103",
        "-c",
        "100",
        "--rate",
        "1000/s",
        "--hold",
        "0s",
        "--no-progress",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let r = report(&json);
    assert_eq!(r["counts"]["failed"], 100);
    assert_eq!(r["verdict"]["limit"], "refused");
    assert!(r["verdict"]["sentence"].as_str().unwrap().starts_with(
        "stopped at 0 of 100 connections: connection refused for (kernel-chosen source) -> 127.0.0.1:13103"
    ));
}

/// Start `c1m load` holding `connections` to `port` over two workers for up to ten minutes, with JSON progress,
/// and return it once its `done` line arrived, with every progress line seen before it.
fn held_run(port: u16, connections: u64, rate: &str, json: &Path) -> (Child, Vec<Value>) {
    let target = format!("127.0.0.1:{port}");
    let n = connections.to_string();
    let mut child = Command::new(C1M)
        .args([
            "load",
            &target,
            "-c",
            &n,
            "--rate",
            rate,
            "--hold",
            "10m",
            "--workers",
            "2",
        ])
        .args(["--progress", "json", "--json", json.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut progress = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let v: Value = serde_json::from_str(&line.unwrap()).expect("progress lines are JSON");
        if v["done"] == true {
            assert_eq!(v["established"], connections);
            return (child, progress);
        }
        progress.push(v);
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("c1m load ended without a done line");
}

fn signal(pid: impl ToString, sig: &str) {
    assert!(
        Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
}

#[test]
fn sigint_ends_the_run_and_still_writes_the_report() {
    let _server = Server::start(None, 13104, 500);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let (mut child, progress) = held_run(13104, 500, "250/s", &json);
    assert!(
        !progress.is_empty(),
        "a two-second ramp prints at least one progress line"
    );
    for v in &progress {
        for key in ["t_ms", "established", "failed", "rate_now", "behind_schedule_ms"] {
            assert!(v.get(key).is_some(), "progress line without {key}: {v}");
        }
        assert_eq!(v["target"], 500);
    }
    let started = Instant::now();
    signal(child.id(), "-INT");
    let status = child.wait().unwrap();
    assert!(started.elapsed() < Duration::from_secs(30));
    assert_eq!(
        status.code(),
        Some(0),
        "everything was established and held until the interrupt"
    );
    let r = report(&json);
    assert_eq!(r["end"], "interrupted");
    assert_eq!(r["counts"]["established"], 500);
    assert_eq!(r["counts"]["dropped"], 0);
}

#[test]
fn bad_input_gives_one_line_errors() {
    let cases: [(&[&str], &str); 9] = [
        (&["load", "127.0.0.1:13105", "-c", "0"], "invalid count '0'"),
        (
            &["load", "127.0.0.1:13105", "--rate", "fast"],
            "invalid rate 'fast'",
        ),
        (
            &["load", "127.0.0.1:13105", "--sources", "127.0.0.0/33"],
            "invalid source range '127.0.0.0/33'",
        ),
        (
            &["load", "127.0.0.1:13105", "--shard", "2/2"],
            "invalid shard '2/2'",
        ),
        (
            &["load", "127.0.0.1:13105", "--workers", "many"],
            "invalid workers 'many'",
        ),
        (
            &["load", "10.0.0.1:80"],
            "refuses remote targets unless --allow-remote",
        ),
        (
            &["load", "127.0.0.1"],
            "invalid target '127.0.0.1': expected host:port",
        ),
        (
            &["load", "127.0.0.1:13105", "--workers", "0"],
            "invalid --workers 0",
        ),
        (
            &["load", "127.0.0.1:13105", "--message", "0"],
            "invalid --message 0",
        ),
    ];
    for (args, want) in cases {
        let out = c1m(args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        let first = err.lines().next().unwrap_or_default();
        assert!(first.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // An environment shard is validated like the flag.
    let out = Command::new(C1M)
        .args(["load", "127.0.0.1:13105"])
        .env("C1M_SHARD", "x")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("invalid shard 'x'"));
}

#[test]
fn duration_bounds_the_run_and_the_verdict_says_so() {
    let _server = Server::start(None, 13106, 1000);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let started = Instant::now();
    let out = c1m(&[
        "load",
        "127.0.0.1:13106",
        "-c",
        "1000",
        "--rate",
        "100/s",
        "--duration",
        "1s",
        "--no-progress",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = report(&json);
    assert_eq!(r["end"], "duration");
    let c = &r["counts"];
    let started_ones = c["attempted"].as_u64().unwrap();
    assert!(
        (50..=150).contains(&started_ones),
        "about 100 are due in 1 s at 100/s: {c}"
    );
    assert_eq!(c["not_started"].as_u64().unwrap() + started_ones, 1000);
    assert!(
        r["verdict"]["sentence"]
            .as_str()
            .unwrap()
            .contains("--duration ran out"),
        "{}",
        r["verdict"]
    );
}

#[test]
fn echo_messages_measure_round_trips() {
    let _server = Server::start_mode(None, 13107, 200, "echo");
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let out = c1m(&[
        "load",
        "127.0.0.1:13107",
        "-c",
        "200",
        "--rate",
        "2000/s",
        "--message",
        "64",
        "--message-rate",
        "10/s",
        "--hold",
        "1s",
        "--no-progress",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = report(&json);
    let m = &r["messages"];
    let (sent, echoed) = (m["sent"].as_u64().unwrap(), m["echoed"].as_u64().unwrap());
    // Each connection sends about 10 messages during the 1 s hold; allow a noisy machine half of that.
    assert!(
        echoed >= 200 * 5 && sent >= echoed && sent - echoed <= 200,
        "sent {sent} echoed {echoed}"
    );
    assert_eq!(m["rtt"]["count"].as_u64().unwrap(), echoed);
    assert_eq!(m["rtt_from_send"]["count"].as_u64().unwrap(), echoed);
    assert!(m["rtt"]["p50_us"].as_u64().unwrap() >= m["rtt_from_send"]["p50_us"].as_u64().unwrap());
    assert!(String::from_utf8_lossy(&out.stdout).contains("echo RTT, from schedule"));
}

#[test]
fn a_dead_worker_is_reported_not_hidden() {
    let _server = Server::start(None, 13108, 200);
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("r.json");
    let (mut child, _) = held_run(13108, 200, "2000/s", &json);
    let pid = child.id();
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let victim = children
        .split_whitespace()
        .next()
        .expect("the coordinator has worker processes");
    signal(victim, "-KILL");
    std::thread::sleep(Duration::from_millis(500));
    signal(pid, "-INT");
    assert_eq!(child.wait().unwrap().code(), Some(1));
    let r = report(&json);
    assert_eq!(r["end"], "worker_lost");
    assert_eq!(
        r["counts"]["planned"], 200,
        "the lost lane still counts as planned"
    );
    assert_eq!(
        r["counts"]["established"], 100,
        "only the surviving worker's connections are reported"
    );
    assert!(
        r["verdict"]["sentence"]
            .as_str()
            .unwrap()
            .contains("a load worker process died"),
        "{}",
        r["verdict"]
    );
}
