#!/usr/bin/env bash
# The seed's SAGA-SR ablation on the 44.1 kHz demo corpus: synthesises the corpus (instruments with
# overtones to 22 kHz, noise percussion, speech), trains steps 0, 1, 2, 3 and the official configuration
# for the same budget (tiny DiT, waveform-patch latents, byte-level T5 text encoder trained with the
# model, EMA), evaluates each on held-out clips degraded like the official validation (Chebyshev I,
# order 8, 4 kHz; step 2′ = step 2 with the cross-faded low-band replacement), and writes
# out/saga_sr_ablation/results.md (LSD, SI-SDR, final loss, the input as the floor) and spectrograms.png.
#   scripts/demo_saga_sr.sh [any chord-saga-sr-ablation option, e.g. --steps 6000 --only step0,official]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"
"$CHORD_ROOT/scripts/build.sh" chord-make-sr-corpus chord-saga-sr-ablation chord-sr-eval
out="${CHORD_OUT:-$CHORD_ROOT/out}"
bin="$CHORD_BUILD_DIR/examples"
"$bin/chord-make-sr-corpus" --out "$out/sr_corpus"
"$bin/chord-saga-sr-ablation" --corpus "$out/sr_corpus" --out "$out/saga_sr_ablation" --steps 2000 "$@"
