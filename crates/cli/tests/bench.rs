//! `c1m bench` end to end at small scale: reports, `--tune` restore (inside throwaway network namespaces, where
//! net.* sysctls are private), Ctrl-C, SIGKILL and a crashing child, `--netns`.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const C1M: &str = env!("CARGO_BIN_EXE_c1m");

/// A throwaway network namespace with loopback up, deleted on drop (with anything still running in it).
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("c1m-bench-t{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "delete", &name]).output();
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        run_ok(Command::new("ip").args(["-n", &name, "link", "set", "lo", "up"]));
        Netns(name)
    }

    fn exec(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }

    fn sysctl(&self, key: &str) -> String {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        let out = run_ok(self.exec("cat").arg(path));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn set_sysctl(&self, key: &str, value: &str) {
        run_ok(self.exec("sysctl").args(["-q", "-w", &format!("{key}={value}")]));
    }

    /// Processes running in the namespace.
    fn pids(&self) -> Vec<u32> {
        let out = run_ok(Command::new("ip").args(["netns", "pids", &self.0]));
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// A bench inside the namespace, with somaxconn lowered so that `--tune` has something to raise.
    fn bench(&self, args: &[&str]) -> Command {
        self.set_sysctl("net.core.somaxconn", "64");
        let mut c = self.exec(C1M);
        c.arg("bench").args(args);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for pid in self.pids() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
        }
        let _ = Command::new("ip").args(["netns", "delete", &self.0]).output();
    }
}

#[track_caller]
fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[track_caller]
fn poll_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn wait_exit(child: &mut Child, timeout: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("bench did not exit within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn signal(pid: u32, sig: &str) {
    run_ok(Command::new("kill").args([sig, &pid.to_string()]));
}

/// The processes in `ns` whose command line contains `needle`.
fn pids_running(ns: &Netns, needle: &str) -> Vec<u32> {
    ns.pids()
        .into_iter()
        .filter(|p| {
            std::fs::read(format!("/proc/{p}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(needle))
        })
        .collect()
}

#[track_caller]
fn field<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| {
        v.get(k).unwrap_or_else(|| panic!("report lacks {path}: {v}"))
    })
}

/// The report's structure: every documented field with its JSON type (docs/bench.md describes them).
#[track_caller]
fn check_schema(report: &Value) {
    let number = |v: &Value, p: &str| assert!(field(v, p).is_number(), "{p} is not a number");
    assert_eq!(field(report, "schema_version"), 1);
    for p in [
        "started_unix_ms",
        "machine.cpus",
        "machine.mem_total_bytes",
        "machine.mem_available_bytes",
        "machine.fd_limit",
    ] {
        number(report, p);
    }
    assert!(field(report, "machine.kernel").is_string());
    for p in [
        "plan.rate",
        "plan.steps",
        "plan.step_connections",
        "plan.memory_margin_percent",
    ] {
        number(report, p);
    }
    assert!(field(report, "plan.tune").is_boolean() && field(report, "plan.netns").is_boolean());
    for note in field(report, "preflight").as_array().unwrap() {
        for k in ["limit", "status", "message"] {
            assert!(field(note, k).is_string());
        }
    }
    assert!(field(report, "tuned").is_array() && field(report, "comparison").is_array());
    let runs = field(report, "runs").as_array().unwrap();
    assert!(!runs.is_empty());
    for run in runs {
        assert!(field(run, "server").is_string());
        for p in [
            "held_max",
            "ramp_seconds",
            "teardown.seconds",
            "teardown.destroy_seconds",
            "teardown.time_wait_after",
            "teardown.time_wait_overflow",
        ] {
            number(run, p);
        }
        assert!(field(run, "teardown.method").is_string());
        for point in field(run, "timeline").as_array().unwrap() {
            number(point, "t_s");
            number(point, "connections");
        }
        for step in field(run, "steps").as_array().unwrap() {
            for p in [
                "step",
                "t_s",
                "connections",
                "ramp_rate",
                "kernel_bytes",
                "kernel_bytes_per_connection",
                "socket_slab_bytes_per_connection",
                "mem_available_bytes",
                "sockets.established",
                "sockets.time_wait",
                "sockets.in_use",
            ] {
                number(step, p);
            }
            for side in ["server", "load"] {
                for p in [
                    "processes",
                    "rss_bytes",
                    "rss_growth_bytes",
                    "bytes_per_connection",
                    "cpu_seconds",
                ] {
                    number(field(step, side), p);
                }
            }
            assert!(step.get("rtt").is_some());
        }
    }
}

/// Render `html` in headless Chromium and return the DOM it built.
fn chromium_dom(html: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .output()
        .expect("chromium must be installed (Debian package chromium) for the report test");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn small_bench_reports_and_restores_what_tune_changed() {
    let ns = Netns::new("tune");
    let out_dir = tempfile::tempdir().unwrap();
    let out = run_ok(
        ns.bench(&["-c", "5000", "--steps", "2", "--rate", "10k/s", "--tune", "--out"])
            .arg(out_dir.path()),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("held 5,000 connections"), "{stdout}");

    let report: Value =
        serde_json::from_slice(&std::fs::read(out_dir.path().join("report.json")).unwrap()).unwrap();
    check_schema(&report);
    let run = &field(&report, "runs").as_array().unwrap()[0];
    assert_eq!(field(run, "held_max"), 5000);
    assert!(field(run, "stopped_by").is_null());
    let steps = field(run, "steps").as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(field(&steps[1], "connections"), 5000);
    // Both ends of 5,000 connections live in this namespace.
    assert!(field(&steps[1], "sockets.established").as_u64().unwrap() >= 10_000);
    assert!(
        field(&steps[1], "socket_slab_bytes_per_connection")
            .as_f64()
            .unwrap()
            > 1000.0
    );

    let tuned = field(&report, "tuned").as_array().unwrap();
    let somaxconn = tuned
        .iter()
        .find(|t| t["key"] == "net.core.somaxconn")
        .expect("--tune raised somaxconn");
    assert_eq!(
        (somaxconn["before"].as_str(), somaxconn["after"].as_str()),
        (Some("64"), Some("64"))
    );
    assert_ne!(somaxconn["during"], "64");
    for t in tuned {
        let key = t["key"].as_str().unwrap();
        assert_eq!(
            ns.sysctl(key),
            t["before"].as_str().unwrap(),
            "{key} not restored"
        );
    }
    assert!(ns.pids().is_empty(), "processes left behind: {:?}", ns.pids());

    let dom = chromium_dom(&out_dir.path().join("report.html"));
    for id in c1m_bench::html::PLOT_IDS {
        let at = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("plot {id} missing from the rendered page"));
        let svg = &dom[at..at + dom[at..].find("</svg>").unwrap()];
        assert!(svg.contains("<polyline"), "plot {id} has no curve");
    }
    assert!(dom.contains("c1m server: 5000 connections held"));
}

#[test]
fn netns_topology_is_created_used_and_removed() {
    let mut child = Command::new(C1M)
        .args(["bench", "-c", "3000", "--steps", "1", "--netns", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let server_ns = Path::new("/run/netns").join(format!("c1m-bench-{pid}-s"));
    let mut seen = false;
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
        seen |= server_ns.exists();
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(seen, "the server namespace never appeared");
    assert!(!server_ns.exists() && !Path::new(&format!("/run/netns/c1m-bench-{pid}-c")).exists());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_schema(&report);
    assert_eq!(field(&report, "plan.netns"), true);
    let run = &field(&report, "runs").as_array().unwrap()[0];
    assert_eq!(field(run, "held_max"), 3000);
    assert_eq!(
        field(run, "teardown.time_wait_after"),
        0,
        "teardown must not leave TIME_WAIT"
    );
}

/// Start a slow bench with --tune in `ns` and wait until it has raised somaxconn and its load is connecting.
fn slow_bench(ns: &Netns) -> Child {
    let child = ns
        .bench(&["-c", "20000", "--steps", "2", "--rate", "1000/s", "--tune"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    poll_until("--tune to raise somaxconn", Duration::from_secs(60), || {
        ns.sysctl("net.core.somaxconn") != "64"
    });
    poll_until("the load to start", Duration::from_secs(60), || {
        !pids_running(ns, "load-worker").is_empty()
    });
    child
}

#[track_caller]
fn assert_cleaned_up(ns: &Netns) {
    poll_until(
        "every process in the namespace to exit",
        Duration::from_secs(60),
        || ns.pids().is_empty(),
    );
    assert_eq!(ns.sysctl("net.core.somaxconn"), "64", "somaxconn not restored");
}

#[test]
fn ctrl_c_mid_run_tears_down_restores_and_still_reports() {
    let ns = Netns::new("int");
    let mut child = slow_bench(&ns);
    signal(child.id(), "-INT");
    let status = wait_exit(&mut child, Duration::from_secs(60));
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("interrupted"), "{stdout}");
    assert!(
        stdout.contains("net.core.somaxconn") && stdout.contains("restored"),
        "{stdout}"
    );
    assert_cleaned_up(&ns);
}

#[test]
fn sigkill_of_bench_leaves_the_guardian_to_restore_and_kill() {
    let ns = Netns::new("kill");
    let mut child = slow_bench(&ns);
    signal(child.id(), "-KILL");
    wait_exit(&mut child, Duration::from_secs(10));
    assert_cleaned_up(&ns);
}

#[test]
fn a_crashing_server_ends_the_run_cleanly() {
    let ns = Netns::new("crash");
    let mut child = slow_bench(&ns);
    let servers: Vec<u32> = pids_running(&ns, "serve")
        .into_iter()
        .filter(|p| !pids_running(&ns, "serve-worker").contains(p))
        .collect();
    assert!(!servers.is_empty(), "no serve process found");
    for pid in servers {
        signal(pid, "-KILL");
    }
    let status = wait_exit(&mut child, Duration::from_secs(90));
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!status.success(), "{stdout}");
    assert!(
        stderr.contains("c1m server exited") || stdout.contains("c1m server exited"),
        "{stdout}\n{stderr}"
    );
    assert_cleaned_up(&ns);
}

#[test]
fn bad_input_gets_a_one_line_error() {
    for (args, needle) in [
        (&["-c", "0"][..], "invalid count '0'"),
        (&["-c", "lots"][..], "or max"),
        (&["--steps", "0"][..], "invalid steps '0'"),
        (&["-c", "3", "--steps", "5"][..], "more steps than"),
        (&["--memory-margin", "120"][..], "invalid margin"),
    ] {
        let out = Command::new(C1M).arg("bench").args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn echo_mode_measures_round_trips_at_each_step() {
    let out = run_ok(Command::new(C1M).args([
        "bench",
        "-c",
        "2000",
        "--steps",
        "2",
        "--rate",
        "10k/s",
        "--mode",
        "echo",
        "--message",
        "32",
        "--json",
    ]));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    check_schema(&report);
    assert_eq!(field(&report, "plan.message.bytes"), 32);
    for step in field(&report, "runs").as_array().unwrap()[0]["steps"]
        .as_array()
        .unwrap()
    {
        let rtt = field(step, "rtt");
        assert!(field(rtt, "count").as_u64().unwrap() > 0, "{rtt}");
        let (p50, p99) = (
            field(rtt, "p50_us").as_f64().unwrap(),
            field(rtt, "p99_us").as_f64().unwrap(),
        );
        assert!(p50 > 0.0 && p50 <= p99, "{rtt}");
    }
}
