#!/usr/bin/env bash
# The main job on the embedded default (SQLite, local engine), end to end and for real:
#   part 1: a bare repository with stepgate's hooks installed; pushes from a clone: a broken
#           workflow rejected at FILE:LINE:COL, a push gate rejecting a push with its cause, a push
#           workflow started by post-receive; then the executions of those runs and the audit log.
#   part 2: the bundled engine examples, each validated and run as a durable execution.
set -uo pipefail
bin=${1:-.build/release/stepgate}
cd "$(dirname "$0")/.."
root=$PWD
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
state=$root/.build/demo
rm -rf "$state" && mkdir -p "$state"
export GIT_CONFIG_NOSYSTEM=1 HOME=$state GIT_AUTHOR_NAME="Alice Author" GIT_AUTHOR_EMAIL=alice@example.org \
  GIT_COMMITTER_NAME="Alice Author" GIT_COMMITTER_EMAIL=alice@example.org REMOTE_USER=alice
status=0
say() { printf '\n\033[1m=== %s\033[0m\n' "$*"; }
step() { printf '$ %s\n' "$*"; "$@"; }

say "Part 1: a git server with stepgate's hooks"
server=$state/demo.git
store="sqlite://$state/hooks.db"
git init -q --bare -b main "$server"
cat > "$state/hooks.yaml" <<EOF
hooks:
  timeout: 5s
  store: $store
EOF
step "$bin" hooks install "$server" --config "$state/hooks.yaml"
git clone -q "$server" "$state/work" 2>/dev/null
cd "$state/work"
mkdir -p .stepgate/workflows
cat > .stepgate/stepgate.yaml <<'EOF'
version: 1
workflows:
  commit-policy:                       # a push gate: runs before main accepts a push
    definition: workflows/policy.asl.json
    on:
      pre-receive: {refs: [refs/heads/main]}
  deploy:                              # a push workflow: runs after main accepted a push
    definition: workflows/deploy.asl.json
    on:
      push: {refs: [refs/heads/main]}
    input: {environment: staging}
EOF
cat > .stepgate/workflows/policy.asl.json <<'EOF'
{
  "Comment": "Refuses pushes whose newest commit is a work in progress.",
  "StartAt": "Newest",
  "States": {
    "Newest": {"Type": "Pass", "Parameters": {"message.$": "States.ArrayGetItem($.commits[*].message, States.MathAdd(States.ArrayLength($.commits), -1))"}, "Next": "WIP?"},
    "WIP?": {"Type": "Choice", "Choices": [{"Variable": "$.message", "StringMatches": "WIP*", "Next": "Refuse"}], "Default": "Accept"},
    "Refuse": {"Type": "Fail", "Error": "Policy.WorkInProgress", "Cause": "main takes no work in progress; finish it or push it to a branch"},
    "Accept": {"Type": "Succeed"}
  }
}
EOF
cat > .stepgate/workflows/deploy.asl.json <<'EOF'
{
  "StartAt": "Build",
  "States": {
    "Build": {
      "Type": "Task", "Resource": "stepgate:command",
      "Parameters": {"command": ["sh", "-c", "printf '{\"files\": %s, \"readme\": \"%s\"}' \"$(find . -type f | wc -l)\" \"$(head -1 README)\""]},
      "ResultPath": "$.build", "TimeoutSeconds": 60, "Next": "Deploy"},
    "Deploy": {"Type": "Pass", "Parameters": {"deployed.$": "$.new", "to.$": "$.environment", "by.$": "$.pusher", "build.$": "$.build"}, "End": true}
  }
}
EOF
echo "hello" > README
git add -A && git commit -qm "Add the stepgate configuration"
say "The first push brings the configuration (nothing is trusted yet, so nothing runs)"
step git push -q origin main

say "A broken workflow is rejected at FILE:LINE:COL"
cat > .stepgate/workflows/release.asl.json <<'EOF'
{
  "StartAt": "Tag",
  "States": {
    "Tag": {"Type": "Pass", "Next": "Publish"}
  }
}
EOF
git add -A && git commit -qm "Add a release workflow"
if step git push -q origin main; then echo "unexpected: accepted"; status=1; fi
git reset -q --hard HEAD~1

say "The push gate of the trusted configuration rejects a push, with its cause"
echo "half done" > notes.txt
git add -A && git commit -qm "WIP: notes"
if step git push -q origin main; then echo "unexpected: accepted"; status=1; fi
git commit -q --amend -m "Add notes"

say "An accepted push starts the deploy workflow in the background (post-receive)"
step git push -q origin main
cd "$root"
for _ in $(seq 1 100); do
  running=$("$bin" executions list --store "$store" --status RUNNING --format json 2>/dev/null)
  [ "$running" = "[]" ] && break
  sleep 0.1
done

say "The hooks' executions: gates and push workflows, durable in $store"
step "$bin" executions list --store "$store" || status=1
deploy=$("$bin" executions list --store "$store" --format json | python3 -c 'import json,sys; print(next(e["id"] for e in json.load(sys.stdin) if e["workflow"] == "deploy"))')
refused=$("$bin" executions list --store "$store" --status FAILED --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
say "The gate that refused the WIP push"
step "$bin" executions show "$refused" --store "$store" || status=1
say "The deploy started by post-receive"
step "$bin" executions show "$deploy" --store "$store" || status=1
say "Every task run is in the hash-chained audit log"
step "$bin" audit verify --store "$store" || status=1

say "Part 2: the engine examples, each a durable execution"
store="sqlite://$state/examples.db"
for def in examples/*.asl.json examples/*.asl.yaml; do
  [ -f "$def" ] || continue
  base=${def%.asl.*}
  echo "--- $def"
  "$bin" validate "$def" || { status=1; continue; }
  input='{}'
  [ -f "$base.input.json" ] && input=$(cat "$base.input.json")
  "$bin" executions start --definition "$def" --input "$input" --store "$store"
  rc=$?
  # An example may end in a Fail state on purpose; only bad input or a store error (2+) is an error.
  [ $rc -le 1 ] || status=1
done
echo
"$bin" executions list --store "$store" || status=1
"$bin" audit verify --store "$store" || status=1
exit $status
