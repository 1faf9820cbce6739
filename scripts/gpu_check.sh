#!/usr/bin/env bash
# On a machine with a CUDA device: builds chord with chord::cuda_ops, runs every GPU-tagged test
# ([.cuda], CTest entries cuda, cuda_foundation and cuda_vits), trains through NCCL (world size 1, and 2 ranks when
# two GPUs are visible, compared with one process of twice the batch), and benchmarks each system's training step and
# sampling on the GPU in fp32 and bf16 (about a minute per system), printing one table. Budget: under
# 10 minutes after the build.
#   scripts/gpu_check.sh [--device cuda:N] [--out FOLDER]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"

device=cuda
out="$CHORD_BUILD_DIR/gpu_check"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --device) device="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
command -v nvidia-smi >/dev/null || { echo "gpu_check.sh: no nvidia-smi: this machine has no NVIDIA driver" >&2; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
mkdir -p "$out"

"$CHORD_ROOT/scripts/build.sh" chord_tests chord_system_tests chord_vits_tests chord_bench_systems chord_bench_foundation \
  chord-test-ddp-worker
[[ -f "$CHORD_BUILD_DIR/libchord_cuda_ops.so" ]] || { echo "gpu_check.sh: chord::cuda_ops was not built (nvcc or CUDA LibTorch missing?)" >&2; exit 1; }

chord_log "GPU tests"
# Status 77 (skipped) would mean no device was visible to the tests: a failure here.
(cd "$CHORD_BUILD_DIR" && ctest -R '^cuda' --output-on-failure --no-tests=error) | tee "$out/tests.log"
if grep -q "Skipped\|Not Run" "$out/tests.log"; then
  echo "gpu_check.sh: the GPU tests were skipped: no CUDA device visible to LibTorch" >&2
  exit 1
fi

chord_log "NCCL: data-parallel training through c10d on the GPU"
worker="$CHORD_BUILD_DIR/tests/chord-test-ddp-worker"
gpus=$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)
"$worker" train --model flow --batch 4 --steps 4 --device "$device" --out "$out/nccl_single" > "$out/nccl_single.log" 2>&1
for world in 1 2; do
  if ((world > gpus)); then echo "NCCL with $world ranks: skipped, $gpus GPU(s) visible (NCCL needs one GPU per rank)"; continue; fi
  OMP_NUM_THREADS=1 "$CHORD_PYTHON" -m torch.distributed.run --standalone --nproc-per-node=$world --no-python "$worker" train \
    --model flow --batch $((4 / world)) --steps 4 --device cuda --out "$out/nccl_w$world" > "$out/nccl_w$world.log" 2>&1 ||
    { tail -20 "$out/nccl_w$world.log" >&2; echo "gpu_check.sh: NCCL training with $world rank(s) failed" >&2; exit 1; }
  grep -m1 "completed at step 4" "$out/nccl_w$world.log"
  # GPU reductions round differently with other batch shapes (no bitwise claim on CUDA): 1e-5.
  "$worker" compare "$out/nccl_single/params.safetensors" "$out/nccl_w$world/params.safetensors" --tolerance 1e-5 ||
    { echo "gpu_check.sh: NCCL training with $world rank(s) differs from one process" >&2; exit 1; }
done

chord_log "benchmarks on $device (fp32, bf16)"
systems='F5TTS_(TrainStep|Sample)/(tiny|v1_small)/batch:(4|1)(/cfg:1)?$|DifferenceTransitionMatching_Sample/v1_small/16/4|CondDiT_TrainStep<CondDiT>/conditional:1|SagaSR_(TrainStep|Sample)/tiny|BertVits2_(TrainStep/tiny|Infer/v2_3)'
for precision in fp32 bf16; do
  CHORD_BENCH_DEVICE="$device" CHORD_BENCH_AUTOCAST="$precision" "$CHORD_BUILD_DIR/benchmarks/chord_bench_systems" \
    --benchmark_filter="$systems" --benchmark_min_time=3 --benchmark_format=json --benchmark_out="$out/systems_$precision.json" \
    --benchmark_out_format=json >/dev/null
done
CHORD_BENCH_DEVICE="$device" "$CHORD_BUILD_DIR/benchmarks/chord_bench_foundation" --benchmark_filter=MaximumPath \
  --benchmark_min_time=2 --benchmark_format=json --benchmark_out="$out/mas.json" --benchmark_out_format=json >/dev/null

"$CHORD_PYTHON" - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = []
for name in ("systems_fp32.json", "systems_bf16.json", "mas.json"):
    data = json.loads((out / name).read_text())
    for b in data["benchmarks"]:
        rows.append((b["name"], b.get("label", ""), b["real_time"], b["time_unit"]))
print(f"| benchmark | device, precision | time |\n|---|---|---|")
for name, label, time, unit in rows:
    print(f"| {name} | {label} | {time:.2f} {unit} |")
PY
