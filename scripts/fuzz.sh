#!/usr/bin/env bash
# libFuzzer over every parser of outside input (tests/fuzz/fuzz_parsers.cpp), built with clang and
# AddressSanitizer + UndefinedBehaviorSanitizer in its own build folder (build-fuzz/).
#
#   scripts/fuzz.sh                        every target for 10 minutes each (the figures of docs/reliability.md)
#   scripts/fuzz.sh --seconds 20           the short pass CI runs (each target 20 s)
#   scripts/fuzz.sh --target safetensors --seconds 3600
#   scripts/fuzz.sh --build-only
#
# Seeds: tests/fuzz/corpus/<target>/ (committed); what a run discovers goes to build-fuzz/corpus/<target>/,
# never into the checkout. Every committed regression input (tests/fuzz/regressions/<target>/) runs first.
# A crash leaves its input in build-fuzz/artifacts/ and fails the script; prints one line per target.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

seconds=600 build_only=0 targets=()
all_targets=(safetensors checkpoint audio manifest vocab tokenizer filelist utf8 vits_config bert_features model_config)
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    --build-only) build_only=1; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
((${#targets[@]})) || targets=("${all_targets[@]}")

"$CHORD_ROOT/scripts/setup.sh"
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (scripts/setup.sh installs clang)" >&2; exit 1; }
build="$CHORD_ROOT/build-fuzz"
mkdir -p "$build"
if [[ ! -f "$build/build.ninja" ]]; then
  CC=clang CXX=clang++ cmake -S "$CHORD_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$(chord_torch_prefix)" -DCHORD_FUZZ=ON -DCHORD_BUILD_TESTS=OFF -DCHORD_BUILD_EXAMPLES=OFF \
    -DCHORD_BUILD_BENCHMARKS=OFF -DCHORD_CHECK_HEADERS=OFF -DCHORD_USE_PCH=OFF -DCHORD_BUILD_CUDA_OPS=OFF >"$build/configure.log" 2>&1 ||
    { tail -20 "$build/configure.log" >&2; exit 1; }
fi
cmake --build "$build" --target chord_fuzz -j "$CHORD_JOBS"
((build_only)) && exit 0

fuzzer="$build/tests/fuzz/chord_fuzz"
mkdir -p "$build/artifacts"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
# Leaks inside the libraries chord calls, each explained in the file (LibTorch's zip reader on a bad file).
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$CHORD_ROOT/tests/lsan.supp:print_suppressions=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
status=0
printf '%-12s %10s %8s %8s %7s %s\n' target runs exec/s cov corpus result
for target in "${targets[@]}"; do
  seeds="$CHORD_ROOT/tests/fuzz/corpus/$target" work="$build/corpus/$target" log="$build/fuzz_$target.log"
  [[ -d $seeds ]] || { echo "fuzz.sh: no seed corpus $seeds" >&2; exit 1; }
  mkdir -p "$work"
  regressions=("$CHORD_ROOT"/tests/fuzz/regressions/"$target"/*)
  if [[ -e ${regressions[0]} ]]; then
    CHORD_FUZZ_TARGET=$target "$fuzzer" "${regressions[@]}" >"$build/regressions_$target.log" 2>&1 ||
      { echo "$target: a committed regression input fails again (see $build/regressions_$target.log)"; status=1; continue; }
  fi
  dict=()
  [[ -f "$CHORD_ROOT/tests/fuzz/dict/$target.dict" ]] && dict=(-dict="$CHORD_ROOT/tests/fuzz/dict/$target.dict")
  # libsndfile's MPEG decoder (libmpg123) reports every malformed frame on stderr: gigabytes of
  # "Note: …" lines in ten minutes. They are dropped from the log; everything else is kept.
  set +e
  CHORD_FUZZ_TARGET=$target "$fuzzer" "$work" "$seeds" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=4096 -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/artifacts/$target-" 2>&1 |
    grep -av -e '^Note: ' -e '^\[src/libmpg123/' >"$log"
  fuzz_status=${PIPESTATUS[0]}
  set -e
  if [[ $fuzz_status -eq 0 ]]; then
    result=ok
  else
    result="CRASH: $(ls -t "$build/artifacts/$target-"* 2>/dev/null | head -1)"
    status=1
  fi
  runs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  speed=$(grep -ao 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -ao 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  corpus=$(ls "$work" | wc -l)
  printf '%-12s %10s %8s %8s %7s %s\n' "$target" "$runs" "$speed" "$cov" "$corpus" "$result"
done
exit $status
