#!/usr/bin/env bash
# Configures (once) and builds chord's tests, examples and benchmarks in build/, with ccache and the
# shared precompiled header. Runs scripts/setup.sh first, so it works on a fresh machine.
#   scripts/build.sh [ninja targets...]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"
"$CHORD_ROOT/scripts/setup.sh"

if [[ ! -f "$CHORD_BUILD_DIR/build.ninja" ]]; then
  chord_log "configuring $CHORD_BUILD_DIR"
  cmake -S "$CHORD_ROOT" -B "$CHORD_BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$(chord_torch_prefix)" \
    -DCHORD_PYTHON="$CHORD_PYTHON" \
    -DCHORD_BUILD_TESTS=ON -DCHORD_BUILD_EXAMPLES=ON -DCHORD_BUILD_BENCHMARKS=ON >/dev/null
fi
cmake --build "$CHORD_BUILD_DIR" -j "$CHORD_JOBS" ${1:+--target "$@"}
