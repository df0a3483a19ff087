#!/usr/bin/env bash
# Throughput of a cached `GET /products/{id}` of the generated shop with monitoring ON vs
# OFF (MONITORING=off), side by side in one run: one release binary, two servers on one
# database, wrk rounds interleaved (ON/OFF order alternating). See README.md.
#
# Knobs: BENCH_ROUNDS (6) BENCH_SECONDS (5) BENCH_CONNECTIONS (32) BENCH_ROWS (1000)
#        APIFORGE_TEST_PG (postgres://postgres@127.0.0.1:5432)
#        BENCH_PROJECT: an already generated shop to use instead of a fresh `apiforge new`
set -euo pipefail

ROUNDS=${BENCH_ROUNDS:-6}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
export BENCH_ROWS=${BENCH_ROWS:-1000}
PG=${APIFORGE_TEST_PG:-postgres://postgres@127.0.0.1:5432}

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 2; }

work=$(mktemp -d)
db="apiforge_bench_mon_$$"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql -q -d "$PG/postgres" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

project=${BENCH_PROJECT:-}
if [ -z "$project" ]; then
  echo "generating the shop..." >&2
  project="$work/shop"
  (cd "$repo" && cargo run -q -- new "$project" --spec examples/shop.yaml >/dev/null)
fi
echo "building $project (release)..." >&2
export CARGO_TARGET_DIR=${BENCH_TARGET_DIR:-$repo/target/bench-monitoring}
(cd "$project" && cargo build -q --release)
binary="$CARGO_TARGET_DIR/release/shop"

psql -q -d "$PG/postgres" -c "CREATE DATABASE \"$db\""
start() { # port, extra env...
  local port=$1; shift
  env DATABASE_URL="$PG/$db" HOST=127.0.0.1 PORT="$port" RUST_LOG=warn NO_COLOR=1 "$@" \
    "$binary" >"$work/server-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null && return 0
    sleep 0.1
  done
  echo "server on $port did not start:" >&2; cat "$work/server-$port.log" >&2; exit 1
}
port_on=$(( 20000 + $$ % 20000 )); port_off=$(( port_on + 1 ))
start "$port_on"; pid_on=${pids[-1]}
psql -q -d "$PG/$db" -c "INSERT INTO products (name, category, price, sales)
  SELECT 'Product number ' || i, (ARRAY['books','games','tools','music'])[i % 4 + 1],
         (i % 100) + 0.99, i * 7 % 1000 FROM generate_series(1, $BENCH_ROWS) i"
start "$port_off" MONITORING=off; pid_off=${pids[-1]}

# Monitoring really is on / off: the metrics page answers on one server only.
curl -fs "http://127.0.0.1:$port_on/metrics" | grep -q '^http_requests_total' \
  || { echo "monitoring is not on on :$port_on" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port_off/metrics")
[ "$code" = 404 ] || { echo "MONITORING=off still serves /metrics ($code)" >&2; exit 1; }

hz=$(getconf CLK_TCK)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; } # utime + stime

run() { # port pid seconds -> "req/s server-CPU-µs-per-request"
  local out t0 t1 requests
  t0=$(cpu_ticks "$2")
  out=$(wrk -t1 -c"$CONNECTIONS" -d"$3"s -s "$here/ids.lua" "http://127.0.0.1:$1")
  t1=$(cpu_ticks "$2")
  if grep -q 'Non-2xx' <<<"$out"; then echo "errors during the run:" >&2; echo "$out" >&2; exit 1; fi
  requests=$(awk '/requests in/ { print $1 }' <<<"$out")
  echo "$(awk '/Requests\/sec/ { print $2 }' <<<"$out") $(echo "($t1 - $t0) * 1000000 / $hz / $requests" | bc -l)"
}

# Warm both (every row cached, connections and allocator settled).
run "$port_on" "$pid_on" 2 >/dev/null; run "$port_off" "$pid_off" 2 >/dev/null

on=(); off=(); ratios=(); cpu_on=(); cpu_off=()
for r in $(seq "$ROUNDS"); do
  if (( r % 2 )); then
    read -r a ca < <(run "$port_on" "$pid_on" "$SECONDS_PER_RUN")
    read -r b cb < <(run "$port_off" "$pid_off" "$SECONDS_PER_RUN")
  else
    read -r b cb < <(run "$port_off" "$pid_off" "$SECONDS_PER_RUN")
    read -r a ca < <(run "$port_on" "$pid_on" "$SECONDS_PER_RUN")
  fi
  ratio=$(echo "$a / $b" | bc -l)
  on+=("$a"); off+=("$b"); ratios+=("$ratio"); cpu_on+=("$ca"); cpu_off+=("$cb")
  printf 'round %d: on %6.0f req/s %5.1f µs CPU/req   off %6.0f req/s %5.1f µs CPU/req   on/off %.3f\n' \
    "$r" "$a" "$ca" "$b" "$cb" "$ratio"
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
m_on=$(median "${on[@]}"); m_off=$(median "${off[@]}")
printf '\n%s rounds x %ss, %s connections, %s rows, cached GET /products/{id}, release build\n' \
  "$ROUNDS" "$SECONDS_PER_RUN" "$CONNECTIONS" "$BENCH_ROWS"
printf 'median: monitoring on %.0f req/s, off %.0f req/s; median of the per-round on/off ratios %.3f\n' \
  "$m_on" "$m_off" "$(median "${ratios[@]}")"
m_con=$(median "${cpu_on[@]}"); m_coff=$(median "${cpu_off[@]}")
printf 'server CPU per request (median): on %.1f µs, off %.1f µs, monitoring costs %.1f µs (%.1f%%)\n' \
  "$m_con" "$m_coff" "$(echo "$m_con - $m_coff" | bc -l)" "$(echo "($m_con - $m_coff) * 100 / $m_coff" | bc -l)"
