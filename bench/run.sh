#!/usr/bin/env bash
# Builds the benchmarks (Release, in build-bench/), generates their inputs
# and prints every figure, then a summary against the targets in
# bench/README.md. Figures only: a missed target is reported, never fatal.
# Knobs (environment): FLEX_PASSES (15), MIXED_PASSES (5), LOAD_RUNS (5),
# JOBS (nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=build-bench
DATA=$BUILD/bench-data
BIN=$BUILD/bench
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
FLEX_PASSES=${FLEX_PASSES:-15}
MIXED_PASSES=${MIXED_PASSES:-5}
LOAD_RUNS=${LOAD_RUNS:-5}

echo "== build: Release into $BUILD =="
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DVX_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target bench_gen bench_eval bench_load bench_guard bench_seen >/dev/null
echo "ok"

echo "== inputs: $DATA =="
mkdir -p "$DATA"
"$BIN"/bench_gen --kind mixed --flags 10000 --contexts 1000 --seed 42 \
  --out-features "$DATA"/mixed-features.json \
  --out-contexts "$DATA"/mixed-contexts.json
"$BIN"/bench_gen --kind flexible --flags 1000 --contexts 1000 --seed 7 \
  --out-features "$DATA"/flexible-features.json \
  --out-contexts "$DATA"/flexible-contexts.json
"$BIN"/bench_gen --kind catastrophic --flags 10 --contexts 100 --seed 3 \
  --out-features "$DATA"/catastrophic-features.json \
  --out-contexts "$DATA"/catastrophic-contexts.json
ls -l "$DATA"/*.json | awk '{printf "%-50s %10d bytes\n", $NF, $5}'

# run TITLE OUTFILE COMMAND...: prints a header, then the figures, and
# keeps them in OUTFILE for the summary.
run() {
  local title=$1 out=$2
  shift 2
  echo
  echo "== $title =="
  "$@" | tee "$out"
}

run "bench_eval: flexible, 1000 flexibleRollout flags (2 constraints, 4 variants) x 1000 contexts" \
  "$DATA"/result-eval-flexible.txt \
  "$BIN"/bench_eval --features "$DATA"/flexible-features.json \
  --contexts "$DATA"/flexible-contexts.json --passes "$FLEX_PASSES" --split
run "bench_eval: mixed, 10000 flags x 1000 contexts" \
  "$DATA"/result-eval-mixed.txt \
  "$BIN"/bench_eval --features "$DATA"/mixed-features.json \
  --contexts "$DATA"/mixed-contexts.json --passes "$MIXED_PASSES"
run "bench_eval: catastrophic, 10 flags with REGEX (a+)+\$ x 100 contexts that backtrack" \
  "$DATA"/result-eval-catastrophic.txt \
  "$BIN"/bench_eval --features "$DATA"/catastrophic-features.json \
  --contexts "$DATA"/catastrophic-contexts.json --passes "$MIXED_PASSES"
run "bench_load: mixed, 10000 flags" \
  "$DATA"/result-load.txt \
  "$BIN"/bench_load --features "$DATA"/mixed-features.json --runs "$LOAD_RUNS"
run "bench_guard: plan decision (3 metrics, 4 epochs) and latency sketch" \
  "$DATA"/result-guard.txt \
  "$BIN"/bench_guard
run "bench_seen: recording a seen context, the targeting dry run" \
  "$DATA"/result-seen.txt \
  "$BIN"/bench_seen

# fig FILE KEY: the value of KEY=... in FILE.
fig() { sed -n "s/^$2=//p" "$1"; }

# check LABEL VALUE OP LIMIT: one summary line ("met" or "MISSED").
check() {
  local verdict
  if awk -v v="$2" -v l="$4" -v op="$3" \
       'BEGIN { exit !((op == "<" && v < l) || (op == "<=" && v <= l) || (op == "==" && v == l)) }'; then
    verdict=met
  else
    verdict=MISSED
  fi
  printf '%-46s %12s  target %s %s  %s\n' "$1" "$2" "$3" "$4" "$verdict"
}

echo
echo "== targets =="
check "ns_per_eval (flexible: is_enabled+get_variant)" \
  "$(fig "$DATA"/result-eval-flexible.txt ns_per_eval)" "<=" 100
check "allocs_per_eval (flexible)" \
  "$(fig "$DATA"/result-eval-flexible.txt allocs_per_eval)" "==" 0
check "allocs_per_eval (mixed)" \
  "$(fig "$DATA"/result-eval-mixed.txt allocs_per_eval)" "==" 0
check "ns_per_eval (catastrophic REGEX, 2 searches)" \
  "$(fig "$DATA"/result-eval-catastrophic.txt ns_per_eval)" "<=" 1000000
check "allocs_per_eval (catastrophic REGEX)" \
  "$(fig "$DATA"/result-eval-catastrophic.txt allocs_per_eval)" "==" 0
check "load_ms (10000 flags, fresh process)" \
  "$(fig "$DATA"/result-load.txt load_ms)" "<" 200
check "load_ms_warm (10000 flags, reload)" \
  "$(fig "$DATA"/result-load.txt load_ms_warm)" "<" 200
check "peak_rss_mb (10000 flags, whole process)" \
  "$(fig "$DATA"/result-load.txt peak_rss_mb)" "<" 50
echo "for reference: flexible ns_is_enabled=$(fig "$DATA"/result-eval-flexible.txt ns_is_enabled)" \
  "ns_get_variant=$(fig "$DATA"/result-eval-flexible.txt ns_get_variant);" \
  "mixed ns_per_eval=$(fig "$DATA"/result-eval-mixed.txt ns_per_eval)"
