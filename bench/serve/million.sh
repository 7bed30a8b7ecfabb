#!/bin/sh
# Hold N (default 1,000,000) connections on `c1m serve --workers auto` with bench/clients/holdclient from
# N/10,000 (at least 60) loopback source addresses, report the server's user-space bytes per connection and the ramp time, then tear
# everything down. Takes /work/scale.lock (flock) for its whole duration.
#
# usage: bench/serve/million.sh [N] [PORT]     (env C1M = the c1m binary, HOLDCLIENT = the client binary)
set -eu
N=${1:-1000000}
PORT=${2:-10200}
C1M=${C1M:-target/release/c1m}
HOLDCLIENT=${HOLDCLIENT:-/tmp/c1m-bench-serve/holdclient}
OUT=$(mktemp -d /tmp/c1m-million.XXXXXX)
[ -x "$HOLDCLIENT" ] || cc -O2 -Wall -o "$HOLDCLIENT" "$(dirname "$0")/../clients/holdclient.c"

# connect() hands out ports of one parity first (14,116 of the default 28,232 per source and destination);
# once that half is used up every connect() scans it under locks and the ramp crawls (at 60 sources it
# stalled at 847k = 60 x 14,116). 10,000 per source keeps every connect() on the fast half.
SOURCES=$(( (N + 9999) / 10000 ))
[ "$SOURCES" -ge 60 ] || SOURCES=60

exec 9>>/work/scale.lock
echo "waiting for /work/scale.lock ..." >&2
flock 9

slab_kib() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
"$C1M" serve --listen "127.0.0.1:$PORT" --workers auto --target "$N" --json --interval 1s >"$OUT/serve.jsonl" 2>"$OUT/serve.err" &
SERVE=$!
cleanup() {
    [ -n "${CLIENT:-}" ] && kill -TERM "$CLIENT" 2>/dev/null && wait "$CLIENT" 2>/dev/null
    kill -TERM "$SERVE" 2>/dev/null && wait "$SERVE" 2>/dev/null
    true
}
trap cleanup EXIT
trap 'exit 130' INT TERM
until grep -q '"type":"ready"' "$OUT/serve.jsonl" 2>/dev/null; do
    kill -0 "$SERVE" 2>/dev/null || { cat "$OUT/serve.err" >&2; exit 2; }
    sleep 0.2
done
head -1 "$OUT/serve.jsonl"
SLAB0=$(slab_kib)
START=$(date +%s.%N)
"$HOLDCLIENT" -p "$PORT" -n "$N" -s "$SOURCES" -R -t 900 >"$OUT/client.out" 2>"$OUT/client.err" &
CLIENT=$!
# Ramp: until the server's stats say it holds N (or 10 minutes pass).
HELD=0
while [ "$HELD" -lt "$N" ]; do
    sleep 0.5
    HELD=$(tail -1 "$OUT/serve.jsonl" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("connections", 0))' 2>/dev/null || echo 0)
    NOW=$(date +%s.%N)
    if [ "$(echo "$NOW - $START > 600" | bc)" = 1 ]; then echo "gave up at $HELD" >&2; break; fi
done
RAMP=$(echo "$(date +%s.%N) - $START" | bc)
sleep 3  # one more stats interval after the last accept
SLAB1=$(slab_kib)
LAST=$(tail -1 "$OUT/serve.jsonl")
echo "client: $(cat "$OUT/client.out")"
echo "$LAST" | python3 -c '
import json, sys
s = json.load(sys.stdin)
per = [w["connections"] for w in s["workers"]]
held, user = s["connections"], s["user_bytes_per_connection"]
rss, base = s["rss_bytes"] / 2**20, s["rss_baseline_bytes"] / 2**20
print(f"held {held:,} on {len(per)} workers (min {min(per):,} max {max(per):,}); user-space {user:.2f} B/conn "
      f"(RSS {rss:.1f} MiB, baseline {base:.1f} MiB)")
print("listen_overflows", s["listen_overflows"], "accept_pauses", s["accept_pauses"])'
echo "ramp to $N held: ${RAMP}s; kernel slab delta $(( (SLAB1 - SLAB0) / 1024 )) MiB = $(( (SLAB1 - SLAB0) * 1024 / N )) B/conn (both ends)"
echo "logs: $OUT"
