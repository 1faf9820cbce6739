#!/usr/bin/env bash
# The main job: set-up (idempotent), build, make the espeak demo corpus, train a tiny F5-TTS on it for
# a few minutes on the CPU, then speak a new sentence in the voice of a held-out utterance.
# Prints where the WAV, its spectrogram PNG, the loss curve and the logs are.
#   scripts/demo.sh [trainer options, e.g. --steps 3000 --fresh]   (they override the demo's own)
#   scripts/demo.sh --help
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"
out="${CHORD_OUT:-$CHORD_ROOT/out}"
bin="$CHORD_BUILD_DIR/examples"

for argument in "$@"; do
  if [ "$argument" = "--help" ] || [ "$argument" = "-h" ]; then
    cat <<USAGE
scripts/demo.sh [trainer options]

Synthesises the espeak demo corpus in $out/corpus, trains a tiny F5-TTS on it (1500 updates, about
6 minutes on 2 cores; running again resumes, --fresh starts over) and speaks a new sentence in the
voice of a held-out utterance. Options given here go to the trainer and override the demo's own
(e.g. --steps 3000; CHORD_OUT moves every output). The trainer's options:

USAGE
    "$CHORD_ROOT/scripts/build.sh" chord-f5tts-train >&2
    "$bin/chord-f5tts-train" --help
    exit 0
  fi
done

"$CHORD_ROOT/scripts/build.sh" chord-make-speech-corpus chord-f5tts-train chord-f5tts-infer
"$bin/chord-make-speech-corpus" --out "$out/corpus"

# Ctrl-C reaches the trainer too: it finishes the update, writes a checkpoint and exits. The demo then
# stops here instead of speaking with a half-trained model.
interrupted=0
trap 'interrupted=1' INT TERM
"$bin/chord-f5tts-train" --manifest "$out/corpus/manifest_train.jsonl" \
  --valid-manifest "$out/corpus/manifest_valid.jsonl" --out "$out/f5tts_tiny" \
  --preset tiny --steps 1500 --lr 2e-3 --warmup 150 --frames-per-batch 2000 \
  --ema-update-every 1 --ema-update-after-step 100 --ema-beta 0.999 \
  --log-every 50 --checkpoint-every 500 --validate-every 250 "$@"
trap - INT TERM
if [ "$interrupted" -ne 0 ]; then
  echo "[demo] training interrupted: the checkpoint is in $out/f5tts_tiny/checkpoints; run scripts/demo.sh again to resume" >&2
  exit 130
fi

# The prompt: the first held-out utterance (never seen in training) and its transcript.
IFS=$'\t' read -r ref_audio ref_text < <("$CHORD_PYTHON" - "$out/corpus/manifest_valid.jsonl" <<'PY'
import json, os, sys
path = sys.argv[1]
item = json.loads(open(path).readline())
print(os.path.join(os.path.dirname(path), item["audio"]) + "\t" + item["text"])
PY
)
"$bin/chord-f5tts-infer" --checkpoint "$out/f5tts_tiny" \
  --ref-audio "$ref_audio" --ref-text "$ref_text" \
  --text "The little robot opened the heavy door before sunrise." \
  --nfe 32 --cfg 2 --seed 7 --out "$out/f5tts_tiny/speech.wav"

echo "[demo] loss curve:   $out/f5tts_tiny/loss.png"
echo "[demo] speech:       $out/f5tts_tiny/speech.wav  (prompt: $ref_audio)"
echo "[demo] spectrogram:  $out/f5tts_tiny/speech.png"
echo "[demo] logs:         $out/f5tts_tiny/log.jsonl, $out/f5tts_tiny/tensorboard"
