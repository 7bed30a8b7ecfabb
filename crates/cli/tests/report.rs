//! `c1m report merge|show` on reports written by real `c1m load` runs against a loopback listener.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

fn c1m(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_c1m"))
        .args(args)
        .output()
        .expect("c1m runs")
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A listener that accepts and holds every connection (a few hundred at most) until the test ends.
fn listener() -> (std::thread::JoinHandle<()>, String) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in l.incoming().flatten() {
            held.push(conn);
        }
    });
    (holder, addr)
}

/// Run one shard of a 200-connection plan and return the path of its report.
fn shard(dir: &Path, target: &str, shard: &str) -> std::path::PathBuf {
    let path = dir.join(format!("shard-{}.json", shard.replace('/', "-")));
    let out = c1m(&[
        "load",
        target,
        "-c",
        "200",
        "--rate",
        "2000/s",
        "--hold",
        "100ms",
        "--no-progress",
        "--shard",
        shard,
        "--json",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    path
}

#[test]
fn merge_adds_counts_and_histograms_and_show_renders_it() {
    let (_l, target) = listener();
    let dir = tempfile::tempdir().unwrap();
    let a = shard(dir.path(), &target, "0/2");
    let b = shard(dir.path(), &target, "1/2");
    let merged = dir.path().join("merged.json");
    let out = c1m(&[
        "report",
        "merge",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("all 200 connections established and held"),
        "{stdout}"
    );

    let (ra, rb, m) = (json(&a), json(&b), json(&merged));
    for key in ["planned", "attempted", "established", "failed", "open_at_end"] {
        let sum = ra["counts"][key].as_u64().unwrap() + rb["counts"][key].as_u64().unwrap();
        assert_eq!(m["counts"][key].as_u64().unwrap(), sum, "{key}");
    }
    assert_eq!(m["counts"]["established"], 200);
    assert_eq!(
        m["connect_latency"]["count"], 200,
        "the merged histogram holds every sample"
    );
    assert_eq!(m["connect_latency_from_start"]["count"], 200);
    assert_eq!(m["shards"].as_array().unwrap().len(), 2);
    let max = ra["connect_latency"]["max_us"]
        .as_u64()
        .unwrap()
        .max(rb["connect_latency"]["max_us"].as_u64().unwrap());
    assert_eq!(m["connect_latency"]["max_us"].as_u64().unwrap(), max);

    let page = dir.path().join("merged.html");
    let show = c1m(&[
        "report",
        "show",
        merged.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(show.status.success(), "{}", String::from_utf8_lossy(&show.stderr));
    let text = String::from_utf8_lossy(&show.stdout);
    assert!(
        text.contains("shards 0/2 1/2") && text.contains("connect, from schedule"),
        "{text}"
    );
    // The page: the same summary, a latency plot with both connect curves, the report itself.
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("all 200 connections established and held"),
        "{html}"
    );
    assert!(html.contains("shards 0/2 1/2"));
    let at = html
        .find(&format!("id=\"{}\"", c1m_bench::load_html::LATENCY_PLOT_ID))
        .expect("latency plot");
    let svg = &html[at..at + html[at..].find("</svg>").unwrap()];
    assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
    let open = "id=\"report-data\">";
    let data = &html[html.find(open).unwrap() + open.len()..html.rfind("</script>").unwrap()];
    let embedded: Value = serde_json::from_str(data).unwrap();
    assert_eq!(embedded["counts"], m["counts"]);
    assert!(
        !html.contains("src=") && !html.contains("<link"),
        "nothing is fetched"
    );
}

#[test]
fn merge_reads_a_log_with_the_report_as_a_json_line() {
    let (_l, target) = listener();
    let dir = tempfile::tempdir().unwrap();
    let out = c1m(&[
        "load",
        &target,
        "-c",
        "50",
        "--rate",
        "1000/s",
        "--hold",
        "100ms",
        "--progress",
        "json",
        "--json",
        "-",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let log = dir.path().join("pod.log");
    std::fs::write(&log, &out.stdout).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.contains("\"done\":true")), "{stdout}");
    let show = c1m(&["report", "show", "--json", log.to_str().unwrap()]);
    assert!(show.status.success(), "{}", String::from_utf8_lossy(&show.stderr));
    let v: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(v["counts"]["established"], 50);
}

#[test]
fn refuses_duplicate_shards_and_non_reports() {
    let (_l, target) = listener();
    let dir = tempfile::tempdir().unwrap();
    let a = shard(dir.path(), &target, "0/2");
    let out = c1m(&["report", "merge", a.to_str().unwrap(), a.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("c1m: shard 0/2 appears in more than one report"),
        "{err}"
    );

    let other = dir.path().join("other.json");
    std::fs::write(&other, r#"{"kind":"something-else"}"#).unwrap();
    let out = c1m(&["report", "show", other.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a c1m load report"));

    let out = c1m(&[
        "report",
        "show",
        dir.path().join("missing.json").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("c1m: cannot read"));

    // A different plan (another connection count) is not a shard of the same run.
    let c = dir.path().join("c.json");
    let out = c1m(&[
        "load",
        &target,
        "-c",
        "10",
        "--hold",
        "0s",
        "--no-progress",
        "--shard",
        "1/2",
        "--json",
        c.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let out = c1m(&["report", "merge", a.to_str().unwrap(), c.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("different plans (connections"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
