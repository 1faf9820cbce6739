#!/usr/bin/env bash
# For a GPU machine that can run programs but not build them (no compiler packages, no network, minutes
# of time): packs what scripts/gpu_check.sh would build into .gpu/ — the GPU-test and benchmark
# executables (built here against the same torch wheel, cu130, with chord::cuda_ops), the shared
# libraries they need beyond glibc and LibTorch, and, with --reference, the parts of the Python F5-TTS
# reference its side-by-side benchmark imports — plus .gpu/run.sh, which runs them there against that
# machine's own torch. Copy .gpu/ and the checkout to the GPU machine, then from the checkout:
#
#   .gpu/run.sh tests nccl compare bench     # any subset, in that order; about 8 minutes for all four
#
#   scripts/gpu_bundle.sh [--reference]
# The same torch version (and CUDA major version) must be installed on the GPU machine.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/env.sh"
reference=0
case "${1:-}" in
  --reference) reference=1 ;;
  "") ;;
  -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
  *) echo "gpu_bundle.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
esac

"$CHORD_ROOT/scripts/build.sh" chord_tests chord_system_tests chord_vits_tests chord_bench_systems chord_bench_foundation \
  chord-test-ddp-worker
[[ -f "$CHORD_BUILD_DIR/libchord_cuda_ops.so" ]] || { echo "gpu_bundle.sh: chord::cuda_ops was not built (nvcc or CUDA LibTorch missing?)" >&2; exit 1; }

bundle="$CHORD_ROOT/.gpu"
rm -rf "$bundle/bin" "$bundle/lib" "$bundle/py"
mkdir -p "$bundle/bin" "$bundle/lib"
binaries=(tests/chord_tests tests/chord_system_tests tests/chord_vits_tests tests/chord-test-ddp-worker
          benchmarks/chord_bench_systems benchmarks/chord_bench_foundation libchord_cuda_ops.so)
for b in "${binaries[@]}"; do cp "$CHORD_BUILD_DIR/$b" "$bundle/bin/"; done
strip --strip-unneeded "$bundle"/bin/*
# Every library they load except glibc, the C++ runtime, LibTorch's and CUDA's (the GPU machine's own).
for b in "$bundle"/bin/*; do ldd "$b"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -v -e "$CHORD_VENV" -e "$CHORD_BUILD_DIR" -e '/libc\.so' -e '/libm\.so' -e '/libdl\.so' -e '/libpthread' -e '/librt\.so' \
    -e '/libutil' -e '/libgcc_s' -e '/libstdc++' -e '/ld-linux' -e '/libcudart' |
  xargs -I{} cp -L {} "$bundle/lib/"

if ((reference)); then
  # The Python reference's model code only (f5_tts.model's CFM and DiT with x_transformers); its text
  # front end and audio I/O are replaced by stand-ins that raise if called: the benchmark uses neither.
  "$CHORD_ROOT/scripts/setup.sh" --reference
  site=$("$CHORD_CACHE/reference-torch-$CHORD_TORCH_VERSION/bin/python" -c \
    'import importlib.util, os; print(os.path.dirname(list(importlib.util.find_spec("f5_tts").submodule_search_locations)[0]))')
  py="$bundle/py"
  mkdir -p "$py/f5_tts/model/backbones" "$py/librosa"
  cp "$site/f5_tts/model/backbones/dit.py" "$py/f5_tts/model/backbones/"
  cp "$site"/f5_tts/model/{modules,cfm,utils}.py "$py/f5_tts/model/"
  touch "$py/f5_tts/__init__.py" "$py/f5_tts/model/backbones/__init__.py"
  printf 'from f5_tts.model.cfm import CFM\nfrom f5_tts.model.backbones.dit import DiT\n' > "$py/f5_tts/model/__init__.py"
  printf 'def mel(**kwargs):\n    raise RuntimeError("librosa stand-in: not installed here")\n' > "$py/librosa/filters.py"
  touch "$py/librosa/__init__.py"
  printf 'def cut(text):\n    raise RuntimeError("rjieba stand-in: not installed here")\n' > "$py/rjieba.py"
  printf 'class Style:\n    TONE3 = 8\n\ndef lazy_pinyin(*args, **kwargs):\n    raise RuntimeError("pypinyin stand-in: not installed here")\n' > "$py/pypinyin.py"
  for package in x_transformers einx loguru torch_einops_utils frozendict; do cp -r "$site/$package" "$py/"; done
  find "$py" -name __pycache__ -prune -exec rm -rf {} +
fi

cat > "$bundle/run.sh" <<'RUN'
#!/usr/bin/env bash
# Written by scripts/gpu_bundle.sh. Run from the checkout on the GPU machine: .gpu/run.sh PARTS...
# parts: tests (every [.cuda] test), nccl (torchrun world size 1 against one process), compare (F5-TTS
# against the Python reference, fp32 and bf16; needs a bundle made with --reference), bench (chord's
# system benchmarks and the MAS kernel on the GPU). The test fixtures' paths were compiled in: the
# checkout is linked to where they were built when it lives elsewhere.
set -uo pipefail
root=$PWD
built_at=@CHORD_ROOT@
[[ "$root" == "$built_at" ]] || { mkdir -p "$(dirname "$built_at")" && ln -sfn "$root" "$built_at"; }
mkdir -p "$built_at/build/tests/output" "$root/build/gpu"
torch_lib=$(python3 -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
cudart=$(dirname "$(find "$(dirname "$(dirname "$torch_lib")")/nvidia" -name 'libcudart.so.*' | head -1)")
export LD_LIBRARY_PATH="$root/.gpu/bin:$root/.gpu/lib:$torch_lib:$cudart"
bin=$root/.gpu/bin
log() { echo; echo "=== $* ($(date +%T))"; }
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'
status=0
for part in "$@"; do
  case $part in
  tests)
    for t in chord_tests chord_system_tests chord_vits_tests; do
      log "$t [.cuda]"
      timeout 300 "$bin/$t" "[.cuda]" --durations yes || status=1
    done ;;
  nccl)
    log "NCCL through c10d: torchrun, one rank, against one process"
    w=$bin/chord-test-ddp-worker o=$root/build/gpu
    timeout 120 "$w" train --model flow --batch 4 --steps 4 --device cuda --out "$o/single" > "$o/single.log" 2>&1 || { tail "$o/single.log"; status=1; }
    OMP_NUM_THREADS=1 timeout 180 python3 -m torch.distributed.run --standalone --nproc-per-node=1 --no-python "$w" train \
      --model flow --batch 4 --steps 4 --device cuda --out "$o/w1" > "$o/w1.log" 2>&1 || { tail "$o/w1.log"; status=1; }
    grep -m1 "completed at step" "$o/w1.log"
    "$w" compare "$o/single/params.safetensors" "$o/w1/params.safetensors" --tolerance 1e-5 || status=1 ;;
  compare)
    [[ -d "$root/.gpu/py" ]] || { echo "compare: this bundle has no Python reference (scripts/gpu_bundle.sh --reference)"; status=1; continue; }
    for precision in fp32 bf16; do
      log "F5-TTS against the Python reference, $precision"
      PYTHONPATH="$root/.gpu/py:$root/benchmarks/peers" timeout 300 python3 "$root/benchmarks/peers/compare_f5tts.py" \
        --binary "$bin/chord_bench_systems" --device cuda --autocast $precision --rounds 2 --min-time 1 \
        --filter 'TrainStep/v1_small|Sample/v1_small/batch:4/cfg:1|v1_base' || status=1
    done ;;
  bench)
    systems='F5TTS_(TrainStep|Sample)/(tiny|v1_small|v1_base)/batch:(4|1)(/cfg:1)?$|DifferenceTransitionMatching_Sample/v1_small|CondDiT_TrainStep<CondDiT>/|SagaSR_(TrainStep|Sample)'
    for precision in fp32 bf16; do
      log "chord's systems on the GPU, $precision"
      CHORD_BENCH_DEVICE=cuda CHORD_BENCH_AUTOCAST=$precision timeout 240 "$bin/chord_bench_systems" --benchmark_filter="$systems" \
        --benchmark_min_time=0.5 --benchmark_min_warmup_time=0.2 || status=1
    done
    for device in cpu cuda; do
      CHORD_BENCH_DEVICE=$device timeout 100 "$bin/chord_bench_foundation" --benchmark_filter=MaximumPath --benchmark_min_time=0.5 || status=1
    done ;;
  *) echo "unknown part '$part' (tests, nccl, compare, bench)"; status=2 ;;
  esac
done
exit $status
RUN
sed -i "s|@CHORD_ROOT@|$CHORD_ROOT|" "$bundle/run.sh"
chmod +x "$bundle/run.sh"
du -sh "$bundle"
chord_log "bundle ready: copy .gpu/ with the checkout (under 64 MiB with the fixtures), then run .gpu/run.sh there"
