#!/usr/bin/env python3
"""End-to-end scenarios of the stepgate bot against a running Phorge (`make phorge-check`).

    python3 scripts/phorge_check.py --url URL --admin-token T --author-token T --reviewer-token T --bot-token T \
        --phorge-root DIR [--arc PATH] [--binary PATH]

Accounts come from Phorge's own account tools (see bot/phorge.md); their Conduit tokens are the arguments. The admin
must be an administrator (repositories and build plans), the bot a bot account. Everything else is created here, over
Conduit where Phorge offers a call, with Phorge's own scripts on this host (`--phorge-root`) where it does not:

  set-up     bin/config (HTTP git access, loopback HTTP for the build step), VCS passwords, a hosted repository whose
             default branch `main` holds .stepgate/ (pushed over HTTP), the bot's build plan with a "Make HTTP Request"
             step waiting for a message and a Herald rule running it on the repository's revisions, as bot/phorge.md
             tells an operator
  arc        a revision made with `arc diff`, accepted: exactly one bot comment, the task's finding as a lint message
             at its path and line on the bot's own build target; a second cycle posts nothing
  raw        a revision from `differential.createrawdiff`: a report within two cycles, applied onto main's tip
  supersede  a new diff cancels the running execution (one notice); abandoning cancels it
  sigkill    the bot SIGKILLed between sending results and commenting posts exactly one comment after restart

Exit 0 when every scenario passed; 1 when one failed; 2 when no Phorge answers or the set-up cannot be done.
"""

import argparse
import base64
import http.server
import json
import os
import random
import re
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class CheckError(Exception):
    pass


def say(line):
    print(line, flush=True)


# ---- Conduit ---------------------------------------------------------------------------------------------------

class Conduit:
    def __init__(self, url, token):
        self.url = url.rstrip("/") + "/api/"
        self.token = token

    def __call__(self, method, params=None):
        body = dict(params or {})
        body["__conduit__"] = {"token": self.token}
        data = urllib.parse.urlencode({"params": json.dumps(body), "output": "json"}).encode()
        try:
            with urllib.request.urlopen(self.url + method, data, timeout=60) as answer:
                envelope = json.loads(answer.read())
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise CheckError("%s: no answer from %s (%s)" % (method, self.url, e))
        if envelope.get("error_code"):
            raise CheckError("%s: %s %s" % (method, envelope["error_code"], envelope.get("error_info")))
        return envelope.get("result")

    def search(self, method, constraints, **extra):
        params = dict(extra, constraints=constraints)
        return self(method, params)["data"]


def wait_for(what, probe, seconds=30.0, interval=0.5):
    deadline = time.time() + seconds
    while True:
        value = probe()
        if value:
            return value
        if time.time() > deadline:
            raise CheckError("timed out waiting for %s" % what)
        time.sleep(interval)


# ---- the world on the Phorge -----------------------------------------------------------------------------------

WORKFLOW = {
    "StartAt": "Lint",
    "States": {
        "Lint": {"Type": "Task", "Resource": "stepgate:command",
                 "Parameters": {"command": ["sh", "-c",
                                            "printf '{\"findings\":[{\"path\":\"src/a.txt\",\"line\":2,"
                                            "\"message\":\"no tabs\",\"severity\":\"warning\"}]}'"]},
                 "ResultPath": "$.lint", "Next": "Slow?"},
        "Slow?": {"Type": "Choice",
                  "Choices": [{"Variable": "$.revision.title", "StringMatches": "slow*", "Next": "Gate"}],
                  "Default": "Done"},
        "Gate": {"Type": "Task", "Resource": "stepgate:approval",
                 "Parameters": {"approvers": ["nobody-approves-this"], "message": "hold"},
                 "TimeoutSeconds": 3600, "End": True},
        "Done": {"Type": "Succeed"},
    },
}
STEPGATE_YAML = """version: 1
workflows:
  check:
    definition: workflows/check.asl.json
    on:
      phabricator: {status: [accepted]}
"""


class Check:
    def __init__(self, args):
        self.args = args
        self.url = args.url.rstrip("/")
        self.admin = Conduit(self.url, args.admin_token)
        self.author = Conduit(self.url, args.author_token)
        self.reviewer = Conduit(self.url, args.reviewer_token)
        self.bot = Conduit(self.url, args.bot_token)
        self.dir = None
        self.suffix = "".join(random.choice(string.ascii_uppercase) for _ in range(6))
        self.results = []

    # -- helpers
    def phorge(self, *argv):
        done = subprocess.run([os.path.join(self.args.phorge_root, "bin", argv[0])] + list(argv[1:]),
                              capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise CheckError("bin/%s failed: %s" % (" ".join(argv), (done.stderr or done.stdout).strip()[-400:]))
        return done.stdout

    def setup_php(self, *argv):
        done = subprocess.run(["php", os.path.join(HERE, "phorge", "setup.php"), self.args.phorge_root] + list(argv),
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise CheckError("setup.php %s failed: %s" % (argv[0], (done.stderr or done.stdout).strip()[-400:]))
        return json.loads(done.stdout)

    def git(self, *argv, cwd=None, env=None):
        done = subprocess.run(["git"] + list(argv), cwd=cwd or self.work, capture_output=True, text=True,
                              env=dict(os.environ, **(env or {})), timeout=120)
        if done.returncode != 0:
            raise CheckError("git %s failed: %s" % (" ".join(argv[:2]), done.stderr.strip()[-400:]))
        return done.stdout.strip()

    def write(self, path, text):
        full = os.path.join(self.work, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)

    def secret(self, name, value):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(value + "\n")
        os.chmod(path, 0o600)
        return path

    def record(self, name, ok, detail):
        self.results.append(ok)
        say("%s %s: %s" % ("PASS" if ok else "FAIL", name, detail))

    # -- set-up
    def ping(self):
        try:
            self.bot("conduit.ping")
        except CheckError as e:
            raise CheckError("no Phorge answers at %s: %s" % (self.url, e))
        self.names = {}
        for role, conduit in (("admin", self.admin), ("author", self.author), ("reviewer", self.reviewer),
                              ("bot", self.bot)):
            me = conduit("user.whoami")
            self.names[role] = me["userName"]
            setattr(self, role + "PHID", me["phid"])
        say("phorge-check: Phorge at %s answers; accounts %s" % (
            self.url, ", ".join("%s=%s" % kv for kv in sorted(self.names.items()))))

    def setup(self):
        self.dir = tempfile.mkdtemp(prefix="stepgate-phorge-check-")
        self.phorge("config", "set", "diffusion.allow-http-auth", "true")
        self.phorge("config", "set", "environment.append-paths", '["/usr/lib/git-core"]')
        self.phorge("config", "set", "security.outbound-blacklist", "[]")
        self.admin_password = "vcs-" + self.suffix.lower() + "-admin"
        self.bot_password = "vcs-" + self.suffix.lower() + "-bot"
        self.setup_php("vcs-password", self.names["admin"], self.admin_password)
        self.setup_php("vcs-password", self.names["bot"], self.bot_password)
        self.callsign = "SG" + self.suffix
        short = "stepgate-check-" + self.suffix.lower()
        created = self.admin("diffusion.repository.edit", {"transactions": [
            {"type": "vcs", "value": "git"}, {"type": "name", "value": "stepgate check " + self.suffix},
            {"type": "callsign", "value": self.callsign}, {"type": "shortName", "value": short},
            {"type": "defaultBranch", "value": "main"}, {"type": "status", "value": "active"}]})
        self.repo_phid = created["object"]["phid"]
        self.phorge("repository", "update", "r" + self.callsign)
        repo = self.bot.search("diffusion.repository.search", {"phids": [self.repo_phid]},
                               attachments={"uris": True})[0]
        uris = [u["fields"]["uri"]["effective"] for u in repo["attachments"]["uris"]["uris"]
                if u["fields"]["io"]["effective"] in ("read", "readwrite")
                and u["fields"]["uri"]["effective"].startswith("http")]
        if not uris:
            raise CheckError("Diffusion reports no HTTP clone URI for r%s" % self.callsign)
        self.clone_uri = sorted(uris, key=lambda u: "/source/" not in u)[0]
        say("set-up: repository r%s (%s), default branch %s, clone URI %s" % (
            self.callsign, self.repo_phid, repo["fields"]["defaultBranch"], self.clone_uri))

        self.work = os.path.join(self.dir, "work")
        subprocess.run(["git", "init", "-q", "-b", "main", self.work], check=True)
        self.write(".stepgate/stepgate.yaml", STEPGATE_YAML)
        self.write(".stepgate/workflows/check.asl.json", json.dumps(WORKFLOW, indent=1) + "\n")
        self.write("src/a.txt", "one\n")
        self.git("add", "-A")
        self.commit("trusted configuration")
        with open(os.path.join(self.work, ".git", "info", "exclude"), "a") as f:
            f.write(".arcconfig\n")
        self.write(".arcconfig", json.dumps({"phabricator.uri": self.url + "/", "repository.callsign": self.callsign}))
        push = self.authed(self.clone_uri, self.names["admin"], self.admin_password)
        wait_for("the repository to accept a push", lambda: self.try_push(push), seconds=60, interval=2)
        self.base = self.git("rev-parse", "HEAD")

        plan = self.admin("harbormaster.buildplan.edit", {"transactions": [
            {"type": "name", "value": "stepgate " + self.suffix},
            {"type": "behavior.hold-drafts", "value": "never"}, {"type": "behavior.arc-land", "value": "never"}]})
        self.plan_phid = plan["object"]["phid"]
        step = self.setup_php("http-step", self.plan_phid, self.url + "/status/")
        rule = self.setup_php("herald-rule", "stepgate: r" + self.callsign, self.names["admin"], self.repo_phid,
                              self.plan_phid)
        say("set-up: build plan %s (step %s, waits for a message), Herald rule %s" % (
            self.plan_phid, step["step"], rule["rule"]))

        self.arcrc = self.secret("arcrc", json.dumps({"hosts": {self.url + "/api/": {"token": self.args.author_token}}}))
        self.mirror = os.path.join(self.dir, "mirror.git")
        self.write_config(self.url, "bot.yaml")
        self.write_config(None, "bot-proxied.yaml")

    def write_config(self, url, name):
        token = self.secret("conduit-token", self.args.bot_token)
        password = self.secret("vcs-password", self.bot_password)
        text = ("store: sqlite://%s/stepgate.db\n"
                "phabricator:\n"
                "  - name: phorge\n"
                "    url: %s\n"
                "    token-file: %s\n"
                "    poll-interval: 2s\n"
                "    build-plan: %s\n"
                "    git-username: %s\n"
                "    git-password-file: %s\n"
                "repositories:\n"
                "  demo: {path: %s, phabricator-repository: r%s}\n") % (
            self.dir, url or "{PROXY}", token, self.plan_phid, self.names["bot"], password, self.mirror,
            self.callsign)
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    @staticmethod
    def authed(uri, user, password):
        parts = urllib.parse.urlsplit(uri)
        return urllib.parse.urlunsplit((parts.scheme, "%s:%s@%s" % (user, password, parts.netloc), parts.path, "", ""))

    def try_push(self, remote):
        done = subprocess.run(["git", "push", "-q", remote, "main:refs/heads/main"], cwd=self.work,
                              capture_output=True, text=True)
        return done.returncode == 0

    def commit(self, message):
        self.git("-c", "user.name=Check", "-c", "user.email=check@example.org", "commit", "-q", "-m", message)

    # -- the bot
    def cycle(self, config="bot.yaml", timeout=120, kill_when=None):
        """One `stepgate bot --once`; with kill_when, SIGKILLed as soon as kill_when() holds."""
        log = open(os.path.join(self.dir, "bot.log"), "a")
        p = subprocess.Popen([self.args.binary, "bot", "--config", os.path.join(self.dir, config), "--once",
                              "--log-level", "debug"], stdout=log, stderr=log)
        deadline = time.time() + timeout
        while p.poll() is None and time.time() < deadline:
            if kill_when and kill_when():
                p.send_signal(signal.SIGKILL)
                p.wait()
                return "killed"
            time.sleep(0.2)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            raise CheckError("stepgate bot --once did not finish in %ds (see %s/bot.log)" % (timeout, self.dir))
        if p.returncode != 0:
            raise CheckError("stepgate bot --once exited %d (see %s/bot.log)" % (p.returncode, self.dir))
        return "done"

    def bot_comments(self, revision_phid):
        rows = self.bot("transaction.search", {"objectIdentifier": revision_phid,
                                               "constraints": {"authorPHIDs": [self.botPHID]}})["data"]
        return [c["content"]["raw"] for r in rows for c in (r.get("comments") or []) if not c.get("removed")]

    def revision(self, rid):
        return self.bot.search("differential.revision.search", {"ids": [rid]})[0]

    def own_target(self, diff_phid):
        buildables = self.bot.search("harbormaster.buildable.search", {"objectPHIDs": [diff_phid]})
        if not buildables:
            return None
        builds = self.bot.search("harbormaster.build.search", {"buildables": [b["phid"] for b in buildables],
                                                               "plans": [self.plan_phid]})
        if not builds:
            return None
        targets = self.bot.search("harbormaster.target.search", {"buildPHIDs": [builds[0]["phid"]]})
        return targets[0] if targets else None

    def target_messages(self, target_phid):
        return self.setup_php("target-messages", target_phid)

    # -- revisions
    def arc_diff(self, title, change, update=None):
        self.git("checkout", "-q", "main")
        branch = "change-%d" % random.randrange(1 << 30)
        self.git("checkout", "-q", "-b", branch)
        with open(os.path.join(self.work, "src/a.txt"), "a") as f:
            f.write(change)
        self.git("add", "src/a.txt")
        self.commit("%s\n\nSummary: %s\n\nTest Plan: none\n\nReviewers: %s" % (title, title, self.names["reviewer"]))
        argv = [self.args.arc, "--arcrc-file", self.arcrc, "diff", "HEAD^"]
        argv += ["--update", update, "--message", "a new diff"] if update else ["--verbatim"]
        done = subprocess.run(argv, cwd=self.work, capture_output=True, text=True, timeout=300,
                              stdin=subprocess.DEVNULL)
        m = re.search(r"/D(\d+)", done.stdout)
        if done.returncode != 0 or not m:
            raise CheckError("arc diff failed: %s" % (done.stdout + done.stderr).strip()[-600:])
        rid = int(m.group(1))
        wait_for("D%d to leave the draft state" % rid,
                 lambda: self.revision(rid)["fields"]["status"]["value"] != "draft", seconds=60)
        return rid

    def raw_revision(self, title, diff):
        created = self.author("differential.createrawdiff", {"diff": diff, "repositoryPHID": self.repo_phid})
        edit = self.author("differential.revision.edit", {"transactions": [
            {"type": "update", "value": created["phid"]}, {"type": "title", "value": title},
            {"type": "testPlan", "value": "none"}, {"type": "reviewers.add", "value": [self.reviewerPHID]}]})
        return edit["object"]["id"]

    def accept(self, rid):
        self.reviewer("differential.revision.edit", {"objectIdentifier": "D%d" % rid,
                                                     "transactions": [{"type": "accept", "value": True}]})

    def current_diff(self, rid):
        return self.revision(rid)["fields"]["diffPHID"]

    # -- scenarios
    def scenario_arc(self):
        rid = self.arc_diff("check the tabs", "\ttwo\n")
        rev = self.revision(rid)
        diff = self.bot.search("differential.diff.search", {"phids": [rev["fields"]["diffPHID"]]})[0]
        refs = {r["type"] for r in diff["fields"]["refs"]}
        arc_targets = self.bot("harbormaster.queryautotargets", {"objectPHID": diff["phid"],
                                                                  "targetKeys": ["arcanist.lint", "arcanist.unit"]})

        def arc_done():
            status = [t["fields"]["status"]["value"] for t in self.bot.search(
                "harbormaster.target.search", {"phids": list(arc_targets["targetMap"].values())})]
            return status if all(s != "target/waiting" and s != "target/pending" for s in status) else None
        arc_status = wait_for("arc's own results on its autotargets", arc_done, seconds=30)
        self.accept(rid)
        self.cycle()
        comments = self.bot_comments(rev["phid"])
        target = wait_for("the bot's build target to finish", lambda: (
            lambda t: t if t and t["fields"]["status"]["value"] in ("target/passed", "target/failed") else None)(
            self.own_target(diff["phid"])), seconds=30)
        lint = self.target_messages(target["phid"])["lint"]
        self.cycle()
        again = self.bot_comments(rev["phid"])
        lint_again = self.target_messages(target["phid"])["lint"]
        at_line = [m for m in lint if m["path"] == "src/a.txt" and int(m["line"]) == 2]
        ok = (len(comments) == 1 and len(at_line) == 1 and len(again) == 1 and len(lint_again) == len(lint)
              and "base" in refs and all(s == "target/passed" for s in arc_status))
        self.record("arc", ok, "D%d made with arc diff (refs %s; arc's autotargets already %s): %d bot comment(s) "
                               "(%r), lint %s on build target %s (%s); second cycle: %d comment(s), %d lint message(s)"
                    % (rid, "+".join(sorted(refs)), "/".join(sorted(set(arc_status))), len(comments),
                       comments[0].splitlines()[0] if comments else "", ["%s:%s %s" % (m["path"], m["line"], m["code"])
                                                                          for m in lint],
                       target["phid"], target["fields"]["status"]["value"], len(again), len(lint_again)))

    def scenario_raw(self):
        diff = ("diff --git a/src/a.txt b/src/a.txt\n--- a/src/a.txt\n+++ b/src/a.txt\n@@ -1 +1,2 @@\n one\n"
                "+from the web UI\n")
        rid = self.raw_revision("raw diff", diff)
        rev = self.revision(rid)
        self.accept(rid)
        cycles = 0
        comments = []
        while cycles < 2 and not comments:
            self.cycle()
            cycles += 1
            comments = self.bot_comments(rev["phid"])
        ok = len(comments) == 1 and "names no base commit" in comments[0]
        note = next((l for l in comments[0].splitlines() if "base commit" in l), "") if comments else ""
        self.record("raw", ok, "D%d from differential.createrawdiff: %d comment(s) after %d cycle(s): %r"
                    % (rid, len(comments), cycles, note))

    def scenario_supersede(self):
        rid = self.arc_diff("slow: superseded", "three\n")
        rev = self.revision(rid)
        self.accept(rid)
        self.cycle()  # the execution waits at its approval gate; --once leaves it running
        waiting = self.bot_comments(rev["phid"])
        self.arc_diff("slow: superseded", "four\n", update="D%d" % rid)
        self.cycle()
        notices = self.bot_comments(rev["phid"])
        self.cycle()
        after = self.bot_comments(rev["phid"])
        superseded = [c for c in notices if "superseded by diff" in c]
        self.record("supersede", not waiting and len(superseded) == 1 and len(after) == len(notices) == 1,
                    "D%d: a new diff cancelled the running execution: %r" % (
                        rid, superseded[0].splitlines()[0] if superseded else notices))

        rid = self.arc_diff("slow: abandoned", "five\n")
        rev = self.revision(rid)
        self.accept(rid)
        self.cycle()
        self.author("differential.revision.edit", {"objectIdentifier": "D%d" % rid,
                                                   "transactions": [{"type": "abandon", "value": True}]})
        self.cycle()
        notices = self.bot_comments(rev["phid"])
        self.record("abandon", len(notices) == 1 and "review was closed (abandoned)" in notices[0],
                    "D%d: abandoning cancelled the running execution: %r" % (
                        rid, notices[0].splitlines()[0] if notices else notices))

    def scenario_sigkill(self):
        rid = self.arc_diff("killed while commenting", "six\n")
        rev = self.revision(rid)
        diff_phid = rev["fields"]["diffPHID"]
        self.accept(rid)
        proxy = HoldingProxy(self.url, hold="differential.revision.edit")
        with open(os.path.join(self.dir, "bot-proxied.yaml")) as f:
            text = f.read()
        with open(os.path.join(self.dir, "bot-proxied.yaml"), "w") as f:
            f.write(text.replace("{PROXY}", proxy.url))

        def results_sent():
            target = self.own_target(diff_phid)
            return bool(target and self.target_messages(target["phid"])["lint"]) and proxy.held > 0
        outcome = self.cycle("bot-proxied.yaml", kill_when=results_sent)
        proxy.close()
        before = self.bot_comments(rev["phid"])
        self.cycle()
        after = self.bot_comments(rev["phid"])
        target = self.own_target(diff_phid)
        lint = self.target_messages(target["phid"])["lint"]
        self.record("sigkill", outcome == "killed" and not before and len(after) == 1 and len(lint) == 1,
                    "D%d: bot SIGKILLed after sending results, while its comment was held (%s); comments before "
                    "restart %d, after %d; lint messages %d" % (rid, outcome, len(before), len(after), len(lint)))

    def run(self):
        self.ping()
        self.setup()
        for scenario in (self.scenario_arc, self.scenario_raw, self.scenario_supersede, self.scenario_sigkill):
            try:
                scenario()
            except CheckError as e:
                self.record(scenario.__name__.replace("scenario_", ""), False, str(e))
        passed = sum(1 for r in self.results if r)
        say("%d passed, %d failed" % (passed, len(self.results) - passed))
        return 0 if passed == len(self.results) else 1


class HoldingProxy:
    """Forwards Conduit calls to Phorge, but never forwards (holds) the ones to one method."""

    def __init__(self, upstream, hold):
        outer = self
        self.held = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path.endswith("/" + hold):
                    outer.held += 1
                    time.sleep(3600)
                    return
                request = urllib.request.Request(upstream + self.path, data=body, method="POST",
                                                 headers={"Content-Type": self.headers.get("Content-Type")})
                try:
                    with urllib.request.urlopen(request, timeout=60) as answer:
                        payload, status = answer.read(), answer.status
                except urllib.error.HTTPError as e:
                    payload, status = e.read(), e.code
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True)
    for role in ("admin", "author", "reviewer", "bot"):
        parser.add_argument("--%s-token" % role, required=True)
    parser.add_argument("--phorge-root", required=True, help="Phorge's source directory on this host")
    parser.add_argument("--arc", default=None, help="arc (default: arcanist/bin/arc beside --phorge-root)")
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "debug", "stepgate"))
    args = parser.parse_args()
    for name in ("url", "admin_token", "author_token", "reviewer_token", "bot_token", "phorge_root"):
        if not getattr(args, name):
            print("phorge-check: error: --%s is empty (make phorge-check needs PHORGE_URL, PHORGE_ADMIN_TOKEN, "
                  "PHORGE_AUTHOR_TOKEN, PHORGE_REVIEWER_TOKEN, PHORGE_BOT_TOKEN and PHORGE_ROOT)"
                  % name.replace("_", "-"), file=sys.stderr)
            return 2
    args.arc = args.arc or os.path.join(os.path.dirname(os.path.abspath(args.phorge_root)), "arcanist", "bin", "arc")
    for what, path in (("stepgate binary", args.binary), ("arc", args.arc),
                       ("Phorge's bin/config", os.path.join(args.phorge_root, "bin", "config"))):
        if not os.access(path, os.X_OK):
            print("phorge-check: error: no %s at %s" % (what, path), file=sys.stderr)
            return 2
    check = Check(args)
    try:
        return check.run()
    except CheckError as e:
        print("phorge-check: error: %s" % e, file=sys.stderr)
        return 2
    finally:
        if check.dir and check.results and all(check.results):
            shutil.rmtree(check.dir, ignore_errors=True)
        elif check.dir:
            print("phorge-check: left %s for inspection" % check.dir, file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
