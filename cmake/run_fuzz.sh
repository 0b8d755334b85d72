#!/usr/bin/env bash
# Fuzzes typenet's file parsers: builds the libFuzzer targets of tests/fuzz with
# Clang (AddressSanitizer + UndefinedBehaviorSanitizer), writes their seed
# corpora, and runs each target for a while, one after the other.
#
#   cmake/run_fuzz.sh [seconds-per-target (60)] [build-dir (build-fuzz)]
#
# Exits non-zero if any target finds a crash, a broken property, a leak, a
# timeout, an out-of-memory input or a sanitizer report. The input that caused
# it is kept as <build-dir>/fuzz/<target>/crash-* (or leak-*, timeout-*,
# oom-*); replay it with <build-dir>/tests/fuzz/fuzz_<target> <that file>. Each
# target's corpus grows in <build-dir>/fuzz/<target>/corpus across runs; its
# log is <build-dir>/fuzz/<target>.log. Needs clang and libFuzzer
# (cmake/install_deps.sh --fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
build=${2:-build-fuzz}
case $seconds in '' | *[!0-9]*) echo "run_fuzz: seconds-per-target must be a whole number, got '$seconds'" >&2; exit 2 ;; esac
command -v clang++ >/dev/null || { echo "run_fuzz: clang++ not found; run cmake/install_deps.sh --fuzz" >&2; exit 1; }

# Its own build directory: the fuzz targets need Clang, the rest of the project
# is built with the default compiler. Asserts stay on (see tests/fuzz/CMakeLists.txt).
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ -DTYPENET_FUZZ=ON \
      -DTYPENET_BUILD_TESTS=OFF -DTYPENET_BUILD_EXAMPLES=OFF -DTYPENET_BUILD_BENCHMARKS=OFF -DTYPENET_CUDA=OFF \
      -DTYPENET_WARNINGS_AS_ERRORS=ON >/dev/null
cmake --build "$build" -j2 --target typenet_fuzz

out=$build/fuzz
"$build/tests/fuzz/typenet_make_seeds" "$out/seeds"

failed=()
for target in idx safetensors json load onnx; do
  dir=$out/$target
  mkdir -p "$dir/corpus"
  case $target in
    idx) dict=() ;;
    onnx) dict=(-dict=tests/fuzz/onnx.dict) ;;
    *) dict=(-dict=tests/fuzz/safetensors.dict) ;;
  esac
  # New inputs go to the first directory; the seeds are only read.
  status=0
  "$build/tests/fuzz/fuzz_$target" "${dict[@]}" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" "$out/seeds/$target" \
    >"$out/$target.log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$target.log")
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$out/$target.log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$done_line")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$done_line")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$done_line")
  if [ "$status" -eq 0 ]; then
    echo "run_fuzz: fuzz_$target ok: ${runs:-?} runs in ${seconds}s, corpus ${corp:-?} (inputs/bytes), coverage ${cov:-?} edges, ${ft:-?} features"
  else
    failed+=("$target")
    echo "run_fuzz: fuzz_$target FAILED (exit $status) after ${runs:-?} runs; log $out/$target.log:" >&2
    grep -E 'ERROR:|SUMMARY:|fuzz: property|Test unit written to|artifact_prefix' "$out/$target.log" | head -n 8 >&2 || true
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "run_fuzz: findings in ${failed[*]}; the inputs are in $out/<target>/ (replay: $build/tests/fuzz/fuzz_<target> <file>)" >&2
  exit 1
fi
echo "run_fuzz: no findings"
