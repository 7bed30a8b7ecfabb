//! `c1m watch` against `ss`: sockets in known states inside a throwaway network namespace.
//!
//! The sockets are opened by this test binary itself, re-executed inside the namespace through
//! `ip netns exec` (the ignored test `hold_known_sockets` is that child), so nothing else on the machine
//! can disturb the counts.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const C1M: &str = env!("CARGO_BIN_EXE_c1m");
const HOLD_ENV: &str = "C1M_WATCH_TEST_HOLD";
/// The listeners: IPv4 service, IPv6 service, IPv4 listener nobody accepts from.
const V4_PORT: u16 = 16_010;
const V6_PORT: u16 = 16_011;
const QUEUE_PORT: u16 = 16_012;

/// A network namespace deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("c1m-watch-{tag}-{}", std::process::id());
        run("ip", &["netns", "add", &name]);
        let ns = Netns(name);
        run("ip", &["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

#[track_caller]
fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The child holding the sockets; stops when its stdin closes.
struct Holder {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Holder {
    fn start(ns: &Netns) -> Holder {
        let exe = std::env::current_exe().unwrap();
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.0])
            .arg(exe)
            .args([
                "--ignored",
                "--exact",
                "hold_known_sockets",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(HOLD_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        // libtest prints "test hold_known_sockets ... " on the same line first.
        let ready = stdout
            .by_ref()
            .lines()
            .map_while(Result::ok)
            .any(|l| l.ends_with("holder ready"));
        assert!(ready, "the socket holder did not come up");
        Holder { child, stdin, stdout }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        drop(self.stdin.take());
        // Read its last words so it does not die of a broken pipe.
        let _ = self.stdout.read_to_end(&mut Vec::new());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Open: 3 IPv4 and 2 IPv6 connections (ESTABLISHED both ends), one IPv4 connection half-closed by the
/// server (CLOSE_WAIT + FIN_WAIT2), two closed by the client first (TIME_WAIT), two left in an accept queue.
#[test]
#[ignore = "run by the other tests inside a network namespace"]
fn hold_known_sockets() {
    if std::env::var_os(HOLD_ENV).is_none() {
        return;
    }
    let v4 = TcpListener::bind(("127.0.0.1", V4_PORT)).unwrap();
    let v6 = TcpListener::bind(("::1", V6_PORT)).unwrap();
    let queue = TcpListener::bind(("127.0.0.1", QUEUE_PORT)).unwrap();
    let mut held = Vec::new();
    let connect = |listener: &TcpListener| {
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let server = listener.accept().unwrap().0;
        (client, server)
    };
    for _ in 0..3 {
        held.push(connect(&v4));
    }
    for _ in 0..2 {
        held.push(connect(&v6));
    }
    let (client, server) = connect(&v4);
    server.shutdown(Shutdown::Write).unwrap();
    held.push((client, server));
    for _ in 0..2 {
        let (client, mut server) = connect(&v4);
        drop(client);
        // The server sees EOF, then closes too: the client end, which closed first, lands in TIME_WAIT.
        let mut buf = [0u8; 1];
        assert_eq!(server.read(&mut buf).unwrap(), 0);
    }
    let queued: Vec<_> = (0..2)
        .map(|_| TcpStream::connect(("127.0.0.1", QUEUE_PORT)).unwrap())
        .collect();
    println!("holder ready");
    std::io::stdout().flush().unwrap();
    // Held until the parent closes our stdin (or a minute passes, if it died).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        let _ = tx.send(());
    });
    let _ = rx.recv_timeout(Duration::from_secs(60));
    drop((held, queued, v4, v6, queue));
}

/// `ss -tan [filter]` in the namespace, as state name -> count.
fn ss_counts(ns: &Netns, extra: &[&str]) -> BTreeMap<String, u64> {
    let mut args = vec!["netns", "exec", &ns.0, "ss", "-tan"];
    args.extend_from_slice(extra);
    let mut counts = BTreeMap::new();
    for line in run("ip", &args).lines().skip(1) {
        if let Some(state) = line.split_whitespace().next() {
            *counts.entry(state.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// Poll `ss` until the closing handshakes have settled (two TIME-WAIT sockets, two equal reads).
fn settled_ss(ns: &Netns) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = ss_counts(ns, &[]);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = ss_counts(ns, &[]);
        if now == last && now.get("TIME-WAIT") == Some(&2) {
            return now;
        }
        assert!(Instant::now() < deadline, "sockets never settled: {now:?}");
        last = now;
    }
}

fn watch_json(ns: &Netns, extra: &[&str]) -> Value {
    let out = Command::new(C1M)
        .args(["watch", "--once", "--json", "--netns", &ns.0])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "c1m watch failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The states of a watch sample in ss's names, zero counts left out.
fn watch_counts(counts: &Value) -> BTreeMap<String, u64> {
    let names = [
        ("ESTABLISHED", "ESTAB"),
        ("SYN_SENT", "SYN-SENT"),
        ("SYN_RECV", "SYN-RECV"),
        ("FIN_WAIT1", "FIN-WAIT-1"),
        ("FIN_WAIT2", "FIN-WAIT-2"),
        ("TIME_WAIT", "TIME-WAIT"),
        ("CLOSE", "UNCONN"),
        ("CLOSE_WAIT", "CLOSE-WAIT"),
        ("LAST_ACK", "LAST-ACK"),
        ("LISTEN", "LISTEN"),
        ("CLOSING", "CLOSING"),
    ];
    names
        .iter()
        .filter_map(|(ours, theirs)| {
            let n = counts[ours].as_u64().unwrap();
            (n > 0).then(|| (theirs.to_string(), n))
        })
        .collect()
}

#[test]
fn counts_equal_ss_in_every_state() {
    let ns = Netns::new("states");
    let holder = Holder::start(&ns);
    let ss = settled_ss(&ns);
    assert_eq!(ss.get("ESTAB"), Some(&(2 * 5 + 2 * 2)), "test setup: {ss:?}");
    for extra in [&[][..], &["--exact"][..]] {
        let sample = watch_json(&ns, extra);
        assert_eq!(watch_counts(&sample["states"]), ss, "watch {extra:?} vs ss");
        let from = if extra.is_empty() { "counter" } else { "dump" };
        assert_eq!(sample["established_from"], from);
        assert!(
            sample["cost"]["dump_us"].as_u64().is_some() && sample["cost"]["total_us"].as_u64().unwrap() > 0
        );
    }
    assert_eq!(ss_counts(&ns, &[]), ss, "sockets changed during the test");
    drop(holder);
}

#[test]
fn ipv6_counted_apart() {
    let ns = Netns::new("v6");
    let _holder = Holder::start(&ns);
    settled_ss(&ns);
    let ss6 = ss_counts(&ns, &["-6"]);
    assert_eq!(ss6.get("ESTAB"), Some(&4));
    for extra in [&[][..], &["--exact"][..]] {
        let sample = watch_json(&ns, extra);
        assert_eq!(watch_counts(&sample["ipv6"]), ss6, "watch {extra:?} vs ss -6");
        assert_eq!(
            watch_counts(&sample["ipv4"]),
            ss_counts(&ns, &["-4"]),
            "watch {extra:?} vs ss -4"
        );
    }
}

#[test]
fn port_filter_runs_in_the_kernel() {
    let ns = Netns::new("ports");
    let _holder = Holder::start(&ns);
    settled_ss(&ns);
    let port = V4_PORT.to_string();
    let either = ss_counts(&ns, &[&format!("( sport = :{port} or dport = :{port} )")]);
    let sample = watch_json(&ns, &["--port", &port]);
    assert_eq!(watch_counts(&sample["states"]), either);
    assert_eq!(sample["established_from"], "dump");
    let local = ss_counts(&ns, &[&format!("sport = :{port}")]);
    assert_eq!(
        watch_counts(&watch_json(&ns, &["--port", &format!("local={port}")])["states"]),
        local
    );
    let remote = ss_counts(&ns, &[&format!("dport = :{port}")]);
    assert_eq!(
        watch_counts(&watch_json(&ns, &["--port", &format!("remote={port}")])["states"]),
        remote
    );
    assert_ne!(
        local, remote,
        "the two sides must differ for this test to mean anything"
    );
    let both = watch_json(
        &ns,
        &["--port", &format!("local={port}"), "--port", &V6_PORT.to_string()],
    );
    let ss_both = ss_counts(
        &ns,
        &[&format!(
            "( sport = :{port} or sport = :{V6_PORT} or dport = :{V6_PORT} )"
        )],
    );
    assert_eq!(watch_counts(&both["states"]), ss_both);
}

#[test]
fn accept_queue_and_process_fds() {
    let ns = Netns::new("queue");
    let holder = Holder::start(&ns);
    settled_ss(&ns);
    let ss = run(
        "ip",
        &[
            "netns",
            "exec",
            &ns.0,
            "ss",
            "-ltn",
            "sport",
            "=",
            &format!(":{QUEUE_PORT}"),
        ],
    );
    let fields: Vec<&str> = ss.lines().nth(1).unwrap().split_whitespace().collect();
    let (recv_q, send_q): (u64, u64) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    assert_eq!(recv_q, 2);
    // The holder runs under `ip netns exec`, which execs it: same pid.
    let sample = watch_json(&ns, &["--pid", &holder.pid().to_string()]);
    let listener = sample["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["local"] == format!("127.0.0.1:{QUEUE_PORT}"))
        .unwrap();
    assert_eq!(listener["accept_queue"].as_u64(), Some(recv_q));
    assert_eq!(listener["backlog"].as_u64(), Some(send_q));
    let process = &sample["processes"][0];
    assert_eq!(process["pid"].as_u64(), Some(u64::from(holder.pid())));
    assert!(process["open_fds"].as_u64().unwrap() >= 20, "{process}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", holder.pid())).unwrap();
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .nth(3)
        .unwrap();
    assert_eq!(process["nofile_soft"].as_u64(), Some(soft.parse().unwrap()));
}

#[test]
fn plain_output_and_errors() {
    let ns = Netns::new("plain");
    let out = Command::new(C1M)
        .args(["watch", "--samples", "2", "--interval", "100ms", "--netns", &ns.0])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("estab=")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].contains("dump=") && lines[0].contains("listen=0"),
        "{text}"
    );

    let once = Command::new(C1M)
        .args(["watch", "--once", "--netns", &ns.0])
        .output()
        .unwrap();
    let report = String::from_utf8(once.stdout).unwrap();
    assert!(
        report.contains("TCP sockets (all ports)") && report.contains("sampled in"),
        "{report}"
    );

    for (args, needle) in [
        (
            &["watch", "--netns", "c1m-watch-no-such-ns"][..],
            "no network namespace 'c1m-watch-no-such-ns'",
        ),
        (&["watch", "--port", "http"][..], "invalid port filter 'http'"),
        (&["watch", "--interval", "0s"][..], "invalid --interval"),
        (
            &["watch", "--netns", "../etc"][..],
            "invalid network namespace name",
        ),
    ] {
        let out = Command::new(C1M).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(
            err.contains(needle) && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}
