#!/usr/bin/env bash
# What a flood of bad license keys adds to the database, with the rate limits off (every
# refusal audited, as before issue 16) and at their defaults: a release server on
# 127.0.0.1, `wrk` sending made-up keys for DURATION seconds (default 20) from one address,
# then the server stopped and the database file measured. Not run by CI.
#
#   server/bench/flood.sh [DURATION]
set -euo pipefail
duration="${1:-20}"
here="$(cd "$(dirname "$0")" && pwd)"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 2; }
# The same build as memory.sh and load.sh (the example brings the dev-dependencies' features),
# so that one build serves the three.
cargo build --release --locked -p licet-server --bin licet-server --example seed >&2
target="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
bin="$target/release/licet-server"
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

run() { # NAME FLAGS...
  local name="$1"; shift
  local data="$work/$name"
  LICET_ADMIN_TOKEN=flood-admin-token "$bin" --listen 127.0.0.1:0 --data "$data" \
    --metrics-listen 127.0.0.1:0 "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q "listening on" "$work/$name.log" && break; sleep 0.1; done
  local addr; addr="$(sed -n 's|^licet-server listening on http://||p' "$work/$name.log")"
  local before; before="$(stat -c %s "$data/licet.redb")"
  wrk -t2 -c32 -d"${duration}s" -s "$here/flood.lua" "http://$addr/v1/validate" >"$work/$name.wrk"
  local requests; requests="$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$work/$name.wrk")"
  local metrics; metrics="$(sed -n 's|^licet-server metrics on ||p' "$work/$name.log")"
  local refused; refused="$(curl -s "$metrics" | sed -n 's/^licet_rate_limit_refused_ip_total //p')"
  local audited
  audited="$(curl -s -H 'Authorization: Bearer flood-admin-token' "http://$addr/v1/admin/audit?limit=1" \
    | sed -n 's/.*"total":\([0-9]*\).*/\1/p')"
  kill -TERM "$pid"; wait "$pid" || true; pid=""
  local after; after="$(stat -c %s "$data/licet.redb")"
  printf '%-12s requests %9s  refused (429) %9s  audit events before stop %8s  file %10s -> %10s bytes (+%s)\n' \
    "$name" "$requests" "${refused:-?}" "${audited:-?}" "$before" "$after" "$((after - before))"
}
run limits-off --ip-rate 0 --key-rate 0
run defaults
