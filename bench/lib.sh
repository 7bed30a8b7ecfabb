# bench/lib.sh — the preamble the bench shell scripts share: sourced, not run.
#   bench_setup SCRIPT ROOT N "why root" TOOL... -- "$@"
# builds the release binary unless $C1M names one, checks the tools and root, and above 15,000 connections
# re-executes SCRIPT under `flock /work/scale.lock` (the machine-wide lock of every scale run) with "$@".

bench_setup() {
  local script=$1 root=$2 n=$3 why=$4
  shift 4
  local tools=()
  while [ "$#" -gt 0 ] && [ "$1" != -- ]; do tools+=("$1"); shift; done
  [ "$#" -gt 0 ] && shift
  local name
  name=$(basename "$(dirname "$script")")/$(basename "$script")
  if [ -z "${C1M:-}" ]; then
    (cd "$root" && cargo build --release -q -p c1m)
    C1M="${CARGO_TARGET_DIR:-$root/target}/release/c1m"
  fi
  for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null || { echo "$name: $tool is needed" >&2; exit 2; }
  done
  [ "$(id -u)" = 0 ] || { echo "$name: run as root ($why)" >&2; exit 2; }
  if [ -z "${C1M_BENCH_LOCKED:-}" ] && [ "$n" -gt 15000 ]; then
    exec env C1M_BENCH_LOCKED=1 C1M="$C1M" flock /work/scale.lock "$script" "$@"
  fi
}
