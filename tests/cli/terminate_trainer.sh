#!/bin/sh
# SIGTERM to a training program (what a scheduler, `timeout` or `docker stop` sends): it must finish
# the update in flight, write a checkpoint, say so and exit 0 within seconds; the same command then
# resumes from that checkpoint.
#
#   terminate_trainer.sh <output dir> <trainer> <trainer arguments...>   (the trainer gets --out <output dir>)
. "$(dirname "$0")/wait_for_log.sh"
out=$1
shift
rm -rf "$out" && mkdir -p "$out" || exit 1
log="$out.log"
"$@" --out "$out" > "$log" 2>&1 &
pid=$!
# the first logged update (a log line or the progress bar)
wait_for_log "$log" "$pid" "step [0-9]+:| [0-9]+/[0-9]+ \(" || { cat "$log"; echo "terminate_trainer.sh: the trainer never logged an update"; kill -KILL "$pid" 2>/dev/null; exit 1; }
sent=$(date +%s.%N)
kill -TERM "$pid"
wait "$pid"
status=$?
elapsed=$(awk -v a="$sent" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
[ "$status" -eq 0 ] || { tail -5 "$log"; echo "terminate_trainer.sh: exit status $status after SIGTERM, expected 0"; exit 1; }
step=$(sed -n 's/.*interrupted: checkpointed at step \([0-9]*\).*/\1/p' "$log")
[ -n "$step" ] || { tail -5 "$log"; echo "terminate_trainer.sh: no 'interrupted: checkpointed at step' line"; exit 1; }
awk -v e="$elapsed" 'BEGIN { exit !(e < 30) }' || { echo "terminate_trainer.sh: took $elapsed s to stop"; exit 1; }
ls "$out/checkpoints/checkpoint_"*"$step.pt" > /dev/null 2>&1 || { ls -R "$out"; echo "terminate_trainer.sh: no checkpoint of step $step"; exit 1; }
"$@" --out "$out" > "$log.resume" 2>&1 &
pid=$!
wait_for_log "$log.resume" "$pid" "resumed from .* at step $step"
resumed=$?
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
[ "$resumed" -eq 0 ] || { tail -5 "$log.resume"; echo "terminate_trainer.sh: the same command did not resume at step $step"; exit 1; }
echo "terminate_trainer.sh: stopped ${elapsed} s after SIGTERM at step $step, resumed there: ok"
