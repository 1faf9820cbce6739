#!/bin/sh
# The Bert-VITS2 demo's data path as one generator for regenerate_and_compare.sh: a small espeak-ng
# corpus, then its filelists (phonemized text, tones, word2ph, WAVs resampled to 22.05 kHz). The
# filelists name WAVs by absolute path; they are rewritten relative to the output folder so that two
# runs in different folders compare byte for byte.
#
#   make_vits_filelists.sh <chord-make-speech-corpus> <chord-vits-make-filelist> --out <folder>
set -eu
make_corpus=$1 make_filelist=$2
[ "$3" = "--out" ] || { echo "usage: $0 <chord-make-speech-corpus> <chord-vits-make-filelist> --out <folder>" >&2; exit 2; }
out=$4
"$make_corpus" --count 10 --out "$out"
"$make_filelist" --corpus "$out" --sample-rate 22050
absolute=$(cd "$out" && pwd -P)
for list in "$out/vits_train.txt" "$out/vits_valid.txt"; do
  sed "s|^$absolute/||" "$list" > "$list.relative" && mv "$list.relative" "$list"
  ! grep -q "^/" "$list" || { echo "$list still names absolute paths" >&2; exit 1; }
done
