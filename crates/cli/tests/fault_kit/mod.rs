//! What the hostile-peer and fault tests share: a `c1m serve` child that is always stopped, echo control
//! groups, and readings of the kernel and of `/proc` (ESTABLISHED counts per process, RSS, CPU ticks).
// Each test binary (hostile.rs, faults.rs) uses a different subset of this kit.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

pub const C1M: &str = env!("CARGO_BIN_EXE_c1m");

/// Generous bounds: the suite shares 2 cores with other tests and builds.
pub const SETTLE: Duration = Duration::from_secs(30);

/// Call `check` every 20 ms until it returns true or `timeout` passes; returns whether it did.
pub fn poll_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Lines a child wrote, collected by a thread so the pipe never fills.
#[derive(Clone, Default)]
pub struct Lines(Arc<Mutex<Vec<String>>>);

impl Lines {
    fn collect(pipe: impl Read + Send + 'static) -> Lines {
        let lines = Lines::default();
        let sink = lines.clone();
        thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                sink.0.lock().unwrap().push(line);
            }
        });
        lines
    }

    /// Everything so far, one line each.
    pub fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }

    /// The lines that parse as JSON objects.
    pub fn json(&self) -> Vec<Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .collect()
    }
}

/// A network namespace `c1m-faults-TAG-PID` with loopback up, deleted on drop.
pub struct Netns(pub String);

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("c1m-faults-{tag}-{}", std::process::id());
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("ip netns add")
            .success();
        assert!(ok, "ip netns add {name} failed (these tests run as root)");
        let ns = Netns(name);
        let up = ns
            .command("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .expect("ip link")
            .success();
        assert!(up, "cannot bring lo up in {}", ns.0);
        ns
    }

    /// `program` run inside the namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0, program]);
        cmd
    }

    pub fn sysctl_n(&self, key: &str) -> String {
        let out = self.command("sysctl").args(["-n", key]).output().expect("sysctl");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn sysctl_w(&self, key: &str, value: &str) {
        let ok = self
            .command("sysctl")
            .args(["-qw", &format!("{key}={value}")])
            .status()
            .unwrap()
            .success();
        assert!(ok, "sysctl -w {key}={value} in {}", self.0);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A running `c1m serve --listen 127.0.0.1:PORT --json ...`, sent SIGKILL (with its workers) on drop.
pub struct Serve {
    child: Option<Child>,
    pub port: u16,
    pub pid: u32,
    pub stdout: Lines,
    pub stderr: Lines,
}

impl Serve {
    /// Start `c1m serve` on 127.0.0.1:`port` with `args`, under an fd limit (soft and hard) of `fd_limit` when
    /// given (workers inherit the hard limit), and wait until it accepts a connection.
    pub fn start(port: u16, args: &[&str], fd_limit: Option<u32>) -> Serve {
        let serve = Serve::spawn(None, port, args, fd_limit);
        let up = poll_until(SETTLE, || TcpStream::connect(("127.0.0.1", port)).is_ok());
        assert!(
            up,
            "c1m serve on port {port} never accepted; stderr:\n{}",
            serve.stderr.text()
        );
        serve
    }

    /// Start inside `netns` and wait until its listener shows up there.
    pub fn start_in(netns: &Netns, port: u16, args: &[&str]) -> Serve {
        let serve = Serve::spawn(Some(netns), port, args, None);
        let up = poll_until(SETTLE, || {
            let out = netns
                .command("ss")
                .args(["-Htln", "sport", "=", &format!(":{port}")])
                .output()
                .unwrap();
            !out.stdout.is_empty()
        });
        assert!(
            up,
            "c1m serve on port {port} in {} never listened; stderr:\n{}",
            netns.0,
            serve.stderr.text()
        );
        serve
    }

    /// Start without waiting for the listener (for tests that expect serve to refuse).
    pub fn spawn(netns: Option<&Netns>, port: u16, args: &[&str], fd_limit: Option<u32>) -> Serve {
        let mut cmd = match (netns, fd_limit) {
            (Some(ns), _) => ns.command(C1M),
            (None, Some(n)) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(C1M);
                c
            }
            (None, None) => Command::new(C1M),
        };
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--json"])
            .args(args);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn c1m serve");
        let stdout = Lines::collect(child.stdout.take().unwrap());
        let stderr = Lines::collect(child.stderr.take().unwrap());
        // prlimit and ip netns exec both exec the command, so the pid is c1m's.
        let pid = child.id();
        Serve {
            child: Some(child),
            port,
            pid,
            stdout,
            stderr,
        }
    }

    /// The worker processes now (children of the supervisor), in pid order.
    pub fn workers(&self) -> Vec<u32> {
        children(self.pid)
    }

    /// Wait until there are `n` workers.
    pub fn wait_workers(&self, n: usize) -> Vec<u32> {
        let mut pids = vec![];
        let ok = poll_until(SETTLE, || {
            pids = self.workers();
            pids.len() == n
        });
        assert!(
            ok,
            "expected {n} workers, have {pids:?}; stderr:\n{}",
            self.stderr.text()
        );
        pids
    }

    /// Send `signal` (a name such as TERM or KILL) to the supervisor.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid, signal);
    }

    /// Wait up to `timeout` for the supervisor to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        let mut status = None;
        poll_until(timeout, || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        status
    }

    /// The last JSON stats line that has `key` somewhere in it.
    pub fn last_json_with(&self, key: &str) -> Option<Value> {
        self.stdout
            .json()
            .into_iter()
            .rev()
            .find(|v| find(v, key).is_some())
    }

    /// Poll the JSON stats until the number under `key` (anywhere in a line) satisfies `check`.
    pub fn wait_stat(&self, key: &str, check: impl Fn(u64) -> bool) -> u64 {
        let mut last = None;
        let ok = poll_until(SETTLE, || {
            last = self
                .last_json_with(key)
                .and_then(|v| find(&v, key).and_then(Value::as_u64));
            last.is_some_and(&check)
        });
        assert!(
            ok,
            "stat {key} never reached the expected value (last {last:?}); last lines:\n{}",
            tail(&self.stdout.text(), 3)
        );
        last.unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let workers = self.workers();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Workers die with their supervisor (PDEATHSIG); make sure anyway, the port must be free for reruns.
        for pid in workers {
            send_signal(pid, "KILL");
        }
    }
}

/// The first value under `key` in `v`, searching nested objects depth-first.
pub fn find<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    match v {
        Value::Object(map) => map.get(key).or_else(|| map.values().find_map(|x| find(x, key))),
        Value::Array(items) => items.iter().find_map(|x| find(x, key)),
        _ => None,
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn send_signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status();
}

/// Direct children of `pid`, from /proc/PID/task/*/children.
pub fn children(pid: u32) -> Vec<u32> {
    let mut pids = vec![];
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            pids.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    pids.sort_unstable();
    pids
}

/// Resident set size of `pid` in KiB (0 once it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    status_field(pid, "VmRSS:")
}

fn status_field(pid: u32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// User plus system CPU time of `pid` (all its threads), in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name may hold spaces; fields after it are fixed: utime is the 14th field, stime the 15th.
    let after_comm = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after_comm
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux build this targets).
pub fn ticks_per_second() -> u64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().expect("getconf");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(100)
}

/// Share of one core `pids` used over `window`: (utime + stime) delta / window.
pub fn cpu_share(pids: &[u32], window: Duration) -> f64 {
    let sum = || pids.iter().map(|p| cpu_ticks(*p)).sum::<u64>();
    let before = sum();
    thread::sleep(window);
    let used = sum().saturating_sub(before);
    used as f64 / (ticks_per_second() as f64 * window.as_secs_f64())
}

/// Server-side ESTABLISHED sockets on `port` held by `pids`: the peer's port -> the pid holding the socket.
/// Sockets come from `ss -Htne` (with their inodes), owners from the `socket:[INODE]` links in /proc/PID/fd of
/// `pids` only: `ss -p` would read every process's fds, slow when other runs hold 100,000s of sockets.
pub fn established_peers(port: u16, pids: &[u32]) -> BTreeMap<u16, u32> {
    let mut owner: BTreeMap<u64, u32> = BTreeMap::new();
    for &pid in pids {
        for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let link = std::fs::read_link(fd.path()).unwrap_or_default();
            let inode = link
                .to_string_lossy()
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']')?.parse().ok());
            if let Some(inode) = inode {
                owner.insert(inode, pid);
            }
        }
    }
    let out = Command::new("ss")
        .args(["-Htne", "state", "established", "sport", "=", &format!(":{port}")])
        .output()
        .expect("ss");
    let mut peers = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // Recv-Q Send-Q Local:Port Peer:Port uid:0 ino:N sk:...
        let fields: Vec<&str> = line.split_whitespace().collect();
        let peer_port = fields
            .get(3)
            .and_then(|p| p.rsplit(':').next()?.parse::<u16>().ok());
        let inode = fields
            .iter()
            .find_map(|f| f.strip_prefix("ino:")?.parse::<u64>().ok());
        if let (Some(peer_port), Some(pid)) = (peer_port, inode.and_then(|i| owner.get(&i))) {
            peers.insert(peer_port, *pid);
        }
    }
    peers
}

/// Server-side ESTABLISHED sockets on `port`, counted by the pid holding them.
pub fn established_by_pid(port: u16, pids: &[u32]) -> BTreeMap<u32, usize> {
    let mut by_pid = BTreeMap::new();
    for pid in established_peers(port, pids).into_values() {
        *by_pid.entry(pid).or_default() += 1;
    }
    by_pid
}

/// Sockets on the server side of `port` in `state` (an `ss` state name), owned or orphaned.
pub fn server_sockets(port: u16, state: &str) -> usize {
    let out = Command::new("ss")
        .args(["-Htn", "state", state, "sport", "=", &format!(":{port}")])
        .output()
        .expect("ss");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// A counter from /proc/PID/net/netstat or snmp (`group` such as TcpExt or Tcp), in the network namespace of
/// `pid` (`"self"` for the test's own).
pub fn net_counter(pid: &str, group: &str, name: &str) -> u64 {
    for file in ["netstat", "snmp"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{file}")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.chunks(2) {
            let [head, values] = pair else { continue };
            let prefix = format!("{group}:");
            if !head.starts_with(&prefix) {
                continue;
            }
            let names = head.split_whitespace().skip(1);
            if let Some(v) = names
                .zip(values.split_whitespace().skip(1))
                .find(|(n, _)| *n == name)
            {
                return v.1.parse().unwrap_or(0);
            }
        }
    }
    0
}

/// Connect to 127.0.0.1:`port` with generous read/write timeouts, retrying while the accept queue is full.
pub fn connect(port: u16) -> TcpStream {
    let mut last = None;
    for _ in 0..50 {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
                s.set_nodelay(true).unwrap();
                return s;
            }
            Err(e) => last = Some(e),
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("cannot connect to port {port}: {last:?}");
}

/// Open `n` connections to `port`.
pub fn connect_many(port: u16, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| connect(port)).collect()
}

/// Send `payload` and read back exactly as many bytes; true when they match.
pub fn echoes(stream: &mut TcpStream, payload: &[u8]) -> bool {
    if stream.write_all(payload).is_err() {
        return false;
    }
    let mut back = vec![0u8; payload.len()];
    stream.read_exact(&mut back).is_ok() && back == payload
}

/// Connections that must keep echoing correctly whatever else the server suffers.
pub struct ControlGroup {
    streams: Vec<TcpStream>,
    round: u64,
}

impl ControlGroup {
    /// Open `n` connections to an echo server and check them once.
    pub fn open(port: u16, n: usize) -> ControlGroup {
        let mut group = ControlGroup {
            streams: connect_many(port, n),
            round: 0,
        };
        group.assert_echo("before");
        group
    }

    /// Every connection echoes a message unique to it and to this round.
    #[track_caller]
    pub fn assert_echo(&mut self, when: &str) {
        self.round += 1;
        let round = self.round;
        let bad: Vec<usize> = (0..self.streams.len())
            .filter(|&i| {
                !echoes(
                    &mut self.streams[i],
                    format!("control {i} round {round}\n").as_bytes(),
                )
            })
            .collect();
        assert!(
            bad.is_empty(),
            "{when}: control connections {bad:?} of {} stopped echoing",
            self.streams.len()
        );
    }

    /// Close gracefully.
    pub fn close(self) {
        for s in self.streams {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// Whether `stream` has been closed by the server: EOF or a reset within `timeout`.
pub fn closed_by_server(mut stream: &TcpStream, timeout: Duration) -> bool {
    stream.set_read_timeout(Some(timeout)).unwrap();
    let mut buf = [0u8; 65536];
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
            Err(_) => return true,
        }
    }
    false
}

/// Deterministic pseudo-random bytes (xorshift64), so a failing case can be replayed.
pub fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Run `cmd`, returning (exit code, stdout, stderr); a command still running after two minutes (one that
/// should have refused and did not) is killed and reported with no exit code.
pub fn run(cmd: &mut Command) -> (Option<i32>, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run command");
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let mut status = None;
    if !poll_until(Duration::from_secs(120), || {
        status = child.try_wait().unwrap();
        status.is_some()
    }) {
        let _ = child.kill();
        let _ = child.wait();
    }
    (
        status.and_then(|s| s.code()),
        stdout.join().unwrap(),
        stderr.join().unwrap(),
    )
}

/// Assert a failed command said one clear line, exit 2, no panic or backtrace: `c1m: ...` from the command,
/// or clap's `error: invalid value ...` for a value the parser rejects.
#[track_caller]
pub fn assert_clear_error(result: &(Option<i32>, String, String), mentions: &str) {
    let (code, _, stderr) = result;
    assert_eq!(*code, Some(2), "expected exit 2; stderr:\n{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "a panic:\n{stderr}"
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("c1m: ") || l.starts_with("error: "))
        .unwrap_or_default();
    assert!(
        !line.is_empty(),
        "no one-line `c1m: ...` or `error: ...` message:\n{stderr}"
    );
    assert!(
        line.to_lowercase().contains(&mentions.to_lowercase()),
        "the error does not mention {mentions:?}:\n{stderr}"
    );
}
