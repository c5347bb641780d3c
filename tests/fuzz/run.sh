#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) and runs each for a bounded time from its seed
# corpus.  Any finding (crash, leak, UB, uncaught exception, timeout) fails the run and leaves the
# reproducer in build-fuzz/findings/<target>/; make it a regression test (tests/test_bad_input.cpp
# or tests/fuzz/regressions/<target>/, which every run replays first) before fixing it.
# Usage: tests/fuzz/run.sh [SECONDS_PER_TARGET]   (default 45; four targets: about 3 minutes)
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-45}
command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (scripts/setup.sh --fuzz installs it)"; exit 1; }
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDRIFTLAB_CUDA=OFF -DDRIFTLAB_BUILD_BENCH=OFF -DDRIFTLAB_BUILD_TESTS=OFF -DDRIFTLAB_FUZZ=ON >/dev/null
cmake --build build-fuzz -j 2 --target fuzz_npy fuzz_npz fuzz_cli fuzz_keras
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
for t in fuzz_npy fuzz_npz fuzz_cli fuzz_keras; do
  work=build-fuzz/corpus/$t findings=build-fuzz/findings/$t
  mkdir -p "$work" "$findings"
  if [ -d tests/fuzz/corpus/$t ]; then cp -n tests/fuzz/corpus/$t/* "$work"/; fi  # the committed seeds stay as they are
  if [ -d tests/fuzz/regressions/$t ]; then  # every past finding must stay fixed
    ./build-fuzz/$t -runs=0 tests/fuzz/regressions/$t/*
  fi
  echo "fuzz: $t for ${seconds}s"
  if ! ./build-fuzz/$t -max_total_time="$seconds" -max_len=4096 -rss_limit_mb=2048 -timeout=10 \
      -artifact_prefix="$findings/" -print_final_stats=1 "$work" >"$findings/log" 2>&1; then
    tail -n 60 "$findings/log"
    echo "fuzz: $t found a problem; reproducer in $findings/"
    exit 1
  fi
  grep -E "^stat::number_of_executed_units|^#[0-9]+.*DONE" "$findings/log" || tail -n 5 "$findings/log"
done
echo "fuzz: no findings"
