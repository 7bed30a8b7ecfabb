#!/usr/bin/env python3
"""Side-by-side server benchmark: hold N connections on c1m serve, the Go server and the tokio server, opened
by the same client (bench/clients/holdclient), then the article's accept-and-close workload on c1m
`--mode close` and the article's Go program. Prints a table and the ratios against c1m.

usage: bench/serve/run.py [--connections N] [--sources S] [--churn-seconds T] [--port P] [--json FILE]

Measured per server (all server processes together, supervisor included):
  user B/conn  (VmRSS after the ramp - VmRSS before it) / N
  slab B/conn  (/proc/meminfo Slab after - before) / N: the kernel objects of BOTH ends (client and server
               sockets), the same client for every server, so the numbers compare
  ramp s       from starting the client until the server processes hold N more sockets (/proc/PID/fd)
  cpu s        user+system CPU of the server processes from before the ramp to the end of the hold
Runs above 30,000 connections take the machine-wide lock /work/scale.lock (flock) for their duration.
Needs: cargo, go, gcc; runs as root on Linux (reads other processes' /proc entries).
"""

import argparse
import fcntl
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.environ.get("C1M_BENCH_BUILD", "/tmp/c1m-bench-serve")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
FD_RESERVE = 64  # c1m_kernel::FD_RESERVE_PER_PROCESS
HEADROOM = 1.10  # c1m_kernel::SERVER_SPREAD_HEADROOM_PERCENT
CLK_TCK = os.sysconf("SC_CLK_TCK")


def run(cmd, **kw):
    print("+ " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, **kw)


def build():
    os.makedirs(BUILD, exist_ok=True)
    run(["cargo", "build", "--release", "-q", "-p", "c1m"], cwd=ROOT)
    run(["gcc", "-O2", "-Wall", "-o", f"{BUILD}/holdclient", f"{ROOT}/bench/clients/holdclient.c"])
    for prog in ["go-hold", "go-close"]:
        run(["go", "build", "-o", f"{BUILD}/{prog}", "main.go"], cwd=f"{HERE}/{prog}",
            env={**os.environ, "GOFLAGS": "-mod=mod", "GOCACHE": f"{BUILD}/gocache"})
    run(["cargo", "build", "--release", "-q"], cwd=f"{HERE}/tokio-hold",
        env={**os.environ, "CARGO_TARGET_DIR": f"{BUILD}/tokio-target"})
    return {
        "c1m": f"{TARGET}/release/c1m",
        "holdclient": f"{BUILD}/holdclient",
        "go-hold": f"{BUILD}/go-hold",
        "go-close": f"{BUILD}/go-close",
        "tokio-hold": f"{BUILD}/tokio-target/release/tokio-hold",
    }


def meminfo_kib(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} in /proc/meminfo")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def rss_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    except OSError:
        return 0.0


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def listen_overflows():
    with open("/proc/net/netstat") as f:
        rows = [line.split() for line in f if line.startswith("TcpExt:")]
    return int(rows[1][rows[0].index("ListenOverflows")])


def tcp_inuse():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                parts = line.split()
                return int(parts[parts.index("inuse") + 1])
    return 0


def hard_nofile():
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[1]


def group_size(n):
    per = hard_nofile() - FD_RESERVE
    return max(1, -(-int(n * HEADROOM) // per))


class Group:
    """A set of server processes; `pids()` lists every process that belongs to it."""

    def __init__(self, procs, with_children=False):
        self.procs = procs
        self.with_children = with_children

    def pids(self):
        out = [p.pid for p in self.procs]
        if self.with_children:
            for p in self.procs:
                out += children(p.pid)
        return out

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.time() + 30
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def start_c1m(bins, port, n, mode="hold", workers=None, threads=None):
    args = [bins["c1m"], "serve", "--listen", f"127.0.0.1:{port}", "--mode", mode, "--json", "--interval", "1s"]
    args += ["--workers", str(workers)] if workers else ["--workers", "auto", "--target", str(n)]
    args += ["--threads", str(threads)] if threads else []
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    ready = json.loads(p.stdout.readline())
    assert ready["type"] == "ready", ready
    # Keep reading stats lines so the pipe never fills up.
    subprocess.Popen(["cat"], stdin=p.stdout, stdout=subprocess.DEVNULL)
    return Group([p], with_children=True)


def start_baseline(binary, port, count):
    procs = []
    for _ in range(count):
        p = subprocess.Popen([binary, str(port)], stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline()
        if "Listening" not in line:
            raise RuntimeError(f"{binary} did not start: {line!r}")
        procs.append(p)
    return Group(procs)


def wait_quiet(baseline_inuse, timeout=60):
    """Wait until the previous run's sockets are gone, so slab deltas start from the same floor."""
    deadline = time.time() + timeout
    while time.time() < deadline and tcp_inuse() > baseline_inuse + 100:
        time.sleep(0.5)


def hold(name, group, bins, port, n, sources):
    time.sleep(1.0)
    pids = group.pids()
    rss0 = sum(rss_bytes(p) for p in pids)
    cpu0 = sum(cpu_seconds(p) for p in pids)
    fds0 = sum(fd_count(p) for p in pids)
    slab0 = meminfo_kib("Slab")
    overflows0 = listen_overflows()
    t0 = time.time()
    client = subprocess.Popen(
        [bins["holdclient"], "-p", str(port), "-n", str(n), "-s", str(sources), "-R", "-t", "300"],
        stdout=subprocess.PIPE, text=True)
    result = client.stdout.readline().strip()
    held = 0
    deadline = time.time() + 120
    while time.time() < deadline:
        pids = group.pids()
        held = sum(fd_count(p) for p in pids) - fds0
        if held >= n:
            break
        time.sleep(0.05)
    ramp = time.time() - t0
    time.sleep(2.0)  # let lazily faulted pages and per-CPU caches settle before sampling
    pids = group.pids()
    rss1 = sum(rss_bytes(p) for p in pids)
    cpu1 = sum(cpu_seconds(p) for p in pids)
    slab1 = meminfo_kib("Slab")
    client.send_signal(signal.SIGTERM)
    client.wait()
    group.stop()
    row = {
        "server": name,
        "processes": len(group.procs) if not group.with_children else len(pids) - 1,
        "connections": n,
        "held": held,
        "client": result,
        "ramp_s": round(ramp, 2),
        "user_bytes_per_conn": (rss1 - rss0) / n,
        "slab_bytes_per_conn": (slab1 - slab0) * 1024 / n,
        "cpu_s": round(cpu1 - cpu0, 2),
        "listen_overflows": listen_overflows() - overflows0,
    }
    print(json.dumps(row), file=sys.stderr)
    return row


def churn(name, group, bins, port, seconds, sources):
    time.sleep(1.0)
    pids = group.pids()
    cpu0 = sum(cpu_seconds(p) for p in pids)
    out = subprocess.run(
        [bins["holdclient"], "-m", "churn", "-p", str(port), "-t", str(seconds), "-s", str(sources), "-w", "2",
         "-i", "64"], check=True, stdout=subprocess.PIPE, text=True).stdout.split()
    cpu1 = sum(cpu_seconds(p) for p in group.pids())
    group.stop()
    fields = dict(zip(out[0::2], out[1::2]))
    row = {"server": name, "completed": int(fields["completed"]), "failed": int(fields["failed"]),
           "rate_per_s": float(fields["rate"]), "cpu_s": round(cpu1 - cpu0, 2)}
    print(json.dumps(row), file=sys.stderr)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--connections", type=int, default=100_000)
    ap.add_argument("--sources", type=int, default=8, help="client source addresses 127.0.0.2 and up")
    ap.add_argument("--churn-seconds", type=int, default=10)
    ap.add_argument("--churn-rounds", type=int, default=5)
    ap.add_argument("--port", type=int, default=10100, help="first of the 3 + 2 x rounds ports used")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--skip-build", action="store_true")
    a = ap.parse_args()
    n = a.connections
    if n > 30_000:
        lock = open("/work/scale.lock", "a")
        print("waiting for /work/scale.lock ...", file=sys.stderr)
        fcntl.flock(lock, fcntl.LOCK_EX)
    bins = build() if not a.skip_build else None
    if bins is None:
        bins = {"c1m": f"{TARGET}/release/c1m", "holdclient": f"{BUILD}/holdclient", "go-hold": f"{BUILD}/go-hold",
                "go-close": f"{BUILD}/go-close", "tokio-hold": f"{BUILD}/tokio-target/release/tokio-hold"}
    floor = tcp_inuse()
    procs = group_size(n)
    rows = []
    starters = [
        ("c1m", lambda port: start_c1m(bins, port, n)),
        ("go", lambda port: start_baseline(bins["go-hold"], port, procs)),
        ("tokio", lambda port: start_baseline(bins["tokio-hold"], port, procs)),
    ]
    for i, (name, start) in enumerate(starters):
        wait_quiet(floor)
        port = a.port + i
        rows.append(hold(name, start(port), bins, port, n, a.sources))
    wait_quiet(floor)
    # The close workload is short and sensitive to whatever else runs: alternate the two servers over
    # several rounds and keep each one's median.
    close_runs = {"c1m --mode close": [], "go (article)": []}
    for r in range(a.churn_rounds):
        port = a.port + 3 + 2 * r
        close_runs["c1m --mode close"].append(
            # One accept loop, like the Go program's; on 2 CPUs the client needs the other one.
            churn("c1m --mode close", start_c1m(bins, port, 1, mode="close", workers=1, threads=1), bins, port,
                  a.churn_seconds, a.sources))
        close_runs["go (article)"].append(
            churn("go (article)", start_baseline(bins["go-close"], port + 1, 1), bins, port + 1,
                  a.churn_seconds, a.sources))
    close_rows = [sorted(runs, key=lambda x: x["rate_per_s"])[len(runs) // 2] for runs in close_runs.values()]

    c1m = rows[0]
    print(f"\nhold {n:,} connections (client: holdclient, {a.sources} source addresses; "
          f"{os.cpu_count()} CPUs; {procs} baseline processes)")
    print(f"{'server':<8}{'procs':>6}{'held':>9}{'ramp s':>8}{'user B/conn':>13}{'slab B/conn':>13}{'cpu s':>7}"
          f"{'user vs c1m':>13}{'cpu vs c1m':>12}{'overflows':>11}")
    for r in rows:
        ratio = r["user_bytes_per_conn"] / c1m["user_bytes_per_conn"] if c1m["user_bytes_per_conn"] > 0 else float("inf")
        cpu_ratio = r["cpu_s"] / c1m["cpu_s"] if c1m["cpu_s"] > 0 else float("inf")
        print(f"{r['server']:<8}{r['processes']:>6}{r['held']:>9,}{r['ramp_s']:>8.2f}{r['user_bytes_per_conn']:>13.1f}"
              f"{r['slab_bytes_per_conn']:>13.0f}{r['cpu_s']:>7.2f}{ratio:>12.1f}x{cpu_ratio:>11.1f}x"
              f"{r['listen_overflows']:>11,}")
    print(f"\naccept-and-close, median of {a.churn_rounds} alternating rounds of {a.churn_seconds}s "
          f"(client: holdclient -m churn, 2 processes x 64 in flight)")
    for r in close_rows:
        us = r["cpu_s"] / max(1, r["completed"]) * 1e6
        print(f"{r['server']:<18}{r['rate_per_s']:>10,.0f} conn/s  completed {r['completed']:,} failed {r['failed']:,}"
              f"  server cpu {r['cpu_s']:.2f}s = {us:.1f} us/conn")
    ratio = close_rows[0]["rate_per_s"] / close_rows[1]["rate_per_s"]
    per_conn = [r["cpu_s"] / max(1, r["completed"]) for r in close_rows]
    print(f"c1m --mode close / go: {ratio:.2f}x connections per second, "
          f"{per_conn[1] / per_conn[0]:.2f}x less server CPU per connection")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"hold": rows, "accept_close": close_runs, "close_ratio": ratio}, f, indent=2)


if __name__ == "__main__":
    main()
