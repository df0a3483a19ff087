#!/usr/bin/env bash
# Cold build of the generated shop against a bare crate with the same stack and nothing
# else (axum + sqlx + moka + redis + tokio + serde, with the sqlx types and compression
# codecs examples/shop.yaml uses): CPU seconds (user + system) and wall time of
# `cargo build` from an empty target folder, one build at a time, same profile and flags.
# What the ratio measures: what apiforge's runtime, macros and generated code add to the
# build a team would have anyway.
#
# usage: bench/coldbuild.sh [APIFORGE_BINARY]
#   without an argument, builds the release CLI first (not counted).
#   PROFILE=release|dev (default release: what the README's main job builds)
#   SPEC=examples/shop.yaml   OUT=bench/COLDBUILD.md (the table is appended there too)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
profile=${PROFILE:-release}
spec=${SPEC:-$root/examples/shop.yaml}
out=${OUT:-$root/bench/COLDBUILD.md}
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release -q --manifest-path "$root/Cargo.toml" -p apiforge --bin apiforge
  bin="${CARGO_TARGET_DIR:-$root/target}/release/apiforge"
fi
work=$(mktemp -d /tmp/apiforge-coldbuild.XXXXXX)
trap 'rm -rf "$work"' EXIT

"$bin" -q new "$work/shop" --spec "$spec" >/dev/null
shop_toml="$work/shop/Cargo.toml"
# The bare crate takes the shop's versions and features of the crates both need.
dep_line() { grep -E "^$1 = " "$shop_toml" || true; }
mkdir -p "$work/bare/src"
{
  cat <<'EOF'
[package]
name = "bare"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
EOF
  dep_line axum
  dep_line chrono
  dep_line rust_decimal
  dep_line serde
  dep_line serde_json
  dep_line sqlx
  dep_line tokio
  dep_line tower-http
  dep_line tracing
  dep_line uuid
  echo 'moka = { version = "0.12", features = ["future"] }'
  echo 'redis = { version = "1", default-features = false, features = ["tokio-comp", "connection-manager"] }'
  echo
  echo '[workspace]'
} >"$work/bare/Cargo.toml"
cat >"$work/bare/src/main.rs" <<'EOF'
//! The smallest server that uses every crate of the stack: a cached GET by id.
use axum::{Json, Router, extract::{Path, State}, routing::get};
use moka::future::Cache;
use sqlx::PgPool;

#[derive(Clone)]
struct App {
    pool: PgPool,
    cache: Cache<i64, serde_json::Value>,
    redis: Option<redis::aio::ConnectionManager>,
}

async fn product(State(app): State<App>, Path(id): Path<i64>) -> Json<serde_json::Value> {
    if let Some(hit) = app.cache.get(&id).await {
        return Json(hit);
    }
    if let Some(mut redis) = app.redis.clone() {
        let cached: Option<String> = redis::cmd("GET").arg(id).query_async(&mut redis).await.ok();
        if let Some(v) = cached.and_then(|s| serde_json::from_str(&s).ok()) {
            return Json(v);
        }
    }
    let row: Option<(serde_json::Value,)> =
        sqlx::query_as("SELECT to_jsonb(p) FROM products p WHERE id = $1")
            .bind(id)
            .fetch_optional(&app.pool)
            .await
            .ok()
            .flatten();
    let value = row.map(|r| r.0).unwrap_or_default();
    app.cache.insert(id, value.clone()).await;
    Json(value)
}

#[tokio::main]
async fn main() {
    let pool = PgPool::connect_lazy(&std::env::var("DATABASE_URL").unwrap_or_default()).unwrap();
    let redis = match std::env::var("REDIS_URL") {
        Ok(url) => redis::Client::open(url).ok(),
        Err(_) => None,
    };
    let redis = match redis {
        Some(client) => client.get_connection_manager().await.ok(),
        None => None,
    };
    let app = App { pool, cache: Cache::new(10_000), redis };
    let router = Router::new().route("/products/{id}", get(product)).with_state(app);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    axum::serve(listener, router).await.unwrap();
}
EOF

# Fetch every crate first: downloads are not build time.
(cd "$work/shop" && cargo fetch -q)
(cd "$work/bare" && cargo fetch -q)

flag=(--release)
[ "$profile" = release ] || flag=()
measure() { # name dir -> "cpu_s wall_s units"
  local name=$1 dir=$2
  local t0 t1 cpu
  t0=$(date +%s.%N)
  cpu=$( { /usr/bin/time -f "%U %S" cargo build -q "${flag[@]}" --manifest-path "$dir/Cargo.toml" \
    --target-dir "$work/target-$name" 2>&1 >/dev/null; } | tail -n1 | awk '{print $1 + $2}')
  t1=$(date +%s.%N)
  local units
  units=$(cargo tree -q --manifest-path "$dir/Cargo.toml" -e normal,build --prefix none 2>/dev/null | sort -u | wc -l)
  echo "$cpu $(echo "$t1 - $t0" | bc) $units"
}
load_before=$(cut -d' ' -f1 /proc/loadavg)
read -r shop_cpu shop_wall shop_units < <(measure shop "$work/shop")
read -r bare_cpu bare_wall bare_units < <(measure bare "$work/bare")
load_after=$(cut -d' ' -f1 /proc/loadavg)
ratio=$(echo "scale=2; $shop_cpu / $bare_cpu" | bc)

{
  echo
  echo "### $(date -u '+%Y-%m-%d %H:%M UTC'), profile $profile, $(nproc) CPUs, $(rustc --version)"
  echo
  echo "Spec: $(basename "$spec"); apiforge-runtime = $(grep -E '^apiforge-runtime = ' "$shop_toml" | cut -d= -f2- | sed 's/path = "[^"]*"/path = …/'). Load average (1 min) before/after: $load_before / $load_after."
  echo
  echo "| crate | CPU s (user+sys) | wall s | crates in the tree |"
  echo "|---|---:|---:|---:|"
  printf '| generated shop | %.0f | %.0f | %s |\n' "$shop_cpu" "$shop_wall" "$shop_units"
  printf '| bare axum + sqlx + moka + redis | %.0f | %.0f | %s |\n' "$bare_cpu" "$bare_wall" "$bare_units"
  echo
  echo "**shop ÷ bare CPU: ${ratio}×**"
} | tee -a "$out"
