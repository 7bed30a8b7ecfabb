#!/usr/bin/env python3
"""Time to establish N connections: `c1m load` vs the C baseline client (bench/clients/holdclient.c), in one
run against the same `c1m serve`, plus c1m load's own user-space memory per open connection.

Usage: bench/load/compare.py [-n 100000] [--rate 200000/s] [--sources 8] [--rounds 2] [--c1m PATH]

Runs above 30,000 connections take the machine-wide lock (flock /work/scale.lock) for the whole comparison.
The server listens on two ports so each client gets its own 4-tuples (no TIME_WAIT carried between them).
Prints a table and the ratios; exits non-zero if either client fails to establish every connection.
"""

import argparse
import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PORT_BASELINE, PORT_C1M = 13500, 13501
LOCK = "/work/scale.lock"
LOCK_ABOVE = 30_000


def listening(port):
    out = subprocess.run(["ss", "-Hltn", f"sport = :{port}"], capture_output=True, text=True).stdout
    return bool(out.strip())


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            sys.exit(f"compare.py: timed out waiting for {what}")
        time.sleep(0.05)


def descendants(pid):
    """pid and every process below it (children of children included)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    kids = {}
    for line in out.splitlines():
        p, pp = map(int, line.split())
        kids.setdefault(pp, []).append(p)
    todo, seen = [pid], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(kids.get(p, []))
    return seen


def rss_bytes(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            pass
    return total


def stop(proc, sig=signal.SIGTERM, grace=30):
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_baseline(holdclient, n, sources):
    """Start holdclient, wait for its one result line; returns (seconds, established, rss of its processes)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [holdclient, "-p", str(PORT_BASELINE), "-n", str(n), "-s", str(sources), "-b", "127.0.0.1", "-t", "300"],
        stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    elapsed = time.monotonic() - start
    rss = rss_bytes(descendants(proc.pid))
    stop(proc)
    fields = line.split()
    if len(fields) < 2 or fields[0] != "established":
        sys.exit(f"compare.py: holdclient said {line!r}")
    return elapsed, int(fields[1]), rss, line.strip()


def run_c1m(c1m, n, rate, sources, report_path):
    """Start c1m load with JSON progress, wait for its `done` line; returns (seconds, report, rss of its workers)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        [c1m, "load", f"127.0.0.1:{PORT_C1M}", "-c", str(n), "--rate", rate, "--sources", sources, "--hold", "10m",
         "--progress", "json", "--json", report_path],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    elapsed = None
    for line in proc.stdout:
        if '"done":true' in line:
            elapsed = time.monotonic() - start
            break
    rss = rss_bytes(descendants(proc.pid))
    stop(proc, signal.SIGINT)
    if elapsed is None:
        sys.exit("compare.py: c1m load ended without a done line")
    with open(report_path) as f:
        return elapsed, json.load(f), rss


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=100_000, help="connections per client (default 100000)")
    ap.add_argument("--rate", default="200000/s",
                    help="c1m load --rate (default 200000/s: faster than the kernel, so the kernel sets the pace)")
    ap.add_argument("--rounds", type=int, default=2, help="alternate the two clients this many times (default 2)")
    ap.add_argument("--sources", type=int, default=8, help="source addresses 127.0.0.1.. for both (default 8)")
    ap.add_argument("--c1m", default=os.path.join(ROOT, "target/release/c1m"), help="the c1m binary")
    args = ap.parse_args()
    if args.n > LOCK_ABOVE and os.environ.get("C1M_SCALE_LOCKED") != "1":
        with open(LOCK, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            os.environ["C1M_SCALE_LOCKED"] = "1"
            return compare(args)
    return compare(args)


def compare(args):
    tmp = tempfile.mkdtemp(prefix="c1m-bench-load-")
    holdclient = os.path.join(tmp, "holdclient")
    subprocess.run(["cc", "-O2", "-Wall", "-o", holdclient, os.path.join(ROOT, "bench/clients/holdclient.c")],
                   check=True)
    server = subprocess.Popen(
        [args.c1m, "serve", "--listen", f"127.0.0.1:{PORT_BASELINE}", "--listen", f"127.0.0.1:{PORT_C1M}",
         "--target", str(args.n + args.n // 10)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: listening(PORT_BASELINE) and listening(PORT_C1M), 30, "c1m serve to listen")
        sources = ",".join(f"127.0.0.{i}" for i in range(1, args.sources + 1))
        base_runs, c1m_runs = [], []
        for _ in range(args.rounds):
            base_runs.append(run_baseline(holdclient, args.n, args.sources))
            time.sleep(2)  # let the server finish closing the previous client's connections
            c1m_runs.append(run_c1m(args.c1m, args.n, args.rate, sources, os.path.join(tmp, "load.json")))
            time.sleep(2)
    finally:
        stop(server)
    # The faster round of each: both are bounded by the kernel, so the slower rounds measure noise.
    base_s, base_est, base_rss, base_line = min(base_runs, key=lambda r: r[0])
    c1m_s, report, c1m_rss = min(c1m_runs, key=lambda r: r[0])
    mem = report["memory"]
    growth = (mem["rss_after_ramp_bytes"] - mem["rss_before_bytes"]) / max(mem["open_at_sample"], 1)
    est = report["counts"]["established"]
    print(f"machine: {os.cpu_count()} CPUs, kernel {os.uname().release}; {args.n} connections from {args.sources} "
          f"sources to one c1m serve (two ports); best of {args.rounds} alternating rounds")
    print("rounds (s): baseline " + " ".join(f"{r[0]:.2f}" for r in base_runs)
          + ", c1m " + " ".join(f"{r[0]:.2f}" for r in c1m_runs))
    print(f"{'client':<28}{'established':>12}{'seconds':>10}{'conn/s':>10}{'RSS total MiB':>15}")
    print(f"{'holdclient (C, epoll)':<28}{base_est:>12}{base_s:>10.2f}{base_est / base_s:>10.0f}"
          f"{base_rss / 2**20:>15.1f}")
    print(f"{'c1m load --rate ' + args.rate:<28}{est:>12}{c1m_s:>10.2f}{est / c1m_s:>10.0f}{c1m_rss / 2**20:>15.1f}")
    print(f"ratio c1m/baseline: time {c1m_s / base_s:.2f}x, rate {(est / c1m_s) / (base_est / base_s):.2f}x")
    print(f"c1m load user-space memory: {growth:.1f} bytes per open connection "
          f"(worker RSS growth over the ramp, {report['workers']} workers)")
    print(f"c1m load connect latency from schedule: p50 {report['connect_latency']['p50_us']} us, "
          f"p99 {report['connect_latency']['p99_us']} us; max behind schedule "
          f"{report['ramp']['max_behind_schedule_ms']} ms")
    print(f"baseline said: {base_line}")
    complete = all(r[1] == args.n for r in base_runs) and all(r[1]["counts"]["established"] == args.n for r in c1m_runs)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
