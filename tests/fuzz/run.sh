#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for its time below (H2GATE_FUZZ_SECONDS,
# if set, for every one), starting from the checked-in corpus (which doubles as the regression
# set: a crash found once is saved there). Exits 77 (ctest: skipped) without clang-14 and its
# fuzzer runtime. fuzz_h2session links the whole gateway: built and run only with
# H2GATE_FUZZ_SESSION=1 (minutes to compile), as CI's first stage does.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# Seconds per target: the pure ones run thousands of inputs a second, fuzz_h2session (a loopback
# connection per input) about a hundred.
declare -A budget=([detect]=60 [http1]=60 [options]=60 [h2guard]=60 [first_request]=20 [client_hello]=20
  [h2session]=30)
build=${H2GATE_FUZZ_BUILD:-$root/build-fuzz}

if ! command -v clang++-14 >/dev/null ||
  ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  echo "SKIP: needs clang-14 and libclang-rt-14-dev (apt-get install clang-14 libclang-rt-14-dev)"
  exit 77
fi
cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DH2GATE_FUZZ_SESSION="${H2GATE_FUZZ_SESSION:-OFF}" >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

status=0
mkdir -p "$build/artifacts"
for target in detect http1 options h2guard first_request client_hello h2session; do
  if [[ ! -x "$build/fuzz_$target" ]]; then
    echo "fuzz_$target: not built (see cmake's output in $build), skipped"
    continue
  fi
  seconds=${H2GATE_FUZZ_SECONDS:-${budget[$target]}}
  # The in-process gateway's threads and gRPC's arenas need more than the pure targets.
  rss=1024
  [[ $target == h2session ]] && rss=2048
  work=$(mktemp -d)
  # New inputs go to a scratch directory; the checked-in corpus is only read. Leaks are checked
  # after each input and at exit.
  if timeout $((seconds + 60)) "$build/fuzz_$target" -max_total_time="$seconds" -timeout=5 \
    -rss_limit_mb=$rss -detect_leaks=1 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$target-" "$work" "$here/corpus/$target" >"$work/log" 2>&1
  then
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
