#!/usr/bin/env python3
"""A fake Gerrit 3.10 REST server for stepgate's tests (Python 3 standard library only).

    python3 gerrit_fake.py --port 0 [--state-file F] [--verbose]

prints the chosen port on the first stdout line. See fakecommon.py for the shared control API (request log,
fault injection, state file). Behaviour follows Gerrit's documentation (and /work/shared/reference/gerrit-rest.md):

* `/a/...` needs HTTP Basic with the account's HTTP password; otherwise 401 with a plain-text body.
  Without `/a/` requests are anonymous and see only public projects; `accounts/self` then gives 403.
* Every JSON body starts with the `)]}'` line; error bodies are plain text.
* `GET /changes/?q=..&n=..&S=..&o=..`: `status:`, `is:open`, `project:`, `branch:`, `owner:`/`-owner:`
  (username, email, id or `self`), `change:`, `after:`/`since:`, `before:`/`until:` (Gerrit timestamps, quoted),
  `AND`/`OR`/`NOT`/`-`/parentheses; newest `updated` first; `_more_changes` on the last element of a page.
  Options: LABELS, DETAILED_LABELS, CURRENT_REVISION, ALL_REVISIONS, CURRENT_FILES, CURRENT_COMMIT, MESSAGES,
  DETAILED_ACCOUNTS. A repeated `q` gives a list of lists.
* `GET /changes/{id}[/detail]`, `GET /changes/{id}/comments`, `GET /changes/{id}/revisions/{rev}/files/`,
  `GET /accounts/self`, `GET /accounts/{id}`.
* `POST /changes/{id}/revisions/{rev}/review`: unknown labels and invalid values are silently dropped (the
  answer's `labels` lacks them); a valid value outside the account's permitted range gives 403
  `Applying label "X": N is restricted`; votes on a closed change give 409 `change is closed`; comments are stored
  with the review's tag; `omit_duplicate_comments` honoured; a change message tagged with the review's tag is added.
  `notify` must be NONE, OWNER, OWNER_REVIEWERS or ALL; `robot_comments` are refused (400: this server runs with
  change.enableRobotComments = false). The attention set follows Gerrit's automatic rules (a reply by someone other
  than the owner adds the owner and removes the replier) unless `ignore_automatic_attention_set_rules`;
  `add_to_attention_set`/`remove_from_attention_set` ({user, reason}) are applied; every operation is logged.
  `X-Gerrit-Deadline` (`30s`, `500ms`, `2min`) is honoured: a request held past it is answered 408 and not applied.
* Every patch set is a real commit. A project given a repository (`git`) reports as each patch set's revision the
  commit at refs/changes/NN/N/P there (pushed by the test first; absent: the control call fails, 409). Other projects
  live in a bare repository the fake keeps (`<state-file>.git-root/<project>`), where the fake writes a commit
  with the given files for each patch set, on the target branch's tip (or the previous patch set's parent).
* `GET /groups/{id}/members/[?recursive]` (id: UUID, numeric id or name), accounts with DETAILED_ACCOUNTS fields.
* `updated` bumps (strictly increasing, nanosecond precision) on every write: votes, patch sets, messages,
  reviews (the bot's own included). A new patch set clears the votes (no copy conditions).

Control API (JSON, no XSSI, no auth), in addition to fakecommon's:
  POST /__control/accounts   {"username"?, "name"?, "email"?, "http_password"?, "ranges"?: {"Code-Review": [-1, 1]}}
                             (no username: an account known by its id, name and e-mail only, as Gerrit allows)
                             -> account (ranges narrow what the account may vote; default: the label's full range)
  POST /__control/projects   {"name", "public"?: true, "git"?: BARE_REPOSITORY} -> {..., "git": the repository's path}
  POST /__control/groups     {"name", "members": [USERNAME|ID], "includes"?: [GROUP NAME]} -> {"id", "group_id", ...}
  POST /__control/labels     {"name", "values": {"-1": "Fails", " 0": "No score", "+1": "Verified"}}
                             (Code-Review -2..+2 and Verified -1..+1 exist from the start)
  POST /__control/changes    {"project", "branch"?: "main", "subject", "owner": USERNAME, "files"?: {path: {...}}|[paths],
                              "topic"?, "work_in_progress"?} -> {"_number", "id", "change_id", "current_revision", "updated"}
  POST /__control/changes/N/patchsets {"files"?, "uploader"?, "subject"?}   -> {"number", "revision", "ref"}
                                      (a commit already used by a patch set of the change is refused: 409)
  POST /__control/changes/N/votes     {"account": USERNAME, "label", "value", "tag"?}
  POST /__control/changes/N/messages  {"account": USERNAME, "message", "tag"?, "patch_set"?, "raw"?}
                                      (recorded as Gerrit records a comment: "Patch Set P:\n\nMESSAGE", unless raw)
  GET  /__control/attention[?change=N] -> attention-set operations: {"change", "by", "op": add|remove, "account",
                                         "reason", "automatic", "changed"}
  POST /__control/changes/N/abandon | /restore | /merge
  GET  /__control/changes/N           -> the stored change (votes, comments, messages, patch sets)
  GET  /__control/reviews[?change=N]  -> reviews posted through the API: {"change", "patch_set", "revision",
                                         "account", "input", "result", "attention", "time"}
"""

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from urllib.parse import unquote

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakecommon  # noqa: E402
from fakecommon import ControlError  # noqa: E402

XSSI = b")]}'\n"
MAGIC_FILES = ("/COMMIT_MSG", "/PATCHSET_LEVEL", "/MERGE_LIST")
DEFAULT_LABELS = {
    "Code-Review": {"values": {"-2": "This shall not be submitted", "-1": "I would prefer this is not submitted as is",
                               " 0": "No score", "+1": "Looks good to me, but someone else must approve",
                               "+2": "Looks good to me, approved"}},
    "Verified": {"values": {"-1": "Fails", " 0": "No score", "+1": "Verified"}},
}
OPTION_NAMES = {"LABELS", "DETAILED_LABELS", "CURRENT_REVISION", "ALL_REVISIONS", "CURRENT_FILES", "ALL_FILES",
                "CURRENT_COMMIT", "ALL_COMMITS", "MESSAGES", "DETAILED_ACCOUNTS", "SKIP_DIFFSTAT",
                "SUBMIT_REQUIREMENTS", "SKIP_MERGEABLE", "REVIEWER_UPDATES", "CHECK", "WEB_LINKS", "DOWNLOAD_COMMANDS"}


def fmt_ts(ns):
    secs, nanos = divmod(int(ns), 1_000_000_000)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(secs)) + ".%09d" % nanos


def parse_ts(text):
    text = text.strip().rstrip("Z").replace("T", " ")
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?: (\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?", text)
    if not m:
        raise ValueError("Unrecognized date format: %s" % text)
    import calendar
    y, mo, d = (int(x) for x in m.group(1).split("-"))
    h, mi, s = int(m.group(2) or 0), int(m.group(3) or 0), int(m.group(4) or 0)
    frac = (m.group(5) or "").ljust(9, "0")
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) * 1_000_000_000 + int(frac or 0)


def label_range(label):
    values = [int(k.strip().replace("+", "")) for k in label["values"]]
    return min(values), max(values)


class GitRepository:
    """A bare repository behind a project, read and written with the `git` command."""

    def __init__(self, path, pushed):
        self.path = path
        self.pushed = pushed

    def git(self, *args, data=None):
        done = subprocess.run(["git", "--git-dir=" + self.path, *args], input=data, capture_output=True)
        if done.returncode != 0:
            raise ControlError(500, "git %s in %s: %s" % (" ".join(args), self.path, done.stderr.decode(errors="replace")))
        return done.stdout.decode()

    def resolve(self, ref):
        if not os.path.isdir(self.path):
            return None
        done = subprocess.run(["git", "--git-dir=" + self.path, "rev-parse", "--verify", "-q", ref + "^{commit}"],
                              capture_output=True)
        return done.stdout.decode().strip() or None if done.returncode == 0 else None

    def write_commit(self, ref, parent, files, message):
        """Writes a commit with `files` (on top of `parent`'s tree) at `ref`; returns its id."""
        if not os.path.isdir(self.path):
            subprocess.run(["git", "init", "-q", "--bare", self.path], check=True, capture_output=True)
        def data(b):
            return b"data %d\n" % len(b) + b + b"\n"
        when = b"%d +0000" % int(time.time())
        stream = b"commit " + ref.encode() + b"\nmark :1\n"
        stream += b"author Fake Gerrit <gerrit@example.org> " + when + b"\n"
        stream += b"committer Fake Gerrit <gerrit@example.org> " + when + b"\n" + data(message.encode())
        if parent:
            stream += b"from " + parent.encode() + b"\n"
        for path, info in sorted(files.items()):
            content = info.get("content")
            if content is None:
                content = "written for %s\n" % ref + "".join(
                    "line %d of %s\n" % (i + 1, path) for i in range(max(1, info.get("lines_inserted", 1))))
            stream += b"M 100644 inline " + path.encode() + b"\n" + data(content.encode())
        stream += b"\nget-mark :1\n"
        return self.git("fast-import", "--quiet", data=stream).strip()

    def commit(self, sha):
        text = self.git("cat-file", "commit", sha)
        head, _, message = text.partition("\n\n")
        out = {"parents": [], "author": None, "message": message}
        for line in head.split("\n"):
            if line.startswith("parent "):
                out["parents"].append(line[7:].strip())
            elif line.startswith("author "):
                m = re.match(r"author (.*) <(.*)> (\d+) ([+-]\d{4})", line)
                if m:
                    tz = int(m.group(4)[1:3]) * 60 + int(m.group(4)[3:5])
                    out["author"] = {"name": m.group(1), "email": m.group(2), "seconds": int(m.group(3)),
                                     "tz": -tz if m.group(4)[0] == "-" else tz}
        return out

    def changed_files(self, sha, parents):
        """Gerrit's FileInfo map of `sha` against its first parent (or the empty tree)."""
        base = parents[0] if parents else self.git("hash-object", "-t", "tree", "-w", "--stdin", data=b"").strip()
        files = {}
        status = self.git("diff-tree", "-r", "-M", "--no-commit-id", "--name-status", "-z", base, sha).split("\0")
        i = 0
        while i < len(status) - 1:
            code = status[i]
            if code.startswith(("R", "C")):
                old, new = status[i + 1], status[i + 2]
                files[new] = {"status": code[0], "old_path": old}
                i += 3
            else:
                files[status[i + 1]] = {"status": code[0]} if code[0] in "AD" else {}
                i += 2
        for line in self.git("diff-tree", "-r", "-M", "--no-commit-id", "--numstat", base, sha).splitlines():
            added, deleted, path = line.split("\t", 2)
            path = path.split(" => ")[-1].rstrip("}") if " => " in path else path
            if path in files:
                if added == "-":
                    files[path]["binary"] = True
                else:
                    files[path]["lines_inserted"] = int(added)
                    files[path]["lines_deleted"] = int(deleted)
        for info in files.values():
            info.setdefault("size", 100)
            info.setdefault("size_delta", 10)
        return files


class QueryError(Exception):
    pass


class GerritApp(fakecommon.App):
    def initial_state(self):
        return {"accounts": {}, "projects": {}, "labels": json.loads(json.dumps(DEFAULT_LABELS)), "changes": {},
                "reviews": [], "next_change": 1, "next_account": 1000000, "clock_ns": 0, "seq": 0}

    def after_load(self):
        # The repositories the fake keeps for projects the tests did not name one for.
        self.git_root = (os.path.splitext(self.state_file)[0] + ".git-root") if self.state_file else tempfile.mkdtemp(prefix="gerrit-fake-git-")

    # ---- helpers -------------------------------------------------------------------------------------------
    def now(self):
        ns = max(time.time_ns(), self.state["clock_ns"] + 1_000_000)
        self.state["clock_ns"] = ns
        return ns

    def seq(self):
        self.state["seq"] += 1
        return self.state["seq"]

    def sha(self, *parts):
        return hashlib.sha1(("%s|%d" % ("|".join(str(p) for p in parts), self.seq())).encode()).hexdigest()

    def account_by(self, key):
        key = str(key)
        for acc in self.state["accounts"].values():
            if key in (str(acc["_account_id"]), acc.get("username"), acc.get("email")):
                return acc
        return None

    def account_json(self, account_id, detailed):
        acc = self.state["accounts"].get(str(account_id))
        if not acc:
            return {"_account_id": account_id}
        out = {"_account_id": acc["_account_id"]}
        if detailed:
            for k in ("name", "email", "username"):
                if acc.get(k):
                    out[k] = acc[k]
        return out

    def visible(self, change, user):
        if user is not None:
            return True
        return self.state["projects"].get(change["project"], {}).get("public", True)

    def resolve_change(self, ident, user):
        ident = ident.strip()
        found = None
        changes = self.state["changes"]
        m = re.fullmatch(r"(.+)~(\d+)", ident)
        if m and m.group(2) in changes and changes[m.group(2)]["project"] == m.group(1):
            found = changes[m.group(2)]
        elif ident.isdigit() and ident in changes:
            found = changes[ident]
        else:
            parts = ident.split("~")
            for ch in changes.values():
                if (len(parts) == 3 and [ch["project"], ch["branch"], ch["change_id"]] == parts) or \
                        (len(parts) == 1 and ch["change_id"] == ident):
                    found = ch
                    break
        if found is None or not self.visible(found, user):
            return None
        return found

    def resolve_revision(self, change, rev):
        sets = change["patch_sets"]
        if rev == "current":
            return sets[-1]
        if rev.isdigit() and len(rev) < 4:
            n = int(rev)
            return sets[n - 1] if 1 <= n <= len(sets) else None
        if len(rev) >= 4:
            matches = [ps for ps in sets if ps["sha"].startswith(rev)]
            if len(matches) == 1:
                return matches[0]
        return None

    def make_files(self, spec):
        files = {}
        if isinstance(spec, list):
            spec = {p: {} for p in spec}
        for path, info in (spec or {"README.md": {}}).items():
            info = dict(info or {})
            info.setdefault("lines_inserted", 1)
            info.setdefault("lines_deleted", 0)
            info.setdefault("size", 100)
            info.setdefault("size_delta", 10)
            files[path] = info
        return files

    def repository(self, project):
        """The bare repository behind a project: the one the tests named (`git`), else the fake's own."""
        info = self.state["projects"].setdefault(project, {"public": True})
        if info.get("git"):
            return GitRepository(info["git"], pushed=True)
        return GitRepository(os.path.join(self.git_root, project), pushed=False)

    def new_patch_set(self, change, files, uploader, subject=None):
        """A patch set is always a real commit: the one at refs/changes/NN/N/P of the project's repository (pushed
        there by the test), or, in a repository the fake keeps itself, a commit it writes with `files`."""
        number = len(change["patch_sets"]) + 1
        ref = "refs/changes/%02d/%d/%d" % (change["_number"] % 100, change["_number"], number)
        repo = self.repository(change["project"])
        sha = repo.resolve(ref)
        if sha is None:
            if repo.pushed:
                raise ControlError(409, "%s is not in %s: push the patch set's commit there first" % (ref, repo.path))
            subject_line = subject or change["subject"]
            base = change["patch_sets"][-1]["parent"] if change["patch_sets"] else repo.resolve("refs/heads/" + change["branch"])
            sha = repo.write_commit(ref, base, self.make_files(files), "%s\n\nChange-Id: %s\n" % (subject_line, change["change_id"]))
        for other in change["patch_sets"]:
            if other["sha"] == sha:
                raise ControlError(409, "no new changes: %s is already patch set %d of change %d" % (sha, other["number"], change["_number"]))
        commit = repo.commit(sha)
        ps = {"number": number, "sha": sha, "parent": commit["parents"][0] if commit["parents"] else None,
              "created_ns": self.now(), "uploader": uploader,
              "files": self.make_files(files) if files else repo.changed_files(sha, commit["parents"][:1]),
              "kind": "REWORK", "message": commit["message"], "author": commit["author"], "ref": ref}
        change["patch_sets"].append(ps)
        change["votes"] = {}
        self.add_message(change, uploader, "Uploaded patch set %d." % number, "autogenerated:gerrit:newPatchSet")
        return ps

    def add_message(self, change, author, text, tag=None, ps_number=None):
        ns = self.now()
        msg = {"id": self.sha("msg", change["_number"]), "author": author, "date_ns": ns, "message": text,
               "_revision_number": ps_number or len(change["patch_sets"])}
        if tag:
            msg["tag"] = tag
        change["messages"].append(msg)
        change["updated_ns"] = ns
        return msg

    def permitted_range(self, account, label_name):
        label = self.state["labels"][label_name]
        lo, hi = label_range(label)
        r = (account or {}).get("ranges", {}).get(label_name)
        if r is not None:
            lo, hi = max(lo, int(r[0])), min(hi, int(r[1]))
        return lo, hi

    # ---- JSON views ----------------------------------------------------------------------------------------
    def change_json(self, ch, opts, user):
        detailed = "DETAILED_ACCOUNTS" in opts
        cur = ch["patch_sets"][-1]
        ins = sum(f.get("lines_inserted", 0) for f in cur["files"].values())
        dels = sum(f.get("lines_deleted", 0) for f in cur["files"].values())
        out = {
            "id": "%s~%d" % (ch["project"], ch["_number"]),
            "triplet_id": "%s~%s~%s" % (ch["project"], ch["branch"], ch["change_id"]),
            "project": ch["project"], "branch": ch["branch"], "change_id": ch["change_id"],
            "subject": ch["subject"], "status": ch["status"],
            "created": fmt_ts(ch["created_ns"]), "updated": fmt_ts(ch["updated_ns"]),
            "submit_type": "MERGE_IF_NECESSARY", "insertions": ins, "deletions": dels,
            "total_comment_count": len(ch["comments"]),
            "unresolved_comment_count": sum(1 for c in ch["comments"] if c.get("unresolved")),
            "has_review_started": True,
            "meta_rev_id": hashlib.sha1(("meta%d%d" % (ch["_number"], ch["updated_ns"])).encode()).hexdigest(),
            "_number": ch["_number"], "owner": self.account_json(ch["owner"], detailed),
            "current_revision_number": cur["number"], "requirements": [],
        }
        if ch.get("attention_set"):
            out["attention_set"] = {k: {"account": self.account_json(int(k), detailed), "reason": v["reason"],
                                        "last_update": fmt_ts(v["last_update_ns"])} for k, v in ch["attention_set"].items()}
        if ch.get("topic"):
            out["topic"] = ch["topic"]
        if ch.get("work_in_progress"):
            out["work_in_progress"] = True
        if ch["status"] == "MERGED":
            out["submitted"] = fmt_ts(ch["updated_ns"])
        if "LABELS" in opts or "DETAILED_LABELS" in opts:
            out["labels"] = self.labels_json(ch, "DETAILED_LABELS" in opts, detailed)
            if "DETAILED_LABELS" in opts and user is not None and ch["status"] == "NEW":
                acc = self.account_by(user)
                permitted = {}
                for name, label in self.state["labels"].items():
                    lo, hi = self.permitted_range(acc, name)
                    permitted[name] = [k for k in sorted(label["values"], key=lambda k: int(k.strip()))
                                       if lo <= int(k.strip()) <= hi]
                out["permitted_labels"] = permitted
        revs = None
        if "ALL_REVISIONS" in opts:
            revs = ch["patch_sets"]
        elif "CURRENT_REVISION" in opts:
            revs = [cur]
        if revs is not None:
            out["current_revision"] = cur["sha"]
            out["revisions"] = {}
            for ps in revs:
                r = {"kind": ps["kind"], "_number": ps["number"], "created": fmt_ts(ps["created_ns"]),
                     "uploader": self.account_json(ps["uploader"], detailed), "ref": ps["ref"], "fetch": {}}
                if ("CURRENT_COMMIT" in opts and ps is cur) or "ALL_COMMITS" in opts:
                    r["commit"] = self.commit_json(ch, ps)
                if ("CURRENT_FILES" in opts and ps is cur) or "ALL_FILES" in opts:
                    r["files"] = {p: self.file_json(f) for p, f in ps["files"].items()}
                out["revisions"][ps["sha"]] = r
        if "MESSAGES" in opts:
            out["messages"] = []
            for m in ch["messages"]:
                mj = {"id": m["id"], "date": fmt_ts(m["date_ns"]), "message": m["message"],
                      "_revision_number": m["_revision_number"]}
                if m.get("author") is not None:
                    mj["author"] = self.account_json(m["author"], detailed)
                    mj["real_author"] = mj["author"]
                if m.get("tag"):
                    mj["tag"] = m["tag"]
                out["messages"].append(mj)
        return out

    def file_json(self, f):
        return {k: v for k, v in f.items() if k in ("status", "binary", "old_path", "lines_inserted",
                                                       "lines_deleted", "size_delta", "size")}

    def commit_json(self, ch, ps):
        a = ps.get("author") or {}
        person = {"name": a.get("name", "Owner"), "email": a.get("email", "owner@example.org"),
                  "date": fmt_ts(a.get("seconds", 0) * 1_000_000_000), "tz": a.get("tz", 0)}
        parents = [{"commit": ps["parent"], "subject": "Parent commit"}] if ps.get("parent") else []
        return {"commit": ps["sha"], "parents": parents, "author": person, "committer": person,
                "subject": ps["message"].split("\n", 1)[0], "message": ps["message"]}

    def labels_json(self, ch, detailed_labels, detailed_accounts):
        out = {}
        voters = []
        for votes in ch["votes"].values():
            for acc_id in votes:
                if acc_id not in voters:
                    voters.append(acc_id)
        for name, label in self.state["labels"].items():
            lo, hi = label_range(label)
            info = {}
            votes = ch["votes"].get(name, {})
            for acc_id, vote in votes.items():
                v = vote["value"]
                acc = self.account_json(int(acc_id), detailed_accounts)
                if v == hi:
                    info["approved"] = acc
                elif v == lo:
                    info["rejected"] = acc
                elif v > 0:
                    info.setdefault("recommended", acc)
                elif v < 0:
                    info.setdefault("disliked", acc)
            if any(v["value"] == lo for v in votes.values()) and lo < 0:
                info["blocking"] = True
            if detailed_labels:
                all_ = []
                for acc_id in voters:
                    entry = self.account_json(int(acc_id), detailed_accounts)
                    vote = votes.get(acc_id)
                    acc = self.state["accounts"].get(str(acc_id))
                    if vote:
                        entry["value"] = vote["value"]
                        entry["date"] = fmt_ts(vote["date_ns"])
                        if vote.get("tag"):
                            entry["tag"] = vote["tag"]
                    else:
                        entry["value"] = 0
                    if ch["status"] == "NEW":
                        plo, phi = self.permitted_range(acc, name)
                        entry["permitted_voting_range"] = {"min": plo, "max": phi}
                    all_.append(entry)
                info["all"] = all_
                info["values"] = dict(label["values"])
                info["default_value"] = 0
            out[name] = info
        return out

    # ---- query language ------------------------------------------------------------------------------------
    def tokenize(self, q):
        tokens, i = [], 0
        while i < len(q):
            c = q[i]
            if c.isspace():
                i += 1
            elif c in "()":
                tokens.append(c)
                i += 1
            else:
                j, buf, in_q = i, "", False
                while j < len(q) and (in_q or not (q[j].isspace() or q[j] in "()")):
                    if q[j] == '"':
                        in_q = not in_q
                    elif q[j] == "\\" and in_q and j + 1 < len(q):
                        j += 1
                        buf += q[j]
                        j += 1
                        continue
                    else:
                        buf += q[j]
                    j += 1
                if in_q:
                    raise QueryError("line 1:%d mismatched input, unterminated quote" % i)
                tokens.append(buf)
                i = j
        return tokens

    def parse_query(self, q, user):
        tokens = self.tokenize(q)
        pos = [0]

        def peek():
            return tokens[pos[0]] if pos[0] < len(tokens) else None

        def take():
            t = peek()
            pos[0] += 1
            return t

        def parse_or():
            left = parse_and()
            while peek() == "OR":
                take()
                right = parse_and()
                left = (lambda l, r: lambda ch: l(ch) or r(ch))(left, right)
            return left

        def parse_and():
            left = parse_unary()
            while peek() not in (None, ")", "OR"):
                if peek() == "AND":
                    take()
                right = parse_unary()
                left = (lambda l, r: lambda ch: l(ch) and r(ch))(left, right)
            return left

        def parse_unary():
            t = peek()
            if t is None:
                raise QueryError("line 1:%d no viable alternative at input" % len(q))
            if t == "NOT":
                take()
                inner = parse_unary()
                return lambda ch: not inner(ch)
            if t.startswith("-") and len(t) > 1:
                tokens[pos[0]] = t[1:]
                inner = parse_unary()
                return lambda ch: not inner(ch)
            if t == "(":
                take()
                inner = parse_or()
                if take() != ")":
                    raise QueryError("line 1:%d missing ')'" % len(q))
                return inner
            take()
            return self.predicate(t, user)

        pred = parse_or()
        if peek() is not None:
            raise QueryError("line 1:%d extraneous input '%s'" % (len(q), peek()))
        return pred

    def predicate(self, term, user):
        if ":" not in term:
            # a bare word: Gerrit's default field search (subject/message); keep it simple
            return lambda ch: term.lower() in ch["subject"].lower()
        key, value = term.split(":", 1)
        if key == "status" or (key == "is" and value in ("open", "closed", "merged", "abandoned", "new")):
            value = value.lower()
            if value in ("open", "pending", "new"):
                return lambda ch: ch["status"] == "NEW"
            if value == "closed":
                return lambda ch: ch["status"] in ("MERGED", "ABANDONED")
            if value in ("merged", "abandoned"):
                return lambda ch: ch["status"] == value.upper()
            raise QueryError("Unrecognized value: %s" % value)
        if key == "is" and value == "wip":
            return lambda ch: bool(ch.get("work_in_progress"))
        if key == "project":
            return lambda ch: ch["project"] == value
        if key == "projects":
            return lambda ch: ch["project"].startswith(value)
        if key == "branch":
            return lambda ch: ch["branch"] == value
        if key == "topic":
            return lambda ch: ch.get("topic") == value
        if key == "change":
            return lambda ch: str(ch["_number"]) == value or ch["change_id"] == value
        if key == "owner":
            if value == "self":
                if user is None:
                    raise QueryError("Must be signed-in to use owner:self")
                acc = self.account_by(user)
            else:
                acc = self.account_by(value)
            if acc is None:
                raise QueryError("Account '%s' not found" % value)
            return lambda ch: ch["owner"] == acc["_account_id"]
        if key in ("after", "since", "before", "until"):
            try:
                t = parse_ts(value)
            except ValueError as e:
                raise QueryError(str(e))
            if key in ("after", "since"):
                return lambda ch: ch["updated_ns"] >= t
            return lambda ch: ch["updated_ns"] <= t
        raise QueryError("Unsupported operator %s:%s" % (key, value))

    # ---- HTTP ----------------------------------------------------------------------------------------------
    def json_response(self, obj, user, status=200):
        return status, {"Content-Type": "application/json; charset=utf-8"}, XSSI + json.dumps(obj, indent=1).encode(), user

    def text_response(self, status, text, user, headers=None):
        h = {"Content-Type": "text/plain; charset=UTF-8"}
        h.update(headers or {})
        return status, h, (text.rstrip("\n") + "\n").encode(), user

    def malformed_body(self):
        return XSSI + b'[{"id": "demo~1", "project": '

    def deadline(self, handler):
        """`X-Gerrit-Deadline` (`30s`, `30sec`, `500ms`, `2min`): Gerrit aborts the request when it passes."""
        text = (handler.headers.get("X-Gerrit-Deadline") or "").strip().lower()
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|sec|secs|second|seconds|m|min|mins|minute|minutes)?", text)
        if not m:
            return None
        unit = m.group(2) or "ms"
        factor = 0.001 if unit == "ms" else 60 if unit.startswith("m") else 1
        return float(m.group(1)) * factor

    def handle_api(self, handler, method, path, query, body):
        user = None
        authenticated = path.startswith("/a/")
        if authenticated:
            auth = handler.headers.get("Authorization") or ""
            acc = None
            if auth.startswith("Basic "):
                try:
                    name, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                    candidate = self.account_by(name)
                    if candidate and candidate.get("http_password") and candidate["http_password"] == pw:
                        acc = candidate
                except Exception:  # noqa
                    acc = None
            if acc is None:
                return self.text_response(401, "Unauthorized", None,
                                          {"WWW-Authenticate": 'Basic realm="Gerrit Code Review"'})
            user = acc["username"]
            path = path[2:]
        segments = [unquote(s) for s in path.split("/")[1:]]
        try:
            return self.route(method, segments, query, body, user, handler)
        except QueryError as e:
            return self.text_response(400, str(e), user)

    def route(self, method, seg, query, body, user, handler):
        nf = self.text_response(404, "Not found: %s" % "/".join(seg), user)
        if seg and seg[0] == "changes":
            if len(seg) == 1 or (len(seg) == 2 and seg[1] == ""):
                if method != "GET":
                    return self.text_response(405, "Method Not Allowed", user)
                return self.query_changes(query, user)
            ch = self.resolve_change(seg[1], user)
            if ch is None:
                return self.text_response(404, "Not found: %s" % seg[1], user)
            rest = seg[2:]
            if rest in ([], [""]) and method == "GET":
                return self.json_response(self.change_json(ch, set(query.get("o", [])), user), user)
            if rest == ["detail"] and method == "GET":
                opts = set(query.get("o", [])) | {"LABELS", "DETAILED_LABELS", "DETAILED_ACCOUNTS", "MESSAGES"}
                return self.json_response(self.change_json(ch, opts, user), user)
            if rest == ["comments"] and method == "GET":
                return self.json_response(self.comments_json(ch), user)
            if len(rest) >= 2 and rest[0] == "revisions":
                ps = self.resolve_revision(ch, rest[1])
                if ps is None:
                    return self.text_response(404, "Not found: %s" % rest[1], user)
                if rest[2:] in (["files"], ["files", ""]) and method == "GET":
                    files = {"/COMMIT_MSG": {"status": "A", "lines_inserted": ps["message"].count("\n") + 6,
                                             "size_delta": len(ps["message"]) + 200, "size": len(ps["message"]) + 200}}
                    files.update({p: self.file_json(f) for p, f in sorted(ps["files"].items())})
                    return self.json_response(files, user)
                if rest[2:] == ["review"]:
                    if method != "POST":
                        return self.text_response(405, "Method Not Allowed", user)
                    return self.post_review(ch, ps, body, user, handler)
            return nf
        if seg and seg[0] == "accounts" and len(seg) == 2 and method == "GET":
            if seg[1] == "self":
                if user is None:
                    return self.text_response(403, "Authentication required", user)
                acc = self.account_by(user)
            else:
                acc = self.account_by(seg[1])
            if acc is None:
                return self.text_response(404, "Account '%s' not found" % seg[1], user)
            return self.json_response(self.account_json(acc["_account_id"], True), user)
        if seg and seg[0] == "groups" and len(seg) >= 3 and seg[2] == "members" and method == "GET":
            if user is None:
                return self.text_response(403, "Authentication required", user)
            group = self.group_by(seg[1])
            if group is None:
                return self.text_response(404, "Group Not Found: %s" % seg[1], user)
            ids = self.group_members(group, "recursive" in query, set())
            return self.json_response([self.account_json(i, True) for i in sorted(ids)], user)
        if seg and seg[0] == "config" and seg[1:] == ["server", "version"]:
            return self.json_response("3.10.2", user)
        return nf

    def group_by(self, ident):
        for g in self.state.get("groups", {}).values():
            if ident in (g["id"], str(g["group_id"]), g["name"]):
                return g
        return None

    def group_members(self, group, recursive, seen):
        ids = set(group["members"])
        if recursive and group["id"] not in seen:
            seen.add(group["id"])
            for name in group["includes"]:
                inner = self.group_by(name)
                if inner is not None:
                    ids |= self.group_members(inner, True, seen)
        return ids

    def query_changes(self, query, user):
        queries = query.get("q") or ["status:open"]
        opts = set(query.get("o", []))
        for o in opts:
            if o not in OPTION_NAMES:
                return self.text_response(400, '"%s" is not a valid value for "-o"' % o, user)
        try:
            limit = int((query.get("n") or query.get("limit") or ["500"])[0])
            skip = int((query.get("S") or query.get("start") or ["0"])[0])
        except ValueError:
            return self.text_response(400, "invalid n or S", user)
        limit = max(1, min(limit, 500))
        results = []
        for q in queries:
            pred = self.parse_query(q, user)
            matching = [ch for ch in self.state["changes"].values() if self.visible(ch, user) and pred(ch)]
            matching.sort(key=lambda ch: (ch["updated_ns"], ch["_number"]), reverse=True)
            page = matching[skip:skip + limit]
            items = [self.change_json(ch, opts, user) for ch in page]
            if items and len(matching) > skip + limit:
                items[-1]["_more_changes"] = True
            results.append(items)
        return self.json_response(results[0] if len(results) == 1 else results, user)

    def comments_json(self, ch):
        out = {}
        for c in ch["comments"]:
            cj = {k: c[k] for k in ("id", "patch_set", "line", "range", "message", "unresolved", "tag", "in_reply_to",
                                    "commit_id") if c.get(k) is not None}
            cj["author"] = self.account_json(c["author"], True)
            cj["updated"] = fmt_ts(c["updated_ns"])
            out.setdefault(c["path"], []).append(cj)
        return out

    def post_review(self, ch, ps, body, user, handler):
        if user is None:
            return self.text_response(403, "Authentication required", user)
        ctype = (handler.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return self.text_response(400, "Expected Content-Type: application/json", user)
        try:
            review = json.loads(body or b"{}")
            if not isinstance(review, dict):
                raise ValueError("not an object")
        except ValueError as e:
            return self.text_response(400, "Invalid JSON: %s" % e, user)
        acc = self.account_by(user)
        notify = review.get("notify")
        if notify is not None and notify not in ("NONE", "OWNER", "OWNER_REVIEWERS", "ALL"):
            return self.text_response(400, 'Invalid value for "notify": %s' % notify, user)
        if review.get("robot_comments"):
            # deprecated; this server runs with change.enableRobotComments = false
            return self.text_response(400, "robot comments are disabled", user)
        attention = []
        for key, op in (("add_to_attention_set", "add"), ("remove_from_attention_set", "remove")):
            for item in review.get(key) or []:
                if not isinstance(item, dict) or not item.get("reason"):
                    return self.text_response(400, "missing field: reason", user)
                target = self.account_by(item.get("user", ""))
                if target is None:
                    return self.text_response(400, "%s is not a valid user" % item.get("user"), user)
                attention.append((op, target["_account_id"], item["reason"], False))
        if not review.get("ignore_automatic_attention_set_rules") and acc["_account_id"] != ch["owner"]:
            # Gerrit's own rules for a reply by someone other than the owner
            attention = [("add", ch["owner"], "%s replied on the change" % user, True),
                         ("remove", acc["_account_id"], "%s replied on the change" % user, True)] + attention
        labels_in = review.get("labels")
        applied = None
        if labels_in is not None:
            applied = {}
            for name, value in labels_in.items():
                label = self.state["labels"].get(name)
                if label is None:
                    continue  # unknown label: silently dropped (change.strictLabels=false)
                value = int(value)
                if value != 0:
                    valid = {int(k.strip().replace("+", "")) for k in label["values"]}
                    if value not in valid:
                        continue  # not a value of the label: silently dropped
                    lo, hi = self.permitted_range(acc, name)
                    if not lo <= value <= hi:
                        return self.text_response(403, 'Applying label "%s": %d is restricted' % (name, value), user)
                applied[name] = value
        if ch["status"] != "NEW" and applied:
            return self.text_response(409, "change is closed", user)
        tag = review.get("tag")
        comments = review.get("comments") or {}
        valid_paths = set(ps["files"]) | set(MAGIC_FILES)
        for path in comments:
            if path not in valid_paths:
                return self.text_response(400, "file %s not found in revision %s,%d" % (path, ch["_number"], ps["number"]), user)
        ns = self.now()
        added = 0
        for path, items in comments.items():
            for c in items:
                line = c.get("line") or (c.get("range") or {}).get("end_line")
                stored = {"id": self.sha("comment")[:8] + "_" + self.sha("c")[:8], "path": path,
                          "patch_set": ps["number"], "line": line, "range": c.get("range"),
                          "message": c.get("message", ""), "unresolved": bool(c.get("unresolved", False)),
                          "tag": tag, "in_reply_to": c.get("in_reply_to"), "author": acc["_account_id"],
                          "updated_ns": ns, "commit_id": ps["sha"], "side": c.get("side", "REVISION")}
                if review.get("omit_duplicate_comments"):
                    dup = any(o["path"] == path and o["patch_set"] == ps["number"] and o["line"] == line and
                              o.get("range") == c.get("range") and o["message"] == stored["message"]
                              for o in ch["comments"])
                    if dup:
                        continue
                ch["comments"].append(stored)
                added += 1
        for name, value in (applied or {}).items():
            votes = ch["votes"].setdefault(name, {})
            if value == 0:
                votes.pop(str(acc["_account_id"]), None)
            else:
                votes[str(acc["_account_id"])] = {"value": value, "date_ns": ns, "tag": tag, "patch_set": ps["number"]}
        if applied:
            ch["votes"] = {k: v for k, v in ch["votes"].items() if v} or ch["votes"]
            # a reviewer who voted gets an entry under every label
        header = "Patch Set %d:" % ps["number"]
        if applied:
            header += " " + " ".join("%s%+d" % (k, v) if v else "-%s" % k for k, v in applied.items())
        parts = [header]
        if added:
            parts.append("(%d comment%s)" % (added, "" if added == 1 else "s"))
        if review.get("message"):
            parts.append(review["message"])
        if review.get("message") or applied or added:
            self.add_message(ch, acc["_account_id"], "\n\n".join(parts), tag, ps["number"])
        ch["updated_ns"] = self.now()
        if acc["_account_id"] not in ch["reviewers"]:
            ch["reviewers"].append(acc["_account_id"])
        result = {}
        if applied is not None:
            result["labels"] = applied
        changes = self.apply_attention(ch, user, attention)
        self.state["reviews"].append({"change": ch["_number"], "project": ch["project"], "patch_set": ps["number"],
                                      "revision": ps["sha"], "account": user, "input": review, "result": result,
                                      "attention": changes, "time": time.time()})
        return self.json_response(result, user)

    def apply_attention(self, ch, by, ops):
        """Applies attention-set operations; every one asked for is logged (`/__control/attention`)."""
        att = ch.setdefault("attention_set", {})
        log = self.state.setdefault("attention_log", [])
        out = []
        for op, who, reason, automatic in ops:
            key = str(who)
            changed = (key not in att) if op == "add" else (key in att)
            if op == "add" and changed:
                att[key] = {"reason": reason, "last_update_ns": self.now()}
            elif op == "remove" and changed:
                del att[key]
            entry = {"change": ch["_number"], "by": by, "op": op, "account": who, "reason": reason,
                     "automatic": automatic, "changed": changed}
            log.append(entry)
            out.append(entry)
        return out

    # ---- control API ---------------------------------------------------------------------------------------
    def handle_control(self, method, path, query, body):
        body = body or {}
        st = self.state
        if path == "/__control/accounts" and method == "POST":
            # Gerrit accounts need not have a username (AccountInfo then has none): such accounts
            # are created here with a name and an e-mail address only.
            username = body.get("username")
            if username is None and not body.get("email"):
                raise ControlError(400, "an account needs a username or an email")
            if self.account_by(username or body["email"]):
                raise ControlError(409, "account exists")
            aid = st["next_account"]
            st["next_account"] += 1
            acc = {"_account_id": aid, "username": username, "name": body.get("name", username),
                   "email": body.get("email", "%s@example.org" % username),
                   "http_password": body.get("http_password"), "ranges": body.get("ranges", {})}
            st["accounts"][str(aid)] = acc
            return 200, acc
        if path == "/__control/projects" and method == "POST":
            info = st["projects"].setdefault(body["name"], {"public": True})
            if "public" in body:
                info["public"] = bool(body["public"])
            if body.get("git"):
                info["git"] = os.path.abspath(body["git"])
            return 200, dict(info, name=body["name"], git=self.repository(body["name"]).path)
        if path == "/__control/groups" and method == "POST":
            groups = st.setdefault("groups", {})
            if any(g["name"] == body["name"] for g in groups.values()):
                raise ControlError(409, "group %s exists" % body["name"])
            number = len(groups) + 1
            members = []
            for who in body.get("members", []):
                acc = self.account_by(who)
                if acc is None:
                    raise ControlError(400, "unknown account %r" % who)
                members.append(acc["_account_id"])
            group = {"name": body["name"], "id": hashlib.sha1(("group" + body["name"]).encode()).hexdigest(),
                     "group_id": number, "members": members, "includes": list(body.get("includes", []))}
            groups[group["id"]] = group
            return 200, group
        if path == "/__control/attention" and method == "GET":
            change = (query.get("change") or [None])[0]
            return 200, [e for e in st.get("attention_log", []) if change is None or str(e["change"]) == change]
        if path == "/__control/labels" and method == "POST":
            st["labels"][body["name"]] = {"values": body["values"]}
            return 200, st["labels"][body["name"]]
        if path == "/__control/reviews" and method == "GET":
            change = (query.get("change") or [None])[0]
            return 200, [r for r in st["reviews"] if change is None or str(r["change"]) == change]
        if path == "/__control/changes" and method == "POST":
            owner = self.account_by(body.get("owner", ""))
            if owner is None:
                raise ControlError(400, "unknown owner %r" % body.get("owner"))
            project = body["project"]
            st["projects"].setdefault(project, {"public": True})
            number = st["next_change"]
            ns = self.now()
            ch = {"_number": number, "project": project, "branch": body.get("branch", "main"),
                  "change_id": "I" + hashlib.sha1(("change%d%s" % (number, project)).encode()).hexdigest(),
                  "subject": body.get("subject", "Change %d" % number), "status": "NEW",
                  "owner": owner["_account_id"], "created_ns": ns, "updated_ns": ns, "topic": body.get("topic"),
                  "work_in_progress": bool(body.get("work_in_progress", False)),
                  "patch_sets": [], "votes": {}, "reviewers": [], "messages": [], "comments": []}
            self.new_patch_set(ch, body.get("files"), owner["_account_id"])  # refuses before anything is kept
            st["changes"][str(number)] = ch
            st["next_change"] += 1
            return 200, self.control_summary(ch)
        m = re.fullmatch(r"/__control/changes/(\d+)(?:/(\w+))?", path)
        if m:
            ch = st["changes"].get(m.group(1))
            if ch is None:
                raise ControlError(404, "no change %s" % m.group(1))
            action = m.group(2)
            if action is None and method == "GET":
                return 200, ch
            if method != "POST":
                return None
            if action == "patchsets":
                uploader = self.account_by(body.get("uploader") or ch["owner"])
                files = body.get("files")
                if files is None and not self.repository(ch["project"]).pushed:
                    files = {p: {} for p in ch["patch_sets"][-1]["files"]}
                ps = self.new_patch_set(ch, files, uploader["_account_id"], body.get("subject"))
                if body.get("subject"):
                    ch["subject"] = body["subject"]
                return 200, {"number": ps["number"], "revision": ps["sha"], "ref": ps["ref"],
                             "updated": fmt_ts(ch["updated_ns"])}
            if action == "votes":
                acc = self.account_by(body["account"])
                if acc is None or body["label"] not in st["labels"]:
                    raise ControlError(400, "unknown account or label")
                ns = self.now()
                value = int(body["value"])
                votes = ch["votes"].setdefault(body["label"], {})
                if value == 0:
                    votes.pop(str(acc["_account_id"]), None)
                else:
                    votes[str(acc["_account_id"])] = {"value": value, "date_ns": ns, "tag": body.get("tag"),
                                                      "patch_set": len(ch["patch_sets"])}
                if acc["_account_id"] not in ch["reviewers"]:
                    ch["reviewers"].append(acc["_account_id"])
                self.add_message(ch, acc["_account_id"], "Patch Set %d: %s%+d" % (len(ch["patch_sets"]), body["label"], value),
                                 body.get("tag"))
                return 200, self.control_summary(ch)
            if action == "messages":
                # a comment as Gerrit records one posted on patch set P (default: the current one)
                acc = self.account_by(body["account"])
                if acc is None:
                    raise ControlError(400, "unknown account %r" % body["account"])
                number = int(body.get("patch_set") or len(ch["patch_sets"]))
                text = body["message"] if body.get("raw") else "Patch Set %d:\n\n%s" % (number, body["message"])
                self.add_message(ch, acc["_account_id"], text, body.get("tag"), number)
                return 200, self.control_summary(ch)
            if action in ("abandon", "restore", "merge"):
                ch["status"] = {"abandon": "ABANDONED", "restore": "NEW", "merge": "MERGED"}[action]
                text = {"abandon": "Abandoned", "restore": "Restored", "merge": "Change has been successfully merged"}[action]
                self.add_message(ch, ch["owner"], text, "autogenerated:gerrit:" + action)
                return 200, self.control_summary(ch)
        return None

    def control_summary(self, ch):
        cur = ch["patch_sets"][-1]
        return {"_number": ch["_number"], "id": "%s~%d" % (ch["project"], ch["_number"]), "change_id": ch["change_id"],
                "current_revision": cur["sha"], "patch_set": cur["number"], "ref": cur["ref"], "status": ch["status"],
                "updated": fmt_ts(ch["updated_ns"])}


if __name__ == "__main__":
    fakecommon.main(GerritApp, "fake Gerrit 3.10 REST server")
