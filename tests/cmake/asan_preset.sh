#!/usr/bin/env bash
# The `asan` preset (CMakePresets.json) instruments every compile and every link of the build, and
# leaves out the CI's separately sanitized executables (ThreadSanitizer cannot join ASan):
#   asan_preset.sh <source folder> <LibTorch CMake prefix> <work folder>
set -euo pipefail
source_dir=$1 prefix=$2 work=$3
rm -rf "$work"
CHORD_TORCH_PREFIX=$prefix cmake -S "$source_dir" --preset asan -B "$work" -DCHORD_USE_CCACHE=OFF >"$work.log" 2>&1 ||
  { cat "$work.log"; echo "FAIL: cmake --preset asan did not configure"; exit 1; }
ninja_file=$work/build.ninja
# Per build statement: its rule, then the FLAGS / LINK_FLAGS lines under it.
report=$(awk '
  /^build / { rule = $0; sub(/^build [^:]*: /, "", rule); sub(/ .*/, "", rule); next }
  /^  FLAGS = / && rule ~ /^CXX_COMPILER__/ { compiles++; if ($0 !~ /-fsanitize=address,undefined/) { bare++; print "  not instrumented: " rule } }
  /^  LINK_FLAGS = / { links++; if ($0 !~ /-fsanitize=address,undefined/) { bare++; print "  not instrumented: " rule } }
  END { printf "compiles %d links %d bare %d\n", compiles, links, bare }' "$ninja_file")
echo "$report"
summary=$(tail -1 <<<"$report")
read -r _ compiles _ links _ bare <<<"$summary"
[[ $compiles -gt 50 && $links -gt 10 ]] || { echo "FAIL: too few statements found ($summary)"; exit 1; }
[[ $bare -eq 0 ]] || { echo "FAIL: $bare statements without the sanitizers"; exit 1; }
! grep -q "chord_asan_tests\|chord_tsan_tests" "$ninja_file" || { echo "FAIL: the CI's sanitized executables are in a sanitized build"; exit 1; }
echo "ok: asan preset"
