#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer, in a build folder of its
# own (build-asan/; a full second build, about 40 minutes on 2 cores with a cold cache). CI runs the
# parsers' and data path's subset on every submission (ctest -L sanitizers); this is the full run.
#
#   scripts/check_sanitizers.sh [ctest arguments...]     e.g. -R 'bert_vits2|ddp_'
#
# LibTorch stays uninstrumented; docs/reliability.md explains the options. Exit status: ctest's.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"
"$CHORD_ROOT/scripts/setup.sh"

build="$CHORD_ROOT/build-asan"
# Configured every time (cheap on an existing folder): an older folder gets today's options too. The
# same configuration as `cmake --preset asan` (CMakePresets.json), with this machine's LibTorch.
chord_log "configuring $build"
cmake -S "$CHORD_ROOT" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$(chord_torch_prefix)" -DCHORD_PYTHON="$CHORD_PYTHON" -DCHORD_SANITIZE=address,undefined \
    -DCMAKE_CXX_FLAGS= -DCMAKE_EXE_LINKER_FLAGS= -DCMAKE_SHARED_LINKER_FLAGS= -DCMAKE_MODULE_LINKER_FLAGS= \
    -DCHORD_BUILD_TESTS=ON -DCHORD_BUILD_EXAMPLES=ON -DCHORD_BUILD_BENCHMARKS=OFF -DCHORD_CHECK_HEADERS=OFF \
    -DCHORD_BUILD_CUDA_OPS=OFF >/dev/null
cmake --build "$build" -j "$CHORD_JOBS"

# verify_asan_link_order=0: the determinism tests preload a library that disturbs rand() and the kill
# trials one that injects faults; neither replaces malloc, so they may load ahead of the ASan runtime.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:check_initialization_order=1:verify_asan_link_order=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# Leaks inside LibTorch's zip reader on a malformed file (a test feeds it one): explained in the file.
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$CHORD_ROOT/tests/lsan.supp:print_suppressions=0}"
# The fuzz tests build their own instrumented binaries (build-fuzz/): they run in the normal suite.
cd "$build" && ctest -j "$CHORD_JOBS" --output-on-failure -E '^fuzz_' "$@"
