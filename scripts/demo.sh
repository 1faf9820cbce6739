#!/usr/bin/env bash
# The main job: set-up (idempotent), build, make the espeak demo corpus, train a tiny F5-TTS on it for
# a few minutes on the CPU, then speak a new sentence in the voice of a held-out utterance.
# Prints where the WAV, its spectrogram PNG, the loss curve and the logs are.
#   scripts/demo.sh [extra trainer arguments, e.g. --steps 3000 --fresh]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"
"$CHORD_ROOT/scripts/build.sh" chord-make-speech-corpus chord-f5tts-train chord-f5tts-infer
out="${CHORD_OUT:-$CHORD_ROOT/out}"
bin="$CHORD_BUILD_DIR/examples"

"$bin/chord-make-speech-corpus" --out "$out/corpus"

"$bin/chord-f5tts-train" --manifest "$out/corpus/manifest_train.jsonl" \
  --valid-manifest "$out/corpus/manifest_valid.jsonl" --out "$out/f5tts_tiny" \
  --preset tiny --steps 1500 --lr 2e-3 --warmup 150 --frames-per-batch 2000 \
  --ema-update-every 1 --ema-update-after-step 100 --ema-beta 0.999 \
  --log-every 50 --checkpoint-every 500 --validate-every 250 "$@"

# The prompt: the first held-out utterance (never seen in training) and its transcript.
IFS=$'\t' read -r ref_audio ref_text < <("$CHORD_PYTHON" - "$out/corpus/manifest_valid.jsonl" <<'PY'
import json, os, sys
path = sys.argv[1]
item = json.loads(open(path).readline())
print(os.path.join(os.path.dirname(path), item["audio"]) + "\t" + item["text"])
PY
)
"$bin/chord-f5tts-infer" --checkpoint "$out/f5tts_tiny/model_ema.safetensors" --vocab "$out/f5tts_tiny/vocab.txt" \
  --ref-audio "$ref_audio" --ref-text "$ref_text" \
  --text "The little robot opened the heavy door before sunrise." \
  --nfe 32 --cfg 2 --seed 7 --out "$out/f5tts_tiny/speech.wav"

echo "[demo] loss curve:   $out/f5tts_tiny/loss.png"
echo "[demo] speech:       $out/f5tts_tiny/speech.wav  (prompt: $ref_audio)"
echo "[demo] spectrogram:  $out/f5tts_tiny/speech.png"
echo "[demo] logs:         $out/f5tts_tiny/log.jsonl, $out/f5tts_tiny/tensorboard"
