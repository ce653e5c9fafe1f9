#!/usr/bin/env bash
# The main job on the embedded default: validates every bundled example workflow, runs each as a
# durable execution in a SQLite store (every transition persisted), shows each history, then lists
# the executions and verifies the hash-chained audit log.
set -uo pipefail
bin=${1:-.build/release/stepgate}
cd "$(dirname "$0")/.."
state=.build/demo
rm -rf "$state" && mkdir -p "$state"
store="sqlite://$PWD/$state/stepgate.db"
status=0
for def in examples/*.asl.json examples/*.asl.yaml; do
  [ -f "$def" ] || continue
  base=${def%.asl.*}
  echo "=== $def"
  "$bin" validate "$def" || { status=1; continue; }
  input='{}'
  [ -f "$base.input.json" ] && input=$(cat "$base.input.json")
  "$bin" executions start --definition "$def" --input "$input" --store "$store"
  rc=$?
  # An example may end in a Fail state on purpose; only bad input or a store error (2+) is an error.
  [ $rc -le 1 ] || status=1
  echo
done
echo "=== executions in $store"
"$bin" executions list --store "$store" || status=1
echo
echo "=== audit log"
"$bin" audit verify --store "$store" || status=1
exit $status
