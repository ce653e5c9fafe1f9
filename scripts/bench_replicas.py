#!/usr/bin/env python3
"""Replica bench: triggers handled per second by 1 bot on SQLite, and by 1 and 3 bot replicas sharing PostgreSQL.

Each run: a fresh store, N open Gerrit changes on the fake (Tests/Fakes/gerrit_fake.py), R `stepgate bot`
processes (each with its own mirror and work directory), then a Code-Review+2 vote on every change at once; the
figure is N divided by the time from the votes until the fake holds N reviews (trigger, run, report). The workflow
is one Pass state, so the figure is the bot's own throughput. Needs STEPGATE_TEST_POSTGRES (make bench runs this
through scripts/with-test-servers.sh).

    python3 scripts/bench_replicas.py [--binary .build/release/stepgate] [--changes 60]

Python standard library only. Every child process is stopped at the end.
"""
import argparse, os, subprocess, sys, tempfile, time, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_bot import ROOT, control, make_world, stop  # noqa: E402


def run(binary, changes, replicas, store):
    tmp = tempfile.mkdtemp(prefix="stepgate-bench-replicas-")
    fake = subprocess.Popen([sys.executable, os.path.join(ROOT, "Tests", "Fakes", "gerrit_fake.py"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    bots = []
    try:
        base = "http://127.0.0.1:%d" % int(fake.stdout.readline())
        _, _, cfg = make_world(tmp, base, changes, "10s")
        template = open(cfg).read().replace("poll-interval: 1s", "poll-interval: 200ms")
        if store != "sqlite":
            template = template.replace("store: sqlite://%s/stepgate.db" % tmp, "store: %s" % store)
        for n in range(replicas):
            path = os.path.join(tmp, "bot-%d.yaml" % n)
            with open(path, "w") as f:
                f.write(template.replace("%s/mirror.git" % tmp, "%s/mirror-%d.git" % (tmp, n))
                        + "work-directory: %s/work-%d\n" % (tmp, n))
            os.makedirs(os.path.join(tmp, "work-%d" % n))
            log = open(os.path.join(tmp, "bot-%d.log" % n), "w")
            bots.append(subprocess.Popen([binary, "bot", "--config", path, "--log-level", "error"],
                                         stdout=subprocess.DEVNULL, stderr=log))
        time.sleep(2)  # the first polls (nothing voted yet) and mirrors made
        t0 = time.time()
        for i in range(1, changes + 1):
            control(base, "POST", "changes/%d/votes" % i, {"account": "alice", "label": "Code-Review", "value": 2})
        while True:
            reviews = control(base, "GET", "reviews")
            if len(reviews) >= changes:
                break
            if time.time() - t0 > 300:
                raise SystemExit("bench_replicas: %d of %d changes reviewed after 300 s" % (len(reviews), changes))
            time.sleep(0.05)
        wall = time.time() - t0
        per_change = {}
        for r in reviews:
            per_change[r["change"]] = per_change.get(r["change"], 0) + 1
        duplicates = sum(1 for v in per_change.values() if v > 1)
        return wall, duplicates
    finally:
        stop(bots + [fake])
        subprocess.run(["rm", "-rf", tmp])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "stepgate"))
    ap.add_argument("--changes", type=int, default=60)
    a = ap.parse_args()
    postgres = os.environ.get("STEPGATE_TEST_POSTGRES")
    if not postgres:
        raise SystemExit("bench_replicas: STEPGATE_TEST_POSTGRES is not set; run it through scripts/with-test-servers.sh")
    for label, replicas, store in [("SQLite, 1 bot", 1, "sqlite"),
                                   ("PostgreSQL, 1 replica", 1, None),
                                   ("PostgreSQL, 3 replicas", 3, None)]:
        if store is None:
            store = postgres + ("&" if "?" in postgres else "?") + "schema=bench_" + uuid.uuid4().hex[:8]
        wall, duplicates = run(a.binary, a.changes, replicas, store)
        print("%s: %d votes → %d reviews in %.2f s: %.1f triggers/s (duplicated reviews: %d)"
              % (label, a.changes, a.changes, wall, a.changes / wall, duplicates))


if __name__ == "__main__":
    main()
