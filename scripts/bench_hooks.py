#!/usr/bin/env python3
"""Pushes to a repository with 100,000 commits, as a server admin measures hooks: whole `git push`
times over the local transport with no hook, with a typical shell validation hook, and with
stepgate's hooks (a push gate and a workflow file in .stepgate/), for a 1-commit and a
10,000-commit push, side by side in one run; then stepgate's own scan of the 10,000 commits
against `git log --name-status` over the same range, and the hook's peak memory.

Targets: a 1-commit push costs at most 10 ms more with stepgate than with no hook; a 10,000-commit
push is accepted under the default 5 s budget, its scan costing at most 1.5x `git log
--name-status`; memory flat in the number of commits.
"""
import argparse, json, os, platform, shutil, statistics, subprocess, sys, tempfile, time

ZERO = "0" * 40

GATE = {
    "StartAt": "Check",
    "States": {
        "Check": {"Type": "Choice", "Choices": [
            {"Variable": "$.commits[0].message", "StringMatches": "WIP*", "Next": "Deny"}], "Default": "Ok"},
        "Deny": {"Type": "Fail", "Error": "Policy.NoWIP", "Cause": "a commit says WIP"},
        "Ok": {"Type": "Succeed"},
    },
}
DEPLOY = {"StartAt": "Build", "States": {"Build": {"Type": "Pass", "Result": {"built": True}, "End": True}}}
CONFIG = """version: 1
workflows:
  commit-policy:
    definition: workflows/gate.asl.json
    on:
      pre-receive: {refs: [refs/heads/main]}
  deploy:
    definition: workflows/deploy.asl.json
"""

SHELL_HOOK = r"""#!/bin/sh
# A typical validation hook: every pushed commit's changed files; JSON under .stepgate/ checked.
while read old new ref; do
  [ "$new" = 0000000000000000000000000000000000000000 ] && continue
  if [ "$old" = 0000000000000000000000000000000000000000 ]; then range="$new"; else range="$old..$new"; fi
  for c in $(git rev-list "$range"); do
    for f in $(git diff-tree --no-commit-id --name-only -r "$c" -- .stepgate); do
      case "$f" in *.json)
        git cat-file blob "$c:$f" | python3 -m json.tool > /dev/null || { echo "invalid $f in $c" >&2; exit 1; } ;;
      esac
    done
  done
done
exit 0
"""

ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="Bench", GIT_AUTHOR_EMAIL="bench@example.org",
           GIT_COMMITTER_NAME="Bench", GIT_COMMITTER_EMAIL="bench@example.org", LC_ALL="C")


def git(*args, cwd=None, stdin=None, check=True):
    r = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, env=ENV)
    if check and r.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {r.stderr.decode(errors='replace')}")
    return r.stdout.decode().strip()


def fast_import(repo, ref, parent, count, start, prefix):
    """`count` commits on `ref` after `parent`, each changing one of 1,000 files."""
    out = [f"reset {ref}\n"]
    if parent:
        out.append(f"from {parent}\n")
    for i in range(count):
        n = start + i
        content = f"{prefix} {n}\n".encode()
        msg = f"{prefix} commit {n}".encode()
        out.append(f"commit {ref}\ncommitter Bench <bench@example.org> {1_600_000_000 + n} +0000\n")
        out.append(f"data {len(msg)}\n")
        out.append(msg.decode() + "\n")
        out.append(f"M 100644 inline data/{n % 1000}.txt\ndata {len(content)}\n{content.decode()}\n")
    git("fast-import", "--quiet", cwd=repo, stdin="".join(out).encode())


def make_base(work, commits):
    """A bare repository whose main has `commits` commits, the last one adding .stepgate/."""
    base = os.path.join(work, f"base-{commits}.git")
    if os.path.exists(os.path.join(base, "stepgate-bench-ready")):
        return base
    shutil.rmtree(base, ignore_errors=True)
    seed = os.path.join(work, "seed")
    shutil.rmtree(seed, ignore_errors=True)
    git("init", "-q", "-b", "main", seed)
    started = time.perf_counter()
    fast_import(seed, "refs/heads/main", None, commits - 1, 0, "base")
    git("checkout", "-q", "main", cwd=seed)
    os.makedirs(os.path.join(seed, ".stepgate/workflows"))
    with open(os.path.join(seed, ".stepgate/stepgate.yaml"), "w") as f:
        f.write(CONFIG)
    with open(os.path.join(seed, ".stepgate/workflows/gate.asl.json"), "w") as f:
        json.dump(GATE, f, indent=2)
    with open(os.path.join(seed, ".stepgate/workflows/deploy.asl.json"), "w") as f:
        json.dump(DEPLOY, f, indent=2)
    git("add", "-A", cwd=seed)
    git("commit", "-q", "-m", "stepgate configuration", cwd=seed)
    git("clone", "-q", "--bare", seed, base)
    git("gc", "-q", cwd=base)
    shutil.rmtree(seed)
    open(os.path.join(base, "stepgate-bench-ready"), "w").close()
    print(f"  made {base} ({commits:,} commits) in {time.perf_counter() - started:.1f} s", flush=True)
    return base


def median(xs):
    return statistics.median(xs)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def install(server, mode, bindir):
    if mode == "shell":
        path = os.path.join(server, "hooks", "pre-receive")
        with open(path, "w") as f:
            f.write(SHELL_HOOK)
        os.chmod(path, 0o755)
    elif mode == "stepgate":
        r = subprocess.run([os.path.join(bindir, "stepgate"), "hooks", "install", server], capture_output=True, env=ENV)
        if r.returncode != 0:
            raise SystemExit(f"stepgate hooks install failed: {r.stderr.decode()}")


def push(work, base, client, branch, mode, bindir, run):
    server = os.path.join(work, f"srv-{mode}-{branch}-{run}.git")
    shutil.rmtree(server, ignore_errors=True)
    git("clone", "-q", "--bare", "--shared", base, server)
    install(server, mode, bindir)
    t = time.perf_counter()
    r = subprocess.run(["git", "push", "-q", server, f"{branch}:refs/heads/main"], cwd=client, capture_output=True, env=ENV)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"the {mode} push of {branch} was rejected: {r.stderr.decode(errors='replace')}")
    return elapsed, server


def run_hook_directly(hook, server, line):
    """The pre-receive hook run by hand on a pushed range: seconds and peak RSS (KiB)."""
    env = dict(ENV, GIT_DIR=server)
    t = time.perf_counter()
    p = subprocess.Popen([hook, "pre-receive"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    p.stdin.write(line.encode())
    p.stdin.close()
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - t
    err = p.stderr.read().decode()
    if status != 0:
        raise SystemExit(f"stepgate-hook pre-receive failed: {err}")
    return elapsed, usage.ru_maxrss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=".build/release", help="directory with stepgate and stepgate-hook")
    ap.add_argument("--commits", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "stepgate-bench-hooks"))
    args = ap.parse_args()
    bindir = os.path.abspath(args.bin)
    hook = os.path.join(bindir, "stepgate-hook")
    for b in ("stepgate", "stepgate-hook"):
        if not os.access(os.path.join(bindir, b), os.X_OK):
            raise SystemExit(f"{bindir}/{b} is not built (make release)")
    os.makedirs(args.work, exist_ok=True)
    print(f"hooks: a repository of {args.commits:,} commits, pushes over the local transport, median of {args.runs} runs "
          f"(10,000 commits: 3) on {platform.machine()}, {os.cpu_count()} cores", flush=True)
    base = make_base(args.work, args.commits)
    client = os.path.join(args.work, "client")
    shutil.rmtree(client, ignore_errors=True)
    git("clone", "-q", "--shared", base, client)
    tip = git("rev-parse", "HEAD", cwd=client)
    # One commit that edits a workflow file; 10,000 commits of code.
    git("checkout", "-q", "-b", "one", cwd=client)
    deploy = dict(DEPLOY)
    deploy["Comment"] = "one more"
    with open(os.path.join(client, ".stepgate/workflows/deploy.asl.json"), "w") as f:
        json.dump(deploy, f, indent=2)
    git("commit", "-q", "-am", "edit the deploy workflow", cwd=client)
    fast_import(client, "refs/heads/tenk", tip, 10_000, args.commits, "pushed")
    tenk = git("rev-parse", "tenk", cwd=client)

    results = {}
    for branch, runs in (("one", args.runs), ("tenk", 3)):
        for mode in ("none", "shell", "stepgate"):
            times = []
            for r in range(runs):
                elapsed, server = push(args.work, base, client, branch, mode, bindir, r)
                times.append(elapsed)
                if r < runs - 1 or not (branch == "tenk" and mode == "stepgate"):
                    shutil.rmtree(server)
                else:
                    results["tenk-server"] = server
            results[(branch, mode)] = median(times)
            print(f"  {branch:4} {mode:8} {median(times) * 1000:9.1f} ms  (runs: {', '.join(f'{t * 1000:.0f}' for t in times)})", flush=True)

    def row(branch, label):
        none, shell, sg = results[(branch, "none")], results[(branch, "shell")], results[(branch, "stepgate")]
        def fmt(x):
            return f"{x * 1000:.0f} ms" if x < 10 else f"{x:.1f} s"
        def add(x):
            d = x - none
            return f"+{d * 1000:.0f} ms" if abs(d) < 10 else f"+{d:.1f} s"
        return (f"| {label} | {fmt(none)} | {fmt(shell)} ({add(shell)}) | {fmt(sg)} ({add(sg)}) | "
                f"{(shell - none) / max(sg - none, 1e-4):.1f}x |")

    print()
    print("| push | no hook | typical shell validation hook | stepgate hooks | shell's cost / stepgate's |")
    print("|---|---|---|---|---|")
    print(row("one", "1 commit (edits a workflow file; a gate runs)"))
    print(row("tenk", "10,000 commits (a gate runs)"))
    added = (results[("one", "stepgate")] - results[("one", "none")]) * 1000
    print(f"1-commit push: stepgate adds {added:.1f} ms [target <= 10 ms]")

    # The scan alone: stepgate's pre-receive on the 10,000 pushed commits vs git log --name-status.
    server = results["tenk-server"]
    git("update-ref", "refs/heads/main", tip, cwd=server)
    line = f"{tip} {tenk} refs/heads/main\n"
    scans, rss_tenk = [], 0
    for _ in range(5):
        s, rss_tenk = run_hook_directly(hook, server, line)
        scans.append(s)
    logs = [timed(lambda: subprocess.run(["git", "log", "--name-status", f"{tip}..{tenk}"], cwd=server,
                                         stdout=subprocess.DEVNULL, env=ENV, check=True)) for _ in range(5)]
    one = git("rev-parse", "one", cwd=client)
    git("fetch", "-q", client, "one:refs/bench/one", cwd=server)
    _, rss_one = run_hook_directly(hook, server, f"{tip} {one} refs/heads/main\n")
    scan, log = median(scans), median(logs)
    print(f"10,000-commit scan: stepgate-hook pre-receive {scan * 1000:.0f} ms (whole process, gate included) vs "
          f"git log --name-status {log * 1000:.0f} ms = {scan / log:.2f}x [target <= 1.5x]")
    print(f"peak memory of pre-receive: 1 commit {rss_one / 1024:.1f} MiB, 10,000 commits {rss_tenk / 1024:.1f} MiB "
          f"[flat in the number of commits]")
    shutil.rmtree(server, ignore_errors=True)


if __name__ == "__main__":
    main()
