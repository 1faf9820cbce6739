#!/usr/bin/env bash
# DTM vs CFM on the espeak demo corpus: trains a tiny F5-TTS (conditional flow matching) and a tiny
# DTM-F5TTS (same backbone, masking and CFG; only the objective differs) for the same budget, then
# regenerates the middle 40 % of held-out utterances with each and reports the mel L1 of the infilled
# spans, the sampling time and the backbone passes as a Markdown table (out/dtm_vs_cfm/results.md).
#   scripts/demo_dtm.sh [--steps N] [--utterances N]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"
steps=1500 utterances=20
while [[ $# -gt 0 ]]; do
  case "$1" in
    --steps) steps="$2"; shift 2 ;;
    --utterances) utterances="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
"$CHORD_ROOT/scripts/build.sh" chord-make-speech-corpus chord-f5tts-train chord-dtm-train chord-f5tts-eval chord-dtm-eval
out="${CHORD_OUT:-$CHORD_ROOT/out}"
bin="$CHORD_BUILD_DIR/examples"
runs="$out/dtm_vs_cfm"
mkdir -p "$runs"

"$bin/chord-make-speech-corpus" --out "$out/corpus"
common=(--manifest "$out/corpus/manifest_train.jsonl" --valid-manifest "$out/corpus/manifest_valid.jsonl"
        --preset tiny --steps "$steps" --lr 2e-3 --warmup 150 --frames-per-batch 2000
        --ema-update-every 1 --ema-update-after-step 100 --ema-beta 0.999
        --log-every 50 --checkpoint-every 500 --validate-every 250 --seed 0 --fresh)

timed() {  # name, command...: runs the command and records its wall time in $runs/<name>.seconds
  local name="$1"; shift
  local start=$SECONDS
  "$@"
  echo $((SECONDS - start)) > "$runs/$name.seconds"
}
timed cfm "$bin/chord-f5tts-train" "${common[@]}" --out "$runs/cfm"
timed dtm "$bin/chord-dtm-train" "${common[@]}" --vocab "$runs/cfm/vocab.txt" --transitions 16 \
  --head-width 256 --head-depth 4 --out "$runs/dtm"

evaluate() {  # program, run, label, extra args...
  local program="$1" run="$2" label="$3"; shift 3
  "$bin/$program" --checkpoint "$runs/$run/model_ema.safetensors" --vocab "$runs/$run/vocab.txt" \
    --manifest "$out/corpus/manifest_valid.jsonl" --limit "$utterances" --cfg 2 --seed 100 \
    --out "$runs/eval/$label" "$@" | tail -1
}
evaluate chord-f5tts-eval cfm cfm_nfe16 --nfe 16
evaluate chord-f5tts-eval cfm cfm_nfe32 --nfe 32
evaluate chord-dtm-eval dtm dtm_T8K4 --nfe 8 --head-steps 4
evaluate chord-dtm-eval dtm dtm_T16K4 --nfe 16 --head-steps 4
evaluate chord-dtm-eval dtm dtm_T32K4 --nfe 32 --head-steps 4

"$CHORD_PYTHON" - "$runs" "$steps" <<'PY'
import json, os, sys
runs, steps = sys.argv[1], sys.argv[2]
def last(run, key):
    value = None
    for line in open(os.path.join(runs, run, "log.jsonl")):
        row = json.loads(line)
        if key in row: value = row[key]
    return value
lines = [f"Tiny preset, {steps} updates each, same data, batches, seed and optimiser; held-out span infilling "
         "(frames 30–70 % of each utterance), CFG 2.", "",
         "| model | sampler | backbone passes | infill mel L1 | sampling s / utterance | train wall s | final valid loss |",
         "|---|---|---|---|---|---|---|"]
for label, run in [("cfm_nfe16", "cfm"), ("cfm_nfe32", "cfm"), ("dtm_T8K4", "dtm"), ("dtm_T16K4", "dtm"), ("dtm_T32K4", "dtm")]:
    r = json.load(open(os.path.join(runs, "eval", label, "results.json")))
    sampler = f"Euler NFE {r['nfe']}" if run == "cfm" else f"T {r['nfe']}, K {r['head_steps']}"
    wall = open(os.path.join(runs, run + ".seconds")).read().strip()
    lines.append(f"| {run.upper()} | {sampler} | {r['backbone_passes']} | {r['infill_mel_l1']:.4f} | "
                 f"{r['sampling_seconds'] / r['utterances']:.3f} | {wall} | {last(run, 'valid/loss'):.4f} |")
lines += ["", "The two losses are different quantities (CFM: velocity MSE; DTM: the head's inner-flow MSE) and are "
          "not comparable with each other; the infill L1 is.", "",
          f"Loss curves: {runs}/cfm/loss.png, {runs}/dtm/loss.png; example infills: {runs}/eval/*/example.png"]
open(os.path.join(runs, "results.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
