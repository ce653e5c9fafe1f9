#!/usr/bin/env bash
# Runs the AWS-recorded ASL conformance corpus against a stepgate binary.
# Gate: every validation case and every JSONPath execution case must pass. JSONata execution
# cases are tallied separately and do not gate until the JSONata query language is built.
set -uo pipefail
bin=${1:-.build/release/stepgate}
corpus=${2:-../shared/conformance/asl}
if [ ! -f "$corpus/run.py" ]; then
  echo "stepgate: the conformance corpus is missing at $corpus (expected shared/ beside the repository)" >&2
  exit 1
fi
[ -x "$bin" ] || { echo "stepgate: $bin is not built" >&2; exit 1; }
run="$bin run --definition {def} --input-file {input} --format json --virtual-time"
validate="$bin validate {def} --format json"
echo "== ASL conformance: JSONata execution cases (informational)"
python3 "$corpus/run.py" --run-cmd "$run" --validate-cmd "$validate" --no-validate --category '^jsonata$' -j 2 \
  | tail -n 1 | sed 's/^/jsonata: /'
echo "== ASL conformance: validation and JSONPath execution cases (gating)"
python3 "$corpus/run.py" --run-cmd "$run" --validate-cmd "$validate" --category '^(?!jsonata$)' -j 2 --show-failures 40
