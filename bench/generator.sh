#!/usr/bin/env bash
# Times the generator on a 100-resource spec (bench/specs/hundred.yaml):
#   new            `apiforge new` into an empty folder (its rustfmt output cached from the
#                  first run, see src/render/rustfmt.rs)
#   new_no_cache   the same with APIFORGE_RUSTFMT_CACHE=0: rustfmt runs every time
#   generate       a no-op `apiforge generate` in that project
#   generate_check `apiforge generate --check` in that project
# with hyperfine when it is installed (apt-get install hyperfine), else a loop timed with
# `date +%s%N` (median of RUNS).
#
# usage: bench/generator.sh [APIFORGE_BINARY]
#   without an argument, builds the release CLI (cargo build --release) and uses it.
#   RUNS=10 (runs per command), SPEC=bench/specs/hundred.yaml
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-}
if [ -z "$bin" ]; then
  cargo build --release -q --manifest-path "$root/Cargo.toml" -p apiforge --bin apiforge
  bin="${CARGO_TARGET_DIR:-$root/target}/release/apiforge"
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
spec=$(cd "$(dirname "${SPEC:-$root/bench/specs/hundred.yaml}")" && pwd)/$(basename "${SPEC:-hundred.yaml}")
runs=${RUNS:-10}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin" validate "$spec" >/dev/null
"$bin" -q new "$work/p" --spec "$spec" >/dev/null
echo "apiforge: $bin"
echo "spec: $spec ($(grep -c '^  [a-z_0-9]*:$' "$spec") resources), $runs runs each"

if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 1 --runs "$runs" --style basic \
    --prepare "rm -rf $work/q" -n new "$bin -q new $work/q --spec $spec" \
    -n new_no_cache "env APIFORGE_RUSTFMT_CACHE=0 $bin -q new $work/q --spec $spec"
  cd "$work/p"
  hyperfine -N --warmup 2 --runs "$runs" --style basic \
    -n generate "$bin generate" \
    -n generate_check "$bin generate --check"
else
  # median wall time in ms of running "$@" $runs times
  median() {
    local prepare=$1; shift
    local times=()
    for _ in $(seq "$runs"); do
      eval "$prepare"
      local start end
      start=$(date +%s%N)
      "$@" >/dev/null
      end=$(date +%s%N)
      times+=($(( (end - start) / 1000000 )))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
  }
  echo "new:            $(median "rm -rf $work/q" "$bin" -q new "$work/q" --spec "$spec") ms"
  echo "new_no_cache:   $(median "rm -rf $work/q" env APIFORGE_RUSTFMT_CACHE=0 "$bin" -q new "$work/q" --spec "$spec") ms"
  cd "$work/p"
  echo "generate:       $(median : "$bin" generate) ms"
  echo "generate_check: $(median : "$bin" generate --check) ms"
fi
