#!/bin/sh
# Generates a corpus twice, once as the test suite runs programs and once in a perturbed environment,
# and compares the two file by file. The perturbed run differs in every way a user's machine may:
# another HOME, working directory (and a relative --out), locale, thread counts, libsoxr variables, a
# preloaded library that disturbs the C library's rand() state, a lower scheduling priority, and the
# vector units of an older CPU: glibc's libm and LibTorch's kernels told to use no AVX, AVX2, FMA or
# AVX-512 (GLIBC_TUNABLES, ATEN_CPU_CAPABILITY), so that a result which depended on them differs here.
#
#   regenerate_and_compare.sh <work-dir> <perturber.so> <generator> [generator args...]
#
# Prints "identical: N files" on success; otherwise every differing or missing file, with the first
# differing byte (and, for WAV files, the sample frame it falls in), and exits 1.
set -u
work=$1; perturber=$2; shift 2
rm -rf "$work" && mkdir -p "$work/home" "$work/cwd" || exit 1
reference="$work/plain"
"$@" --out "$reference" > "$work/plain.log" 2>&1 || { echo "the generator failed:"; cat "$work/plain.log"; exit 1; }
(
  cd "$work/cwd" || exit 1
  env HOME="$work/home" LC_ALL=C LANG= TZ=Pacific/Chatham OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
      SOXR_USE_SIMD=0 SOXR_COEF_INTERP=1 LD_PRELOAD="$perturber" \
      GLIBC_TUNABLES=glibc.cpu.hwcaps=-AVX,-AVX2,-AVX2_Usable,-FMA,-FMA4,-AVX512F ATEN_CPU_CAPABILITY=default \
      nice -n 5 "$@" --out corpus > "$work/generator.log" 2>&1
) || { echo "the generator failed in the perturbed environment:"; cat "$work/generator.log"; exit 1; }
again="$work/cwd/corpus"

status=0
files=0
# Both directions: a file only one side has is a difference too.
(cd "$reference" && find . -type f | sort) > "$work/files_reference.txt"
(cd "$again" && find . -type f | sort) > "$work/files_regenerated.txt"
if ! cmp -s "$work/files_reference.txt" "$work/files_regenerated.txt"; then
  echo "the file lists differ (< reference, > regenerated):"
  diff "$work/files_reference.txt" "$work/files_regenerated.txt"
  status=1
fi
while read -r file; do
  [ -f "$again/$file" ] || continue
  files=$((files + 1))
  difference=$(cmp "$reference/$file" "$again/$file" 2>&1) && continue
  status=1
  echo "DIFFERENT: $file: $difference"
  case "$file" in
    *.wav)
      # Offset of the PCM data: the byte after the "data" chunk id and its 4-byte size.
      byte=$(echo "$difference" | sed -n 's/.*byte \([0-9]*\).*/\1/p')
      data=$(grep -obUa "data" "$reference/$file" | head -n 1 | cut -d: -f1)
      if [ -n "$byte" ] && [ -n "$data" ]; then
        echo "    first differing sample frame: $(( (byte - 1 - data - 8) / 2 )) (16-bit mono)"
      fi
      ;;
  esac
done < "$work/files_reference.txt"
[ $status -eq 0 ] && echo "identical: $files files"
exit $status
