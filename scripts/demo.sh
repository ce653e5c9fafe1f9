#!/usr/bin/env bash
# Validates and runs every bundled example workflow, showing each execution's history.
set -uo pipefail
bin=${1:-.build/release/stepgate}
cd "$(dirname "$0")/.."
status=0
for def in examples/*.asl.json examples/*.asl.yaml; do
  [ -f "$def" ] || continue
  base=${def%.asl.*}
  echo "=== $def"
  "$bin" validate "$def" || { status=1; continue; }
  input=()
  [ -f "$base.input.json" ] && input=(--input-file "$base.input.json")
  "$bin" run --definition "$def" "${input[@]}"
  rc=$?
  # An example may end in a Fail state on purpose; only a crash or bad input (2+) is an error.
  [ $rc -le 1 ] || status=1
  echo
done
exit $status
