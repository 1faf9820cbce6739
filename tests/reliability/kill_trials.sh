#!/usr/bin/env bash
# Kill trials: a trainer (chord-test-ddp-worker, one process, a tiny F5-TTS flow model, a checkpoint
# every 2 of 8 updates, 3 kept) is killed with SIGKILL right after one file-system step of its
# checkpoint writing — a write, fsync, rename or the removal of an old checkpoint — chosen by the
# LD_PRELOAD fault injector; then the same command resumes. Every resumed run must end bitwise equal to
# an uninterrupted one, resume from the newest checkpoint whose rename had happened before the kill
# (training is deterministic, so an older one or a fresh start would end equal too: the step is checked
# by itself), and no temporary or partial file may be taken for a checkpoint.
#
#   kill_trials.sh <worker> <fault_injector.so> <output folder> [--writes N] [--random K]
#
# Trials: every fsync, rename and removal, plus N writes spread over the run (default 12), plus K kills
# at random times (default 0). Prints one line per trial and a summary; exit 1 on any failure.
set -euo pipefail
worker=$1 injector=$2 out=$3
shift 3
writes=12 random_kills=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --writes) writes=$2; shift 2 ;;
    --random) random_kills=$2; shift 2 ;;
    *) echo "kill_trials.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
rm -rf "$out"
mkdir -p "$out"
export OMP_NUM_THREADS=1
args=(train --model flow --batch 2 --steps 8 --checkpoint-every 2)
reference="$out/reference"

# The uninterrupted run, and the list of its checkpoint steps.
CHORD_FAULT_LOG="$out/steps.log" LD_PRELOAD="$injector" "$worker" "${args[@]}" --out "$out/reference" >"$out/reference.out" 2>&1
total=$(wc -l <"$out/steps.log")
[[ $total -gt 0 ]] || { echo "kill_trials.sh: the injector saw no checkpoint file step" >&2; exit 1; }

trials=()
while read -r index kind _; do
  [[ $kind == write ]] || trials+=("$index")
done <"$out/steps.log"
write_indices=($(awk '$2 == "write" { print $1 }' "$out/steps.log"))
count=${#write_indices[@]}
for ((k = 0; k < writes && count > 0; k++)); do trials+=("${write_indices[$((k * count / writes))]}"); done

# The step of the newest checkpoint completed (renamed into place) by file-system step <index>, or
# nothing when none was.
newest_complete_step() {
  awk -v i="$1" '$2 == "rename" && $1 + 0 <= i + 0 { last = $NF } END { print last }' "$out/steps.log" |
    sed -n 's/.*checkpoint_0*\([0-9][0-9]*\)\.pt$/\1/p'
}

passed=0 failed=0
trial() {  # <label> <run folder> [expected step | "fresh" | "any"]: resume after the kill, compare with the reference
  local label=$1 dir=$2 expected=${3:-any}
  if ! "$worker" "${args[@]}" --out "$dir" >"$dir.resume.out" 2>&1; then
    echo "FAIL $label: the resumed run failed: $(tail -1 "$dir.resume.out")"
    failed=$((failed + 1))
    return
  fi
  local resumed
  resumed=$(grep -o "resumed from [^ ]* at step [0-9]*" "$dir.resume.out" || echo "started afresh")
  local wanted="at step $expected"
  [[ $expected == fresh ]] && wanted="started afresh"
  if [[ $expected != any && $resumed != *"$wanted" ]]; then
    echo "FAIL $label: $resumed, expected the newest complete checkpoint ($wanted)"
    failed=$((failed + 1))
    return
  fi
  if "$worker" compare "$reference/params.safetensors" "$dir/params.safetensors" --tolerance 0 >"$dir.compare.out" 2>&1 &&
     ! ls "$dir/checkpoints" | grep -q "tmp"; then
    echo "ok   $label: $resumed, bitwise equal"
    passed=$((passed + 1))
  else
    echo "FAIL $label: $resumed, $(cat "$dir.compare.out")"
    failed=$((failed + 1))
  fi
}

for index in "${trials[@]}"; do
  dir="$out/trial_$index"
  step=$(awk -v i="$index" '$1 == i { print $2 " " $3 }' "$out/steps.log")
  # (in a subshell: the kill is expected, bash need not announce it)
  if { (CHORD_FAULT_AT=$index LD_PRELOAD="$injector" exec "$worker" "${args[@]}" --out "$dir" >"$dir.killed.out" 2>&1); } 2>/dev/null; then
    echo "FAIL step $index ($step): the process was not killed"
    failed=$((failed + 1))
    continue
  fi
  expected=$(newest_complete_step "$index")
  trial "killed after step $index/$total ($(basename "${step%% *}") $(basename "${step##* }"))" "$dir" "${expected:-fresh}"
done

# Kills at random times need a run long enough for them to land while it trains and checkpoints (the
# 8-update run is over within a second of start-up): 48 updates, a checkpoint every 4, its own
# reference. Each kill lands uniformly between a tenth of the reference's duration and its end; the
# resumed run must start from the newest checkpoint complete in its folder when it was killed.
if ((random_kills > 0)); then
  args=(train --model flow --batch 2 --steps 48 --checkpoint-every 4)
  reference="$out/reference_long"
  started=$(date +%s%N)
  "$worker" "${args[@]}" --out "$reference" >"$reference.out" 2>&1
  duration_ms=$((($(date +%s%N) - started) / 1000000))
  echo "random kills over the ${duration_ms} ms of a ${args[*]:1} run"
fi
for ((k = 0; k < random_kills; k++)); do
  dir="$out/random_$k"
  delay=$(awk -v seed=$((k + 1)) -v ms="$duration_ms" 'BEGIN { srand(seed); printf "%.2f", ms / 1000 * (0.1 + 0.9 * rand()) }')
  "$worker" "${args[@]}" --out "$dir" >"$dir.killed.out" 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  newest=$( (ls "$dir/checkpoints" 2>/dev/null || true) | sed -n 's/^checkpoint_0*\([0-9][0-9]*\)\.pt$/\1/p' | sort -n | tail -1)
  trial "killed at ${delay} s (newest complete checkpoint: ${newest:-none})" "$dir" "${newest:-fresh}"
done
args=(train --model flow --batch 2 --steps 8 --checkpoint-every 2)
reference="$out/reference"

# A full disk during the second checkpoint: a clear error, a non-zero exit, the first checkpoint intact
# (the same command then resumes from it and ends equal to the uninterrupted run).
first_write_of_second=$(awk '$2 == "write" && $3 ~ /checkpoint_000000004/ { print $1; exit }' "$out/steps.log")
dir="$out/disk_full"
full_status=0
CHORD_FAULT_ENOSPC_FROM=$first_write_of_second LD_PRELOAD="$injector" "$worker" "${args[@]}" --out "$dir" >"$dir.full.out" 2>&1 ||
  full_status=$?
if [[ $full_status -ne 1 ]]; then
  echo "FAIL disk full: exit status $full_status, not 1 (a clean error): $(tail -2 "$dir.full.out" | tr '\n' ' ')"
  failed=$((failed + 1))
elif ! grep -q "^chord-test-ddp-worker: .*No space left on device" "$dir.full.out"; then
  echo "FAIL disk full: the error does not say why: $(tail -1 "$dir.full.out")"
  failed=$((failed + 1))
elif ls "$dir/checkpoints" | grep -q tmp; then
  echo "FAIL disk full: the failed checkpoint's temporary file was left behind"
  failed=$((failed + 1))
else
  echo "ok   disk full: $(grep -m1 -o "chord-test-ddp-worker: .*" "$dir.full.out" | cut -c1-160)"
  trial "after the full disk" "$dir" 2
fi

echo "kill trials: $passed passed, $failed failed, of $((passed + failed)) ($total checkpoint file steps in a run)"
[[ $failed -eq 0 ]]
