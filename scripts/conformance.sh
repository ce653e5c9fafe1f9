#!/usr/bin/env bash
# Runs the AWS-recorded ASL conformance corpus (execution cases in both query languages and the
# validation cases) against a stepgate binary. Every case gates: the last line is the tally.
set -uo pipefail
bin=${1:-.build/release/stepgate}
corpus=${2:-../shared/conformance/asl}
if [ ! -f "$corpus/run.py" ]; then
  echo "stepgate: the conformance corpus is missing at $corpus (expected shared/ beside the repository)" >&2
  exit 1
fi
[ -x "$bin" ] || { echo "stepgate: $bin is not built" >&2; exit 1; }
echo "== ASL conformance corpus"
out=$(python3 "$corpus/run.py" \
  --run-cmd "$bin run --definition {def} --input-file {input} --format json --virtual-time" \
  --validate-cmd "$bin validate {def} --format json" -j 2 --show-failures 40)
status=$?
printf '%s\n' "$out"
# run.py's last line is "N passed, M failed"; any failure fails the gate.
last=$(printf '%s\n' "$out" | tail -n 1)
case "$last" in
  *" 0 failed") exit $status ;;
  *) exit 1 ;;
esac
