#!/usr/bin/env bash
# The main job: set-up (idempotent), build, make the espeak demo corpus, then a short real training
# run on it; prints where the pictures, sounds, logs and checkpoints are.
#   scripts/demo.sh [extra arguments for the trainer, e.g. --steps 600 --fresh]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"
"$CHORD_ROOT/scripts/build.sh" chord-make-speech-corpus chord-demo-autoencoder
out="${CHORD_OUT:-$CHORD_ROOT/out}"
"$CHORD_BUILD_DIR/examples/chord-make-speech-corpus" --out "$out/corpus"
"$CHORD_BUILD_DIR/examples/chord-demo-autoencoder" --corpus "$out/corpus" --out "$out/demo_autoencoder" "$@"
