#!/usr/bin/env python3
"""Bot bench (issue 5): drives the real `stepgate bot` binary against Tests/Fakes/gerrit_fake.py.

1. One poll cycle over N open changes (default 5,000): requests made, wall and CPU time, peak RSS of the bot.
2. Vote-to-start latency with a 1 s poll interval: a Code-Review+2 vote is cast, the time until the execution's
   row appears in the store (the workflow's first transition) is measured; p50/p95 over R rounds.

    python3 scripts/bench_bot.py [--binary .build/release/stepgate] [--changes 5000] [--rounds 20]

Python standard library only. Every child process is stopped at the end.
"""
import argparse, json, os, resource, signal, sqlite3, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from botworld import control, git  # noqa: E402


def make_world(tmp, base, changes, overlap):
    work = os.path.join(tmp, "work")
    git("init", "-q", "-b", "main", work)
    os.makedirs(os.path.join(work, ".stepgate", "workflows"))
    with open(os.path.join(work, ".stepgate", "stepgate.yaml"), "w") as f:
        f.write("version: 1\nworkflows:\n  check:\n    definition: workflows/check.asl.json\n"
                "    on:\n      gerrit: {labels: {Code-Review: 2}}\n")
    with open(os.path.join(work, ".stepgate", "workflows", "check.asl.json"), "w") as f:
        f.write('{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}\n')
    git("-C", work, "add", "-A")
    git("-C", work, "-c", "user.name=B", "-c", "user.email=b@x", "commit", "-q", "-m", "init")
    # The fake keeps the project's repository and writes a real commit for each change's patch set on main's tip.
    served = control(base, "POST", "projects", {"name": "demo"})["git"]
    git("init", "-q", "--bare", served)
    git("-C", work, "push", "-q", served, "main:refs/heads/main")
    control(base, "POST", "accounts", {"username": "stepbot", "http_password": "secret"})
    control(base, "POST", "accounts", {"username": "alice"})
    for i in range(changes):
        control(base, "POST", "changes", {"project": "demo", "subject": "c%d" % i, "owner": "alice", "files": ["f%d" % i]})
    pw = os.path.join(tmp, "pw")
    with open(pw, "w") as f:
        f.write("secret\n")
    cfg = os.path.join(tmp, "bot.yaml")
    with open(cfg, "w") as f:
        f.write("store: sqlite://%s/stepgate.db\ngerrit:\n  - name: review\n    url: %s\n    git-url: file://%s\n"
                "    username: stepbot\n    password-file: %s\n    projects: [demo]\n    poll-interval: 1s\n    overlap: %s\n"
                "repositories:\n  demo: {path: %s/mirror.git, gerrit-project: demo}\n"
                % (tmp, base, os.path.dirname(served), pw, overlap, tmp))
    return work, served, cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "debug", "stepgate"))
    ap.add_argument("--changes", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--overlap", type=int, default=10,
                    help="the bot's overlap window in seconds; the latency phase starts once the 5,000 changes are older")
    a = ap.parse_args()
    if not os.access(a.binary, os.X_OK):
        sys.exit("bench_bot: missing %s (build it first)" % a.binary)
    tmp = tempfile.mkdtemp(prefix="stepgate-bench-bot-")
    fake = subprocess.Popen([sys.executable, os.path.join(ROOT, "Tests", "Fakes", "gerrit_fake.py"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    bot = None
    try:
        base = "http://127.0.0.1:%d" % int(fake.stdout.readline())
        t0 = time.time()
        work, served, cfg = make_world(tmp, base, a.changes, "%ds" % a.overlap)
        print("setup: %d changes in %.1f s" % (a.changes, time.time() - t0))

        # 1. One cycle over every open change.
        control(base, "DELETE", "requests")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.time()
        subprocess.run([a.binary, "bot", "--config", cfg, "--once", "--log-level", "error"], check=True,
                       stdout=subprocess.DEVNULL)
        wall = time.time() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        requests = control(base, "GET", "requests")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print("poll cycle over %d open changes: %d requests, wall %.2f s, CPU %.2f s, peak RSS %.1f MiB"
              % (a.changes, len(requests), wall, cpu, after.ru_maxrss / 1024.0))

        # 2. Vote → execution start latency with a 1 s poll interval.
        botlog = open(os.path.join(tmp, "bot.log"), "w")
        bot = subprocess.Popen([a.binary, "bot", "--config", cfg, "--log-level", os.environ.get("BENCH_LOG", "error")],
                               stdout=subprocess.DEVNULL, stderr=botlog)
        db = os.path.join(tmp, "stepgate.db")
        # The first cycle handles every change; after the overlap window has passed, polls see only
        # what changed since (as on a real server, where 5,000 changes were not all touched just now).
        time.sleep(max(3, a.overlap + 1))
        latencies = []
        for r in range(a.rounds):
            number = r + 1
            n0 = sqlite3.connect(db).execute("SELECT COUNT(*) FROM executions").fetchone()[0]
            t0 = time.time()
            control(base, "POST", "changes/%d/votes" % number, {"account": "alice", "label": "Code-Review", "value": 2})
            while True:
                n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM executions").fetchone()[0]
                if n > n0:
                    break
                if time.time() - t0 > 30:
                    sys.stderr.write(open(os.path.join(tmp, "bot.log")).read()[-3000:])
                    raise SystemExit("bench_bot: no execution started within 30 s")
                time.sleep(0.01)
            latencies.append(time.time() - t0)
            time.sleep(0.3 + (r % 7) * 0.1)  # spread votes across the poll phase
        latencies.sort()
        p = lambda q: latencies[min(len(latencies) - 1, int(round(q * (len(latencies) - 1))))]
        print("vote → execution start (poll-interval 1s, overlap %ds, %d open changes, %d rounds): p50 %.3f s, p95 %.3f s, "
              "max %.3f s (target p95 < 1.5 s)" % (a.overlap, a.changes, len(latencies), p(0.5), p(0.95), latencies[-1]))
    finally:
        stop([bot, fake])
        subprocess.run(["rm", "-rf", tmp])


def stop(processes):
    """SIGTERM, then SIGKILL after 10 s, for every process still running."""
    for proc in processes:
        if proc and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
