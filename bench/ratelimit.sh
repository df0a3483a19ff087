#!/usr/bin/env bash
# What rate limits and authentication cost (issue 13): the shop as generated from examples/shop.yaml ("plain")
# and the same shop with `server.rate_limit` set so high that no request is refused
# ("limited": every request is checked, counted and answered with the RateLimit headers),
# in the same interleaved rounds of bench/run.sh, on the cached shapes (where the limit's
# share of the work is largest). The ratio that matters is plain CPU µs ÷ limited CPU µs.
#
#   bench/ratelimit.sh      # writes bench/RATELIMIT.md (+ .json); knobs as bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/bench}
WORK=$CARGO_TARGET_DIR/bench-ratelimit
mkdir -p "$WORK/out"
python3 - examples/shop.yaml "$WORK/limited.yaml" <<'PY'
import sys
src, dst = sys.argv[1:]
text = open(src).read()
marker = "server:\n"
assert marker in text, "examples/shop.yaml has no server: section"
text = text.replace(marker, marker + "  rate_limit: { per_client: 1000000/s, burst: 1000000 }\n", 1)
open(dst, "w").write(text)
PY
# "authed": `auth` with every operation public, so requests without credentials pass the
# authentication layer (what a public route of a secured API costs).
python3 - examples/shop.yaml "$WORK/authed.yaml" <<'PY'
import sys
src, dst = sys.argv[1:]
text = open(src).read()
marker = "server:\n"
text = text.replace(marker, "auth:\n  jwt: { secret_env: JWT_SECRET }\n  default: public\n" + marker, 1)
open(dst, "w").write(text)
PY
export JWT_SECRET=bench-secret-of-more-than-thirty-two-bytes
# The limited shop answers two headers more than the reference: skip the response check.
BENCH_SHOPS="plain limited authed" \
  SHOP_SPEC_LIMITED="$WORK/limited.yaml" \
  SHOP_SPEC_AUTHED="$WORK/authed.yaml" \
  SHOP_NOTE_AUTHED="auth: { jwt: { secret_env: JWT_SECRET }, default: public }, no credentials sent" \
  SHOP_NOTE_LIMITED="server.rate_limit: { per_client: 1000000/s, burst: 1000000 }" \
  BENCH_SHAPES=${BENCH_SHAPES:-"get_cached get_304 list_cached"} \
  BENCH_ROUNDS=${BENCH_ROUNDS:-5} \
  BENCH_PRODUCTS=${BENCH_PRODUCTS:-10000} BENCH_USERS=${BENCH_USERS:-1000} \
  BENCH_ORDERS=${BENCH_ORDERS:-10000} BENCH_REVIEWS=${BENCH_REVIEWS:-10000} \
  BENCH_NO_CHECK=1 BENCH_WORK="$WORK" BENCH_OUT="$WORK/out" \
  bench/run.sh
cp "$WORK/out/RESULTS.md" bench/RATELIMIT.md
cp "$WORK/out/results.json" bench/ratelimit.json
echo "bench/RATELIMIT.md written" >&2
