//! `c1m doctor` end to end: fixture snapshots, the live machine against `sysctl -n`, `--pid`, `--explain`, and
//! bad input.

use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

const C1M: &str = env!("CARGO_BIN_EXE_c1m");

fn fixture(name: &str) -> String {
    format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn doctor(args: &[&str]) -> Output {
    Command::new(C1M)
        .arg("doctor")
        .args(args)
        .output()
        .expect("run c1m")
}

#[track_caller]
fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn finding<'a>(report: &'a Value, limit: &str) -> &'a Value {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["limit"] == limit)
        .unwrap_or_else(|| panic!("no {limit}"))
}

#[test]
fn stock_distro_server_fails_on_tcp_mem_and_conntrack() {
    let out = doctor(&[
        "--proc-root",
        &fixture("stock-distro"),
        "--role",
        "server",
        "--target",
        "1M",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let r = json(&out);
    assert_eq!(r["schema"], 1);
    assert_eq!(r["kernel"], "5.15.0-91-generic");
    assert_eq!(finding(&r, "tcp_mem")["status"], "fail");
    assert_eq!(finding(&r, "conntrack_max")["status"], "fail");
    assert_eq!(finding(&r, "file_max")["status"], "ok");
    assert_eq!(finding(&r, "nofile_soft")["status"], "info");
    let hard = finding(&r, "nofile_hard");
    assert_eq!(hard["status"], "warn");
    assert!(
        hard["needed"].as_str().unwrap().ends_with("3 server processes"),
        "{hard}"
    );
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["limit"] != "ephemeral_ports")
    );
    let s = &r["summary"];
    let total: u64 = ["ok", "info", "warn", "fail"]
        .iter()
        .map(|k| s[k].as_u64().unwrap())
        .sum();
    assert_eq!(total as usize, r["findings"].as_array().unwrap().len());
}

#[test]
fn tuned_host_is_all_ok_for_a_million_server() {
    let out = doctor(&[
        "--proc-root",
        &fixture("tuned-host"),
        "--role",
        "server",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(json(&out)["exit_code"], 0);
}

#[test]
fn this_host_snapshot_names_the_fd_cap_and_the_budget() {
    let out = doctor(&[
        "--proc-root",
        &fixture("this-host"),
        "--role",
        "both",
        "--target",
        "1000000",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains('\x1b'), "no colour when stdout is not a terminal");
    for needle in [
        "20,000 (cannot be raised: no CAP_SYS_RESOURCE)",
        "56 server + 51 client processes",
        "2,000,541 (81% of the max)",
        "36 source addresses",
        "largest N         3,",
        "3,900 B per socket (measured from /proc/slabinfo)",
        "exit 2 (0 all ok, 1 warnings only, 2 any failure)",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
}

#[test]
fn every_sysctl_doctor_reads_matches_sysctl_n() {
    let out = doctor(&["--json"]);
    assert!(
        out.status.code().is_some_and(|c| c <= 2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    let sysctls = r["sysctls"].as_object().unwrap();
    assert!(sysctls.len() >= 25, "{}", sysctls.len());
    for (key, value) in sysctls {
        let cli = Command::new("sysctl").args(["-n", key]).output().unwrap();
        match value.as_str() {
            Some(v) => {
                assert!(
                    cli.status.success(),
                    "sysctl -n {key} failed but doctor read {v:?}"
                );
                assert_eq!(
                    String::from_utf8_lossy(&cli.stdout).trim_end_matches('\n'),
                    v,
                    "{key}"
                );
            }
            None => assert!(
                !cli.status.success(),
                "doctor saw {key} as absent, sysctl printed it"
            ),
        }
    }
    // The fd limits doctor reports for itself are the ones it inherited from this test.
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let hard: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .split_whitespace()
        .nth(4)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(r["plan"]["fd_limit_per_process"], hard);
}

/// A `sleep` with its own fd limits, killed on drop.
struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn pid_judges_another_process() {
    let child = Command::new("prlimit")
        .args(["--nofile=1000:4000", "sleep", "60"])
        .spawn()
        .unwrap();
    let sleeper = Sleeper(child);
    let pid = sleeper.0.id().to_string();
    let limits = format!("/proc/{pid}/limits");
    let deadline = Instant::now() + Duration::from_secs(20);
    // prlimit sets the limit and then execs sleep; wait until the limit is in place.
    while !std::fs::read_to_string(&limits)
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Max open files") && l.contains(" 1000 "))
    {
        assert!(Instant::now() < deadline, "prlimit did not apply");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = doctor(&["--pid", &pid, "--role", "server", "--target", "10000", "--json"]);
    let r = json(&out);
    assert_eq!(r["pid"].as_u64(), Some(pid.parse().unwrap()));
    let soft = finding(&r, "nofile_soft");
    assert_eq!(soft["status"], "warn");
    assert!(soft["current"].as_str().unwrap().starts_with("1,000"), "{soft}");
    assert!(
        soft["fix"]
            .as_str()
            .unwrap()
            .contains(&format!("prlimit --pid {pid} --nofile=4000:4000")),
        "{soft}"
    );
    let hard = finding(&r, "nofile_hard");
    assert_eq!(hard["status"], "warn");
    assert!(
        hard["needed"]
            .as_str()
            .unwrap()
            .contains("at this limit 3 server processes"),
        "{hard}"
    );
    drop(sleeper);
}

#[test]
fn explain_tells_the_article_and_the_correction() {
    let out = doctor(&["--explain", "net.ipv4.tcp_fin_timeout"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("the article says: sysctl -w net.ipv4.tcp_fin_timeout=30"),
        "{text}"
    );
    assert!(text.contains("TIME_WAIT is TCP_TIMEWAIT_LEN"), "{text}");
    let out = doctor(&["--explain", "tcp_tw_recycle", "--json"]);
    let e = json(&out);
    assert_eq!(e["explanation"]["key"], "tcp_tw_recycle");
    assert!(
        e["explanation"]["story"]
            .as_str()
            .unwrap()
            .contains("removed in 4.12")
    );
    let out = doctor(&[
        "--explain",
        "listen_backlog",
        "--proc-root",
        &fixture("this-host"),
    ]);
    assert!(String::from_utf8(out.stdout).unwrap().contains("Backwards."));
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let missing = fixture("does-not-exist");
    for args in [
        &["--explain", "tcp_nonsense"][..],
        &["--proc-root", &missing][..],
        &["--pid", "4294967295"][..],
        &["--target", "0"][..],
        &["--role", "proxy"][..],
    ] {
        let out = doctor(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        let first = err.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("c1m: ") || first.starts_with("error: invalid value"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn json_schema_is_documented() {
    let doc =
        std::fs::read_to_string(format!("{}/../../docs/doctor.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let r = json(&doctor(&["--proc-root", &fixture("this-host"), "--json"]));
    let mut keys: Vec<String> = r.as_object().unwrap().keys().cloned().collect();
    keys.extend(r["plan"].as_object().unwrap().keys().cloned());
    keys.extend(r["findings"][0].as_object().unwrap().keys().cloned());
    for key in keys {
        assert!(
            doc.contains(&format!("\"{key}\"")),
            "docs/doctor.md does not document \"{key}\""
        );
    }
}
