#!/usr/bin/env bash
# Load benchmark of licet-server: builds the release server, seeds fresh data directories,
# runs the server on 127.0.0.1 and drives it with wrk (and, for the stateful lease cycle,
# with the lease_cycle example), then prints one table. docs/benchmarks.md ("Server load")
# explains every run and holds the results.
#
#   server/bench/load.sh                 # the full run: about 6 minutes, ~2 GB of disk
#   server/bench/load.sh --smoke         # 1 s runs and small seeds: checks the script works
#   server/bench/load.sh --help          # every option
#   server/bench/load.sh --backend postgres [--nodes N]
#                                        # redb beside PostgreSQL with one and N processes
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
  --backend B          redb (default): batching on and off, and the large data set;
                       postgres: the same runs on redb (one process), on PostgreSQL with
                       one process (batching on and off) and with --nodes processes,
                       in one run, each followed
                       by an exactness check (10 machines, 5 seats under the full load).
                       Starts a throwaway PostgreSQL cluster of its own (Debian's
                       postgresql package; durable settings, as redb's commits are)
  --nodes N            server processes on the one PostgreSQL database (default 2); the
                       connections are split evenly, one load generator per process
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
backend=redb
nodes=2
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
    --backend) backend="$2"; shift ;;
    --nodes) nodes="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "load.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

case "$backend" in
  redb | postgres) ;;
  *) echo "load.sh: --backend is redb or postgres, not '$backend'" >&2; exit 2 ;;
esac
if ! [[ "$nodes" =~ ^[1-9][0-9]*$ ]] || [ "$nodes" -gt "$connections" ]; then
  echo "load.sh: --nodes is a number from 1 to --connections ($connections), not '$nodes'" >&2
  exit 2
fi

root="$(cd "$(dirname "$0")/../.." && pwd)"
bench="$root/server/bench"
cd "$root"

server_pids=()
bases=()
child_pids=()
pg_dir=""
as_pg=()
if [ -n "$keep" ]; then
  mkdir -p "$keep"
  work="$(cd "$keep" && pwd)"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/licet-load.XXXXXX")"
fi

stop_server() { # stops every server process started
  local pid
  for pid in "${server_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${server_pids[@]}"; do
    # Graceful shutdown commits what is queued; give it a moment, then insist.
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  server_pids=()
  bases=()
}

stop_postgres() {
  if [ -n "$pg_dir" ] && [ -f "$pg_dir/data/postmaster.pid" ]; then
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  [ -z "$pg_dir" ] || rm -rf "$pg_dir"
  pg_dir=""
}

cleanup() {
  local rc=$? pid
  trap - EXIT INT TERM
  for pid in "${child_pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  stop_server
  stop_postgres
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
admin_token="bench-admin-token-$$"
failed=0

seed() { # seed NAME LICENSES PAST_LEASES
  echo "==> seeding $1: $2 licenses, $3 past leases"
  rm -rf "$work/$1"
  run_bg "$work/seed.out" "$seed_bin" "$work/$1/data" "$work/$1/keys" "$2" "$3"
  tail -1 "$work/seed.out" | sed 's/^/    /'
}

start_server() { # start_server NAME MAX_BATCH [DATABASE_URL]: one more process
  local n="${#server_pids[@]}" db=()
  local log="$work/$1/server-$2-$n.log"
  [ -z "${3:-}" ] || db=(--database "$3")
  env -u RUST_LOG -u LICET_DATABASE_URL LICET_ADMIN_TOKEN="$admin_token" \
    "$server_bin" --listen 127.0.0.1:0 --data "$work/$1/data" "${db[@]}" --max-batch "$2" \
    --ip-rate 0 --key-rate 0 >"$log" 2>&1 &
  local pid=$!
  server_pids+=("$pid")
  for _ in $(seq 1 300); do
    addr="$(sed -n 's|^licet-server listening on http://\(127\.0\.0\.1:[0-9]*\)$|\1|p' "$log")"
    if [ -n "$addr" ]; then
      bases+=("http://$addr")
      base="${bases[0]}"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "load.sh: the server did not start:" >&2
      cat "$log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "load.sh: the server did not start within 30 s" >&2
  exit 1
}

# A throwaway PostgreSQL cluster on a free port of 127.0.0.1, with the durable settings a
# vendor runs (fsync and synchronous_commit on: an answered write is on disk, as with redb).
# initdb refuses root, so as root it runs as Debian's unprivileged `postgres` user.
start_postgres() {
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    echo "load.sh: --backend postgres needs PostgreSQL's server binaries: apt-get install postgresql (initdb is then in /usr/lib/postgresql/*/bin)" >&2
    exit 1
  fi
  pg_dir="$(mktemp -d "${TMPDIR:-/tmp}/licet-load-pg.XXXXXX")"
  if [ "$(id -u)" -eq 0 ]; then
    as_pg=(runuser -u postgres --)
    chown postgres "$pg_dir"
  fi
  pg_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  echo "==> starting PostgreSQL ($("$pg_bin/postgres" --version)) on 127.0.0.1:$pg_port"
  "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U licet --auth=trust -E UTF8 >"$pg_dir/initdb.log" 2>&1 ||
    { cat "$pg_dir/initdb.log" >&2; exit 1; }
  "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -o \
    "-c listen_addresses=127.0.0.1 -p $pg_port -c unix_socket_directories=$pg_dir -c max_connections=300 -c shared_buffers=256MB" \
    start >/dev/null || { cat "$pg_dir/server.log" >&2; exit 1; }
}

# A fresh database NAME, filled from the seeded redb data directory of DATA_SET by
# `licet-server migrate` (which also compares counts and a digest of both sides).
postgres_database() { # postgres_database NAME DATA_SET
  "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U licet "$1"
  pg_url="postgres://licet@127.0.0.1:$pg_port/$1"
  echo "==> migrating $2 into PostgreSQL database $1"
  run_bg "$work/migrate.out" "$server_bin" migrate --from "$work/$2/data" --to "$pg_url"
  tail -1 "$work/migrate.out" | sed 's/^/    /'
}

load_now() { cut -d' ' -f1 /proc/loadavg; }

# Runs a command in the background and waits for it, so that a signal to this script is
# handled at once (bash runs traps only between foreground commands) and cleanup can end it.
run_bg() { # run_bg OUTFILE COMMAND...
  local out="$1"
  shift
  "$@" >"$out" 2>&1 &
  child_pids=($!)
  local rc=0
  wait "${child_pids[0]}" || rc=$?
  child_pids=()
  if [ "$rc" -ne 0 ]; then
    cat "$out" >&2
    echo "load.sh: '$1' failed (exit $rc)" >&2
    exit 1
  fi
}

# Runs COMMAND once per server process, all at once, each given the process's base URL in
# place of the word BASE and its share of the connections in place of CONNS, then prints
# one RESULT line for all of them: requests/s, errors and requests summed; p50 and p99 the
# slowest process's.
run_split() { # run_split OUTFILE COMMAND...
  local out="$1" n="${#bases[@]}" i rc=0 pid
  shift
  child_pids=()
  for i in "${!bases[@]}"; do
    local args=() a
    for a in "$@"; do
      case "$a" in
        BASE*) args+=("${bases[$i]}${a#BASE}") ;;
        CONNS) args+=("$((connections / n))") ;;
        -cCONNS) args+=("-c$((connections / n))") ;;
        -tTHREADS) args+=("-t$(((threads + n - 1) / n))") ;;
        *) args+=("$a") ;;
      esac
    done
    LICET_BENCH_SEED="$i" "${args[@]}" >"$out.$i" 2>&1 &
    child_pids+=($!)
  done
  for pid in "${child_pids[@]}"; do
    wait "$pid" || rc=$?
  done
  child_pids=()
  if [ "$rc" -ne 0 ]; then
    cat "$out".* >&2
    echo "load.sh: '$1' failed (exit $rc)" >&2
    exit 1
  fi
  cat "$out".* | grep '^RESULT ' | awk '
    { name = $2; rps += $3; if ($4 > p50) p50 = $4; if ($5 > p99) p99 = $5; err += $6; req += $7; lines++ }
    END { if (lines) printf "RESULT %s %.1f %.3f %.3f %d %d\n", name, rps, p50, p99, err, req }' >"$out"
  rm -f "$out".*
  [ -s "$out" ] || { echo "load.sh: '$1' printed no RESULT line" >&2; exit 1; }
}

run_wrk() { # run_wrk LABEL SERVER DATA SCRIPT PATH
  local label="$1" server="$2" data="$3" script="$4" path="$5" out
  if [ "$warmup" != 0 ]; then
    # redb's page cache starts empty with each server: without this, the first seconds
    # measure copying cold pages in, not the server at work.
    run_split "$work/wrk.out" env LICET_BENCH_KEYS="$work/$data_dir/keys" timeout $((warmup + 60)) \
      wrk -tTHREADS -cCONNS -d"${warmup}s" --timeout 10s -s "$bench/$script" "BASE$path"
    awk '{printf "    warm-up: %.0f req/s, p99 %.2f ms, %d errors\n", $3, $5, $6}' "$work/wrk.out"
  fi
  local load
  load="$(load_now)"
  echo "--> $label, $server, $data: wrk -t$threads -c$connections -d${duration}s over ${#bases[@]} process(es) (load average $load)"
  run_split "$work/wrk.out" env LICET_BENCH_KEYS="$work/$data_dir/keys" timeout $((duration + 60)) \
    wrk -tTHREADS -cCONNS -d"${duration}s" --timeout 10s --latency \
    -s "$bench/$script" "BASE$path"
  out="$(cat "$work/wrk.out")"
  echo "$label|$server|$data|$load|$out" >>"$results"
}

run_cycle() { # run_cycle SERVER DATA
  if [ "$warmup" != 0 ]; then
    run_split "$work/cycle.out" timeout $((warmup + 60)) \
      "$cycle_bin" BASE "$work/$data_dir/keys/lease.key" CONNS "$warmup"
    awk '{printf "    warm-up: %.0f req/s, p99 %.2f ms, %d errors\n", $3, $5, $6}' "$work/cycle.out"
  fi
  local load
  load="$(load_now)"
  echo "--> lease cycle, $1, $2: lease_cycle, $connections clients over ${#bases[@]} process(es), ${duration}s (load average $load)"
  run_split "$work/cycle.out" timeout $((duration + 60)) \
    "$cycle_bin" BASE "$work/$data_dir/keys/lease.key" CONNS "$duration"
  echo "obtain → renew → release|$1|$2|$load|$(cat "$work/cycle.out")" >>"$results"
}

# Exactness under the full load: a fresh license allowing 10 machines and 5 seats, the
# activation and the obtain scripts against it for a few seconds over every process, then
# the machines and live leases the database holds, read back through the admin API, must be
# exactly 10 and 5, and equal to the 2xx answers the load generators counted.
check_exact() { # check_exact SERVER
  local secs=3 lic key id dir="$work/exact" load machines seats ok_act ok_obt
  [ "$duration" -ge 3 ] || secs=1
  lic="$(curl -sS --fail-with-body -H "Authorization: Bearer $admin_token" \
    --json '{"product": "bench", "max_machines": 10, "max_leases": 5}' "$base/v1/admin/licenses")"
  key="$(jq -r .license_key <<<"$lic")"
  id="$(jq -r .id <<<"$lic")"
  mkdir -p "$dir"
  echo "$key" >"$dir/activate.key"
  echo "$key" >"$dir/lease.key"
  load="$(load_now)"
  echo "--> exactness, $1: ${secs}s of activations, then ${secs}s of obtains, on a license of 10 machines and 5 seats (load average $load)"
  run_split "$work/exact.out" env LICET_BENCH_KEYS="$dir" timeout $((secs + 60)) \
    wrk -tTHREADS -cCONNS -d"${secs}s" --timeout 10s -s "$bench/activate.lua" "BASE/v1/activate"
  read -r _ _ _ _ _ err req <"$work/exact.out"
  ok_act=$((req - err))
  run_split "$work/exact.out" env LICET_BENCH_KEYS="$dir" timeout $((secs + 60)) \
    wrk -tTHREADS -cCONNS -d"${secs}s" --timeout 10s -s "$bench/obtain.lua" "BASE/v1/leases/obtain"
  read -r _ _ _ _ _ err req <"$work/exact.out"
  ok_obt=$((req - err))
  machines="$(curl -sS --fail-with-body -H "Authorization: Bearer $admin_token" "$base/v1/admin/licenses/$id/machines" | jq '.machines | length')"
  seats="$(curl -sS --fail-with-body -H "Authorization: Bearer $admin_token" "$base/v1/admin/licenses/$id/leases?state=active" | jq '.leases | length')"
  local verdict=exact
  if [ "$machines" != 10 ] || [ "$ok_act" != 10 ] || [ "$seats" != 5 ] || [ "$ok_obt" != 5 ]; then
    verdict="NOT EXACT"
    failed=1
  fi
  echo "    $verdict: $machines machines stored, $ok_act activations answered 2xx; $seats live seats, $ok_obt obtains answered 2xx"
  echo "$1|$machines|$ok_act|$seats|$ok_obt|$verdict" >>"$work/exact.txt"
}

# ------------------------------------------------------------------ runs
small="$small_licenses licenses, 0 past leases"
: >"$work/exact.txt"
if [ "$backend" = redb ]; then
  column=batching
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
else
  # The same loads on four set-ups, one after the other in this run: redb (one process,
  # batching on: the default), PostgreSQL with one process with batching on (the
  # default) and off (--max-batch 1), PostgreSQL with --nodes (batching on).
  column=server
  start_postgres
  setups=(redb 1 1-unbatched)
  [ "$nodes" = 1 ] || setups+=("$nodes")
  for setup in "${setups[@]}"; do
    data_dir="setup-$setup"
    seed "$data_dir" "$small_licenses" 0
    if [ "$setup" = redb ]; then
      server="redb, 1 process"
      start_server "$data_dir" 512
    else
      processes="${setup%-unbatched}" batch=512
      case "$setup" in
        1) server="PostgreSQL, 1 process" ;;
        1-unbatched) server="PostgreSQL, 1 process, --max-batch 1" batch=1 ;;
        *) server="PostgreSQL, $setup processes" ;;
      esac
      postgres_database "licet_${setup/-/_}" "$data_dir"
      # Every process shares the data directory's signing key and the one database.
      for _ in $(seq 1 "$processes"); do
        start_server "$data_dir" "$batch" "$pg_url"
      done
    fi
    run_wrk "/v1/validate" "$server" "$small" validate.lua /v1/validate
    run_wrk "/v1/activate" "$server" "$small" activate.lua /v1/activate
    run_wrk "/v1/leases/obtain" "$server" "$small" obtain.lua /v1/leases/obtain
    run_cycle "$server" "$small"
    check_exact "$server"
    stop_server
    [ -n "$keep" ] || rm -rf "${work:?}/$data_dir"
  done
fi

# ------------------------------------------------------------------ table
echo
echo "licet-server load: $connections connections, ${duration} s per run, wrk -t$threads (lease cycle: lease_cycle, $connections clients)"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1); load generator on the same CPUs"
echo "load: the 1-minute load average as the run started (this benchmark alone keeps it near 2)"
[ "$backend" = redb ] || echo "several processes: one load generator per process, the connections split evenly; req/s summed, p50 and p99 the slowest process's"
echo
echo "| run | $column | data | req/s | p50 ms | p99 ms | errors | load |"
echo "|---|---|---|---:|---:|---:|---:|---:|"
while IFS='|' read -r label batching data load result; do
  # result: RESULT <name> <req/s> <p50> <p99> <errors> <requests>
  read -r _ _ rps p50 p99 errors _ <<<"$result"
  printf '| %s | %s | %s | %.0f | %.2f | %.2f | %s | %s |\n' "$label" "$batching" "$data" "$rps" "$p50" "$p99" "$errors" "$load"
done <"$results"
if [ -s "$work/exact.txt" ]; then
  echo
  echo "Exactness under the full load (a license of 10 machines and 5 seats; refusals are the load generator's errors):"
  echo
  echo "| server | machines stored | activations 2xx | live seats | obtains 2xx | verdict |"
  echo "|---|---:|---:|---:|---:|---|"
  while IFS='|' read -r server machines act seats obt verdict; do
    echo "| $server | $machines | $act | $seats | $obt | $verdict |"
  done <"$work/exact.txt"
fi
if [ "$failed" != 0 ]; then
  echo "load.sh: a limit did not hold exactly (see the table above)" >&2
  exit 1
fi
