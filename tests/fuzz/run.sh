#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for H2GATE_FUZZ_SECONDS (default 60),
# starting from the checked-in corpus (which doubles as the regression set: a crash found once is
# saved there). Exits 77 (ctest: skipped) without clang-14 and its fuzzer runtime.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${H2GATE_FUZZ_SECONDS:-60}
build=${H2GATE_FUZZ_BUILD:-$root/build-fuzz}

if ! command -v clang++-14 >/dev/null ||
  ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "SKIP: needs clang-14 and libclang-rt-14-dev (apt-get install clang-14 libclang-rt-14-dev)"
  exit 77
fi
cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

status=0
mkdir -p "$build/artifacts"
for target in detect http1 options h2guard; do
  work=$(mktemp -d)
  # New inputs go to a scratch directory; the checked-in corpus is only read.
  if timeout $((seconds + 60)) "$build/fuzz_$target" -max_total_time="$seconds" -timeout=5 \
    -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$build/artifacts/$target-" "$work" \
    "$here/corpus/$target" >"$work/log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$work/log" | tail -1)
    echo "fuzz_$target: ok, $runs executions in ${seconds}s, $cov"
  else
    echo "fuzz_$target: FAILED; log and crashing input below (add the input to corpus/$target)"
    tail -40 "$work/log"
    ls "$build/artifacts/$target-"* 2>/dev/null || true
    status=1
  fi
  rm -rf "$work"
done
exit $status
