#!/usr/bin/env python3
"""A fake Phorge (Phabricator) Conduit server for stepgate's tests (Python 3 standard library only).

    python3 conduit_fake.py --port 0 [--state-file F] [--verbose]

prints the chosen port on the first stdout line. See fakecommon.py for the shared control API (request log,
fault injection, state file). Behaviour follows /work/shared/reference/phorge-conduit.md (taken from a running
Phorge) and Phorge's source:

* `POST /api/<method>`, form-encoded. JSON form: `params=<JSON>` with the token inside `"__conduit__": {"token"}`;
  a separate `api.token` is IGNORED when `params` is present -> ERR-INVALID-SESSION "Session key is not present.".
  Flat form: `api.token=...` plus PHP bracket fields (`constraints[statuses][0]=accepted`).
* Every answer is HTTP 200 `{"result", "error_code", "error_info"}`. Unknown method -> ERR-CONDUIT-CALL
  `Conduit method "x" does not exist.` (checked before auth, as Phorge does); a parameter the method does not
  define -> ERR-CONDUIT-CALL; bad values (unknown constraint, order, transaction type, limit > 100) ->
  ERR-CONDUIT-CORE; a bad token -> ERR-INVALID-AUTH; getrawdiff of an unknown diff -> ERR_NOT_FOUND.
* `*.search`: constraints, attachments (reviewers), order newest|oldest|updated, limit (<= 100), `after` cursor
  (the last row's id, as a string; null on the last page).
* `dateModified` (epoch seconds) is bumped by every write to a revision - comments, accepts, new diffs AND
  harbormaster.sendmessage results - so a poller sees its own activity. The fake's clock never repeats a second:
  each write is at least one second after the previous one.
* `harbormaster.queryautotargets` creates (once) the build targets of a diff; `harbormaster.sendmessage` (with
  `receiver`, or the older `buildTargetPHID`) stores lint/unit results and sets the target's status.

Methods: user.whoami, conduit.ping, differential.revision.search, differential.diff.search,
differential.changeset.search, differential.getrawdiff, differential.revision.edit, harbormaster.queryautotargets,
harbormaster.sendmessage, harbormaster.target.search, diffusion.repository.search, transaction.search (the
revision's comment transactions, newest first; constraints phids/authorPHIDs), user.search (phids, usernames).

Extra fault kind: {"kind": "conduit_error", "code": "ERR-CONDUIT-CORE", "info": "..."} answers HTTP 200 with that
error envelope. (Conduit itself always answers 200; "status" faults model a proxy in front of it: 500/502/503.)

Control API (JSON, no auth), in addition to fakecommon's:
  POST /__control/users          {"userName", "realName"?, "token"?} -> {"phid", "userName", "token"}
  POST /__control/repositories   {"name", "callsign"?, "shortName"?} -> {"id", "phid", "callsign", ...}
  POST /__control/revisions      {"author": USERNAME, "title", "summary"?, "testPlan"?, "repository"?: PHID|CALLSIGN,
                                  "status"?: "needs-review", "reviewers"?: [USERNAME], "diff"?: UNIFIED_DIFF,
                                  "baseCommit"?, "branch"?}
                                 -> {"id", "phid", "monogram", "diffID", "diffPHID", "dateModified"}
  POST /__control/revisions/N/diffs     {"diff"?, "baseCommit"?}       -> {"diffID", "diffPHID", "dateModified"}
  POST /__control/revisions/N/status    {"status"}
  POST /__control/revisions/N/accept    {"reviewer": USERNAME}          (reviewer accepted; status accepted)
  POST /__control/revisions/N/comments  {"author": USERNAME, "content"}
  GET  /__control/revisions/N           -> the stored revision (comments, reviewers, diffs, dateModified)
  GET  /__control/harbormaster[?diff=PHID] -> [targets with their "messages" (type, unit, lint, authorPHID)]
  POST /__control/clock          {"advance": SECONDS}  moves the fake's clock forward
"""

import base64
import hashlib
import json
import os
import re
import sys
import time
from urllib.parse import parse_qs

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fakecommon  # noqa: E402
from fakecommon import ControlError  # noqa: E402

STATUSES = {
    "needs-review": ("Needs Review", False, "magenta"),
    "needs-revision": ("Needs Revision", False, "red"),
    "changes-planned": ("Changes Planned", False, "red"),
    "accepted": ("Accepted", False, "green"),
    "published": ("Closed", True, "cyan"),
    "abandoned": ("Abandoned", True, None),
    "draft": ("Draft", False, None),
}
SEARCH_PARAMS = ["queryKey", "constraints", "attachments", "order", "before", "after", "limit"]
METHODS = {
    "conduit.ping": [],
    "user.whoami": [],
    "differential.revision.search": SEARCH_PARAMS,
    "differential.diff.search": SEARCH_PARAMS,
    "differential.changeset.search": SEARCH_PARAMS,
    "diffusion.repository.search": SEARCH_PARAMS,
    "harbormaster.target.search": SEARCH_PARAMS,
    "differential.getrawdiff": ["diffID"],
    "differential.revision.edit": ["transactions", "objectIdentifier"],
    "harbormaster.queryautotargets": ["objectPHID", "targetKeys"],
    "harbormaster.sendmessage": ["receiver", "buildTargetPHID", "type", "unit", "lint"],
    "transaction.search": ["objectIdentifier", "objectType", "constraints", "before", "after", "limit"],
    "user.search": SEARCH_PARAMS,
}
EDIT_TYPES = ["update", "title", "author", "summary", "testPlan", "reviewers.add", "reviewers.remove",
              "reviewers.set", "repositoryPHID", "projects.add", "projects.remove", "projects.set",
              "subscribers.add", "subscribers.remove", "subscribers.set", "phabricator:auditors", "view", "edit",
              "abandon", "accept", "close", "commandeer", "plan-changes", "reclaim", "reject", "reopen",
              "request-review", "resign", "draft", "comment", "mfa"]
AUTOTARGETS = {"arcanist.lint": "Arcanist Lint Results", "arcanist.unit": "Arcanist Unit Results"}
DEFAULT_DIFF = ("diff --git a/README.md b/README.md\n--- a/README.md\n+++ b/README.md\n@@ -1 +1,2 @@\n # demo\n"
                "+A new line.\n")


class ConduitError(Exception):
    def __init__(self, code, info):
        super().__init__(info)
        self.code = code
        self.info = info


def php_fields(pairs):
    """Decodes PHP bracket syntax (a[b][0]=x) into nested dicts, then dicts with 0..n-1 keys into lists."""
    root = {}
    for key, value in pairs:
        parts = re.findall(r"^[^\[]+|\[([^\]]*)\]", key)
        names = [key.split("[", 1)[0]] + re.findall(r"\[([^\]]*)\]", key)
        node = root
        for i, name in enumerate(names):
            last = i == len(names) - 1
            if name == "":
                name = str(len(node))
            if last:
                node[name] = value
            else:
                node = node.setdefault(name, {})
        del parts

    def listify(n):
        if isinstance(n, dict):
            n = {k: listify(v) for k, v in n.items()}
            if n and all(k.isdigit() for k in n) and sorted(int(k) for k in n) == list(range(len(n))):
                return [n[str(i)] for i in range(len(n))]
        return n

    return listify(root)


class ConduitApp(fakecommon.App):
    def initial_state(self):
        return {"users": {}, "tokens": {}, "repositories": {}, "revisions": {}, "diffs": {}, "targets": {},
                "buildables": {}, "clock": 0, "clock_offset": 0, "next": {"repo": 1, "rev": 1, "diff": 1,
                                                                           "changeset": 1, "target": 1, "xact": 1}}

    # ---- helpers -------------------------------------------------------------------------------------------
    def now(self):
        t = max(int(time.time()) + self.state["clock_offset"], self.state["clock"] + 1)
        self.state["clock"] = t
        return t

    def next_id(self, kind):
        n = self.state["next"][kind]
        self.state["next"][kind] = n + 1
        return n

    def phid(self, kind, *seed):
        h = hashlib.sha1(("%s|%s|%s" % (kind, seed, self.next_id("xact"))).encode()).hexdigest()
        alphabet = "abcdefghijklmnopqrstuvwxyz234567"
        return "PHID-%s-%s" % (kind, "".join(alphabet[int(h[i:i + 2], 16) % 32] for i in range(0, 40, 2)))

    def user_by_name(self, name):
        for u in self.state["users"].values():
            if u["userName"] == name:
                return u
        raise ControlError(400, "unknown user %r" % name)

    def find_revision(self, ident):
        ident = str(ident)
        for r in self.state["revisions"].values():
            if ident in (r["phid"], "D%d" % r["id"], str(r["id"])):
                return r
        return None

    def touch(self, rev):
        rev["dateModified"] = self.now()

    def paths_of(self, raw):
        paths = []
        for m in re.finditer(r"^diff --git a/(\S+) b/(\S+)$", raw, re.M):
            path = m.group(2)
            if path not in paths:
                paths.append(path)
        if not paths:
            for m in re.finditer(r"^\+\+\+ (?:b/)?(\S+)", raw, re.M):
                if m.group(1) != "/dev/null" and m.group(1) not in paths:
                    paths.append(m.group(1))
        return paths

    def new_diff(self, rev, author_phid, raw, base=None, branch=None):
        did = self.next_id("diff")
        ts = self.now()
        diff = {"id": did, "phid": self.phid("DIFF", did), "revisionPHID": rev["phid"] if rev else None,
                "authorPHID": author_phid, "repositoryPHID": rev.get("repositoryPHID") if rev else None,
                "raw": raw, "baseCommit": base or hashlib.sha1(b"base").hexdigest(), "branch": branch or "main",
                "dateCreated": ts, "dateModified": ts, "changesets": []}
        for path in self.paths_of(raw):
            cid = self.next_id("changeset")
            diff["changesets"].append({"id": cid, "phid": self.phid("DCNG", cid), "path": path})
        self.state["diffs"][str(did)] = diff
        if rev is not None:
            rev["diffPHID"] = diff["phid"]
            rev["diffIDs"].append(did)
            rev["dateModified"] = ts
        return diff

    def status_json(self, value):
        name, closed, color = STATUSES[value]
        return {"value": value, "name": name, "closed": closed, "color.ansi": color}

    # ---- API -----------------------------------------------------------------------------------------------
    def envelope(self, result=None, code=None, info=None):
        body = json.dumps({"result": result, "error_code": code, "error_info": info}).encode()
        return body

    def malformed_body(self):
        return b'{"result":{"data":[{"id":1,"type":"DREV","phid":'

    def fault_response(self, fault, handler, method, path, query, body_bytes):
        if fault["kind"] == "conduit_error":
            return (200, {"Content-Type": "application/json"},
                    self.envelope(None, fault.get("code", "ERR-CONDUIT-CORE"), fault.get("info", "injected error")))
        return None

    def handle_api(self, handler, method, path, query, body):
        m = re.fullmatch(r"/api/([\w.]+)", path)
        if not m:
            return 404, {"Content-Type": "text/plain"}, b"Not Found\n", None
        name = m.group(1)
        fields = []
        for k, vs in query.items():
            fields += [(k, v) for v in vs]
        if body:
            for k, vs in parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items():
                fields += [(k, v) for v in vs]
        user = None
        try:
            if name not in METHODS:
                raise ConduitError("ERR-CONDUIT-CALL", 'Conduit method "%s" does not exist.' % name)
            field_map = dict(fields)
            if "params" in field_map:
                try:
                    params = json.loads(field_map["params"])
                except ValueError:
                    raise ConduitError("ERR-CONDUIT-CORE", "Expected parameters to be a JSON dictionary.")
                if not isinstance(params, dict):
                    params = {}
                conduit = params.pop("__conduit__", None)
                token = conduit.get("token") if isinstance(conduit, dict) else None
                # api.token next to params is ignored, as in Phorge
            else:
                token = field_map.get("api.token")
                params = php_fields([(k, v) for k, v in fields
                                     if k not in ("api.token", "output", "__conduit__", "format")])
            if not token:
                raise ConduitError("ERR-INVALID-SESSION", "Session key is not present.")
            if not token.startswith("api-") or len(token) != 32:
                raise ConduitError("ERR-INVALID-AUTH",
                                   'API token "%s" has the wrong length. API tokens should be 32 characters long.'
                                   % token)
            user_phid = self.state["tokens"].get(token)
            if user_phid is None:
                raise ConduitError("ERR-INVALID-AUTH", "API token does not exist.")
            user = self.state["users"][user_phid]["userName"]
            unknown = [k for k in params if k not in METHODS[name]]
            if unknown:
                raise ConduitError("ERR-CONDUIT-CALL", "API Method \"%s\" does not define these parameters: %s." %
                                   (name, ", ".join("'%s'" % k for k in unknown)))
            result = getattr(self, "m_" + name.replace(".", "_"))(params, user_phid)
            payload = self.envelope(result)
        except ConduitError as e:
            payload = self.envelope(None, e.code, e.info)
        return 200, {"Content-Type": "application/json"}, payload, user

    # ---- methods -------------------------------------------------------------------------------------------
    def m_conduit_ping(self, p, actor):
        return "fake-phorge"

    def m_user_whoami(self, p, actor):
        u = self.state["users"][actor]
        return {"phid": u["phid"], "userName": u["userName"], "realName": u["realName"],
                "image": "http://127.0.0.1/res/phabricator/profile.png", "uri": "http://127.0.0.1/p/%s/" % u["userName"],
                "roles": ["verified", "approved", "activated"] + (["bot"] if u.get("bot") else []),
                "primaryEmail": u["primaryEmail"]}

    def search(self, p, rows, constraint_fns, orders, to_json, attachments_ok=()):
        constraints = p.get("constraints") or {}
        if isinstance(constraints, list):
            constraints = {}
        for key in constraints:
            if key not in constraint_fns:
                raise ConduitError("ERR-CONDUIT-CORE",
                                   'Constraint "%s" is not a valid constraint for this query.' % key)
        try:
            limit = int(p.get("limit") or 100)
        except (TypeError, ValueError):
            raise ConduitError("ERR-CONDUIT-CORE", "Limit must be an integer.")
        if limit > 100:
            raise ConduitError("ERR-CONDUIT-CORE", "Maximum page size for Conduit API method calls is 100, but "
                                                   "this call specified %d." % limit)
        order = p.get("order") or "newest"
        if order not in orders:
            raise ConduitError("ERR-CONDUIT-CORE", 'Order "%s" is not a valid order for this query. Valid orders '
                                                   'are: %s.' % (order, ", ".join(orders)))
        attachments = p.get("attachments") or {}
        if isinstance(attachments, list):
            attachments = {}
        for key in attachments:
            if key not in attachments_ok:
                raise ConduitError("ERR-CONDUIT-CORE", 'Attachment "%s" is not recognized.' % key)
        for key, value in constraints.items():
            rows = [r for r in rows if constraint_fns[key](r, value)]
        keyfn = orders[order]
        rows.sort(key=keyfn, reverse=order != "oldest")
        after = p.get("after")
        if after not in (None, ""):
            cursor = next((r for r in rows if str(r["id"]) == str(after)), None)
            if cursor is None:
                raise ConduitError("ERR-CONDUIT-CORE", "Cursor \"%s\" does not identify a valid object." % after)
            ck = keyfn(cursor)
            rows = [r for r in rows if (keyfn(r) > ck if order == "oldest" else keyfn(r) < ck)]
        page = rows[:limit]
        more = len(rows) > limit
        return {"data": [to_json(r, attachments) for r in page], "maps": {}, "query": {"queryKey": p.get("queryKey")},
                "cursor": {"limit": limit, "after": str(page[-1]["id"]) if more and page else None,
                           "before": str(page[0]["id"]) if after not in (None, "") and page else None,
                           "order": p.get("order")}}

    def m_differential_revision_search(self, p, actor):
        def rev_json(r, att):
            out = {"id": r["id"], "type": "DREV", "phid": r["phid"], "fields": {
                "title": r["title"], "uri": "%s/D%d" % (self.base_url, r["id"]), "authorPHID": r["authorPHID"],
                "status": self.status_json(r["status"]), "repositoryPHID": r.get("repositoryPHID"),
                "diffPHID": r["diffPHID"], "summary": r["summary"], "testPlan": r["testPlan"],
                "isDraft": r["status"] == "draft", "holdAsDraft": False, "dateCreated": r["dateCreated"],
                "dateModified": r["dateModified"], "policy": {"view": "users", "edit": "users"}},
                "attachments": {}}
            if att.get("reviewers"):
                out["attachments"]["reviewers"] = {"reviewers": [dict(x) for x in r["reviewers"]]}
            return out

        in_list = lambda field: (lambda r, v: r.get(field) in (v if isinstance(v, list) else [v]))  # noqa: E731
        fns = {"ids": lambda r, v: r["id"] in [int(x) for x in v], "phids": in_list("phid"),
               "statuses": in_list("status"), "repositoryPHIDs": in_list("repositoryPHID"),
               "authorPHIDs": in_list("authorPHID"),
               "responsiblePHIDs": lambda r, v: r["authorPHID"] in v or any(x["reviewerPHID"] in v for x in r["reviewers"]),
               "modifiedStart": lambda r, v: r["dateModified"] >= int(v),
               "modifiedEnd": lambda r, v: r["dateModified"] <= int(v),
               "createdStart": lambda r, v: r["dateCreated"] >= int(v),
               "createdEnd": lambda r, v: r["dateCreated"] <= int(v)}
        orders = {"newest": lambda r: r["id"], "oldest": lambda r: r["id"],
                  "updated": lambda r: (r["dateModified"], r["id"]), "outdated": lambda r: (-r["dateModified"], -r["id"])}
        for key in (p.get("constraints") or {}):
            if key == "statuses":
                for s in p["constraints"]["statuses"]:
                    if s not in STATUSES:
                        raise ConduitError("ERR-CONDUIT-CORE", 'Unknown revision status "%s".' % s)
        return self.search(p, list(self.state["revisions"].values()), fns, orders, rev_json, ("reviewers", "subscribers", "projects"))

    def m_differential_diff_search(self, p, actor):
        def diff_json(d, att):
            refs = [{"type": "base", "identifier": d["baseCommit"]}, {"type": "branch", "name": d["branch"]}]
            return {"id": d["id"], "type": "DIFF", "phid": d["phid"], "fields": {
                "revisionPHID": d["revisionPHID"], "authorPHID": d["authorPHID"],
                "repositoryPHID": d["repositoryPHID"], "refs": refs, "dateCreated": d["dateCreated"],
                "dateModified": d["dateModified"], "policy": {"view": "public"}}, "attachments": {}}

        in_list = lambda field: (lambda r, v: r.get(field) in v)  # noqa: E731
        fns = {"ids": lambda r, v: r["id"] in [int(x) for x in v], "phids": in_list("phid"),
               "revisionPHIDs": in_list("revisionPHID")}
        orders = {"newest": lambda r: r["id"], "oldest": lambda r: r["id"]}
        return self.search(p, list(self.state["diffs"].values()), fns, orders, diff_json, ("commits",))

    def m_differential_changeset_search(self, p, actor):
        rows = []
        for d in self.state["diffs"].values():
            for c in d["changesets"]:
                rows.append(dict(c, diffPHID=d["phid"], dateCreated=d["dateCreated"]))

        def cs_json(c, att):
            return {"id": c["id"], "type": "DCNG", "phid": c["phid"], "fields": {
                "diffPHID": c["diffPHID"], "path": {"displayPath": c["path"],
                                                    "absolutePath.base64": base64.b64encode(("/" + c["path"]).encode()).decode()},
                "dateCreated": c["dateCreated"], "dateModified": c["dateCreated"]}, "attachments": {}}

        fns = {"ids": lambda r, v: r["id"] in [int(x) for x in v], "phids": lambda r, v: r["phid"] in v,
               "diffPHIDs": lambda r, v: r["diffPHID"] in v}
        orders = {"newest": lambda r: r["id"], "oldest": lambda r: r["id"]}
        return self.search(p, rows, fns, orders, cs_json)

    def m_diffusion_repository_search(self, p, actor):
        def repo_json(r, att):
            return {"id": r["id"], "type": "REPO", "phid": r["phid"], "fields": {
                "name": r["name"], "vcs": "git", "callsign": r.get("callsign"), "shortName": r.get("shortName"),
                "status": "active", "isImporting": False, "almanacServicePHID": None, "spacePHID": None,
                "dateCreated": r["dateCreated"], "dateModified": r["dateCreated"],
                "policy": {"view": "users", "edit": "admin", "diffusion.push": "users"},
                "description": {"raw": ""}}, "attachments": {}}

        fns = {"ids": lambda r, v: r["id"] in [int(x) for x in v], "phids": lambda r, v: r["phid"] in v,
               "callsigns": lambda r, v: r.get("callsign") in v, "shortNames": lambda r, v: r.get("shortName") in v}
        orders = {"newest": lambda r: r["id"], "oldest": lambda r: r["id"]}
        return self.search(p, list(self.state["repositories"].values()), fns, orders, repo_json, ("uris", "metrics"))

    def m_harbormaster_target_search(self, p, actor):
        names = {"target/pending": "Pending", "target/building": "Building", "target/passed": "Passed",
                 "target/failed": "Failed"}

        def t_json(t, att):
            return {"id": t["id"], "type": "HMBT", "phid": t["phid"], "fields": {
                "name": t["name"], "buildPHID": t["buildPHID"], "buildStepPHID": None,
                "status": {"value": t["status"], "name": names.get(t["status"], t["status"])},
                "epochStarted": None, "epochCompleted": None, "buildGeneration": 1,
                "dateCreated": t["dateCreated"], "dateModified": t["dateCreated"], "policy": {"view": "users"}},
                "attachments": {}}

        fns = {"ids": lambda r, v: r["id"] in [int(x) for x in v], "phids": lambda r, v: r["phid"] in v,
               "buildPHIDs": lambda r, v: r["buildPHID"] in v}
        orders = {"newest": lambda r: r["id"], "oldest": lambda r: r["id"]}
        return self.search(p, list(self.state["targets"].values()), fns, orders, t_json)

    def m_user_search(self, p, actor):
        def u_json(u, att):
            return {"id": u["id"], "type": "USER", "phid": u["phid"], "fields": {
                "username": u["userName"], "realName": u["realName"], "roles": ["verified", "approved", "activated"],
                "dateCreated": 0, "dateModified": 0, "policy": {"view": "public", "edit": "no-one"}},
                "attachments": {}}

        rows = [dict(u, id=i + 1) for i, u in enumerate(self.state["users"].values())]
        fns = {"ids": lambda r, v: r["id"] in [int(x) for x in v], "phids": lambda r, v: r["phid"] in v,
               "usernames": lambda r, v: r["userName"] in v}
        orders = {"newest": lambda r: r["id"], "oldest": lambda r: r["id"]}
        return self.search(p, rows, fns, orders, u_json)

    def m_transaction_search(self, p, actor):
        ident = p.get("objectIdentifier")
        if not ident:
            raise ConduitError("ERR-CONDUIT-CORE", 'When calling "transaction.search", you must provide an object to '
                                                   'retrieve transactions for.')
        rev = self.find_revision(ident)
        if rev is None:
            raise ConduitError("ERR-CONDUIT-CORE", 'No object "%s" exists.' % ident)
        rows = []
        for i, c in enumerate(rev["comments"]):
            rows.append({"id": i + 1, "phid": "PHID-XACT-DREV-%s%010d" % (rev["phid"][-6:], i + 1),
                         "authorPHID": c["authorPHID"], "content": c["content"], "date": c["date"]})

        def x_json(x, att):
            return {"id": x["id"], "phid": x["phid"], "type": "comment", "authorPHID": x["authorPHID"],
                    "objectPHID": rev["phid"], "dateCreated": x["date"], "dateModified": x["date"], "groupID": "g",
                    "comments": [{"id": x["id"], "phid": "PHID-XCMT-%d" % x["id"], "version": 1,
                                  "authorPHID": x["authorPHID"], "dateCreated": x["date"],
                                  "dateModified": x["date"], "removed": False, "content": {"raw": x["content"]}}],
                    "fields": {}}

        fns = {"phids": lambda r, v: r["phid"] in v, "authorPHIDs": lambda r, v: r["authorPHID"] in v}
        orders = {"newest": lambda r: r["id"]}
        return self.search(p, rows, fns, orders, x_json)

    def m_differential_getrawdiff(self, p, actor):
        did = p.get("diffID")
        if did is None:
            raise ConduitError("ERR-CONDUIT-CORE", 'Parameter "diffID" is required.')
        diff = self.state["diffs"].get(str(did))
        if diff is None:
            raise ConduitError("ERR_NOT_FOUND", "Diff not found.")
        return diff["raw"]

    def m_differential_revision_edit(self, p, actor):
        xactions = p.get("transactions")
        if not isinstance(xactions, list) or not xactions:
            raise ConduitError("ERR-CONDUIT-CORE", 'Parameter "transactions" must be a list of transactions.')
        ident = p.get("objectIdentifier")
        rev = self.find_revision(ident) if ident is not None else None
        if ident is not None and rev is None:
            raise ConduitError("ERR-CONDUIT-CORE", 'No object exists with ID "%s".' % ident)
        if rev is None:
            raise ConduitError("ERR-CONDUIT-CORE", "This fake only edits existing revisions (objectIdentifier).")
        for i, x in enumerate(xactions):
            if not isinstance(x, dict) or "type" not in x:
                raise ConduitError("ERR-CONDUIT-CORE", 'Transaction with key "%d" has no type.' % i)
            if x["type"] not in EDIT_TYPES:
                raise ConduitError("ERR-CONDUIT-CORE",
                                   'Transaction with key "%d" has invalid type "%s". This type is not recognized. '
                                   'Valid types are: %s.' % (i, x["type"], ", ".join(EDIT_TYPES)))
        out = []
        for x in xactions:
            t, v = x["type"], x.get("value")
            if t == "comment":
                rev["comments"].append({"authorPHID": actor, "content": v, "date": self.now()})
            elif t in ("title", "summary", "testPlan"):
                rev[t] = v
            elif t == "accept":
                self.set_reviewer(rev, actor, "accepted")
                rev["status"] = "accepted"
            elif t == "reject":
                self.set_reviewer(rev, actor, "rejected")
                rev["status"] = "needs-revision"
            elif t == "request-review":
                rev["status"] = "needs-review"
            elif t == "plan-changes":
                rev["status"] = "changes-planned"
            elif t == "abandon":
                rev["status"] = "abandoned"
            elif t == "reclaim":
                rev["status"] = "needs-review"
            elif t == "close":
                rev["status"] = "published"
            elif t == "reviewers.add":
                for phid in v or []:
                    self.set_reviewer(rev, phid, "added", actor=None)
            elif t == "update":
                diff = next((d for d in self.state["diffs"].values() if d["phid"] == v), None)
                if diff is None:
                    raise ConduitError("ERR-CONDUIT-CORE", 'Diff "%s" does not exist.' % v)
                diff["revisionPHID"] = rev["phid"]
                rev["diffPHID"] = diff["phid"]
                rev["diffIDs"].append(diff["id"])
            out.append({"phid": self.phid("XACT", "DREV")})
        self.touch(rev)
        return {"object": {"id": rev["id"], "phid": rev["phid"]}, "transactions": out}

    def set_reviewer(self, rev, phid, status, actor="self"):
        for r in rev["reviewers"]:
            if r["reviewerPHID"] == phid:
                r["status"] = status
                r["actorPHID"] = phid if actor else None
                return
        rev["reviewers"].append({"reviewerPHID": phid, "status": status, "isBlocking": False,
                                 "actorPHID": phid if actor else None})

    def m_harbormaster_queryautotargets(self, p, actor):
        obj = p.get("objectPHID")
        diff = next((d for d in self.state["diffs"].values() if d["phid"] == obj), None)
        if diff is None:
            raise ConduitError("ERR-CONDUIT-CORE", 'No object exists with PHID "%s".' % obj)
        keys = p.get("targetKeys") or []
        for k in keys:
            if k not in AUTOTARGETS:
                raise ConduitError("ERR-CONDUIT-CORE", 'No autotarget exists with key "%s".' % k)
        buildable = self.state["buildables"].setdefault(obj, {"phid": self.phid("HMBB", obj), "targets": {},
                                                               "status": "preparing"})
        for k in keys:
            if k not in buildable["targets"]:
                tid = self.next_id("target")
                target = {"id": tid, "phid": self.phid("HMBT", tid), "diffPHID": obj, "key": k,
                          "name": AUTOTARGETS[k], "buildPHID": self.phid("HMBD", tid), "status": "target/pending",
                          "dateCreated": int(time.time()), "messages": []}
                self.state["targets"][target["phid"]] = target
                buildable["targets"][k] = target["phid"]
        return {"targetMap": {k: buildable["targets"][k] for k in keys}}

    def m_harbormaster_sendmessage(self, p, actor):
        receiver = p.get("receiver") or p.get("buildTargetPHID")
        if not receiver:
            raise ConduitError("ERR-CONDUIT-CORE", 'Calls to "harbormaster.sendmessage" must specify a "receiver".')
        target = self.state["targets"].get(receiver)
        if target is None:
            raise ConduitError("ERR-CONDUIT-CORE", 'Receiver "%s" is not a valid build target.' % receiver)
        mtype = p.get("type")
        if mtype not in ("pass", "fail", "work"):
            raise ConduitError("ERR-CONDUIT-CORE", 'Message type "%s" is unknown. Valid types are: pass, fail, '
                                                   'work.' % mtype)
        unit = p.get("unit") or []
        lint = p.get("lint") or []
        for u in unit:
            if not u.get("name") or u.get("result") not in ("pass", "fail", "skip", "broken", "unsound"):
                raise ConduitError("ERR-CONDUIT-CORE", "Unit result is missing a name or has an invalid result.")
        for l in lint:
            for key in ("name", "code", "severity", "path"):
                if not l.get(key):
                    raise ConduitError("ERR-CONDUIT-CORE", 'Lint message is missing required key "%s".' % key)
            if l["severity"] not in ("error", "warning", "advice", "autofix", "disabled"):
                raise ConduitError("ERR-CONDUIT-CORE", 'Lint severity "%s" is not valid.' % l["severity"])
        target["messages"].append({"type": mtype, "unit": unit, "lint": lint, "authorPHID": actor,
                                   "date": time.time()})
        target["status"] = {"pass": "target/passed", "fail": "target/failed", "work": "target/building"}[mtype]
        diff = next((d for d in self.state["diffs"].values() if d["phid"] == target["diffPHID"]), None)
        if diff and diff["revisionPHID"]:
            rev = self.find_revision(diff["revisionPHID"])
            if rev:
                self.touch(rev)  # Harbormaster results bump the revision's dateModified
        return None

    # ---- control API ---------------------------------------------------------------------------------------
    def handle_control(self, method, path, query, body):
        body = body or {}
        st = self.state
        if path == "/__control/users" and method == "POST":
            phid = self.phid("USER", body["userName"])
            token = body.get("token") or ("api-" + hashlib.sha1(("tok" + phid).encode()).hexdigest()[:28])
            user = {"phid": phid, "userName": body["userName"], "realName": body.get("realName", body["userName"]),
                    "primaryEmail": body.get("email", "%s@example.org" % body["userName"]),
                    "bot": bool(body.get("bot", False))}
            st["users"][phid] = user
            st["tokens"][token] = phid
            return 200, dict(user, token=token)
        if path == "/__control/repositories" and method == "POST":
            rid = self.next_id("repo")
            repo = {"id": rid, "phid": self.phid("REPO", rid), "name": body["name"], "callsign": body.get("callsign"),
                    "shortName": body.get("shortName"), "dateCreated": int(time.time())}
            st["repositories"][repo["phid"]] = repo
            return 200, repo
        if path == "/__control/clock" and method == "POST":
            st["clock_offset"] += int(body.get("advance", 0))
            return 200, {"now": int(time.time()) + st["clock_offset"]}
        if path == "/__control/harbormaster" and method == "GET":
            diff = (query.get("diff") or [None])[0]
            return 200, [t for t in st["targets"].values() if diff is None or t["diffPHID"] == diff]
        if path == "/__control/revisions" and method == "POST":
            author = self.user_by_name(body["author"])
            repo_phid = None
            if body.get("repository"):
                repo = next((r for r in st["repositories"].values()
                             if body["repository"] in (r["phid"], r.get("callsign"), r.get("shortName"))), None)
                if repo is None:
                    raise ControlError(400, "unknown repository")
                repo_phid = repo["phid"]
            status = body.get("status", "needs-review")
            if status not in STATUSES:
                raise ControlError(400, "unknown status")
            rid = self.next_id("rev")
            ts = self.now()
            rev = {"id": rid, "phid": self.phid("DREV", rid), "title": body.get("title", "Revision %d" % rid),
                   "summary": body.get("summary", ""), "testPlan": body.get("testPlan", "none"),
                   "authorPHID": author["phid"], "repositoryPHID": repo_phid, "status": status,
                   "dateCreated": ts, "dateModified": ts, "reviewers": [], "diffPHID": None, "diffIDs": [],
                   "comments": []}
            for name in body.get("reviewers", []):
                self.set_reviewer(rev, self.user_by_name(name)["phid"], "added", actor=None)
            st["revisions"][str(rid)] = rev
            diff = self.new_diff(rev, author["phid"], body.get("diff") or DEFAULT_DIFF, body.get("baseCommit"),
                                 body.get("branch"))
            return 200, {"id": rid, "phid": rev["phid"], "monogram": "D%d" % rid, "diffID": diff["id"],
                         "diffPHID": diff["phid"], "dateModified": rev["dateModified"]}
        m = re.fullmatch(r"/__control/revisions/(\d+)(?:/(\w+))?", path)
        if m:
            rev = st["revisions"].get(m.group(1))
            if rev is None:
                raise ControlError(404, "no revision %s" % m.group(1))
            action = m.group(2)
            if action is None and method == "GET":
                return 200, rev
            if method != "POST":
                return None
            if action == "diffs":
                diff = self.new_diff(rev, rev["authorPHID"], body.get("diff") or DEFAULT_DIFF, body.get("baseCommit"),
                                     body.get("branch"))
                if rev["status"] in ("accepted", "needs-revision", "changes-planned"):
                    rev["status"] = "needs-review"
                return 200, {"diffID": diff["id"], "diffPHID": diff["phid"], "dateModified": rev["dateModified"]}
            if action == "status":
                if body.get("status") not in STATUSES:
                    raise ControlError(400, "unknown status")
                rev["status"] = body["status"]
            elif action == "accept":
                self.set_reviewer(rev, self.user_by_name(body["reviewer"])["phid"], "accepted")
                rev["status"] = "accepted"
            elif action == "comments":
                rev["comments"].append({"authorPHID": self.user_by_name(body["author"])["phid"],
                                        "content": body["content"], "date": self.now()})
            else:
                return None
            self.touch(rev)
            return 200, {"id": rev["id"], "status": rev["status"], "dateModified": rev["dateModified"]}
        return None


if __name__ == "__main__":
    fakecommon.main(ConduitApp, "fake Phorge Conduit server")
