#!/usr/bin/env python3
"""Soak: hold N echo connections for a while, kill -9 one server worker every interval, and report what broke.

    flock /work/scale.lock bench/soak/soak.py [--connections 200000] [--duration 10m] [--kill-every 1m]

Starts `c1m serve --mode echo --workers auto --target N --json` and `c1m load` with echo messages on every
connection, waits until all N are established, then for --duration kills (SIGKILL) one worker per
--kill-every, round robin over worker indices. Reports, from the server's per-worker JSON stats (all kept in
serve.jsonl) and from the load report:
  - connections lost outside the killed worker (goal 0): every connection a worker lost before its own kill
    (or the end), from its connection count; also, per kill, the drop of the other workers' counts within 3 s;
  - RSS growth of the workers holding the connections (goal flat): each worker's RSS at the start of the soak
    vs just before it is killed (or at the end), in bytes per held connection;
  - restart time of each killed worker, and errors by cause (load's errno table, serve's accept pauses).
Exit status 0 when nothing was lost outside the killed workers, 1 otherwise. Needs python3 only.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def seconds(text):
    """'10m', '90s', '1m30s', '2h' -> seconds."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise argparse.ArgumentTypeError(f"invalid duration '{text}': expected a number with a unit such as 90s or 10m")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


def count(text):
    m = re.fullmatch(r"(\d+)([kKmM]?)", text)
    if not m:
        raise argparse.ArgumentTypeError(f"invalid count '{text}': expected a number such as 50000 or 200k")
    return int(m.group(1)) * {"": 1, "k": 1000, "K": 1000, "m": 1000000, "M": 1000000}[m.group(2)]


class Serve:
    """The server process and the latest of its JSON stats lines (read by a thread)."""

    def __init__(self, binary, port, connections, log, stats_log):
        cmd = [binary, "serve", "--listen", f"127.0.0.1:{port}", "--mode", "echo", "--workers", "auto",
               "--target", str(connections), "--json", "--interval", "1s"]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True)
        self.ready = None
        self.stats = None
        self.samples = []
        self.lock = threading.Lock()
        self.stats_log = stats_log
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.stats_log.write(line)
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            with self.lock:
                if event.get("type") == "ready":
                    self.ready = event
                elif event.get("type") == "stats":
                    self.stats = event
                    self.samples.append(event)

    def latest(self):
        with self.lock:
            return self.stats

    def next_stats(self, after_ms, timeout=30):
        """The first stats line stamped after `after_ms`."""
        end = time.time() + timeout
        while time.time() < end:
            s = self.latest()
            if s and s["ts_ms"] > after_ms:
                return s
            time.sleep(0.1)
        raise SystemExit("soak: serve stopped printing stats")


def children(pid):
    """Direct children of `pid`, from /proc/PID/task/*/children."""
    pids = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return pids


def workers_by_index(stats):
    return {w["index"]: w for w in stats["workers"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--connections", type=count, default=200000, help="connections to hold (default 200000)")
    p.add_argument("--duration", type=seconds, default=600, help="soak time after the ramp (default 10m)")
    p.add_argument("--kill-every", type=seconds, default=60, help="SIGKILL one worker this often (default 1m)")
    p.add_argument("--rate", default="20000/s", help="connection rate of the ramp (default 20000/s)")
    p.add_argument("--message", default="16", help="echo message size in bytes (default 16)")
    p.add_argument("--message-rate", default="1/s", help="messages per connection per second (default 1/s)")
    p.add_argument("--port", type=int, default=24000, help="server port (default 24000)")
    p.add_argument("--binary", default=os.path.join(REPO, "target/release/c1m"), help="the c1m binary")
    p.add_argument("--out", default="soak-out", help="directory for logs and soak.json (default ./soak-out)")
    args = p.parse_args()
    if not os.access(args.binary, os.X_OK):
        raise SystemExit(f"soak: no c1m binary at {args.binary}: run cargo build --release or pass --binary")
    os.makedirs(args.out, exist_ok=True)
    serve_log = open(os.path.join(args.out, "serve.stderr"), "w")
    load_log = open(os.path.join(args.out, "load.stderr"), "w")

    stats_log = open(os.path.join(args.out, "serve.jsonl"), "w", buffering=1)
    serve = Serve(args.binary, args.port, args.connections, serve_log, stats_log)
    end = time.time() + 60
    while serve.ready is None:
        if time.time() > end or serve.proc.poll() is not None:
            raise SystemExit(f"soak: serve did not become ready; see {args.out}/serve.stderr")
        time.sleep(0.1)
    print(f"serve ready: {serve.ready['workers']} workers, pid {serve.ready['pid']}", flush=True)

    # Hold long enough for the whole soak; load ends by itself after it.
    hold = int(args.duration + 60)
    load_json = os.path.join(args.out, "load.json")
    load = subprocess.Popen(
        [args.binary, "load", f"127.0.0.1:{args.port}", "-c", str(args.connections), "--rate", args.rate,
         "--sources", "auto", "--workers", "auto", "--hold", f"{hold}s", "--message", args.message,
         "--message-rate", args.message_rate, "--progress", "off", "--json", load_json],
        stdout=subprocess.DEVNULL, stderr=load_log)

    ramp_start = time.time()
    while True:
        s = serve.latest()
        if s and s["connections"] >= args.connections:
            break
        if load.poll() is not None or time.time() - ramp_start > 600:
            have = s["connections"] if s else 0
            serve.proc.send_signal(signal.SIGTERM)
            raise SystemExit(f"soak: the ramp stopped at {have} of {args.connections}; see {args.out}/load.stderr")
        time.sleep(0.5)
    ramp_s = time.time() - ramp_start
    print(f"ramp: {args.connections} connections in {ramp_s:.1f} s", flush=True)

    first = serve.next_stats(int(time.time() * 1000))
    # RSS of each worker that held connections from the start, until it is killed or the soak ends.
    watched = {w["pid"]: {"worker": w["index"], "rss_start": w["rss_bytes"], "start": time.time(),
                          "connections": w["connections"]} for w in first["workers"]}
    ended = {}
    kills = []
    lost_outside = 0
    soak_end = time.time() + args.duration
    next_kill = time.time() + args.kill_every
    index = 0
    planned = int(args.duration // args.kill_every)
    while len(kills) < planned or time.time() < soak_end:
        if time.time() < next_kill:
            time.sleep(min(1.0, max(0.0, next_kill - time.time())))
            continue
        next_kill += args.kill_every
        before = serve.next_stats(int(time.time() * 1000))
        workers = workers_by_index(before)
        victim = workers[index % len(workers)]
        index += 1
        for w in workers.values():
            if w["pid"] in watched:
                watched[w["pid"]]["rss_end"] = w["rss_bytes"]
                watched[w["pid"]]["end"] = time.time()
        if victim["pid"] in watched:
            ended[victim["pid"]] = dict(watched.pop(victim["pid"]), conns_end=victim["connections"])
        old_pids = set(children(serve.ready["pid"]))
        killed_at = time.time()
        os.kill(victim["pid"], signal.SIGKILL)
        restart_s = None
        while time.time() - killed_at < 10:
            # The supervisor's children, read from /proc: the stats lines come only once per interval.
            # A replacement is a child that was not there before the kill (the victim may still be exiting).
            now = children(serve.ready["pid"])
            if any(pid not in old_pids for pid in now):
                restart_s = time.time() - killed_at
                break
            time.sleep(0.005)
        time.sleep(3)  # let the other workers' counts settle into a fresh stats line
        after = serve.next_stats(int(time.time() * 1000))
        after_workers = workers_by_index(after)
        lost_here = sum(max(0, w["connections"] - after_workers[i]["connections"])
                        for i, w in workers.items()
                        if i != victim["index"] and after_workers.get(i, {}).get("pid") == w["pid"])
        lost_outside += lost_here
        kills.append({"worker": victim["index"], "pid": victim["pid"], "held": victim["connections"],
                      "restart_s": restart_s, "lost_outside": lost_here})
        print(f"kill {len(kills)}: worker {victim['index']} (pid {victim['pid']}, {victim['connections']} conns)"
              f" restarted in {restart_s if restart_s is None else round(restart_s, 3)} s;"
              f" lost elsewhere: {lost_here}", flush=True)

    last = serve.next_stats(int(time.time() * 1000))
    for w in last["workers"]:
        if w["pid"] in watched:
            ended[w["pid"]] = dict(watched.pop(w["pid"]), rss_end=w["rss_bytes"], end=time.time(),
                                   conns_end=w["connections"])
    # Over each watched worker's whole life in the soak: every connection it lost before its own kill.
    lost_anytime = sum(max(0, g["connections"] - g["conns_end"]) for g in ended.values())
    growth = [{"worker": g["worker"], "pid": pid, "connections": g["connections"], "rss_start": g["rss_start"],
               "rss_end": g["rss_end"], "growth_bytes": g["rss_end"] - g["rss_start"],
               "observed_s": round(g["end"] - g["start"], 1)}
              for pid, g in ended.items() if "rss_end" in g]
    serve.proc.send_signal(signal.SIGTERM)
    load.send_signal(signal.SIGINT)
    try:
        load.wait(timeout=60)
    except subprocess.TimeoutExpired:
        load.kill()
    try:
        serve.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        serve.proc.kill()

    report = {}
    if os.path.exists(load_json):
        with open(load_json) as f:
            report = json.load(f)
    errors = {}
    for e in report.get("errors", []):
        key = f"{e['phase']} {e['name']}"
        errors[key] = errors.get(key, 0) + e["count"]
    killed_held = sum(k["held"] for k in kills)
    summary = {
        "connections": args.connections, "duration_s": args.duration, "kill_every_s": args.kill_every,
        "ramp_s": round(ramp_s, 1), "kills": kills, "killed_held": killed_held,
        "lost_outside_killed_at_kills": lost_outside, "lost_outside_killed": lost_anytime,
        "load_dropped": report.get("counts", {}).get("dropped"),
        "messages": {k: report.get("messages", {}).get(k) for k in ("sent", "echoed")} if report.get("messages") else None,
        "rss_growth": growth, "errors_by_cause": errors,
        "serve_accept_pauses": last.get("accept_pauses"), "serve_closed_pending_cap": last.get("closed_pending_cap"),
        "workers_restarted": last.get("workers_restarted"),
    }
    with open(os.path.join(args.out, "soak.json"), "w") as f:
        json.dump(summary, f, indent=2)

    total_growth = sum(g["growth_bytes"] for g in growth)
    held = sum(g["connections"] for g in growth) or 1
    restarts = [k["restart_s"] for k in kills if k["restart_s"] is not None]
    print()
    print(f"soak: {args.connections} echo connections, {args.duration:.0f} s, {len(kills)} kills")
    print(f"  connections lost outside the killed worker  {lost_anytime}  (goal 0; {lost_outside} within 3 s of a kill)")
    print(f"  connections held by killed workers         {killed_held}  (load saw {summary['load_dropped']} dropped)")
    if restarts:
        print(f"  restart time                               max {max(restarts):.3f} s over {len(restarts)} kills")
    observed = max((g["observed_s"] for g in growth), default=0)
    print(f"  RSS growth of {len(growth)} workers holding {held} connections, until killed (up to {observed:.0f} s)"
          f": {total_growth / 1024:.0f} KiB = {total_growth / held:.2f} bytes per connection  (goal flat)")
    if summary["messages"]:
        print(f"  echo messages sent / echoed                {summary['messages']['sent']} / {summary['messages']['echoed']}")
    print("  errors by cause (load)                     " + (", ".join(f"{k}: {v}" for k, v in errors.items()) or "none"))
    print(f"  serve accept pauses                        {summary['serve_accept_pauses'] or 'none'}")
    print(f"  full figures in {args.out}/soak.json")
    return 0 if lost_anytime == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
