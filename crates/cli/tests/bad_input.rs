//! Issue 7, "bad input": every subcommand refuses malformed or absurd option values before doing any work,
//! with exit status 2 and either clap's usage error or exactly one `c1m: ` line naming the bad input; never a
//! panic, a backtrace, or output on stdout.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const C1M: &str = env!("CARGO_BIN_EXE_c1m");
/// A bad input must be refused at once; this only bounds a run that wrongly started working.
const REFUSE_WITHIN: Duration = Duration::from_secs(30);
/// Nothing listens here; used where a command needs a syntactically valid target.
const TARGET: &str = "127.0.0.1:18501";
const PORT_TAKEN: u16 = 18502;

/// How the refusal looks.
#[derive(Debug, Clone, Copy)]
enum Refusal {
    /// clap's error: `error: ...` first, `For more information, try '--help'.` last.
    Usage,
    /// One line: `c1m: ...`.
    Message,
    /// A subcommand group called without its subcommand: clap prints the group's usage.
    MissingSubcommand,
}

/// One bad command line, how it must be refused, and the text the refusal must name.
struct Case {
    args: &'static [&'static str],
    refusal: Refusal,
    names: &'static str,
}

const fn usage(args: &'static [&'static str], names: &'static str) -> Case {
    Case {
        args,
        refusal: Refusal::Usage,
        names,
    }
}

const fn message(args: &'static [&'static str], names: &'static str) -> Case {
    Case {
        args,
        refusal: Refusal::Message,
        names,
    }
}

const CASES: &[Case] = &[
    // top level
    usage(&["frobnicate"], "frobnicate"),
    // doctor
    usage(&["doctor", "--target", "0"], "'0'"),
    usage(&["doctor", "--target", "-5"], "-5"),
    usage(&["doctor", "--target", "1e6"], "1e6"),
    usage(&["doctor", "--target", "1000000000"], "1000000000"),
    usage(&["doctor", "--role", "router"], "router"),
    usage(&["doctor", "--pid", "abc"], "abc"),
    usage(&["doctor", "--pid", "4294967296"], "4294967296"),
    message(&["doctor", "--pid", "4194305"], "4194305"),
    message(
        &["doctor", "--proc-root", "/nonexistent/c1m-bad-input"],
        "/nonexistent/c1m-bad-input",
    ),
    message(&["doctor", "--explain", "no_such_limit"], "no_such_limit"),
    // tune: refused before any backup or write
    usage(&["tune", "--target", "0"], "'0'"),
    usage(&["tune", "--target", "lots"], "lots"),
    usage(&["tune", "--role", "x"], "'x'"),
    usage(&["tune", "--dry-run", "--rollback"], "--dry-run"),
    message(
        &["tune", "--rollback", "/nonexistent/c1m-backup.json"],
        "/nonexistent/c1m-backup.json",
    ),
    message(&["tune", "--rollback", "/etc/hostname"], "/etc/hostname"),
    // serve
    usage(&["serve", "--listen", "127.0.0.1:99999"], "127.0.0.1:99999"),
    usage(&["serve", "--listen", "localhost"], "localhost"),
    usage(&["serve", "--listen", "300.1.1.1:7000"], "300.1.1.1:7000"),
    usage(&["serve", "--mode", "teleport"], "teleport"),
    usage(&["serve", "--threads", "0"], "'0'"),
    usage(&["serve", "--threads", "5000"], "5000"),
    usage(&["serve", "--workers", "0"], "'0'"),
    usage(&["serve", "--workers", "5000"], "5000"),
    usage(&["serve", "--workers", "-1"], "-1"),
    usage(&["serve", "--target", "0"], "'0'"),
    usage(&["serve", "--backlog", "0"], "'0'"),
    usage(&["serve", "--max-pending-bytes", "64q"], "64q"),
    usage(&["serve", "--idle-timeout", "10"], "'10'"),
    message(&["serve", "--idle-timeout", "500ms"], "--idle-timeout"),
    usage(&["serve", "--drain-timeout", "soon"], "soon"),
    message(&["serve", "--interval", "0s"], "--interval"),
    usage(&["serve", "--metrics", "99999"], "99999"),
    // load
    usage(&["load"], "<TARGET>"),
    message(&["load", "127.0.0.1"], "127.0.0.1"),
    message(&["load", "127.0.0.1:0"], "127.0.0.1:0"),
    message(&["load", "127.0.0.1:99999"], "127.0.0.1:99999"),
    message(&["load", "10.1.2.3:80"], "10.1.2.3:80"),
    usage(&["load", TARGET, "-c", "0"], "'0'"),
    usage(&["load", TARGET, "-c", "-5"], "-5"),
    usage(&["load", TARGET, "-c", "1e6"], "1e6"),
    usage(&["load", TARGET, "-c", "1000000000"], "1000000000"),
    usage(&["load", TARGET, "--rate", "0"], "'0'"),
    usage(&["load", TARGET, "--rate", "0/s"], "0/s"),
    usage(&["load", TARGET, "--rate", "fast"], "fast"),
    usage(&["load", TARGET, "--sources", "127.0.0.0/33"], "127.0.0.0/33"),
    usage(&["load", TARGET, "--sources", "300.0.0.1"], "300.0.0.1"),
    message(&["load", TARGET, "--sources", "::1"], "::1"),
    message(&["load", TARGET, "--workers", "0"], "--workers 0"),
    usage(&["load", TARGET, "--workers", "many"], "many"),
    message(&["load", TARGET, "-c", "30000", "--workers", "1"], "--workers 1"),
    usage(&["load", TARGET, "--hold", "10"], "'10'"),
    usage(&["load", TARGET, "--close-with", "abort"], "abort"),
    usage(&["load", TARGET, "--connect-timeout", "-1s"], "-1"),
    usage(&["load", TARGET, "--duration", "1000h"], "1000h"),
    usage(&["load", TARGET, "--duration", "0s"], "0s"),
    usage(&["load", TARGET, "--connect-timeout", "0s"], "0s"),
    usage(&["load", TARGET, "--shard", "4/4"], "4/4"),
    usage(&["load", TARGET, "--shard", "1/0"], "1/0"),
    usage(&["load", TARGET, "--shard", "x"], "'x'"),
    message(&["load", TARGET, "-c", "10", "--shard", "15/20"], "15/20"),
    message(&["load", TARGET, "--message", "0"], "--message 0"),
    message(&["load", TARGET, "--message", "2MiB"], "--message 2097152"),
    message(
        &["load", TARGET, "--message", "18446744073709551615"],
        "--message 18446744073709551615",
    ),
    usage(&["load", TARGET, "--message-rate", "5/s"], "--message"),
    usage(&["load", TARGET, "--progress", "loud"], "loud"),
    // report
    Case {
        args: &["report"],
        refusal: Refusal::MissingSubcommand,
        names: "Usage: c1m report <COMMAND>",
    },
    usage(&["report", "merge"], "<FILE>"),
    message(
        &["report", "merge", "/nonexistent/c1m.json"],
        "/nonexistent/c1m.json",
    ),
    message(&["report", "show", "/etc/hostname"], "/etc/hostname"),
    // watch
    message(&["watch", "--interval", "0s"], "--interval 0s"),
    usage(&["watch", "--interval", "10"], "'10'"),
    usage(&["watch", "--port", "99999"], "99999"),
    usage(&["watch", "--port", "remote=abc"], "remote=abc"),
    usage(&["watch", "--port", "sideways=80"], "sideways=80"),
    usage(&["watch", "--pid", "abc"], "abc"),
    message(&["watch", "--pid", "4194305", "--once"], "--pid 4194305"),
    usage(&["watch", "--samples", "0"], "'0'"),
    message(
        &["watch", "--netns", "c1m-deploy-no-such-netns", "--once"],
        "c1m-deploy-no-such-netns",
    ),
    // bench
    usage(&["bench", "-c", "0"], "'0'"),
    usage(&["bench", "-c", "lots"], "lots"),
    usage(&["bench", "--rate", "0"], "'0'"),
    usage(&["bench", "--steps", "0"], "'0'"),
    usage(&["bench", "--steps", "-1"], "-1"),
    usage(&["bench", "--step-size", "0"], "'0'"),
    usage(&["bench", "--memory-margin", "150"], "150"),
    usage(&["bench", "--mode", "stream"], "stream"),
    usage(&["bench", "--compare", "nginx"], "nginx"),
    usage(&["bench", "--message", "64q"], "64q"),
    usage(&["bench", "--message-rate", "0"], "'0'"),
];

/// What one run printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str], state_dir: &std::path::Path) -> Run {
    let mut child = Command::new(C1M)
        .args(args)
        .env_remove("C1M_SHARD")
        .env("C1M_STATE_DIR", state_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start c1m");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for c1m") {
            break status;
        }
        if start.elapsed() > REFUSE_WITHIN {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "c1m {args:?} was still running after {REFUSE_WITHIN:?}: a bad input must be refused at once"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout)
        .expect("read stdout");
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    Run {
        code: status.code(),
        stdout,
        stderr,
    }
}

/// Every way the refusal of `args` can be wrong, as one message per problem.
fn problems(case: &Case, out: &Run) -> Vec<String> {
    let mut found = Vec::new();
    if out.code != Some(2) {
        found.push(format!("exit status {:?}, expected 2", out.code));
    }
    for sign in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        if out.stderr.contains(sign) {
            found.push(format!("stderr shows a panic ({sign})"));
        }
    }
    if !out.stdout.is_empty() {
        found.push(format!("printed on stdout: {:?}", out.stdout));
    }
    let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.is_empty()).collect();
    match case.refusal {
        Refusal::Usage => {
            if !lines.first().is_some_and(|l| l.starts_with("error: ")) {
                found.push("clap's usage error should start with 'error: '".to_string());
            }
            if lines.last() != Some(&"For more information, try '--help'.") {
                found.push("clap's usage error should end with the --help hint".to_string());
            }
        }
        Refusal::Message => {
            if lines.len() != 1 || !lines[0].starts_with("c1m: ") {
                found.push("expected exactly one line starting 'c1m: '".to_string());
            }
            if lines.first().is_some_and(|l| l.ends_with('.')) {
                found.push("the message ends with a period".to_string());
            }
        }
        Refusal::MissingSubcommand => {}
    }
    if !out.stderr.contains(case.names) {
        found.push(format!("the refusal does not name {:?}", case.names));
    }
    found
}

#[test]
fn every_bad_option_is_refused_in_one_clear_message() {
    let state = tempfile::tempdir().expect("a state directory for tune");
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|case| {
            let out = run(case.args, state.path());
            let found = problems(case, &out);
            (!found.is_empty()).then(|| {
                format!(
                    "c1m {}: {}\n  stderr: {}",
                    case.args.join(" "),
                    found.join("; "),
                    out.stderr.trim_end()
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} bad inputs handled wrongly:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    let left: Vec<_> = std::fs::read_dir(state.path())
        .expect("read the state directory")
        .collect();
    assert!(left.is_empty(), "a refused tune left files behind: {left:?}");
}

#[test]
fn serve_refuses_a_port_that_is_taken() {
    let _taken = TcpListener::bind(("127.0.0.1", PORT_TAKEN)).expect("hold the port");
    let listen = format!("127.0.0.1:{PORT_TAKEN}");
    let state = tempfile::tempdir().expect("a state directory");
    let expected = message(&[], "Address already in use");
    for workers in ["1", "2"] {
        let out = run(
            &["serve", "--listen", &listen, "--workers", workers],
            state.path(),
        );
        let found = problems(&expected, &out);
        assert!(
            found.is_empty(),
            "serve --workers {workers} on a taken port: {found:?}\n  stderr: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&listen),
            "the message names {listen}: {}",
            out.stderr
        );
    }
}
