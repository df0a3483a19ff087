#!/usr/bin/env bash
# Load held (issue 11, item 6): the generated shop under a read/write mix (bench/load/mix.lua:
# 60 % GET by id, 20 % list, 10 % PATCH, 10 % POST) at the highest rate the box gives it,
# wrk -c32 closed-loop for LOAD_SECONDS (60; 10 with --smoke). Reports requests/s, p50/p99
# (wrk, all requests), each budgeted route's p99 against its spec budget (the server's own
# /_stats), errors, and memory (VmRSS sampled every second: start, peak, end).
# Fails (exit 1) on any non-2xx answer or socket error; latencies are reported, not asserted.
#
#   bench/load.sh            # release build, 60 s: writes bench/LOAD.md
#   bench/load.sh --smoke    # CI: debug build (target/e2e, shared with the tests), 10 s,
#                            # 20,000 products: writes $WORK/LOAD.md
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SMOKE=0
[[ ${1:-} == --smoke ]] && SMOKE=1
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
CONNS=${LOAD_CONNECTIONS:-32}
if ((SMOKE)); then
  SECS=${LOAD_SECONDS:-10}; PRODUCTS=${LOAD_PRODUCTS:-20000}; PROFILE=dev; OUTDIR_DEFAULT=
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/e2e}
else
  SECS=${LOAD_SECONDS:-60}; PRODUCTS=${LOAD_PRODUCTS:-100000}; PROFILE=release; OUTDIR_DEFAULT=$ROOT/bench
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/bench}
fi
WORK=${LOAD_WORK:-$CARGO_TARGET_DIR/load}
OUT=${LOAD_OUT:-${OUTDIR_DEFAULT:-$WORK}}
log() { echo "load: $*" >&2; }
command -v wrk >/dev/null || { log "needs wrk (apt-get install -y wrk)"; exit 2; }
mkdir -p "$WORK" "$OUT"

# The shop under its own crate name (its binary must not replace the tests' `shop`).
log "generating and building the shop ($PROFILE)"
(cd "$ROOT" && CARGO_TARGET_DIR="$ROOT/target" cargo build -q --bin apiforge)
sed -E "s/^name: shop( |$)/name: load_shop\1/" examples/shop.yaml > "$WORK/load_shop.yaml"
rm -rf "$WORK/load_shop"
"$ROOT/target/debug/apiforge" new "$WORK/load_shop" --spec "$WORK/load_shop.yaml" -q
(cd "$WORK/load_shop" && cargo build -q --profile "$PROFILE")
DIR=$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")
BIN="$CARGO_TARGET_DIR/$DIR/load_shop"

DB=load_$$
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cleanup() {
  [[ -n ${SERVER:-} ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
  [[ -n ${SAMPLER:-} ]] && kill "$SAMPLER" 2>/dev/null
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT
DATABASE_URL="$PG/$DB" HOST=127.0.0.1 PORT=$PORT REDIS_URL= RUST_LOG=error "$BIN" >"$WORK/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 300); do
  curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
  sleep 0.2
done
curl -sf "http://127.0.0.1:$PORT/health" >/dev/null || { log "the shop did not start"; cat "$WORK/server.log"; exit 1; }

log "seeding $PRODUCTS products"
psql "$PG/$DB" -qc "INSERT INTO products (name, category, price, sales)
  SELECT 'product ' || g, 'c' || (g % 100), (g % 10000)::numeric / 100, g % 1000
  FROM generate_series(1, $PRODUCTS) g" >/dev/null

rss() { awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status"; }
: >"$WORK/rss"
(while kill -0 "$SERVER" 2>/dev/null; do rss >>"$WORK/rss"; sleep 1; done) &
SAMPLER=$!
log "wrk -t2 -c$CONNS -d${SECS}s (read/write mix)"
LOAD_PRODUCTS=$PRODUCTS wrk -t2 -c"$CONNS" -d"${SECS}s" --timeout 10s -s bench/load/mix.lua \
  "http://127.0.0.1:$PORT" >"$WORK/wrk.txt"
kill "$SAMPLER" 2>/dev/null || true
SAMPLER=
curl -sf "http://127.0.0.1:$PORT/_stats" >"$WORK/stats.json"

python3 - "$WORK" "$OUT/LOAD.md" "$SECS" "$PRODUCTS" "$CONNS" "$PROFILE" <<'PY'
import json, sys, datetime, platform, os
work, out, secs, products, conns, profile = sys.argv[1:]
line = [l for l in open(f"{work}/wrk.txt") if l.startswith("{")][-1]
w = json.loads(line)
rss = [int(x) for x in open(f"{work}/rss").read().split()]
stats = json.load(open(f"{work}/stats.json"))
rows = []
for r in stats.get("routes", []):
    b = r.get("budget") or {}
    rows.append((r.get("method"), r.get("route"), r.get("count"), r.get("p99_ms"), b.get("p99_ms"), b.get("status", "")))
mem_start, mem_peak, mem_end = rss[0] / 1024, max(rss) / 1024, rss[-1] / 1024
# Flat: the last tenth of the run against the samples after the first tenth (warm caches).
tenth = max(1, len(rss) // 10)
settled = max(rss[tenth:len(rss) - tenth] or rss) / 1024
lines = [
    f"# Load held: the shop under a read/write mix",
    "",
    f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} CPUs, load average {open('/proc/loadavg').read().split()[0]}; "
    f"{profile} build, {products} products, wrk -t2 -c{conns} for {secs} s (closed loop: the highest rate the box gives), "
    "60 % GET by id, 20 % list, 10 % PATCH, 10 % POST.",
    "",
    "| requests | req/s | non-2xx | socket errors | p50 ms | p99 ms | max ms | RSS start → peak → end MiB |",
    "|---:|---:|---:|---:|---:|---:|---:|---|",
    f"| {w['requests']:,} | {w['requests'] / w['seconds']:,.0f} | {w['non2xx']} | {w['socket_errors']} | {w['p50_ms']:.2f} | {w['p99_ms']:.2f} | {w['max_ms']:.1f} | {mem_start:.1f} → {mem_peak:.1f} → {mem_end:.1f} (settled peak {settled:.1f}) |",
    "",
    "Per route, from the server's `/_stats` (its last window), against the spec's budgets:",
    "",
    "| route | requests | p99 ms | budget p99 ms | status |",
    "|---|---:|---:|---:|---|",
]
for m, route, count, p99, bp99, status in rows:
    lines.append(f"| {m} {route} | {count} | {p99} | {bp99 if bp99 is not None else ''} | {status} |")
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
bad = w["non2xx"] + w["socket_errors"]
if bad:
    print(f"load: {bad} failed requests", file=sys.stderr)
    sys.exit(1)
PY
