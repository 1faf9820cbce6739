#!/usr/bin/env bash
# Multi-process training on c10d (Gloo, loopback), one case per CTest test:
#   run_ddp_tests.sh <case> <chord-test-ddp-worker> <output folder> [python with torch, for torchrun]
# Processes are launched directly with the environment torchrun gives them, or by torchrun itself.
set -euo pipefail
case_name=$1 worker=$2 out=$3 python=${4:-}
rm -rf "$out"
mkdir -p "$out"
export OMP_NUM_THREADS=1
export CHORD_DIST_TIMEOUT=${CHORD_DIST_TIMEOUT:-60}

fail() { echo "FAIL ($case_name): $*" >&2; exit 1; }

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# single <dir> <worker args...>: one process, no launcher variables.
single() {
  local dir=$1; shift
  "$worker" train --out "$dir" "$@" >"$dir.out" 2>&1 || { cat "$dir.out" >&2; fail "single-process run $dir failed"; }
}

# launch <world> <dir> <worker args...>: <world> processes with torchrun's variables; rank 1 also gets
# $RANK1_EXTRA. Returns the first non-zero exit status; each rank's output goes to <dir>.rank<r>.out.
launch() {
  local world=$1 dir=$2; shift 2
  local port pids=() status=0 r
  port=$(free_port)
  for ((r = 0; r < world; r++)); do
    local extra=()
    [[ $r -eq 1 && -n ${RANK1_EXTRA:-} ]] && read -ra extra <<<"$RANK1_EXTRA"
    RANK=$r LOCAL_RANK=$r WORLD_SIZE=$world MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
      "$worker" train --out "$dir" "$@" "${extra[@]}" >"$dir.rank$r.out" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || { local s=$?; [[ $status -ne 0 ]] || status=$s; }; done
  return $status
}

launched() {  # like launch, but a failure fails the test
  local dir=$2
  launch "$@" || { for f in "$dir".rank*.out; do echo "--- $f" >&2; tail -20 "$f" >&2; done; fail "multi-process run $dir failed"; }
}

same_parameters() {  # <dir a> <dir b> [tolerance]
  "$worker" compare "$1/params.safetensors" "$2/params.safetensors" --tolerance "${3:-1e-6}" ||
    fail "parameters of $1 and $2 differ"
}

torchrun() { [[ -n $python ]] || fail "no Python with torch given (configure with CHORD_PYTHON)"; "$python" -m torch.distributed.run "$@"; }

case $case_name in
  flow)  # 2 processes × batch 2 = 1 process × batch 4, a flow model (AdamW, clipping)
    single "$out/one" --model flow --batch 4 --steps 4
    launched 2 "$out/two" --model flow --batch 2 --steps 4
    same_parameters "$out/one" "$out/two"
    for r in 0 1; do grep -q "stopped at step 4" "$out/two/logs/rank$r.log" || fail "rank $r's log is incomplete"; done
    # Logged scalars are averaged over the ranks: rank 1's log shows rank 0's values, and both equal the
    # one-process run's (batch 4 = 2 x batch 2).
    python3 - "$out/one/log.jsonl" "$out/two/log.jsonl" <<'PY' || fail "the logged losses are not the average over the ranks"
import json, sys
one, two = ([json.loads(line)["loss"] for line in open(path)] for path in sys.argv[1:3])
print("logged losses, 1 process:", one, "2 processes:", two)
sys.exit(0 if len(one) == len(two) == 4 and all(abs(a - b) <= 1e-5 * max(1.0, abs(a)) for a, b in zip(one, two)) else 1)
PY
    [[ $(grep -o "loss=[^ ]*" "$out/two/logs/rank0.log") == "$(grep -o "loss=[^ ]*" "$out/two/logs/rank1.log")" ]] ||
      fail "rank 1 logged other losses than rank 0"
    # The reducer rebuilt its buckets after the first step (one size-unlimited bucket would never overlap
    # the backward): the 5.3 MB of gradients go in a 1 MiB-capped first bucket and a second one.
    buckets=$(grep -m1 "gradient buckets of 'model'" "$out/two.rank0.out" | sed 's/.*order)://') ||
      fail "rank 0 did not report its gradient buckets"
    read -ra sizes <<<"$buckets"
    ((${#sizes[@]} >= 2)) || fail "the gradient buckets were not rebuilt: ${#sizes[@]} bucket(s) of $buckets bytes"
    ((sizes[0] < 2 * 1048576)) || fail "the first gradient bucket holds ${sizes[0]} bytes, over DDP's 1 MiB first cap"
    echo "gradient buckets (bytes): $buckets"
    ;;
  gan)  # three optimisers (G, D, D2), an unused generator layer, 2 × 2 = 1 × 4; with 2 micro-steps, 2 × 2 × 2 = 1 × 4 × 2
    single "$out/one" --model gan --batch 4 --steps 6
    launched 2 "$out/two" --model gan --batch 2 --steps 6
    same_parameters "$out/one" "$out/two"
    single "$out/one_micro" --model gan --batch 4 --accumulation 2 --steps 4
    launched 2 "$out/two_micro" --model gan --batch 2 --accumulation 2 --steps 4
    same_parameters "$out/one_micro" "$out/two_micro"
    ;;
  accumulation)  # 2 processes × batch 2 × 2 micro-steps = 1 process × batch 4 × 2 micro-steps
    # SGD with momentum: AdamW divides each gradient by its own running magnitude, so for a parameter
    # whose gradient is near zero it turns fp32 rounding into differences of up to 1.4e-6 after 3 updates
    # at lr 1e-3 — between two single-process runs too (batch 8 vs batch 4 x 2 micro-steps: 8.5e-7 on
    # conv_pos_embed). SGD keeps parameter differences proportional to gradient differences.
    single "$out/one" --model flow --optimizer sgd --lr 0.05 --batch 4 --accumulation 2 --steps 3
    launched 2 "$out/two" --model flow --optimizer sgd --lr 0.05 --batch 2 --accumulation 2 --steps 3
    same_parameters "$out/one" "$out/two"
    ;;
  resume)  # stop a 2-process run at step 3; resume it with 2 processes, and with 1 (2 micro-steps); a 1-process run resumed by 2
    launched 2 "$out/whole" --model flow --batch 2 --steps 6
    launched 2 "$out/again2" --model flow --batch 2 --steps 3 --checkpoint-every 3
    cp -r "$out/again2" "$out/again1"
    launched 2 "$out/again2" --model flow --batch 2 --steps 6
    grep -q "resumed from .* at step 3" "$out/again2.rank0.out" || fail "the 2-process run did not resume"
    single "$out/again1" --model flow --batch 2 --accumulation 2 --steps 6
    grep -q "written by 2 process(es), resumed by 1" "$out/again1.out" || fail "the 1-process resume did not say so"
    same_parameters "$out/whole" "$out/again2"
    same_parameters "$out/whole" "$out/again1"
    single "$out/grow" --model flow --batch 2 --accumulation 2 --steps 3 --checkpoint-every 3
    launched 2 "$out/grow" --model flow --batch 2 --steps 6
    grep -q "written by 1 process(es), resumed by 2" "$out/grow.rank0.out" || fail "the 2-process resume of a 1-process run did not say so"
    same_parameters "$out/whole" "$out/grow"
    ;;
  fault)  # rank 1 dies mid-step: rank 0 exits non-zero within the timeout, naming it
    start=$SECONDS
    if launch 2 "$out/run" --model flow --batch 2 --steps 50 --die-at-step 3; then fail "the job succeeded without rank 1"; fi
    elapsed=$((SECONDS - start))
    grep -q "lost rank 1 (pid" "$out/run.rank0.out" || { cat "$out/run.rank0.out" >&2; fail "rank 0 did not name the lost rank"; }
    ((elapsed < CHORD_DIST_TIMEOUT)) || fail "rank 0 took ${elapsed} s to notice"
    echo "rank 0 noticed in ${elapsed} s: $(grep -m1 'lost rank' "$out/run.rank0.out")"
    ;;
  config)  # a rank launched with other options fails at start, on every rank
    if RANK1_EXTRA="--lr 0.5" launch 2 "$out/run" --model flow --batch 2 --steps 2; then fail "ranks with different options trained"; fi
    for r in 0 1; do
      grep -q "disagree about the run's configuration" "$out/run.rank$r.out" || { cat "$out/run.rank$r.out" >&2; fail "rank $r did not say why"; }
    done
    ;;
  empty_shard)  # one global batch, two ranks, a per-rank sampler: rank 1 has nothing
    if launch 2 "$out/run" --model flow --batch 2 --items 2 --per-rank-source --steps 2; then fail "a rank trained on nothing"; fi
    grep -q "a rank has no batches in epoch 0 (rank 1 has 0)" "$out/run.rank1.out" || { cat "$out/run.rank1.out" >&2; fail "rank 1 did not say why"; }
    ;;
  torchrun)  # launched by torchrun --no-python, as the README shows
    single "$out/one" --model flow --batch 4 --steps 4
    torchrun --standalone --nproc-per-node=2 --no-python "$worker" train --model flow --batch 2 --steps 4 --out "$out/two" \
      >"$out/torchrun.out" 2>&1 || { tail -30 "$out/torchrun.out" >&2; fail "torchrun failed"; }
    same_parameters "$out/one" "$out/two"
    ;;
  torchrun_restart)  # rank 1 dies at update 4; torchrun --max-restarts 1 restarts the job, which resumes at step 2
    launched 2 "$out/whole" --model gan --batch 2 --steps 6
    torchrun --standalone --nproc-per-node=2 --max-restarts=1 --no-python "$worker" train --model gan --batch 2 --steps 6 \
      --checkpoint-every 2 --die-at-step 4 --out "$out/restarted" >"$out/torchrun.out" 2>&1 ||
      { tail -30 "$out/torchrun.out" >&2; fail "the restarted job failed"; }
    grep -q "resumed from .* at step 2" "$out/torchrun.out" || { tail -30 "$out/torchrun.out" >&2; fail "the restart did not resume"; }
    same_parameters "$out/whole" "$out/restarted"
    ;;
  *) fail "unknown case" ;;
esac
echo "ok: $case_name"
