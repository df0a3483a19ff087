#!/usr/bin/env bash
# bench/run.sh: generated shop(s) vs the hand-written reference (bench/reference), under wrk.
#
#   bench/run.sh            # full run: seeds 100k products, 10k users, 200k orders, 300k reviews
#   bench/run.sh --smoke    # CI: small data, 1 round of 1 s per shape, no thresholds, debug
#                           # builds in target/e2e (shared with the tests)
#
# See bench/README.md ("bench/run.sh") for the shapes, the knobs and how to compare a
# "before" and an "after" shop binary in one run. Writes bench/RESULTS.md and
# bench/results.json (or $BENCH_OUT/…).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
SMOKE=0
for arg in "$@"; do
    case $arg in
        --smoke) SMOKE=1 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown argument $arg" >&2; exit 2 ;;
    esac
done

# ---- knobs ---------------------------------------------------------------------------
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}   # server URL, no database
REDIS=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
if [[ $SMOKE == 1 ]]; then
    # Debug builds beside the tests' generated projects: their dependencies are built.
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/e2e}
    PROFILE=${BENCH_PROFILE:-dev}
else
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/bench}
    PROFILE=${BENCH_PROFILE:-release}
fi
PROFILE_DIR=$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")
WORK=${BENCH_WORK:-$CARGO_TARGET_DIR/bench-run}
OUT=${BENCH_OUT:-$HERE}
SHOPS=${BENCH_SHOPS:-current}            # labels; each one is a shop under test
CONN=${BENCH_CONNECTIONS:-32}
THREADS=${BENCH_THREADS:-1}
if [[ $SMOKE == 1 ]]; then
    SECS=${BENCH_SECONDS:-1}; ROUNDS=${BENCH_ROUNDS:-1}; WARM=${BENCH_WARMUP:-0}
    N_PRODUCTS=2000; N_USERS=200; N_ORDERS=4000; N_REVIEWS=6000
    DEFAULT_SHAPES="hooks get_cached list_cached get_db list_db include"
    OUT=${BENCH_OUT:-$WORK/smoke}
else
    SECS=${BENCH_SECONDS:-4}; ROUNDS=${BENCH_ROUNDS:-3}; WARM=${BENCH_WARMUP:-1}
    N_PRODUCTS=${BENCH_PRODUCTS:-100000}; N_USERS=${BENCH_USERS:-10000}
    N_ORDERS=${BENCH_ORDERS:-200000}; N_REVIEWS=${BENCH_REVIEWS:-300000}
    DEFAULT_SHAPES="hooks get_cached get_304 list_cached get_db list_db get_redis include export patch create"
fi
SHAPES=${BENCH_SHAPES:-$DEFAULT_SHAPES}
N_CATEGORIES=100
HOT_IDS=1000                             # the cached shapes cycle over ids 1..1000
RUN_ID=bench$$
SEED=${BENCH_SEED:-$RANDOM}              # the rounds' server order (see the load loop)
mkdir -p "$WORK"/{bin,projects,lua,out} "$OUT"
RUNS=$WORK/out/runs-$RUN_ID.jsonl
: > "$RUNS"

log() { printf '[%s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
command -v wrk >/dev/null || die "wrk is not installed (apt-get install -y wrk)"
command -v psql >/dev/null || die "psql is not installed"
psql "$PG/postgres" -Atqc 'select 1' >/dev/null || die "Postgres unreachable at $PG"

PIDS=()
DBS=()
cleanup() {
    set +e
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    for db in "${DBS[@]}"; do psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1; done
    if command -v redis-cli >/dev/null; then
        redis-cli -u "$REDIS" --scan --pattern "$RUN_ID-*" 2>/dev/null | xargs -r redis-cli -u "$REDIS" del >/dev/null 2>&1
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

upper() { tr '[:lower:]-' '[:upper:]_' <<<"$1"; }
var() { local n="$1"; printf '%s' "${!n:-}"; }

# ---- build ----------------------------------------------------------------------------
# The reference server.
log "building bench/reference ($PROFILE)"
cargo build -q --profile "$PROFILE" --manifest-path "$HERE/reference/Cargo.toml"
cp "$CARGO_TARGET_DIR/$PROFILE_DIR/bench-reference" "$WORK/bin/reference"

# The apiforge CLI of a checkout, built once per label.
apiforge_of() {
    local label=$1 src=$2
    # BENCH_APIFORGE: a CLI already built from this checkout (CI: the tests' debug build).
    if [[ -n ${BENCH_APIFORGE:-} && $src == "$ROOT" ]]; then
        echo "$BENCH_APIFORGE"; return
    fi
    # Built every run (a no-op when nothing changed): a CLI kept from an earlier run
    # would generate the earlier templates against the current runtime.
    log "building the apiforge CLI of $src"
    cargo build -q --profile "$PROFILE" --manifest-path "$src/Cargo.toml" --bin apiforge
    cp "$CARGO_TARGET_DIR/$PROFILE_DIR/apiforge" "$WORK/bin/apiforge-$label"
    echo "$WORK/bin/apiforge-$label"
}

unique_package() { # CARGO_TOML NAME
    python3 - "$1" "$2" <<'PY'
import re, sys
path, name = sys.argv[1:]
toml = open(path).read()
crate = re.search(r'^name = "([^"]+)"', toml, re.M).group(1)
if crate != name and "[lib]" not in toml:
    toml = toml.replace(f'name = "{crate}"', f'name = "{name}"', 1)
    lib = crate.replace("-", "_")
    toml += f'\n[lib]\nname = "{lib}"\npath = "src/lib.rs"\n\n[[bin]]\nname = "{crate}"\npath = "src/main.rs"\n'
    open(path, "w").write(toml)
PY
}

# shop_bin LABEL VARIANT: the binary of shop LABEL for VARIANT (cached | nocache | redis):
# SHOP_BIN_<LABEL> / SHOP_NOCACHE_BIN_<LABEL> / SHOP_REDIS_BIN_<LABEL> when set, else
# generated from SHOP_SRC_<LABEL> (an apiforge checkout; default: this one) and built, the
# cached one from SHOP_SPEC_<LABEL> when set.
shop_bin() {
    local label=$1 variant=$2 L env src spec dir
    L=$(upper "$label")
    case $variant in
        cached) env=SHOP_BIN_$L ;;
        nocache) env=SHOP_NOCACHE_BIN_$L ;;
        redis) env=SHOP_REDIS_BIN_$L ;;
    esac
    if [[ -n $(var "$env") ]]; then
        [[ -x $(var "$env") ]] || die "$env=$(var "$env") is not an executable"
        var "$env"; return
    fi
    src=$(var "SHOP_SRC_$L"); src=${src:-$ROOT}
    dir=$WORK/projects/$label-$variant
    spec=$WORK/projects/$label-$variant.yaml
    if [[ $variant == cached ]]; then
        # SHOP_SPEC_<LABEL>: another spec of the same schema (e.g. bench/ratelimit.sh's).
        local own; own=$(var "SHOP_SPEC_$L")
        cp "${own:-$src/examples/shop.yaml}" "$spec"
    else
        python3 "$HERE/spec_variant.py" "$variant" "$src/examples/shop.yaml" > "$spec"
    fi
    local cli; cli=$(apiforge_of "$label" "$src")
    log "generating and building shop $label/$variant from $src"
    "$cli" new "$dir" --spec "$spec" --runtime-path "$src/runtime" --force >/dev/null
    # A package name of its own: cargo hashes a root package by name and version (its path
    # relative to its own workspace), so two projects named `shop` built in one target dir
    # would pass for one another and the second would not be rebuilt. Lib and bin keep
    # their names.
    unique_package "$dir/Cargo.toml" "shop-$label-$variant"
    # The `hooks` shape: a route of the user's own, through every generated layer.
    if [[ $variant == cached ]]; then
        cat > "$dir/src/hooks.rs" <<'RS'
//! A route of the user's own (bench/run.sh's `hooks` shape).
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::generated::app::AppState;

#[derive(Serialize)]
struct Hello {
    hello: &'static str,
}

async fn hello() -> Json<Hello> {
    Json(Hello { hello: "world" })
}

pub fn routes() -> Router<AppState> {
    Router::new().route("/hello", get(hello))
}
RS
    fi
    cargo build -q --profile "$PROFILE" --manifest-path "$dir/Cargo.toml"
    cp "$CARGO_TARGET_DIR/$PROFILE_DIR/shop" "$WORK/bin/shop-$label-$variant"
    echo "$WORK/bin/shop-$label-$variant"
}

# Which variants the shapes need.
declare -A NEED=()
for s in $SHAPES; do
    case $s in
        get_cached|get_304|list_cached|patch|create|export|hooks|include) NEED[cached]=1 ;;
        get_db|list_db) NEED[nocache]=1 ;;
        get_redis) NEED[redis]=1 ;;
        *) die "unknown shape $s" ;;
    esac
done
declare -A BIN=()
for label in $SHOPS; do
    for v in "${!NEED[@]}"; do BIN[$label/$v]=$(shop_bin "$label" "$v"); done
done

# ---- data -----------------------------------------------------------------------------
# A template database: migrated by the first shop binary, then filled with COPY; every
# server gets a copy of it (CREATE DATABASE … TEMPLATE), so all see the same rows.
TPL=${RUN_ID}_template
DBS+=("$TPL")
psql "$PG/postgres" -qc "CREATE DATABASE \"$TPL\"" >/dev/null
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_health() {
    local port=$1 pid=$2 name=$3
    for _ in $(seq 1 300); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/health" && return 0
        kill -0 "$pid" 2>/dev/null || die "$name exited at start-up (log: $WORK/out/$name.log)"
        sleep 0.1
    done
    die "$name did not answer /health"
}
first_bin=${BIN[$(echo "${!BIN[@]}" | tr ' ' '\n' | sort | head -1)]}
log "migrating the template database with $first_bin"
port=$(free_port)
DATABASE_URL="$PG/$TPL" HOST=127.0.0.1 PORT=$port REDIS_URL= RUST_LOG=warn "$first_bin" > "$WORK/out/migrate.log" 2>&1 &
mpid=$!
wait_health "$port" "$mpid" migrate
kill "$mpid"; wait "$mpid" 2>/dev/null || true

log "seeding $N_PRODUCTS products, $N_USERS users, $N_ORDERS orders, $N_REVIEWS reviews (COPY)"
copy_in() { # TABLE(COLUMNS) SELECT…: the SELECT's rows as COPY text, loaded with \copy
    psql "$PG/$TPL" -Atqc "COPY ($2) TO STDOUT" | psql "$PG/$TPL" -qc "\\copy $1 FROM STDIN"
}
t0=$(date +%s.%N)
copy_in "users (id, email, name, password_hash, created_at)" "
    SELECT (lpad(to_hex(i), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid,
           'user' || i || '@example.com', 'User ' || i, 'x',
           timestamptz '2025-01-01 00:00:00+00' + i * interval '17 minutes'
    FROM generate_series(1, $N_USERS) i"
copy_in "products (id, name, category, price, sales, is_static, created_at)" "
    SELECT i,
           CASE WHEN i % 97 = 0 THEN 'Product \"quoted\" ' || i WHEN i % 89 = 0 THEN 'Produit n° ' || i ELSE 'Product number ' || i END,
           'category-' || lpad((i % $N_CATEGORIES)::text, 2, '0'),
           ((i * 37) % 100000) / 100.0, (i * 7) % 1000, i % 10 = 0,
           timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second'
             + ((i::bigint * 7919) % 1000000) * interval '1 microsecond'
    FROM generate_series(1, $N_PRODUCTS) i"
copy_in "orders (id, user_id, product_id, quantity, status, created_at)" "
    SELECT i,
           (lpad(to_hex(1 + i % $N_USERS), 8, '0') || '-0000-4000-8000-' || lpad(to_hex(1 + i % $N_USERS), 12, '0'))::uuid,
           1 + (i::bigint * 31) % $N_PRODUCTS, 1 + i % 5, (ARRAY['pending','paid','shipped'])[1 + i % 3],
           timestamptz '2026-02-01 00:00:00+00' + i * interval '3 seconds'
    FROM generate_series(1, $N_ORDERS) i"
copy_in "reviews (id, product_id, rating, body)" "
    SELECT i, 1 + (i::bigint * 7919) % $N_PRODUCTS, 1 + (i * 13) % 5,
           CASE WHEN i % 3 = 0 THEN NULL ELSE 'Review ' || i || ': fine.' END
    FROM generate_series(1, $N_REVIEWS) i"
psql "$PG/$TPL" -qc "
    SELECT setval('products_id_seq', $N_PRODUCTS), setval('orders_id_seq', $N_ORDERS),
           setval('reviews_id_seq', $N_REVIEWS);" >/dev/null
psql "$PG/$TPL" -qc "VACUUM ANALYZE" >/dev/null
SEED_SECONDS=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
log "seeded in ${SEED_SECONDS}s"

# ---- servers --------------------------------------------------------------------------
declare -A PORT=() PID=()
start_server() { # NAME BINARY [ENV…]
    local name=$1 bin=$2; shift 2
    local db=${RUN_ID}_$(tr -c 'a-z0-9\n' '_' <<<"$name")
    DBS+=("$db")
    # (retried: the template's last sessions may still be closing)
    for try in 1 2 3 4 5 6 7 8 9 10; do
        psql "$PG/postgres" -qc "CREATE DATABASE \"$db\" TEMPLATE \"$TPL\"" >/dev/null 2>&1 && break
        [[ $try == 10 ]] && die "cannot create $db from the template"
        sleep 0.5
    done
    local port; port=$(free_port)
    env DATABASE_URL="$PG/$db" HOST=127.0.0.1 PORT="$port" RUST_LOG=warn "$@" "$bin" \
        > "$WORK/out/$name.log" 2>&1 &
    local pid=$!
    PIDS+=("$pid")
    wait_health "$port" "$pid" "$name"
    PORT[$name]=$port; PID[$name]=$pid
    log "$name: pid $pid, port $port, database $db ($bin)"
}
start_server reference "$WORK/bin/reference" REDIS_URL="$REDIS" REDIS_NAMESPACE="$RUN_ID-reference"
for key in "${!BIN[@]}"; do
    label=${key%/*}; v=${key#*/}
    redis_env=(REDIS_URL=)
    [[ $v == redis ]] && redis_env=(REDIS_URL="$REDIS" REDIS_NAMESPACE="$RUN_ID-$label")
    start_server "$label-$v" "${BIN[$key]}" "${redis_env[@]}"
done

# ---- shapes ---------------------------------------------------------------------------
# shape_def SHAPE: sets VARIANT, the shop path and reference path (prefixes), the id or
# category generator and the method.
shape_def() {
    METHOD=GET; BODY=""; GEN=ids; SPAN=$HOT_IDS; STRIDE=1; INM=0
    case $1 in
        get_cached) VARIANT=cached; SHOP_P=/products/; REF_P=/products/ ;;
        get_304) VARIANT=cached; SHOP_P=/products/; REF_P=/products/; INM=1 ;;
        list_cached) VARIANT=cached; SHOP_P="/products?category=category-"; REF_P=$SHOP_P; GEN=cats ;;
        get_db) VARIANT=nocache; SHOP_P=/products/; REF_P=/db/products/; SPAN=$N_PRODUCTS; STRIDE=7919 ;;
        list_db) VARIANT=nocache; SHOP_P="/products?category=category-"; REF_P="/db/products?category=category-"; GEN=cats ;;
        get_redis) VARIANT=redis; SHOP_P=/products/; REF_P=/redis/products/ ;;
        patch) VARIANT=cached; SHOP_P=/products/; REF_P=/products/; METHOD=PATCH; BODY=sales ;;
        create) VARIANT=cached; SHOP_P=/products; REF_P=/products; METHOD=POST; BODY=create; GEN=none ;;
        export) VARIANT=cached; SHOP_P=/products/export; REF_P=/products/export; GEN=none ;;
        hooks) VARIANT=cached; SHOP_P=/hello; REF_P=/hello; GEN=none ;;
        include) VARIANT=cached; SHOP_P="/orders?include=user,product&offset="; REF_P=$SHOP_P; GEN=offsets ;;
    esac
    DESC=$(case $1 in
        get_cached) echo "GET /products/{id}, in-process cache hit ($HOT_IDS ids)" ;;
        get_304) echo "GET /products/{id} with a matching If-None-Match: 304 (100 ids)" ;;
        list_cached) echo "GET /products?category=X (50 newest), page cache hit ($N_CATEGORIES categories)" ;;
        get_db) echo "GET /products/{id} from Postgres (no-cache spec; ids over all $N_PRODUCTS)" ;;
        list_db) echo "GET /products?category=X (50 newest + aggregates) from Postgres (no-cache spec)" ;;
        get_redis) echo "GET /products/{id} through Redis, no memory tier ($HOT_IDS ids)" ;;
        patch) echo "PATCH /products/{id} {\"sales\":n} + invalidation ($HOT_IDS ids)" ;;
        create) echo "POST /products (201 + Location)" ;;
        export) echo "GET /products/export: $N_PRODUCTS rows of NDJSON" ;;
        hooks) echo "GET /hello: a src/hooks.rs route through every generated layer vs a bare handler" ;;
        include) echo "GET /orders?include=user,product&offset=N: 50 orders with their users and products (3 queries), 20 pages" ;;
    esac)
}

# The ETag of each hot id on a server (for get_304), as a Lua table literal.
etags_lua() {
    local port=$1 prefix=$2 i
    printf '{'
    for i in $(seq 1 100); do
        printf '"%s",' "$(curl -s -D - -o /dev/null "http://127.0.0.1:$port$prefix$i" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}' | sed 's/"/\\"/g')"
    done
    printf '}'
}

# wrk script: the request generator and a one-line summary (µs) at the end.
write_lua() { # FILE PREFIX [ETAGS]
    local file=$1 prefix=$2 etags=${3:-"{}"}
    cat > "$file" <<EOF
local prefix, gen, span, stride, method, bodykind, inm = "$prefix", "$GEN", $SPAN, $STRIDE, "$METHOD", "$BODY", $INM
local etags = $etags
local i = 0
local json = { ["Content-Type"] = "application/json" }
request = function()
  i = i + 1
  if inm == 1 then
    local k = (i % #etags) + 1
    return wrk.format("GET", prefix .. k, { ["If-None-Match"] = etags[k] })
  end
  local path = prefix
  if gen == "ids" then
    path = prefix .. (((i * stride) % span) + 1)
  elseif gen == "offsets" then
    path = prefix .. ((i % 20) * 50)
  elseif gen == "cats" then
    path = prefix .. string.format("%02d", i % $N_CATEGORIES)
  end
  if bodykind == "sales" then
    return wrk.format(method, path, json, '{"sales":' .. (i % 1000) .. '}')
  elseif bodykind == "create" then
    return wrk.format(method, path, json, '{"name":"Bench product ' .. i .. '","category":"category-new","price":"' .. (i % 500) .. '.25"}')
  end
  return wrk.format(method, path)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH_RESULT %d %d %d %d %d %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
EOF
}

cpu_ns() { # on-CPU ns of all threads of PID (first field of schedstat)
    cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'
}

# One wrk run of SHAPE against server NAME; appends a JSON line to $RUNS.
measure() { # SHAPE NAME LABEL ROUND LUA
    local shape=$1 name=$2 label=$3 round=$4 lua=$5 port=${PORT[$2]} pid=${PID[$2]}
    local c0 c1 out load
    load=$(cut -d' ' -f1 /proc/loadavg)
    c0=$(cpu_ns "$pid")
    out=$(wrk -t"$THREADS" -c"$CONN" -d"${SECS}s" --latency -s "$lua" "http://127.0.0.1:$port" 2>&1) || die "wrk failed: $out"
    c1=$(cpu_ns "$pid")
    local line; line=$(grep '^BENCH_RESULT' <<<"$out") || die "no wrk summary: $out"
    read -r _ reqs dur p50 p99 status_err sock_err <<<"$line"
    python3 - "$shape" "$label" "$name" "$round" "$reqs" "$dur" "$p50" "$p99" "$status_err" "$sock_err" "$c0" "$c1" "$load" >> "$RUNS" <<'EOF'
import json, sys
shape, label, name, rnd, reqs, dur, p50, p99, serr, kerr, c0, c1, load = sys.argv[1:]
reqs, dur = int(reqs), int(dur)
print(json.dumps({"shape": shape, "server": label, "process": name, "round": int(rnd),
    "requests": reqs, "rps": reqs / (dur / 1e6), "p50_us": int(p50), "p99_us": int(p99),
    "cpu_us_per_req": (int(c1) - int(c0)) / 1000 / max(reqs, 1),
    "non_2xx_3xx": int(serr), "socket_errors": int(kerr), "loadavg_1m": float(load)}))
EOF
    tail -1 "$RUNS" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("  %-12s %-10s round %d: %8.0f req/s  p50 %5d us  p99 %6d us  cpu %6.1f us/req  errors %d/%d  load %.2f" % (r["shape"], r["server"], r["round"], r["rps"], r["p50_us"], r["p99_us"], r["cpu_us_per_req"], r["non_2xx_3xx"], r["socket_errors"], r["loadavg_1m"]))' >&2
}

# Export: one streamed download per server and round: rows/s and peak RSS; and the floor,
# Postgres's own COPY … TO STDOUT of the same rows.
measure_export() { # NAME LABEL ROUND
    local name=$1 label=$2 round=$3 port=${PORT[$1]} pid=${PID[$1]}
    local rss0 peak=0 c0 c1 t0 t1 rows load sampler
    load=$(cut -d' ' -f1 /proc/loadavg)
    rss0=$(awk '/^VmRSS/ {print $2}' /proc/"$pid"/status)
    c0=$(cpu_ns "$pid")
    ( while :; do awk '/^VmRSS/ {print $2}' /proc/"$pid"/status; sleep 0.02; done ) > "$WORK/out/rss.txt" &
    sampler=$!
    t0=$(date +%s.%N)
    rows=$(curl -sf "http://127.0.0.1:$port/products/export" | wc -l)
    t1=$(date +%s.%N)
    kill "$sampler"; wait "$sampler" 2>/dev/null || true
    c1=$(cpu_ns "$pid")
    peak=$(sort -n "$WORK/out/rss.txt" | tail -1)
    python3 -c "
import json
rows, secs = $rows, $t1 - $t0
print(json.dumps({'shape': 'export', 'server': '$label', 'process': '$name', 'round': $round,
  'rows': rows, 'seconds': secs, 'rows_per_s': rows / secs, 'rss_before_kib': $rss0,
  'peak_rss_kib': max($peak, $rss0), 'cpu_us_per_row': ($c1 - $c0) / 1000 / max(rows, 1),
  'loadavg_1m': $load}))" >> "$RUNS"
    tail -1 "$RUNS" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("  export       %-10s round %d: %8.0f rows/s  %d rows  peak RSS %d KiB (before %d)  cpu %.2f us/row" % (r["server"], r["round"], r["rows_per_s"], r["rows"], r["peak_rss_kib"], r["rss_before_kib"], r["cpu_us_per_row"]))' >&2
}
measure_copy_floor() { # ROUND
    local t0 t1 rows db=${RUN_ID}_reference load
    load=$(cut -d' ' -f1 /proc/loadavg)
    t0=$(date +%s.%N)
    rows=$(psql "$PG/$db" -Atqc 'COPY (SELECT "id", "name", "category", "price", "sales", "is_static", "created_at" FROM "products" ORDER BY "id") TO STDOUT' | wc -l)
    t1=$(date +%s.%N)
    python3 -c "
import json
print(json.dumps({'shape': 'export', 'server': 'copy-floor', 'process': 'psql', 'round': $1,
  'rows': $rows, 'seconds': $t1 - $t0, 'rows_per_s': $rows / ($t1 - $t0), 'loadavg_1m': $load}))" >> "$RUNS"
    tail -1 "$RUNS" | python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("  export       copy-floor round %d: %8.0f rows/s (COPY ... TO STDOUT through psql)" % (r["round"], r["rows_per_s"]))' >&2
}

# ---- byte-for-byte check --------------------------------------------------------------
# For a few requests per shape: the status, the headers (but Date) and the body of every
# shop must equal the reference's.
fetch() { # PORT PATH [curl args…] -> status, sorted lower-cased headers but Date, body
    local port=$1 path=$2; shift 2
    local h b
    h=$(mktemp "$WORK/out/fetch.XXXXXX"); b=$(mktemp "$WORK/out/fetch.XXXXXX")
    curl -s -D "$h" -o "$b" "$@" "http://127.0.0.1:$port$path"
    head -1 "$h" | tr -d '\r' | cut -d' ' -f2
    # ETag values are each server's own (the shop's carry the resource's shape version):
    # compared as present and strong, not by value.
    tail -n +2 "$h" | tr -d '\r' | grep -v '^$' | grep -vi '^date:' | sed -E 's/^([^:]*):/\L\1:/' \
        | sed -E 's/^etag: "[0-9a-f]+"$/etag: "<strong>"/' | sort
    echo
    cat "$b"
    rm -f "$h" "$b"
}
CHECKED=0
check_same() { # WHAT SHOP_NAME SHOP_PATH REF_PATH [curl args…]
    local what=$1 shop=$2 sp=$3 rp=$4; shift 4
    local a b
    a=$(fetch "${PORT[$shop]}" "$sp" "$@" | sha256sum)
    b=$(fetch "${PORT[reference]}" "$rp" "$@" | sha256sum)
    if [[ $a != "$b" ]]; then
        log "MISMATCH $what: $shop $sp vs reference $rp"
        diff <(fetch "${PORT[$shop]}" "$sp" "$@" | head -c 3000) <(fetch "${PORT[reference]}" "$rp" "$@" | head -c 3000) >&2 || true
        [[ -n ${BENCH_NO_CHECK:-} ]] || die "responses differ (BENCH_NO_CHECK=1 to measure anyway)"
    fi
    CHECKED=$((CHECKED + 1))
}
etag_of() { # PORT PATH -> the ETag the server sends for PATH
    curl -s -D - -o /dev/null "http://127.0.0.1:$1$2" | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}'
}
check_304() { # WHAT SHOP_NAME SHOP_PATH REF_PATH PREFIX: each server revalidated with its own tag
    local what=$1 shop=$2 sp=$3 rp=$4 prefix=$5 a b
    a=$(fetch "${PORT[$shop]}" "$sp" -H "If-None-Match: $prefix$(etag_of "${PORT[$shop]}" "$sp")" | sha256sum)
    b=$(fetch "${PORT[reference]}" "$rp" -H "If-None-Match: $prefix$(etag_of "${PORT[reference]}" "$rp")" | sha256sum)
    if [[ $a != "$b" ]]; then
        log "MISMATCH $what: $shop $sp vs reference $rp"
        [[ -n ${BENCH_NO_CHECK:-} ]] || die "responses differ (BENCH_NO_CHECK=1 to measure anyway)"
    fi
    CHECKED=$((CHECKED + 1))
}
log "checking that every shop answers the reference's bytes"
for label in $SHOPS; do
    for s in $SHAPES; do
        shape_def "$s"
        name=$label-$VARIANT
        case $s in
            get_cached|get_db|get_redis)
                for id in 1 2 10 97 89 $((N_PRODUCTS / 2)) $N_PRODUCTS; do
                    check_same "$s $id" "$name" "$SHOP_P$id" "$REF_P$id"
                    check_same "$s $id (cached/second)" "$name" "$SHOP_P$id" "$REF_P$id"
                done
                check_same "$s missing" "$name" "${SHOP_P}999999999" "${REF_P}999999999" ;;
            get_304)
                for id in 1 10; do
                    check_304 "$s $id" "$name" "$SHOP_P$id" "$REF_P$id" ''
                    check_304 "$s $id W/" "$name" "$SHOP_P$id" "$REF_P$id" '"x", W/'
                done ;;
            list_cached|list_db)
                for c in 00 07 42 99; do
                    check_same "$s $c" "$name" "${SHOP_P}$c" "${REF_P}$c"
                done
                check_same "$s limit" "$name" "${SHOP_P}05&limit=3" "${REF_P}05&limit=3" ;;
            patch)
                for id in 3 20; do
                    check_same "$s $id" "$name" "$SHOP_P$id" "$REF_P$id" -X PATCH -H 'Content-Type: application/json' --data '{"sales":123}'
                    check_same "$s $id then GET" "$name" "$SHOP_P$id" "$REF_P$id"
                done ;;
            export)
                check_same "$s (every row)" "$name" "$SHOP_P" "$REF_P" ;;
            hooks)
                check_same "$s" "$name" "$SHOP_P" "$REF_P" ;;
            include)
                for o in 0 50 950; do
                    check_same "$s $o" "$name" "$SHOP_P$o" "$REF_P$o"
                done ;;
        esac
    done
done
log "$CHECKED responses identical"

# ---- load -----------------------------------------------------------------------------
log "load: wrk -t$THREADS -c$CONN -d${SECS}s, $ROUNDS interleaved rounds per shape"
for s in $SHAPES; do
    shape_def "$s"
    log "$s: $DESC"
    declare -A LUA=()
    order=()
    for label in $SHOPS; do order+=("$label"); done
    order+=(reference)
    for label in "${order[@]}"; do
        if [[ $label == reference ]]; then name=reference; prefix=$REF_P; else name=$label-$VARIANT; prefix=$SHOP_P; fi
        lua=$WORK/lua/$s-$label.lua
        if [[ $INM == 1 ]]; then write_lua "$lua" "$prefix" "$(etags_lua "${PORT[$name]}" "$prefix")"; else write_lua "$lua" "$prefix"; fi
        LUA[$label]=$lua
        # Warm-up (caches filled, pool connections open): not measured.
        if [[ $WARM != 0 && $s != export && $s != create ]]; then
            wrk -t"$THREADS" -c"$CONN" -d"${WARM}s" -s "$lua" "http://127.0.0.1:${PORT[$name]}" >/dev/null 2>&1 || true
        fi
    done
    for round in $(seq 1 "$ROUNDS"); do
        # Servers in a random order each round (seeded: BENCH_SEED), so none is always
        # measured first, right after another's load, or last, while caches cool.
        mapfile -t shuffled < <(printf '%s\n' "${order[@]}" | shuf --random-source=<(yes "$SEED-$s-$round"))
        for label in "${shuffled[@]}"; do
            if [[ $label == reference ]]; then name=reference; else name=$label-$VARIANT; fi
            if [[ $s == export ]]; then measure_export "$name" "$label" "$round"
            else measure "$s" "$name" "$label" "$round" "${LUA[$label]}"; fi
        done
        [[ $s == export ]] && measure_copy_floor "$round"
    done
    unset LUA
done

# ---- report ---------------------------------------------------------------------------
{
    echo "smoke=$SMOKE"
    echo "profile=$PROFILE"
    echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
    echo "nproc=$(nproc)"
    echo "kernel=$(uname -r)"
    echo "rustc=$(rustc --version)"
    echo "postgres=$(psql "$PG/postgres" -Atqc 'show server_version')"
    echo "redis=$(redis-cli -u "$REDIS" info server 2>/dev/null | tr -d '\r' | awk -F: '/^redis_version/ {print $2}')"
    echo "wrk=$(wrk --version 2>&1 | head -1 | awk '{print $1, $2}')"
    echo "wrk_args=-t$THREADS -c$CONN -d${SECS}s --latency, $ROUNDS interleaved rounds (servers in a random order each round, BENCH_SEED=$SEED), ${WARM}s warm-up"
    echo "data=$N_PRODUCTS products, $N_USERS users, $N_ORDERS orders, $N_REVIEWS reviews (COPY, ${SEED_SECONDS}s)"
    echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) ($(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) changed files)"
    for label in $SHOPS; do
        L=$(upper "$label"); src=$(var "SHOP_SRC_$L"); src=${src:-$ROOT}
        for v in "${!NEED[@]}"; do
            case $v in cached) env=SHOP_BIN_$L ;; nocache) env=SHOP_NOCACHE_BIN_$L ;; redis) env=SHOP_REDIS_BIN_$L ;; esac
            if [[ -n $(var "$env") ]]; then how="prebuilt, $env"; else how="generated from $src @ $(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo 'no git')"; fi
            echo "bin.$label.$v=${BIN[$label/$v]} ($how)"
        done
        echo "note.$label=$(var "SHOP_NOTE_$L")"
    done
    for s in $SHAPES; do shape_def "$s"; echo "shape.$s=$DESC"; done
} > "$WORK/out/meta-$RUN_ID.txt"
python3 "$HERE/report.py" "$RUNS" "$WORK/out/meta-$RUN_ID.txt" "$OUT/results.json" "$OUT/RESULTS.md" "$SHOPS"
# The generator's own speed (bench/generator.sh: `new`, a no-op `generate` and
# `generate --check` on the 100-resource spec), with the first shop's CLI.
first_label=${SHOPS%% *}
if [[ $SMOKE == 0 ]]; then
    log "timing the generator (bench/generator.sh)"
    {
        echo
        echo "## The generator: 100 resources (bench/generator.sh)"
        echo
        echo '```'
        RUNS=${BENCH_GENERATOR_RUNS:-10} "$HERE/generator.sh" "$WORK/bin/apiforge-$first_label" 2>&1 \
            || echo "(not timed: no CLI of shop $first_label was built in this run)"
        echo '```'
    } >> "$OUT/RESULTS.md"
fi
log "wrote $OUT/RESULTS.md and $OUT/results.json"
