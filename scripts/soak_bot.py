#!/usr/bin/env python3
"""Fault-and-crash soak of the bot: the real `stepgate bot` (as a service) against Tests/Fakes/gerrit_fake.py, with
real git repositories and a real SQLite store, while the fake faults a share of the bot's requests at random and the
bot is SIGKILLed now and then, some of the kills while the server holds the bot's review POST (it applies it a few
seconds later, as a slow server does after its client has gone).

    python3 scripts/soak_bot.py [--binary .build/release/stepgate] [--changes 60] [--duration 180] [--fault-rate 0.2]
                                [--kills 5] [--held-kills 2] [--hold 4] [--seed 1] [--json FILE]

Every change gets one patch set and a Code-Review+2 vote, spread over `--duration` seconds; every tenth change gets
a second patch set (and a vote on it) a little later. Passes (exit 0) when every voted current patch set got exactly
one report and no patch set got two; prints the figures (and writes them as JSON with --json). Python standard
library only; every child process is stopped at the end.
"""
import argparse, json, os, random, shutil, signal, sqlite3, statistics, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from botworld import control, git  # noqa: E402
FAKE = os.path.join(ROOT, "Tests", "Fakes", "gerrit_fake.py")


class Soak:
    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="stepgate-soak-")
        self.rng = random.Random(args.seed)
        self.bot = None
        self.incarnation = 0
        self.kills = []
        self.voted = {}  # (change, patch set) -> time of the vote

    # ---- world -------------------------------------------------------------------------------------------------
    def start_fake(self):
        self.fake = subprocess.Popen(
            [sys.executable, FAKE, "--port", "0", "--state-file", os.path.join(self.tmp, "fake.json"), "--exit-on-stdin-eof"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.base = "http://127.0.0.1:%d" % int(self.fake.stdout.readline())

    def make_world(self):
        self.work, self.served = os.path.join(self.tmp, "work"), os.path.join(self.tmp, "served", "demo")
        git("init", "-q", "-b", "main", self.work)
        os.makedirs(os.path.join(self.work, ".stepgate", "workflows"))
        with open(os.path.join(self.work, ".stepgate", "stepgate.yaml"), "w") as f:
            f.write("version: 1\nworkflows:\n  check:\n    definition: workflows/check.asl.json\n"
                    "    on:\n      gerrit: {labels: {Code-Review: 2}, branches: [main]}\n    report: {vote: Verified}\n")
        with open(os.path.join(self.work, ".stepgate", "workflows", "check.asl.json"), "w") as f:
            f.write('{"StartAt": "Check", "States": {"Check": {"Type": "Task", "Resource": "stepgate:command",'
                    ' "Parameters": {"command": ["sh", "-c", "sleep 0.5; printf \'{\\"ok\\": true}\'"]}, "End": true}}}\n')
        self.commit("trusted configuration")
        git("init", "-q", "--bare", self.served)
        git("-C", self.work, "push", "-q", self.served, "main:refs/heads/main")
        control(self.base, "POST", "projects", {"name": "demo", "git": self.served})
        control(self.base, "POST", "accounts", {"username": "stepbot", "http_password": "secret"})
        control(self.base, "POST", "accounts", {"username": "alice"})
        control(self.base, "POST", "accounts", {"username": "bob"})
        pw = os.path.join(self.tmp, "pw")
        with open(pw, "w") as f:
            f.write("secret\n")
        self.store = os.path.join(self.tmp, "stepgate.db")
        self.config = os.path.join(self.tmp, "bot.yaml")
        with open(self.config, "w") as f:
            f.write("store: sqlite://%s\ngerrit:\n  - name: review\n    url: %s\n    git-url: file://%s/served\n"
                    "    username: stepbot\n    password-file: %s\n    projects: [demo]\n    poll-interval: 1s\n"
                    "    overlap: 30s\n    request-timeout: %ds\nrepositories:\n  demo: {path: %s/mirror.git, gerrit-project: demo}\n"
                    % (self.store, self.base, self.tmp, pw, self.args.request_timeout, self.tmp))

    def commit(self, message):
        git("-C", self.work, "add", "-A")
        git("-C", self.work, "-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-q", "-m", message)

    def upload(self, change, patch_set):
        git("-C", self.work, "checkout", "-q", "-B", "c%d" % change, "main")
        with open(os.path.join(self.work, "src-%d.txt" % change), "w") as f:
            f.write("change %d, patch set %d\n" % (change, patch_set))
        self.commit("change %d patch set %d" % (change, patch_set))
        git("-C", self.work, "push", "-q", "-f", self.served, "HEAD:refs/changes/%02d/%d/%d" % (change % 100, change, patch_set))
        if patch_set == 1:
            control(self.base, "POST", "changes", {"project": "demo", "subject": "change %d" % change, "owner": "alice"})
        else:
            control(self.base, "POST", "changes/%d/patchsets" % change, {})
        control(self.base, "POST", "changes/%d/votes" % change, {"account": "bob", "label": "Code-Review", "value": 2})
        self.voted[(change, patch_set)] = time.time()

    # ---- the bot -----------------------------------------------------------------------------------------------
    def start_bot(self):
        self.incarnation += 1
        log = open(os.path.join(self.tmp, "bot-%d.log" % self.incarnation), "w")
        self.bot = subprocess.Popen([self.args.binary, "bot", "--config", self.config, "--log-level", "info"],
                                    stdout=subprocess.DEVNULL, stderr=log)

    def kill_bot(self, why):
        self.bot.send_signal(signal.SIGKILL)
        self.bot.wait()
        self.kills.append(why)
        self.start_bot()

    def held_kill(self):
        """Holds the next review POST for --hold seconds (then the server applies it) and kills the bot meanwhile."""
        seen = len(control(self.base, "GET", "requests?path=/review"))
        control(self.base, "POST", "faults", {"kind": "hang", "seconds": self.args.hold, "path": "/review$", "method": "POST"})
        deadline = time.time() + 60
        while time.time() < deadline:
            held = [r for r in control(self.base, "GET", "requests?path=/review")[seen:] if r.get("fault") == "hang"]
            if held:
                time.sleep(0.3)
                self.kill_bot("while the server held a review POST")
                return True
            time.sleep(0.1)
        control(self.base, "DELETE", "faults")
        return False

    # ---- the run -----------------------------------------------------------------------------------------------
    def run(self):
        a = self.args
        began = time.time()
        self.start_fake()
        self.make_world()
        control(self.base, "POST", "chaos", {"rate": a.fault_rate, "seed": a.seed, "hang": [2, 8]})
        self.start_bot()
        events = [(a.duration * (i + 0.5) / a.changes, "upload", i + 1, 1) for i in range(a.changes)]
        events += [(a.duration * (i + 0.5) / a.changes + a.duration / a.changes * 3, "upload", i + 1, 2)
                   for i in range(a.changes) if (i + 1) % 10 == 0]
        plain = a.kills - a.held_kills
        events += [(a.duration * (k + 1) / (plain + 1) + self.rng.uniform(-2, 2), "kill", 0, 0) for k in range(plain)]
        # A held kill comes right after an upload, whose report will be posted soon.
        for k in range(a.held_kills):
            i = min(a.changes - 1, int(a.changes * (k + 0.5) / a.held_kills))
            events.append((a.duration * (i + 0.5) / a.changes + 0.01, "held-kill", 0, 0))
        events.sort()
        start = time.time()
        for at, kind, change, patch_set in events:
            wait = start + at - time.time()
            if wait > 0:
                time.sleep(wait)
            if kind == "upload":
                self.upload(change, patch_set)
            elif kind == "kill":
                self.kill_bot("at random")
            else:
                self.held_kill()
        control(self.base, "DELETE", "chaos")
        settle_deadline = time.time() + a.drain
        while time.time() < settle_deadline and (self.unreported() or self.unsettled()):
            time.sleep(1)
        self.bot.send_signal(signal.SIGTERM)
        try:
            self.bot.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.bot.kill()
        return self.figures(time.time() - began)

    def reports(self):
        """The bot's reports per (change, patch set): reviews carrying an execution's mark."""
        out = {}
        for r in control(self.base, "GET", "reviews"):
            message = (r.get("input") or {}).get("message") or ""
            if r.get("account") == "stepbot" and "\nExecution: " in "\n" + message:
                out.setdefault((r["change"], r["patch_set"]), []).append(r)
        return out

    def current_voted(self):
        current = {}
        for change, patch_set in self.voted:
            current[change] = max(current.get(change, 0), patch_set)
        return {(c, p) for c, p in current.items()}

    def unreported(self):
        reports = self.reports()
        return [k for k in self.current_voted() if k not in reports]

    def unsettled(self):
        """Reports the store still has to post or to find on the server."""
        db = sqlite3.connect(self.store, timeout=10)
        try:
            return db.execute("SELECT COUNT(*) FROM bot_reports WHERE state IN ('pending', 'posting')").fetchone()[0]
        except sqlite3.Error:
            return 1
        finally:
            db.close()

    def figures(self, wall):
        reports = self.reports()
        duplicates = {k: len(v) for k, v in reports.items() if len(v) > 1}
        lost = sorted(self.unreported())
        requests = control(self.base, "GET", "requests")
        faulted = [r for r in requests if r.get("fault")]
        latencies = sorted(min(r["time"] for r in reports[k]) - self.voted[k] for k in self.current_voted() if k in reports)
        db = sqlite3.connect(self.store)
        states = dict(db.execute("SELECT state, COUNT(*) FROM bot_reports GROUP BY state").fetchall())
        db.close()
        def pct(p):
            return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2) if latencies else None
        return {
            "changes": self.args.changes, "patch_sets_voted": len(self.voted), "current_patch_sets": len(self.current_voted()),
            "reports": sum(len(v) for v in reports.values()), "patch_sets_with_two_reports": len(duplicates),
            "current_patch_sets_unreported": len(lost), "unreported": lost[:10],
            "kills": len(self.kills), "kills_while_a_post_was_held": sum(1 for k in self.kills if "held" in k),
            "bot_requests": len(requests), "faulted_requests": len(faulted),
            "fault_share": round(len(faulted) / max(1, len(requests)), 3),
            "faults_by_kind": {k: sum(1 for r in faulted if r["fault"] == k) for k in sorted({r["fault"] for r in faulted})},
            "vote_to_report_seconds": {"p50": pct(0.5), "p95": pct(0.95), "max": round(latencies[-1], 2) if latencies else None},
            "report_states": states, "wall_seconds": round(wall, 1),
        }

    def stop(self):
        for p in (self.bot, getattr(self, "fake", None)):
            if p and p.poll() is None:
                p.kill()
                p.wait()
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "debug", "stepgate"))
    ap.add_argument("--changes", type=int, default=60)
    ap.add_argument("--duration", type=float, default=180, help="seconds over which the changes are uploaded")
    ap.add_argument("--fault-rate", type=float, default=0.2)
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--held-kills", type=int, default=2)
    ap.add_argument("--hold", type=float, default=4, help="seconds the server holds a review POST before applying it")
    ap.add_argument("--request-timeout", type=int, default=6)
    ap.add_argument("--drain", type=float, default=240, help="seconds allowed after the last upload for the reports")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, store, repositories)")
    args = ap.parse_args()
    soak = Soak(args)
    try:
        figures = soak.run()
    finally:
        soak.stop()
    print(json.dumps(figures, indent=1, sort_keys=True))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1, sort_keys=True)
    ok = figures["patch_sets_with_two_reports"] == 0 and figures["current_patch_sets_unreported"] == 0
    print("soak: %s: %d reports for %d current patch sets, %d duplicated, %d unreported; %d kills (%d while a POST was held); "
          "%.0f%% of %d requests faulted" % ("PASS" if ok else "FAIL", figures["reports"], figures["current_patch_sets"],
                                            figures["patch_sets_with_two_reports"], figures["current_patch_sets_unreported"],
                                            figures["kills"], figures["kills_while_a_post_was_held"],
                                            100 * figures["fault_share"], figures["bot_requests"]), file=sys.stderr)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
