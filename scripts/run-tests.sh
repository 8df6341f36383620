#!/usr/bin/env bash
# Runs the test files given (default test/*.test.ts) with a temporary directory of their own, and fails if they leave
# anything in it: a test that does not clean up what it writes under /tmp is a failure, not 0.7 GB of litter.
# tsx's compile cache lives in the temporary directory; it is linked to the usual one, so it is neither rebuilt nor counted.
set -uo pipefail
cd "$(dirname "$0")/.."

system_tmp=${TMPDIR:-/tmp}
private=$(mktemp -d "$system_tmp/streamfit-tests.XXXXXX")
cache="tsx-$(id -u)"
mkdir -p "$system_tmp/$cache"
ln -s "$system_tmp/$cache" "$private/$cache"

files=("$@")
[[ ${#files[@]} -gt 0 ]] || files=(test/*.test.ts)
TMPDIR=$private node --import tsx --test "${files[@]}"
status=$?

left=$(find "$private" -mindepth 1 -maxdepth 1 ! -name "$cache" -printf '%f\n' | sort)
if [[ -n $left ]]; then
  printf 'tests left these in their temporary directory (%s), which each test must remove:\n%s\n' "$private" "$left" >&2
  [[ $status -ne 0 ]] || status=1
fi
rm -rf "$private"
exit "$status"
