//! `c1m serve` under hostile peers: each test runs a real server on loopback, does something a bad peer would
//! do, and checks that a control group of well-behaved connections keeps echoing, that the server closes
//! what it must, and that memory and CPU stay bounded. Ports 23200-23299.

mod fault_kit;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use fault_kit::*;

/// Total RSS of the server's workers, in KiB.
fn workers_rss(serve: &Serve) -> u64 {
    serve.workers().iter().map(|p| rss_kib(*p)).sum()
}

/// The supervisor and its workers.
fn all_pids(serve: &Serve) -> Vec<u32> {
    let mut pids = serve.workers();
    pids.push(serve.pid);
    pids
}

/// Write to a peer that never reads until the server gives up on it; returns the bytes written.
fn push_until_closed(mut stream: TcpStream, limit: usize, deadline: Duration) -> Result<usize, String> {
    stream
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = garbage(7, 64 * 1024);
    let end = Instant::now() + deadline;
    let mut written = 0;
    while written < limit && Instant::now() < end {
        match stream.write(&chunk) {
            Ok(n) => written += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return Ok(written),
        }
    }
    Err(format!("still open after {written} bytes"))
}

#[test]
fn never_reading_echo_peers_are_closed_at_the_pending_cap_and_memory_stays_flat() {
    let serve = Serve::start(
        23200,
        &[
            "--mode",
            "echo",
            "--workers",
            "1",
            "--threads",
            "1",
            "--max-pending-bytes",
            "16KiB",
        ],
        None,
    );
    serve.wait_workers(1);
    let mut control = ControlGroup::open(serve.port, 20);
    let rss_before = workers_rss(&serve);
    // Each hog fills its own receive buffer, then the server's send buffer, then the capped pending buffer.
    let hogs: Vec<_> = (0..8)
        .map(|_| {
            let s = connect(serve.port);
            thread::spawn(move || push_until_closed(s, 512 << 20, Duration::from_secs(90)))
        })
        .collect();
    for h in hogs {
        let pushed = h.join().unwrap();
        assert!(pushed.is_ok(), "a never-reading peer was not closed: {pushed:?}");
    }
    serve.wait_stat("closed_pending_cap", |n| n >= 8);
    control.assert_echo("after the never-reading peers");
    let growth = workers_rss(&serve).saturating_sub(rss_before);
    assert!(
        growth < 4096,
        "worker RSS grew by {growth} KiB for 8 capped peers (cap 16 KiB each)"
    );
}

#[test]
fn idle_peers_are_closed_by_the_idle_timeout_while_slow_dribblers_stay() {
    let serve = Serve::start(
        23201,
        &[
            "--mode",
            "echo",
            "--workers",
            "1",
            "--threads",
            "2",
            "--idle-timeout",
            "3s",
        ],
        None,
    );
    serve.wait_workers(1);
    let mut idle = connect_many(serve.port, 200);
    let dribblers = connect_many(serve.port, 100);
    // Slowloris: one byte per connection every 400 ms, each echoed, for longer than several idle timeouts.
    // (The gap stays far under the timeout even when a busy machine slows a round down.)
    let dribbling = thread::spawn(move || {
        let mut streams = dribblers;
        let mut last_round = Instant::now();
        for round in 0..25u8 {
            let gap = last_round.elapsed();
            last_round = Instant::now();
            for (i, s) in streams.iter_mut().enumerate() {
                if !echoes(s, &[round]) {
                    return Err(format!(
                        "dribbler {i} lost at round {round}, {gap:?} after the previous byte"
                    ));
                }
            }
            thread::sleep(Duration::from_millis(400));
        }
        Ok(streams.len())
    });
    let started = Instant::now();
    let closed = idle
        .iter_mut()
        .filter(|s| closed_by_server(s, Duration::from_secs(15)))
        .count();
    assert_eq!(closed, 200, "idle peers left open");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "idle peers closed before the timeout"
    );
    assert_eq!(
        dribbling.join().unwrap(),
        Ok(100),
        "a peer with traffic every 400 ms must not be idle-closed"
    );
    serve.wait_stat("closed_idle", |n| n >= 200);
}

#[test]
fn an_rst_storm_from_thousands_of_peers_leaves_the_others_untouched() {
    let serve = Serve::start(
        23202,
        &["--mode", "echo", "--workers", "2", "--threads", "1"],
        None,
    );
    serve.wait_workers(2);
    let mut control = ControlGroup::open(serve.port, 20);
    let rss_before = workers_rss(&serve);
    let mut storm = connect_many(serve.port, 3000);
    // Unread bytes in the receive buffer make close() send RST instead of FIN (like SO_LINGER 0).
    for s in &mut storm {
        s.write_all(b"r").unwrap();
    }
    for s in &mut storm {
        let mut one = [0u8; 1];
        assert_eq!(s.peek(&mut one).unwrap(), 1, "echo before the reset");
    }
    serve.wait_stat("connections", |n| n == 3020);
    let resets_before = net_counter("self", "Tcp", "OutRsts");
    drop(storm);
    assert!(
        net_counter("self", "Tcp", "OutRsts") - resets_before >= 3000,
        "the peers did not reset"
    );
    serve.wait_stat("connections", |n| n == 20);
    assert!(
        poll_until(SETTLE, || server_sockets(serve.port, "close-wait") == 0),
        "sockets left in CLOSE_WAIT"
    );
    control.assert_echo("after 3000 resets");
    let growth = workers_rss(&serve).saturating_sub(rss_before);
    assert!(growth < 8192, "worker RSS grew by {growth} KiB after the storm");
}

#[test]
fn half_closed_peers_get_their_echo_then_the_server_closes() {
    let serve = Serve::start(
        23203,
        &["--mode", "echo", "--workers", "1", "--threads", "2"],
        None,
    );
    serve.wait_workers(1);
    let mut control = ControlGroup::open(serve.port, 20);
    let mut peers = connect_many(serve.port, 500);
    for (i, s) in peers.iter_mut().enumerate() {
        s.write_all(format!("half {i}\n").as_bytes()).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
    }
    for (i, s) in peers.iter_mut().enumerate() {
        let mut back = String::new();
        s.read_to_string(&mut back)
            .unwrap_or_else(|e| panic!("peer {i}: {e}"));
        assert_eq!(back, format!("half {i}\n"), "peer {i} got its echo then EOF");
    }
    serve.wait_stat("connections", |n| n == 20);
    assert!(
        poll_until(SETTLE, || server_sockets(serve.port, "close-wait") == 0),
        "server left half-closed sockets"
    );
    control.assert_echo("after 500 half-closed peers");
}

/// Send garbage in bursts up to 1 MiB on `n` connections; in echo mode check every byte comes back.
fn garbage_peers(port: u16, n: usize, echo: bool) {
    let peers: Vec<_> = (0..n)
        .map(|i| {
            let mut s = connect(port);
            thread::spawn(move || {
                let mut reader = s.try_clone().unwrap();
                let sizes = [1usize, 7, 1500, 65536, 1 << 20];
                let total: usize = sizes.iter().sum();
                let expected: Vec<u8> = sizes
                    .iter()
                    .flat_map(|&len| garbage((i * 31 + len) as u64, len))
                    .collect();
                let check = echo.then(|| {
                    thread::spawn(move || {
                        let mut back = vec![0u8; total];
                        reader.read_exact(&mut back).map(|_| back)
                    })
                });
                for &len in &sizes {
                    // A closed connection (close mode) is the server's answer, not a failure.
                    if s.write_all(&garbage((i * 31 + len) as u64, len)).is_err() {
                        break;
                    }
                }
                if let Some(check) = check {
                    let back = check.join().unwrap().expect("the echo of the garbage");
                    assert!(back == expected, "peer {i}: echo differs from the garbage sent");
                }
            })
        })
        .collect();
    for p in peers {
        p.join().expect("a garbage peer failed");
    }
}

#[test]
fn garbage_and_oversized_bursts_in_every_mode() {
    for (port, mode) in [
        (23204, "echo"),
        (23205, "hold"),
        (23206, "discard"),
        (23207, "close"),
    ] {
        let mut serve = Serve::start(port, &["--mode", mode, "--workers", "1", "--threads", "2"], None);
        serve.wait_workers(1);
        let mut control = (mode == "echo").then(|| ControlGroup::open(port, 20));
        let held = if matches!(mode, "hold" | "discard") {
            connect_many(port, 20)
        } else {
            vec![]
        };
        garbage_peers(port, 16, mode == "echo");
        if let Some(c) = control.as_mut() {
            c.assert_echo("echo mode after garbage");
        }
        for s in &held {
            assert!(
                !closed_by_server(s, Duration::from_millis(200)),
                "{mode}: a quiet peer was closed"
            );
        }
        if mode == "close" {
            let fresh = connect(port);
            assert!(
                closed_by_server(&fresh, Duration::from_secs(10)),
                "close mode still closes at once"
            );
        }
        assert!(
            serve.wait_exit(Duration::ZERO).is_none(),
            "{mode}: serve died:\n{}",
            serve.stderr.text()
        );
        assert_eq!(
            serve.wait_stat("workers_restarted", |_| true),
            0,
            "{mode}: a worker crashed"
        );
    }
}

#[test]
fn a_connect_flood_above_the_accept_rate_overflows_the_backlog_without_harm() {
    let ns = Netns::new("flood");
    let port = 23208;
    let mut serve = Serve::start_in(
        &ns,
        port,
        &[
            "--mode",
            "hold",
            "--workers",
            "1",
            "--threads",
            "1",
            "--backlog",
            "16",
        ],
    );
    let load = |n: &str, rate: &str| {
        let (code, stdout, stderr) = run(ns.command(C1M).args([
            "load",
            &format!("127.0.0.1:{port}"),
            "-c",
            n,
            "--rate",
            rate,
            "--hold",
            "1s",
            "--workers",
            "1",
            "--no-progress",
            "--json",
            "-",
        ]));
        let report = stdout
            .lines()
            .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok());
        (
            code,
            report.unwrap_or_else(|| panic!("load printed no report:\n{stdout}\n{stderr}")),
        )
    };
    let overflows_before = net_counter(&serve.pid.to_string(), "TcpExt", "ListenOverflows");
    load("8000", "1000000/s");
    let overflows = net_counter(&serve.pid.to_string(), "TcpExt", "ListenOverflows") - overflows_before;
    assert!(
        overflows > 0,
        "8000 SYNs at once never overflowed a backlog of 16"
    );
    serve.wait_stat("listen_overflows", |n| n > 0);
    assert_eq!(serve.wait_stat("effective_backlog", |_| true), 16);
    assert!(
        serve.wait_exit(Duration::ZERO).is_none(),
        "serve died under the flood"
    );
    let (_, watched, stderr) = run(Command::new(C1M).args(["watch", "--once", "--json", "--netns", &ns.0]));
    let sample: serde_json::Value =
        serde_json::from_str(&watched).unwrap_or_else(|_| panic!("watch --json: {watched}{stderr}"));
    let counter = sample["counters"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == "TcpExt.ListenOverflows"));
    let counter = counter.unwrap_or_else(|| panic!("watch shows no ListenOverflows: {watched}"));
    assert_eq!(
        counter["limit"], "listen_backlog",
        "watch names the limit: {counter}"
    );
    assert!(
        counter["value"].as_u64().unwrap_or(0) > 0,
        "watch sees the overflows in the namespace: {counter}"
    );
    // Still accepting, at a rate the backlog can take; and no busy loop once the flood is over.
    let (code, report) = load("200", "2000/s");
    assert_eq!(code, Some(0), "after the flood: {report}");
    let idle = cpu_share(&all_pids(&serve), Duration::from_secs(3));
    assert!(
        idle < 0.10,
        "serve uses {:.0}% of a core idle after the flood",
        idle * 100.0
    );
}

#[test]
fn fd_exhaustion_pauses_accepting_without_spinning_and_recovers() {
    let serve = Serve::start(
        23209,
        &["--mode", "echo", "--workers", "1", "--threads", "1"],
        Some(256),
    );
    serve.wait_workers(1);
    let mut control = ControlGroup::open(serve.port, 10);
    // More peers than the worker has fds: the kernel completes their handshakes into the accept queue.
    let mut flood = connect_many(serve.port, 600);
    serve.wait_stat("nofile_soft", |n| n > 0);
    let busy = cpu_share(&all_pids(&serve), Duration::from_secs(4));
    assert!(
        busy < 0.10,
        "serve uses {:.0}% of a core while out of fds",
        busy * 100.0
    );
    control.assert_echo("while out of fds");
    flood.truncate(50);
    let mut late = ControlGroup::open(serve.port, 20);
    late.assert_echo("after the peers left");
    control.assert_echo("after the peers left");
    let idle = cpu_share(&all_pids(&serve), Duration::from_secs(3));
    assert!(
        idle < 0.10,
        "serve uses {:.0}% of a core after recovering",
        idle * 100.0
    );
}
