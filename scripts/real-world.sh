#!/usr/bin/env bash
# Gates on the real-world ASL corpus (../shared/conformance/real-world): published definitions
# AWS accepts (valid/) and other validators' invalid cases (invalid/), run through its check.sh.
#
#   scripts/real-world.sh [STEPGATE_BINARY] [CORPUS_DIR] [EXCEPTIONS_FILE]
#
# Fails when a valid definition is rejected for anything but an unsubstituted placeholder (the
# diagnostic must name it), when an invalid one is accepted, or when the validator crashes. A
# label that AWS's documentation contradicts is an explained exception, listed with its reason in
# scripts/real-world-exceptions.tsv; an exception whose file no longer fails is stale and fails too.
set -uo pipefail
bin=${1:-.build/debug/stepgate}
corpus=${2:-../shared/conformance/real-world}
exceptions=${3:-scripts/real-world-exceptions.tsv}
if [ ! -x "$corpus/check.sh" ]; then
  echo "stepgate: the real-world corpus is missing at $corpus (expected shared/ beside the repository)" >&2
  exit 1
fi
[ -x "$bin" ] || { echo "stepgate: $bin is not built" >&2; exit 1; }
[ -r "$exceptions" ] || { echo "stepgate: cannot read $exceptions" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "== Real-world ASL corpus"
"$corpus/check.sh" "$bin" "$log" | sed -n '1,3p'
python3 - "$bin" "$corpus" "$log" "$exceptions" <<'EOF'
import json, re, subprocess, sys

binary, corpus, log, exceptions_file = sys.argv[1:5]
exceptions = {}
for n, line in enumerate(open(exceptions_file, encoding="utf-8"), 1):
    if not line.strip() or line.startswith("#"):
        continue
    parts = line.rstrip("\n").split("\t")
    if len(parts) != 2 or not parts[1].strip():
        sys.exit(f"{exceptions_file}:{n}: expected FILE<TAB>REASON")
    exceptions[parts[0]] = parts[1]

placeholder = re.compile(r"holds the placeholders? (\$\{[^}]+\}(, )?)+, which ha(s|ve) no value")
failures, explained, placeholder_only = [], [], {}
seen = set()
for line in open(log, encoding="utf-8"):
    kind, rel, rc, first = (line.rstrip("\n").split("\t") + ["", "", "", ""])[:4]
    seen.add(rel)
    if kind in ("CRASH", "TIMEOUT"):
        failures.append(f"{kind} (exit {rc}) {rel}")
    elif rel in exceptions:
        explained.append(rel)
    elif kind == "VALID-REJECTED":
        run = subprocess.run([binary, "validate", f"{corpus}/{rel}", "--format", "json"], capture_output=True, text=True)
        try:
            errors = [d for f in json.loads(run.stdout)["files"] for d in f["diagnostics"] if d["severity"] == "error"]
        except (ValueError, KeyError):
            errors = []
        other = [d for d in errors if not placeholder.search(d["message"])]
        if errors and not other:
            placeholder_only[rel] = sorted({k for d in errors for k in re.findall(r"\$\{([^}]+)\}", d["message"].split(" holds ")[1])})
        else:
            shown = other[0] if other else {"line": 1, "column": 1, "message": first}
            failures.append(f"valid definition rejected: {rel}:{shown['line']}:{shown['column']}: {shown['message']}")
    else:
        failures.append(f"invalid definition accepted: {rel}")
for rel in sorted(set(exceptions) - seen):
    failures.append(f"stale exception (the file passes now; remove it from {exceptions_file}): {rel}")

def total(directory):
    listing = subprocess.run(["sh", "-c", f"ls {corpus}/{directory}/*.asl.json {corpus}/{directory}/*.asl.yaml 2>/dev/null"],
                             capture_output=True, text=True).stdout.split()
    return len(listing)

def logged(directory):
    return len([r for r in seen if r.startswith(directory + "/")])

def wrong(directory):
    return len([r for r in explained if r.startswith(directory + "/")])

print(f"valid: {total('valid') - logged('valid')} accepted, {len(placeholder_only)} rejected only for an "
      f"unsubstituted placeholder (named), {wrong('valid')} labels judged wrong")
print(f"invalid: {total('invalid') - logged('invalid')} rejected, {wrong('invalid')} labels judged wrong")
for rel in explained:
    print(f"  label judged wrong: {rel}: {exceptions[rel]}")
for f in failures:
    print(f"  FAIL {f}")
print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
EOF
