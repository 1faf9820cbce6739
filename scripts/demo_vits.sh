#!/usr/bin/env bash
# Bert-VITS2 on the espeak demo corpus: set-up (idempotent), build, the corpus as Bert-VITS2 filelists
# (espeak IPA → the reference's English phones, tones and word2ph; audio at 22.05 kHz), a tiny
# multi-speaker model trained for about 10 minutes on 2 CPU cores without the WavLM discriminator,
# then a held-out sentence spoken. Running it again resumes; --fresh starts over.
#   scripts/demo_vits.sh [trainer options, e.g. --steps 4000 --fresh]   (they override the demo's own)
#   scripts/demo_vits.sh --help
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"
out="${CHORD_OUT:-$CHORD_ROOT/out}"
bin="$CHORD_BUILD_DIR/examples"

for argument in "$@"; do
  if [ "$argument" = "--help" ] || [ "$argument" = "-h" ]; then
    cat <<USAGE
scripts/demo_vits.sh [trainer options]

Synthesises the espeak demo corpus in $out/corpus, writes it as Bert-VITS2 filelists, trains the tiny
Bert-VITS2 preset on it (1200 updates of 4 utterances, about 10 minutes on 2 cores; running again
resumes, --fresh starts over) with the duration and multi-period discriminators, and speaks a held-out
sentence. Writes speech, mel and alignment PNGs, and the loss curve. Options given here go to the
trainer and override the demo's own (CHORD_OUT moves every output). The trainer's options:

USAGE
    "$CHORD_ROOT/scripts/build.sh" chord-vits-train >&2
    "$bin/chord-vits-train" --help
    exit 0
  fi
done

"$CHORD_ROOT/scripts/build.sh" chord-make-speech-corpus chord-vits-make-filelist chord-vits-train chord-vits-infer
"$bin/chord-make-speech-corpus" --out "$out/corpus"
"$bin/chord-vits-make-filelist" --corpus "$out/corpus" --sample-rate 22050 \
  --out-train "$out/corpus/vits_train.txt" --out-valid "$out/corpus/vits_valid.txt"

# Ctrl-C reaches the trainer too: it finishes the update, writes a checkpoint and exits.
interrupted=0
trap 'interrupted=1' INT TERM
"$bin/chord-vits-train" --preset tiny --no-wavlm \
  --filelist "$out/corpus/vits_train.txt" --valid-filelist "$out/corpus/vits_valid.txt" \
  --out "$out/vits_tiny" --steps 1200 --batch-size 4 --lr 2e-4 \
  --log-every 50 --validate-every 500 --checkpoint-every 250 "$@"
trap - INT TERM
if [ "$interrupted" -ne 0 ]; then
  echo "[demo] training interrupted: the checkpoint is in $out/vits_tiny/checkpoints; run scripts/demo_vits.sh again to resume" >&2
  exit 130
fi

# A held-out utterance's phones, in its own speaker's voice.
line="$(head -n 1 "$out/corpus/vits_valid.txt")"
"$bin/chord-vits-infer" --checkpoint "$out/vits_tiny" --line "$line" --sdp-ratio 0.5 --seed 7 \
  --out "$out/vits_tiny/speech.wav"

echo "[demo] speech:     $out/vits_tiny/speech.wav  (text: $(echo "$line" | cut -d'|' -f4))"
echo "[demo] mel:        $out/vits_tiny/speech.png"
echo "[demo] alignment:  $out/vits_tiny/speech_alignment.png  (training-time alignments: $out/vits_tiny/eval/)"
echo "[demo] loss curve: $out/vits_tiny/loss.png"
