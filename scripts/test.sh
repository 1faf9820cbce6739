#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), build, then every CTest test. Extra arguments go to ctest
# (e.g. scripts/test.sh -R safetensors).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"
start=$SECONDS
"$CHORD_ROOT/scripts/build.sh"
chord_log "build ready after $((SECONDS - start)) s; running tests"
cd "$CHORD_BUILD_DIR"
ctest --output-on-failure -j "$CHORD_JOBS" --timeout 1500 "$@"
chord_log "set-up + build + tests: $((SECONDS - start)) s"
