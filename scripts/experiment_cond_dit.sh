#!/usr/bin/env bash
# The seed-003 experiment: pre-train a DiT unconditionally on 64×64 log-mel tiles of the demo corpus,
# fine-tune it with prepended condition tokens under every sequence-length strategy (same budget,
# data order and seeds), and write the comparison table, curves and sample pictures to
# out/cond_dit/. Extra arguments go to chord-cond-dit-experiment (e.g. --pretrain-steps 800).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"
"$CHORD_ROOT/scripts/build.sh" chord-make-speech-corpus chord-cond-dit-experiment
out="${CHORD_OUT:-$CHORD_ROOT/out}"
bin="$CHORD_BUILD_DIR/examples"
"$bin/chord-make-speech-corpus" --out "$out/corpus"
"$bin/chord-cond-dit-experiment" --manifest "$out/corpus/manifest_train.jsonl" \
  --valid-manifest "$out/corpus/manifest_valid.jsonl" --out "$out/cond_dit" "$@"
