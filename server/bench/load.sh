#!/usr/bin/env bash
# Load benchmark of licet-server: builds the release server, seeds fresh data directories,
# runs the server on 127.0.0.1 and drives it with wrk (and, for the stateful lease cycle,
# with the lease_cycle example), then prints one table. docs/benchmarks.md ("Server load")
# explains every run and holds the results.
#
#   server/bench/load.sh                 # the full run: about 6 minutes, ~2 GB of disk
#   server/bench/load.sh --smoke         # 1 s runs and small seeds: checks the script works
#   server/bench/load.sh --help          # every option
#
# Only 127.0.0.1 is ever a target; every run is bounded in time; everything started here
# (the server, wrk, the driver, the temporary directories) is stopped and removed on every
# exit path, Ctrl-C included.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: server/bench/load.sh [options]

  --smoke              1 s runs, 100 licenses, and 2,000 licenses / 2,000 past leases
                       for the large data set (checks that the script works)
  --duration S         seconds per run (default 10)
  --warmup S           seconds of the same load, not measured, before each wrk run (default 3)
  --connections N      concurrent connections (default 64)
  --threads N          wrk threads (default 2)
  --large-licenses N   licenses in the large data set (default 1000000)
  --large-leases N     past leases on the lease license in the large data set (default 1000000)
  --no-large           skip the large data set
  --keep DIR           seed into DIR and keep it (default: a temporary directory, removed)
EOF
}

duration=10
warmup=3
connections=64
threads=2
small_licenses=1000
large_licenses=1000000
large_leases=1000000
large=1
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) duration=1; warmup=0; small_licenses=100; large_licenses=2000; large_leases=2000 ;;
    --duration) duration="$2"; shift ;;
    --warmup) warmup="$2"; shift ;;
    --connections) connections="$2"; shift ;;
    --threads) threads="$2"; shift ;;
    --large-licenses) large_licenses="$2"; shift ;;
    --large-leases) large_leases="$2"; shift ;;
    --no-large) large=0 ;;
    --keep) keep="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "load.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

root="$(cd "$(dirname "$0")/../.." && pwd)"
bench="$root/server/bench"
cd "$root"

server_pid=""
child_pid=""
if [ -n "$keep" ]; then
  mkdir -p "$keep"
  work="$(cd "$keep" && pwd)"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/licet-load.XXXXXX")"
fi

stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    # Graceful shutdown commits what is queued; give it a moment, then insist.
    for _ in $(seq 1 100); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$child_pid" ] && kill -0 "$child_pid" 2>/dev/null; then
    kill -TERM "$child_pid" 2>/dev/null || true
    wait "$child_pid" 2>/dev/null || true
  fi
  stop_server
  if [ -z "$keep" ]; then
    rm -rf "$work"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ tools
if ! command -v wrk >/dev/null 2>&1; then
  echo "==> installing wrk (Debian package)"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && apt-get install -y -qq wrk >/dev/null
  else
    sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null
  fi
fi

echo "==> building the release server, the seeder and the lease-cycle driver"
cargo build --release --locked -p licet-server --bin licet-server --example seed --example lease_cycle
target="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
server_bin="$target/release/licet-server"
seed_bin="$target/release/examples/seed"
cycle_bin="$target/release/examples/lease_cycle"

# ------------------------------------------------------------------ steps
results="$work/results.txt"
: >"$results"

seed() { # seed NAME LICENSES PAST_LEASES
  echo "==> seeding $1: $2 licenses, $3 past leases"
  rm -rf "$work/$1"
  run_bg "$work/seed.out" "$seed_bin" "$work/$1/data" "$work/$1/keys" "$2" "$3"
  tail -1 "$work/seed.out" | sed 's/^/    /'
}

start_server() { # start_server NAME MAX_BATCH
  local log="$work/$1/server-$2.log"
  env -u RUST_LOG LICET_ADMIN_TOKEN="bench-admin-token-$$" \
    "$server_bin" --listen 127.0.0.1:0 --data "$work/$1/data" --max-batch "$2" --ip-rate 0 --key-rate 0 >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 300); do
    addr="$(sed -n 's|^licet-server listening on http://\(127\.0\.0\.1:[0-9]*\)$|\1|p' "$log")"
    if [ -n "$addr" ]; then
      base="http://$addr"
      return 0
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "load.sh: the server did not start:" >&2
      cat "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "load.sh: the server did not start within 30 s" >&2
  exit 1
}

load_now() { cut -d' ' -f1 /proc/loadavg; }

# Runs a command in the background and waits for it, so that a signal to this script is
# handled at once (bash runs traps only between foreground commands) and cleanup can end it.
run_bg() { # run_bg OUTFILE COMMAND...
  local out="$1"
  shift
  "$@" >"$out" 2>&1 &
  child_pid=$!
  local rc=0
  wait "$child_pid" || rc=$?
  child_pid=""
  if [ "$rc" -ne 0 ]; then
    cat "$out" >&2
    echo "load.sh: '$1' failed (exit $rc)" >&2
    exit 1
  fi
}

run_wrk() { # run_wrk LABEL BATCHING DATA SCRIPT PATH
  local label="$1" batching="$2" data="$3" script="$4" path="$5" out
  if [ "$warmup" != 0 ]; then
    # redb's page cache starts empty with each server: without this, the first seconds
    # measure copying cold pages in, not the server at work.
    run_bg "$work/wrk.out" env LICET_BENCH_KEYS="$work/$data_dir/keys" timeout $((warmup + 60)) \
      wrk -t"$threads" -c"$connections" -d"${warmup}s" --timeout 10s -s "$bench/$script" "$base$path"
    grep '^RESULT ' "$work/wrk.out" | awk '{printf "    warm-up: %.0f req/s, p99 %.2f ms, %d errors\n", $3, $5, $6}'
  fi
  local load
  load="$(load_now)"
  echo "--> $label, batching $batching, $data: wrk -t$threads -c$connections -d${duration}s (load average $load)"
  run_bg "$work/wrk.out" env LICET_BENCH_KEYS="$work/$data_dir/keys" timeout $((duration + 60)) \
    wrk -t"$threads" -c"$connections" -d"${duration}s" --timeout 10s --latency \
    -s "$bench/$script" "$base$path"
  out="$(grep '^RESULT ' "$work/wrk.out")" || { cat "$work/wrk.out" >&2; exit 1; }
  echo "$label|$batching|$data|$load|$out" >>"$results"
}

run_cycle() { # run_cycle BATCHING DATA
  if [ "$warmup" != 0 ]; then
    run_bg "$work/cycle.out" timeout $((warmup + 60)) \
      "$cycle_bin" "$base" "$work/$data_dir/keys/lease.key" "$connections" "$warmup"
    grep '^RESULT ' "$work/cycle.out" | awk '{printf "    warm-up: %.0f req/s, p99 %.2f ms, %d errors\n", $3, $5, $6}'
  fi
  local load
  load="$(load_now)"
  echo "--> lease cycle, batching $1, $2: lease_cycle, $connections clients, ${duration}s (load average $load)"
  run_bg "$work/cycle.out" timeout $((duration + 60)) \
    "$cycle_bin" "$base" "$work/$data_dir/keys/lease.key" "$connections" "$duration"
  sed -n '1,4p' "$work/cycle.out"
  echo "obtain → renew → release|$1|$2|$load|$(grep '^RESULT ' "$work/cycle.out")" >>"$results"
}

# ------------------------------------------------------------------ runs
small="$small_licenses licenses, 0 past leases"
for batch in 512 1; do
  if [ "$batch" = 1 ]; then batching=off; else batching=on; fi
  data_dir="small-$batching"
  seed "$data_dir" "$small_licenses" 0
  start_server "$data_dir" "$batch"
  run_wrk "/healthz" "$batching" "-" healthz.lua /healthz
  run_wrk "/v1/validate" "$batching" "$small" validate.lua /v1/validate
  run_wrk "/v1/activate" "$batching" "$small" activate.lua /v1/activate
  run_wrk "/v1/leases/obtain" "$batching" "$small" obtain.lua /v1/leases/obtain
  run_cycle "$batching" "$small"
  stop_server
  [ -n "$keep" ] || rm -rf "${work:?}/$data_dir"
done

if [ "$large" = 1 ]; then
  data_dir="large"
  big="$large_licenses licenses, $large_leases past leases"
  seed "$data_dir" "$large_licenses" "$large_leases"
  du -sh "$work/$data_dir/data/licet.redb" | sed 's/^/    database: /'
  start_server "$data_dir" 512
  run_wrk "/v1/validate" "on" "$big" validate.lua /v1/validate
  run_wrk "/v1/leases/obtain" "on" "$big" obtain.lua /v1/leases/obtain
  stop_server
  [ -n "$keep" ] || rm -rf "${work:?}/$data_dir"
fi

# ------------------------------------------------------------------ table
echo
echo "licet-server load: $connections connections, ${duration} s per run, wrk -t$threads (lease cycle: lease_cycle, $connections clients)"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load generator on the same CPUs"
echo "load: the 1-minute load average as the run started (this benchmark alone keeps it near 2)"
echo
echo "| run | batching | data | req/s | p50 ms | p99 ms | errors | load |"
echo "|---|---|---|---:|---:|---:|---:|---:|"
while IFS='|' read -r label batching data load result; do
  # result: RESULT <name> <req/s> <p50> <p99> <errors> <requests>
  read -r _ _ rps p50 p99 errors _ <<<"$result"
  printf '| %s | %s | %s | %.0f | %.2f | %.2f | %s | %s |\n' "$label" "$batching" "$data" "$rps" "$p50" "$p99" "$errors" "$load"
done <"$results"
