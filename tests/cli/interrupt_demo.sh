#!/bin/sh
# Ctrl-C during the demo's training, as a user at a terminal sends it (SIGINT to the whole foreground
# process group), right after the trainer starts and before its first logged update. The demo must
# stop there with a clear message and a non-zero status, not speak with a half-trained model, and
# the trainer must have written its checkpoint.
#
#   interrupt_demo.sh <repository root> <build dir> <output dir>
. "$(dirname "$0")/wait_for_log.sh"
root=$1 build=$2 out=$3
rm -rf "$out/f5tts_tiny" && mkdir -p "$out" || exit 1
log="$out/demo.log"
# A shell starts background jobs with SIGINT ignored, which a terminal's foreground job never has:
# restore the default (perl) so the demo sees Ctrl-C as it would at a terminal.
CHORD_BUILD_DIR="$build" CHORD_OUT="$out" setsid perl -e '$SIG{INT} = "DEFAULT"; exec @ARGV or die' \
  "$root/scripts/demo.sh" --steps 100000 > "$log" 2>&1 &
leader=$!
wait_for_log "$log" "$leader" "starting at step" 300 || { cat "$log"; echo "interrupt_demo.sh: the trainer never started"; kill -KILL -"$leader" 2>/dev/null; exit 1; }
kill -INT -"$leader"
wait "$leader"
status=$?
cat "$log"
[ "$status" -eq 130 ] || { echo "interrupt_demo.sh: expected exit status 130, got $status"; exit 1; }
grep -q "training interrupted" "$log" || { echo "interrupt_demo.sh: no 'training interrupted' message"; exit 1; }
if grep -q "chord-f5tts-infer\]" "$log"; then echo "interrupt_demo.sh: the demo went on to inference"; exit 1; fi
ls "$out/f5tts_tiny/checkpoints/"checkpoint_*.pt > /dev/null 2>&1 || { echo "interrupt_demo.sh: no checkpoint written"; exit 1; }
echo "interrupt_demo.sh: ok"
