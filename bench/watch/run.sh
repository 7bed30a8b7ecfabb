#!/usr/bin/env bash
# bench/watch/run.sh [CONNECTIONS] — cost of one `c1m watch --once` snapshot at scale, side by side with
# `ss -tan state established | wc -l` and `ss -s`, plus watch's kernel bytes per ESTABLISHED socket
# against the rise of /proc/meminfo Slab across the ramp.
#
# Holds CONNECTIONS loopback connections (2x sockets: both ends are local) inside a throwaway network
# namespace, with `c1m serve` + `c1m load` (HOLDER=c1m, default) or bench/watch/hold.py (HOLDER=python),
# under `flock /work/scale.lock`. Needs root, hyperfine, python3. Prints a table with ratios and writes
# results to $OUT (default /tmp/c1m-watch-bench-CONNECTIONS.json).
#
#   bench/watch/run.sh 200000            # the issue's benchmark
#   bench/watch/run.sh 1000000           # the done-means measurement (2,000,000 sockets)
set -euo pipefail

N=${1:-200000}
HOLDER=${HOLDER:-c1m}
RATE=${RATE:-25000}
RUNS=${RUNS:-5}
PORT=${PORT:-16500}
NS=c1m-watch-bench-$$
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-/tmp/c1m-watch-bench-$N.json}
WORK=$(mktemp -d /tmp/c1m-watch-bench.XXXXXX)

# shellcheck source=../lib.sh
. "$ROOT/bench/lib.sh"
bench_setup "$0" "$ROOT" "$N" "network namespaces, /proc/slabinfo" hyperfine python3 ss ip flock -- "$@"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  sleep 1
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }
# The per-namespace TIME_WAIT and SYN budgets do not matter for idle connections; the machine-wide
# tcp_mem and file-max are what doctor/tune cover, so nothing is changed on the host.

established() { in_ns "$C1M" watch --once --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["states"]["ESTABLISHED"])'; }
slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }

slab_before=$(slab_kb)
cp /proc/slabinfo "$WORK/slabinfo.before"
estab_before=$(established)
ramp_start=$(date +%s)

case "$HOLDER" in
  c1m)
    # `ip netns exec` execs its command, so $! is the c1m process itself (killed by cleanup).
    ip netns exec "$NS" "$C1M" serve --listen "127.0.0.1:$PORT" --target "$N" --interval 10s >"$WORK/serve.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do in_ns ss -ltn "sport = :$PORT" | grep -q LISTEN && break; sleep 0.1; done
    ip netns exec "$NS" "$C1M" load "127.0.0.1:$PORT" --connections "$N" --rate "$RATE/s" --sources auto --hold 30m \
      --progress off >"$WORK/load.log" 2>&1 &
    pids+=($!)
    ;;
  python)
    ip netns exec "$NS" python3 "$HERE/hold.py" "$N" "$PORT" 1800 < <(sleep 1800) >"$WORK/hold.log" 2>&1 &
    pids+=($!)
    ;;
  *) echo "run.sh: HOLDER must be c1m or python" >&2; exit 2 ;;
esac

want=$((2 * N * 999 / 1000))
deadline=$((ramp_start + N / (RATE / 2) + 300))
while :; do
  e=$(established)
  [ "$e" -ge "$want" ] && break
  if [ "$(date +%s)" -gt "$deadline" ]; then
    echo "run.sh: only $e of $((2 * N)) sockets established by the deadline" >&2
    tail -5 "$WORK"/*.log >&2 || true
    exit 1
  fi
  sleep 2
done
sleep 3  # let the last accepts settle
ramp_secs=$(( $(date +%s) - ramp_start ))
slab_after=$(slab_kb)
cp /proc/slabinfo "$WORK/slabinfo.after"
in_ns "$C1M" watch --once --json >"$WORK/sample.json"
in_ns "$C1M" watch --once --exact --json >"$WORK/sample-exact.json"

hyperfine -N --style basic --warmup 1 --runs "$RUNS" --export-json "$WORK/hyperfine.json" \
  -n "c1m watch --once" "ip netns exec $NS $C1M watch --once --json" \
  -n "c1m watch --once --exact" "ip netns exec $NS $C1M watch --once --exact --json" \
  -n "ss -tan state established | wc -l" "ip netns exec $NS sh -c 'ss -tan state established | wc -l'" \
  -n "ss -s" "ip netns exec $NS ss -s" >"$WORK/hyperfine.txt"

python3 - "$WORK" "$N" "$slab_before" "$slab_after" "$estab_before" "$ramp_secs" "$HOLDER" "$OUT" <<'PY'
import json, sys
work, n, slab0, slab1, estab0, ramp, holder, out = sys.argv[1:]
n, slab0, slab1, estab0 = int(n), int(slab0) * 1024, int(slab1) * 1024, int(estab0)
s = json.load(open(f"{work}/sample.json"))
exact = json.load(open(f"{work}/sample-exact.json"))
runs = {r["command"]: r for r in json.load(open(f"{work}/hyperfine.json"))["results"]}
watch = runs["c1m watch --once"]["mean"]
estab = s["states"]["ESTABLISHED"]
rise_per = (slab1 - slab0) / max(1, estab - estab0)
per = s["memory"]["bytes_per_established"]
per_with = s["memory"]["bytes_per_established_with_proc_fd"]
print(f"c1m watch benchmark: {n} connections ({estab} ESTABLISHED sockets, holder {holder}, ramp {ramp}s)")
print(f"{'command':40} {'mean':>10} {'stddev':>10} {'vs watch':>9}")
for name, r in runs.items():
    print(f"{name:40} {r['mean']*1000:8.1f}ms {r['stddev']*1000:8.1f}ms {r['mean']/watch:8.2f}x")
print(f"watch's own sampling cost: dump {s['cost']['dump_us']/1000:.1f}ms for {s['cost']['dumped_sockets']} sockets, "
      f"whole sample {s['cost']['total_us']/1000:.1f}ms; --exact dump {exact['cost']['dump_us']/1000:.1f}ms "
      f"for {exact['cost']['dumped_sockets']} sockets")
print(f"ESTABLISHED: counter path {estab}, exact dump {exact['states']['ESTABLISHED']}")
print(f"kernel bytes per ESTABLISHED socket: Slab rise {slab1-slab0} B / {estab-estab0} sockets = {rise_per:.0f} B; "
      f"watch {per_with} B with /proc/PID/fd entries ({s['memory']['proc_fd_slab_bytes']} B of them), "
      f"watch/rise = {per_with/rise_per:.3f}")
def slabs(path):
    rows = {}
    for line in open(path).readlines()[2:]:
        f = line.split()
        rows[f[0]] = (int(f[1]), int(f[3]), int(f[-2]) * int(f[5]) * 4096)  # active, objsize, slab bytes
    return rows
before, after = slabs(f"{work}/slabinfo.before"), slabs(f"{work}/slabinfo.after")
growth = sorted(((after[k][2] - before.get(k, (0, 0, 0))[2], k, after[k][0] - before.get(k, (0, 0, 0))[0]) for k in after), reverse=True)
# Something that lists /proc/PID/fd (a process monitor; on the development machine an outside scanner)
# instantiates a proc inode, a dentry and an LSM blob per open fd. watch reports them apart; compare its
# sockets-only figure with the Slab rise minus that growth too.
def grew(name):
    a, b = before.get(name, (0, 0, 0)), after.get(name, (0, 0, 0))
    return b[2] - a[2], b[0] - a[0], b[1]
new = max(1, estab - estab0)
proc_bytes, proc_objs, _ = grew("proc_inode_cache")
extra = proc_bytes
for name in ("dentry", "lsm_inode_cache"):
    _, objs, size = grew(name)
    extra += max(0, min(objs - new, proc_objs)) * size
adjusted = (slab1 - slab0 - extra) / new
print(f"  sockets alone: Slab rise without the growth of /proc/PID/fd entries ({proc_objs} proc inodes, {extra} B) "
      f"{adjusted:.0f} B; watch {per} B, watch/rise = {per/adjusted:.3f}")
print("slab caches that grew most across the ramp (slab bytes, objects per new ESTABLISHED socket):")
for delta, name, objs in growth[:12]:
    print(f"  {name:24} {delta/1048576:10.1f} MiB  {objs/max(1, estab-estab0):6.2f}")
json.dump({"connections": n, "established": estab, "holder": holder, "ramp_secs": int(ramp),
           "hyperfine": {k: {"mean_s": v["mean"], "stddev_s": v["stddev"], "ratio_to_watch": v["mean"]/watch} for k, v in runs.items()},
           "watch_cost": s["cost"], "exact_cost": exact["cost"],
           "bytes_per_established": per, "bytes_per_established_with_proc_fd": per_with,
           "slab_rise_bytes": slab1 - slab0, "slab_rise_per_established": rise_per,
           "agreement": per_with / rise_per, "sample": s,
           "proc_fd_inode_bytes": extra, "slab_rise_per_established_without_proc_fd": adjusted,
           "agreement_without_proc_fd": per / adjusted}, open(out, "w"), indent=1)
print(f"results: {out}")
PY
