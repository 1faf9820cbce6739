#!/bin/sh
# A compile-fail case with many expected messages: builds <target> in <build dir>, which must fail, and
# requires every line of <messages file> (an extended regular expression each) in the compiler's output.
#
#   expect_all.sh <build dir> <target> <messages file>
build=$1 target=$2 messages=$3
output=$(cmake --build "$build" --target "$target" 2>&1)
status=$?
if [ $status -eq 0 ]; then
  echo "expect_all.sh: $target compiled, but must not"
  exit 1
fi
missing=0 found=0
while IFS= read -r message; do
  case $message in ''|'#'*) continue ;; esac
  if printf '%s\n' "$output" | grep -Eq -- "$message"; then
    found=$((found + 1))
  else
    echo "expect_all.sh: no compiler message matches: $message"
    missing=$((missing + 1))
  fi
done < "$messages"
if [ $missing -ne 0 ]; then
  printf '%s\n' "$output" | grep -E "error|static assertion" | head -60
  exit 1
fi
echo "expect_all.sh: all $found messages: ok"
