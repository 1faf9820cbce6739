#!/bin/sh
# Runs chord-vits-infer and checks that the WAV it wrote has the length it reports (frames × hop) and
# the config's rate, by reading the file back with an independent program.
#   vits_infer_length.sh <chord-vits-test-inputs> <rate> <out.wav> <chord-vits-infer> [args...]
checker=$1 rate=$2 wav=$3
shift 3
output=$("$@" --out "$wav" 2>&1)
status=$?
printf '%s\n' "$output"
[ "$status" -eq 0 ] || { echo "vits_infer_length.sh: chord-vits-infer exited $status"; exit 1; }
line=$(printf '%s\n' "$output" | grep -E '[0-9]+ frames x hop [0-9]+ = [0-9]+ samples')
[ -n "$line" ] || { echo "vits_infer_length.sh: no 'frames x hop = samples' line"; exit 1; }
frames=$(printf '%s\n' "$line" | sed -E 's/.* ([0-9]+) frames x hop ([0-9]+) = ([0-9]+) samples.*/\1/')
hop=$(printf '%s\n' "$line" | sed -E 's/.* ([0-9]+) frames x hop ([0-9]+) = ([0-9]+) samples.*/\2/')
"$checker" --check-wav "$wav" "$rate" $((frames * hop)) || exit 1
echo "vits_infer_length.sh: ok ($frames frames x $hop)"
