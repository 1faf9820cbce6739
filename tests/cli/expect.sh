#!/bin/sh
# Runs a command and checks what a user would see: its exit status, what its output must and must not
# say, and that no LibTorch stack trace reached the user.
#
#   expect.sh <status | nonzero> [-e regex]... [-n regex]... -- <command> [args...]
#
# -e: a line of the output must match this extended regex; -n: no line may. Prints the command's
# output, then "expect.sh: ok" or what was wrong (and exits 1).
expected=$1
shift
musts=$(mktemp) nots=$(mktemp)
trap 'rm -f "$musts" "$nots"' EXIT
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case $1 in
    -e) printf '%s\n' "$2" >> "$musts" ;;
    -n) printf '%s\n' "$2" >> "$nots" ;;
    *) echo "expect.sh: unknown argument '$1'"; exit 2 ;;
  esac
  shift 2
done
[ "${1:-}" = "--" ] || { echo "expect.sh: missing -- before the command"; exit 2; }
shift
output=$("$@" 2>&1)
status=$?
printf '%s\n' "$output"
fail() { echo "expect.sh: $*"; exit 1; }
if [ "$expected" = nonzero ]; then
  [ "$status" -ne 0 ] || fail "expected a non-zero exit status, got 0"
else
  [ "$status" -eq "$expected" ] || fail "expected exit status $expected, got $status"
fi
while IFS= read -r pattern; do
  printf '%s\n' "$output" | grep -Eq -- "$pattern" || fail "expected output matching: $pattern"
done < "$musts"
while IFS= read -r pattern; do
  if printf '%s\n' "$output" | grep -Eq -- "$pattern"; then fail "expected no output matching: $pattern"; fi
done < "$nots"
if printf '%s\n' "$output" | grep -Eq "Exception raised from|frame #[0-9]+:"; then fail "a LibTorch stack trace reached the user"; fi
echo "expect.sh: ok"
