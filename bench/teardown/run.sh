#!/usr/bin/env bash
# bench/teardown/run.sh [CONNECTIONS] — how fast CONNECTIONS held loopback connections close, three ways, in
# one run, with ratios: the load side closing with resets (`c1m load --close-with reset`, then SIGINT: what
# `c1m bench` does), `ss -K` destroying them from outside (bench's earlier design), and killing the load
# processes so the kernel closes every socket with a FIN (the naive way).
#
# Each method holds its own CONNECTIONS with `c1m serve` + `c1m load` inside one throwaway network namespace
# (its TIME_WAIT table is its own), under `flock /work/scale.lock`; the FIN method runs last because its
# TIME_WAIT sockets stay 60 s. "Closed" means /proc/net/snmp CurrEstab back to what it was. Needs root.
#
#   bench/teardown/run.sh            # 200,000 connections (~1 minute)
set -euo pipefail

N=${1:-200000}
RATE=${RATE:-25000}
NS=c1m-teardown-bench-$$
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=$(mktemp -d /tmp/c1m-teardown-bench.XXXXXX)

# shellcheck source=../lib.sh
. "$ROOT/bench/lib.sh"
bench_setup "$0" "$ROOT" "$N" "network namespaces" ss ip flock python3 -- "$@"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null || true; done
  sleep 1
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns() { ip netns exec "$NS" "$@"; }
established() { in_ns awk '/^Tcp:/ && ++n == 2 {print $10}' /proc/net/snmp; }
time_wait() { in_ns awk '/^TCP:/ {for (i = 1; i < NF; i++) if ($i == "tw") print $(i + 1)}' /proc/net/sockstat; }
now() { date +%s.%N; }

# hold METHOD PORT: a server and N held connections; sets SERVER and LOAD (process group leaders).
hold() {
  local close=fin
  [ "$1" = reset ] && close=reset
  setsid ip netns exec "$NS" "$C1M" serve --listen "127.0.0.1:$2" --target "$N" --interval 10s \
    >"$WORK/$1-serve.log" 2>&1 &
  SERVER=$!
  pids+=("$SERVER")
  for _ in $(seq 100); do in_ns ss -Hltn "sport = :$2" | grep -q . && break; sleep 0.1; done
  setsid ip netns exec "$NS" "$C1M" load "127.0.0.1:$2" --connections "$N" --rate "$RATE/s" --sources auto \
    --hold 30m --close-with "$close" --progress json >"$WORK/$1-load.out" 2>"$WORK/$1-load.log" &
  LOAD=$!
  pids+=("$LOAD")
  until grep -q '"done":true' "$WORK/$1-load.out"; do
    if ! kill -0 "$LOAD" 2>/dev/null; then echo "run.sh: $1: load ended early" >&2; tail -5 "$WORK/$1-load.log" >&2; exit 1; fi
    sleep 0.5
  done
}

results=()
base=$(established)
port=17100
for method in reset ss-K fin; do
  port=$((port + 1))
  hold "$method" "$port"
  held=$(( $(established) - base ))
  tw_before=$(time_wait)
  start=$(now)
  case "$method" in
    reset) kill -INT "$LOAD" ;;
    ss-K)
      # Repeated: destroying sockets while the dump walks the hash table makes it skip some.
      for _ in $(seq 20); do
        [ -z "$(in_ns ss -K -Htn state established "( dport = :$port )")" ] && break
      done ;;
    fin) kill -KILL -- "-$LOAD"; { wait "$LOAD"; } 2>/dev/null || true ;;
  esac
  while [ "$(established)" -gt "$base" ]; do sleep 0.05; done
  secs=$(python3 -c "print(f'{$(now) - $start:.2f}')")
  results+=("$method $held $secs $(( $(time_wait) - tw_before ))")
  kill -KILL -- "-$LOAD" 2>/dev/null || true
  kill -TERM "$SERVER"; wait "$SERVER" 2>/dev/null || true
done

python3 - "$N" "${results[@]}" <<'PY'
import sys
n, rows = sys.argv[1], [r.split() for r in sys.argv[2:]]
first = float(rows[0][2])
print(f"teardown of {int(n):,} held loopback connections (2 sockets each), one run:")
print(f"{'method':10} {'held':>10} {'seconds':>8} {'vs reset':>9} {'new TIME_WAIT':>14}")
for method, held, secs, tw in rows:
    print(f"{method:10} {int(held) // 2:>10,} {float(secs):>8.2f} {float(secs) / first:>8.2f}x {int(tw):>14,}")
PY
