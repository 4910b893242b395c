#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan+UBSan) in build-fuzz/ and runs
# each one in turn over its seed corpus. Exits non-zero as soon as a target
# finds a crash, a leak, UB or a broken invariant; the reproducer is left in
# build-fuzz/artifacts/<target>/.
#
# Usage: tests/fuzz/run.sh [seconds-per-target] [target...]
#   seconds  default 60 (0: only build); targets default: load delta eval
#   sse sketch advice gateway gateway_context admin feed.
# Environment: FUZZ_BUILD (default build-fuzz), FUZZ_ARGS (extra libFuzzer
# flags, e.g. "-jobs=2 -workers=2"), and CC (default clang-14).
set -euo pipefail
cd "$(dirname "$0")/../.."

secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(load delta eval sse sketch advice gateway gateway_context admin feed)
build=${FUZZ_BUILD:-build-fuzz}
cc=${CC:-clang-14}
jobs=$(nproc 2>/dev/null || echo 2)

case $secs in
  '' | *[!0-9]*) echo "run.sh: seconds must be a number, got '$secs'" >&2; exit 2 ;;
esac

# Only the library and the fuzz targets: tests, benchmarks and the CLI are
# not needed (the targets are built by name below).
CC=$cc cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DVX_FUZZ=ON -DVX_ASAN=ON -DVX_UBSAN=ON -DVX_TESTS=OFF -DVX_BENCH=OFF \
  >/dev/null
if ! cmake --build "$build" -j"$jobs" --target "${targets[@]/#/fuzz_}" \
    >"$build/build.log" 2>&1; then
  cat "$build/build.log"
  exit 1
fi

[ "$secs" -gt 0 ] || exit 0

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

status=0
for t in "${targets[@]}"; do
  bin=$build/tests/fuzz/fuzz_$t
  work=$build/corpus-run/$t
  artifacts=$build/artifacts/$t
  mkdir -p "$work" "$artifacts"
  echo "== fuzz_$t: ${secs}s (new inputs in $work)"
  # shellcheck disable=SC2086 # FUZZ_ARGS is a list of flags
  if ! "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 -dict="tests/fuzz/$t.dict" \
      -artifact_prefix="$artifacts/" ${FUZZ_ARGS:-} \
      "$work" "tests/fuzz/corpus/$t" 2>"$build/fuzz_$t.log"; then
    tail -n 60 "$build/fuzz_$t.log"
    echo "== fuzz_$t: FAILED; reproducer(s) in $artifacts/," \
         "full log in $build/fuzz_$t.log"
    status=1
    break
  fi
  grep -E '^(#[0-9]+[[:space:]]+DONE|Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)' \
    "$build/fuzz_$t.log" | sed 's/^/   /' || true
done
exit $status
