#!/usr/bin/env bash
# The server's RSS against the number of distinct license keys asked about: seeds LICENSES
# licenses (default 1000000) once, then for each COUNT starts a fresh release server with
# --cache-size MIB (default: the server's default), walks COUNT distinct keys with POST
# /v1/validate (each at least twice), and reads VmRSS and VmHWM. Not run by CI.
#
#   server/bench/memory.sh [LICENSES] [CACHE_MIB] [COUNT...]
set -euo pipefail
licenses="${1:-1000000}"; shift || true
cache="${1:-}"; shift || true
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(1000 10000 100000)
here="$(cd "$(dirname "$0")" && pwd)"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }
cargo build --release --locked -p licet-server --bin licet-server --example seed >&2
target="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
work="${LICET_BENCH_WORK:-$(mktemp -d)}"
max=0; for c in "${counts[@]}"; do [ "$c" -gt "$max" ] && max=$c; done
if [ ! -f "$work/keys/validate.keys" ] || [ "$(wc -l <"$work/keys/validate.keys")" -lt "$max" ]; then
  rm -rf "$work/data" "$work/keys"
  LICET_SEED_SAMPLE="$max" "$target/release/examples/seed" "$work/data" "$work/keys" "$licenses" 0 >&2
fi
export LICET_BENCH_KEYS="$work/keys"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null' EXIT
for count in "${counts[@]}"; do
  head -n "$count" "$work/keys/validate.keys" >"$work/keys/walk.keys"
  flags=(--listen 127.0.0.1:0 --data "$work/data" --ip-rate 0 --key-rate 0)
  [ -n "$cache" ] && flags+=(--cache-size "$cache")
  LICET_ADMIN_TOKEN=memory-bench-token "$target/release/licet-server" "${flags[@]}" >"$work/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 200); do grep -q "listening on" "$work/server.log" && break; sleep 0.1; done
  addr="$(sed -n 's|^licet-server listening on http://||p' "$work/server.log")"
  rss0="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
  # Twice through the keys at about 10,000 requests a second, at least 5 s.
  secs=$(( count / 5000 + 5 ))
  wrk -t1 -c16 -d"${secs}s" -s "$here/walk.lua" "http://$addr/v1/validate" >"$work/wrk.out"
  requests="$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$work/wrk.out")"
  rss="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")"
  hwm="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
  kill -TERM "$pid"; wait "$pid" || true; pid=""
  printf 'licenses %s cache %s MiB  distinct keys %7s  requests %8s  RSS at start %6.1f MB  after %6.1f MB  peak %6.1f MB\n' \
    "$licenses" "${cache:-default}" "$count" "$requests" "$(echo "$rss0/1024" | bc -l)" "$(echo "$rss/1024" | bc -l)" "$(echo "$hwm/1024" | bc -l)"
done
