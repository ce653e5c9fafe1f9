#!/usr/bin/env python3
"""A fake Phorge (Phabricator) Conduit server for stepgate's tests (Python 3 standard library only).

    python3 conduit_fake.py --port 0 [--state-file F] [--verbose]

prints the chosen port on the first stdout line. See fakecommon.py for the shared control API (request log,
fault injection, state file). Behaviour follows a running Phorge (what `make phorge-check` runs against):

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
* Harbormaster, as an external build system sees it: a build plan (its "Make HTTP Request" step waits for a
  message) that a Herald rule runs on every new diff of a repository's revisions: the buildable, the build and its
  target (`target/waiting`) exist only for builds a plan started, or for the autotargets `queryautotargets` makes.
  `arc diff` has already sent its own (empty) lint and unit results to the `arcanist.lint`/`arcanist.unit`
  autotargets, so they are complete before any bot looks. `harbormaster.sendmessage` takes results only on a build
  target (a Build or Buildable takes control commands, and refuses `unit`/`lint`); lint and unit messages are
  stored at once, the pass/fail reaches the target a moment later (Phorge's daemons apply it).
* Diffs made as `arc diff` makes them carry refs (branch, base, optional onto); `differential.createrawdiff` (the
  web UI's "Create Diff") makes diffs with no base commit and no refs at all.
* `diffusion.repository.search`: `defaultBranch` (`master` unless set), and the `uris` attachment lists the builtin
  HTTP URIs only while `diffusion.allow-http-auth` is on (their `id` is a string). The fake serves them: git's smart
  HTTP (`git http-backend`) for the repository's "path", read-only, HTTP Basic with the user's VCS password, each
  answer ended by closing the connection (no length), as Phorge behind PHP's built-in web server answers.
* API clients cannot publish inline comments (there is no inline transaction type; the fake has no createinline).

Methods: user.whoami, conduit.ping, differential.revision.search, differential.diff.search,
differential.changeset.search, differential.getrawdiff, differential.createrawdiff, differential.revision.edit
(create and edit), harbormaster.queryautotargets, harbormaster.sendmessage, harbormaster.target.search,
harbormaster.build.search, harbormaster.buildable.search, harbormaster.buildplan.search, harbormaster.buildplan.edit,
diffusion.repository.search, transaction.search (the revision's comment transactions, newest first; constraints
phids/authorPHIDs), user.search (phids, usernames).

Extra fault kind: {"kind": "conduit_error", "code": "ERR-CONDUIT-CORE", "info": "..."} answers HTTP 200 with that
error envelope. (Conduit itself always answers 200; "status" faults model a proxy in front of it: 500/502/503.)

Control API (JSON, no auth), in addition to fakecommon's:
  POST /__control/users          {"userName", "realName"?, "token"?, "bot"?, "vcsPassword"?} -> {"phid", "userName", "token"}
  POST /__control/repositories   {"name", "callsign"?, "shortName"?, "path"?: BARE_REPO, "defaultBranch"?}
                                 -> {"id", "phid", "callsign", ...}
  POST /__control/plans          {"name", "waits"?: true, "step"?: "stepgate"} -> the plan ({"phid", ...})
  POST /__control/herald         {"repository": PHID|CALLSIGN|SHORTNAME, "plan": PLAN_PHID}: a rule that runs the
                                 plan on every new diff of the repository's revisions
  POST /__control/config         {"allowHTTPAuth": bool}
  POST /__control/revisions      {"author": USERNAME, "title", "summary"?, "testPlan"?, "repository"?: PHID|CALLSIGN,
                                  "status"?: "needs-review", "reviewers"?: [USERNAME], "diff"?: UNIFIED_DIFF,
                                  "baseCommit"?, "branch"?, "onto"?, "refs"?: [...], "raw"?: false}
                                 as arc diff makes it (refs, arc's results on the autotargets), or with "raw": true
                                 as createrawdiff does -> {"id", "phid", "monogram", "diffID", "diffPHID", "dateModified"}
  POST /__control/revisions/N/diffs     the same diff fields                -> {"diffID", "diffPHID", "dateModified"}
  POST /__control/revisions/N/status    {"status"}
  POST /__control/revisions/N/accept    {"reviewer": USERNAME}          (reviewer accepted; status accepted)
  POST /__control/revisions/N/comments  {"author": USERNAME, "content"}
  GET  /__control/revisions/N           -> the stored revision (comments, reviewers, diffs, dateModified)
  GET  /__control/harbormaster[?diff=PHID] -> [targets with their "messages" (type, unit, lint, authorPHID), "key"
                                           (autotargets), "name", "planPHID"]
  POST /__control/clock          {"advance": SECONDS}  moves the fake's clock forward
"""

import base64
import hashlib
import json
import os
import re
import subprocess
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
    "harbormaster.build.search": SEARCH_PARAMS,
    "harbormaster.buildable.search": SEARCH_PARAMS,
    "harbormaster.buildplan.search": SEARCH_PARAMS,
    "harbormaster.buildplan.edit": ["transactions", "objectIdentifier"],
    "differential.createrawdiff": ["diff", "repositoryPHID", "viewPolicy"],
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
        return {"users": {}, "tokens": {}, "vcsPasswords": {}, "repositories": {}, "revisions": {}, "diffs": {},
                "targets": {}, "buildables": {}, "builds": {}, "plans": {}, "rules": [], "allowHTTPAuth": True,
                "clock": 0, "clock_offset": 0,
                "next": {"repo": 1, "rev": 1, "diff": 1, "changeset": 1, "target": 1, "xact": 1, "buildable": 1,
                         "build": 1, "plan": 1}}

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

    def new_diff(self, rev, author_phid, raw, refs=None, arc=False, repository_phid=None):
        """A diff. `refs` as the client reported them ([] for createrawdiff); `arc`: arc's own lint and unit results
        were already sent to the diff's autotargets (arc asks for them before attaching the diff)."""
        did = self.next_id("diff")
        ts = self.now()
        diff = {"id": did, "phid": self.phid("DIFF", did), "revisionPHID": None, "authorPHID": author_phid,
                "repositoryPHID": repository_phid or (rev.get("repositoryPHID") if rev else None),
                "raw": raw, "refs": list(refs or []), "dateCreated": ts, "dateModified": ts, "changesets": []}
        for path in self.paths_of(raw):
            cid = self.next_id("changeset")
            diff["changesets"].append({"id": cid, "phid": self.phid("DCNG", cid), "path": path})
        self.state["diffs"][str(did)] = diff
        if arc:
            self.arc_results(diff, author_phid)
        if rev is not None:
            self.attach_diff(rev, diff)
        return diff

    def attach_diff(self, rev, diff):
        diff["revisionPHID"] = rev["phid"]
        if diff.get("repositoryPHID") and not rev.get("repositoryPHID"):
            rev["repositoryPHID"] = diff["repositoryPHID"]
        diff["repositoryPHID"] = diff.get("repositoryPHID") or rev.get("repositoryPHID")
        rev["diffPHID"] = diff["phid"]
        if diff["id"] not in rev["diffIDs"]:
            rev["diffIDs"].append(diff["id"])
        buildable = self.state["buildables"].get(diff["phid"])
        if buildable:
            buildable["containerPHID"] = rev["phid"]
        self.run_herald(rev, diff)
        rev["dateModified"] = self.now()

    @staticmethod
    def arc_refs(base, branch=None, onto=None):
        """The refs `arc diff` reports: the local branch and the base commit (and `onto` when it knows upstream)."""
        refs = [{"type": "branch", "name": branch or "main"}, {"type": "base", "identifier": base}]
        if onto:
            refs.append({"type": "onto", "name": onto})
        return refs

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
            if path.startswith("/source/") or path.startswith("/diffusion/"):
                return self.serve_git(handler, method, path, query, body)
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
            refs = [dict(r) for r in d.get("refs", [])]
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

    def repo_uris(self, r):
        """The builtin HTTP URIs Diffusion lists (only with diffusion.allow-http-auth; the `id` is a string)."""
        if not self.state.get("allowHTTPAuth", True):
            return []
        out = []
        idents = [("callsign", r.get("callsign") and "/diffusion/%s/%s.git" % (r["callsign"], r["shortName"] or r["name"])),
                  ("shortname", r.get("shortName") and "/source/%s.git" % r["shortName"]),
                  ("id", "/diffusion/%d/%s.git" % (r["id"], r.get("shortName") or r["name"]))]
        for n, (ident, path) in enumerate(idents):
            if not path:
                continue
            shown = "always" if ident == ("shortname" if r.get("shortName") else "id") else "never"
            url = self.base_url + path
            out.append({"id": str(r["id"] * 10 + n), "type": "RURI", "phid": "PHID-RURI-%s%d" % (r["phid"][-8:], n),
                        "fields": {"repositoryPHID": r["phid"],
                                   "uri": {"raw": "http://" + ident, "display": url, "effective": url,
                                           "normalized": "<base-uri>" + path[:-4]},
                                   "io": {"raw": "default", "default": "readwrite", "effective": "readwrite"},
                                   "display": {"raw": "default", "default": shown, "effective": shown},
                                   "credentialPHID": None, "disabled": False,
                                   "builtin": {"protocol": "http", "identifier": ident},
                                   "dateCreated": str(r["dateCreated"]), "dateModified": str(r["dateCreated"])}})
        return out

    def m_diffusion_repository_search(self, p, actor):
        def repo_json(r, att):
            out = {"id": r["id"], "type": "REPO", "phid": r["phid"], "fields": {
                "name": r["name"], "vcs": "git", "callsign": r.get("callsign"), "shortName": r.get("shortName"),
                "status": "active", "isHosted": True, "isImporting": False, "encoding": "UTF-8",
                "defaultBranch": r.get("defaultBranch") or "master", "almanacServicePHID": None, "spacePHID": None,
                "dateCreated": r["dateCreated"], "dateModified": r["dateCreated"],
                "policy": {"view": "users", "edit": "admin", "diffusion.push": "users"},
                "description": {"raw": ""}}, "attachments": {}}
            if att.get("uris"):
                out["attachments"]["uris"] = {"uris": self.repo_uris(r)}
            return out

        fns = {"ids": lambda r, v: r["id"] in [int(x) for x in v], "phids": lambda r, v: r["phid"] in v,
               "callsigns": lambda r, v: r.get("callsign") in v, "shortNames": lambda r, v: r.get("shortName") in v}
        orders = {"newest": lambda r: r["id"], "oldest": lambda r: r["id"]}
        return self.search(p, list(self.state["repositories"].values()), fns, orders, repo_json, ("uris", "metrics"))

    # ---- git over HTTP (Diffusion's builtin URIs) ----------------------------------------------------------
    def git_repository(self, path):
        """The repository and the rest of the path for /source/NAME.git/..., /diffusion/CALLSIGN|ID/NAME.git/..."""
        m = re.match(r"^/source/([^/]+?)\.git(/.*)?$", path)
        if m:
            repo = next((r for r in self.state["repositories"].values() if r.get("shortName") == m.group(1)), None)
            return repo, m.group(2) or "/"
        m = re.match(r"^/diffusion/([^/]+)/[^/]+?\.git(/.*)?$", path)
        if m:
            key = m.group(1)
            repo = next((r for r in self.state["repositories"].values()
                         if r.get("callsign") == key or str(r["id"]) == key), None)
            return repo, m.group(2) or "/"
        return None, None

    def serve_git(self, handler, method, path, query, body):
        # Phorge behind PHP's built-in web server: every answer ends when the connection closes (no length).
        repo, rest = self.git_repository(path)
        text = {"Content-Type": "text/plain", fakecommon.CLOSE_DELIMITED: "1"}
        if repo is None or not repo.get("path"):
            return 404, text, b"No such repository exists.\n", None
        if not self.state.get("allowHTTPAuth", True):
            return 403, text, b"Public and authenticated HTTP access are both forbidden.\n", None
        auth = handler.headers.get("Authorization") or ""
        user = None
        if auth.startswith("Basic "):
            try:
                name, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                name, password = "", ""
            if name and password:
                if self.state["vcsPasswords"].get(name) != password:
                    return 403, text, b"Invalid credentials.\n", None
                user = name
        if user is None:
            return 401, dict(text, **{"WWW-Authenticate": 'Basic realm="Phorge Repositories"'}), \
                b"You must log in to access repositories.\n", None
        if "git-receive-pack" in rest or "git-receive-pack" in "".join(query.get("service", [])):
            return 403, text, b"This fake serves repositories read-only.\n", user
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_PROJECT_ROOT": os.path.dirname(repo["path"]),
               "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": "/" + os.path.basename(repo["path"]) + rest,
               "REQUEST_METHOD": method, "QUERY_STRING": "&".join("%s=%s" % (k, v) for k, vs in query.items() for v in vs),
               "CONTENT_TYPE": handler.headers.get("Content-Type") or "", "CONTENT_LENGTH": str(len(body or b"")),
               "REMOTE_USER": user, "REMOTE_ADDR": "127.0.0.1"}
        if handler.headers.get("Content-Encoding"):
            env["HTTP_CONTENT_ENCODING"] = handler.headers.get("Content-Encoding")
        done = subprocess.run(["git", "http-backend"], input=body or b"", env=env, capture_output=True, timeout=60)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = done.stdout.partition(b"\n\n")
        headers, status = {fakecommon.CLOSE_DELIMITED: "1"}, 200
        for line in head.decode("latin-1").splitlines():
            k, _, v = line.partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            elif k:
                headers[k.strip()] = v.strip()
        return status, headers, payload, user

    def m_harbormaster_target_search(self, p, actor):
        names = {"target/pending": "Pending", "target/building": "Building", "target/waiting": "Waiting for Message",
                 "target/passed": "Passed", "target/failed": "Failed"}

        def t_json(t, att):
            self.settle(t)
            return {"id": t["id"], "type": "HMBT", "phid": t["phid"], "fields": {
                "name": t["name"], "buildPHID": t["buildPHID"], "buildStepPHID": t.get("buildStepPHID"),
                "status": {"value": t["status"], "name": names.get(t["status"], t["status"])},
                "epochStarted": t["dateCreated"], "epochCompleted": None, "buildGeneration": 1,
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
        for i, x in enumerate(xactions):
            if not isinstance(x, dict) or "type" not in x:
                raise ConduitError("ERR-CONDUIT-CORE", 'Transaction with key "%d" has no type.' % i)
            if x["type"] not in EDIT_TYPES:
                raise ConduitError("ERR-CONDUIT-CORE",
                                   'Transaction with key "%d" has invalid type "%s". This type is not recognized. '
                                   'Valid types are: %s.' % (i, x["type"], ", ".join(EDIT_TYPES)))
        if rev is None:
            types = [x.get("type") for x in xactions]
            if "update" not in types:
                raise ConduitError("ERR-CONDUIT-CORE", "Validation errors:\n  - You must specify an initial diff "
                                                       "when creating a revision.")
            if not any(x.get("type") == "testPlan" and x.get("value") for x in xactions):
                raise ConduitError("ERR-CONDUIT-CORE", "Validation errors:\n  - You must provide a test plan. "
                                                       "Describe the actions you performed to verify the behavior "
                                                       "of this change.")
            rev = self.create_revision(actor, "Untitled", None)
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
                self.attach_diff(rev, diff)
                if rev["status"] in ("accepted", "needs-revision", "changes-planned"):
                    rev["status"] = "needs-review"
            out.append({"phid": self.phid("XACT", "DREV")})
        self.touch(rev)
        return {"object": {"id": rev["id"], "phid": rev["phid"]}, "transactions": out}

    def create_revision(self, author_phid, title, repo_phid, status="needs-review"):
        rid = self.next_id("rev")
        ts = self.now()
        rev = {"id": rid, "phid": self.phid("DREV", rid), "title": title, "summary": "", "testPlan": "none",
               "authorPHID": author_phid, "repositoryPHID": repo_phid, "status": status, "dateCreated": ts,
               "dateModified": ts, "reviewers": [], "diffPHID": None, "diffIDs": [], "comments": []}
        self.state["revisions"][str(rid)] = rev
        return rev

    def m_differential_createrawdiff(self, p, actor):
        raw = p.get("diff")
        if not raw:
            raise ConduitError("ERR-CONDUIT-CORE", 'Parameter "diff" is required.')
        repo = p.get("repositoryPHID")
        if repo is not None and repo not in self.state["repositories"]:
            raise ConduitError("ERR-CONDUIT-CORE", 'No repository "%s" exists.' % repo)
        # What the web UI's "Create Diff" makes: no base commit, no refs, no local commits.
        diff = self.new_diff(None, actor, raw, refs=[], repository_phid=repo)
        return {"id": diff["id"], "phid": diff["phid"], "uri": "%s/differential/diff/%d/" % (self.base_url, diff["id"])}

    def set_reviewer(self, rev, phid, status, actor="self"):
        for r in rev["reviewers"]:
            if r["reviewerPHID"] == phid:
                r["status"] = status
                r["actorPHID"] = phid if actor else None
                return
        rev["reviewers"].append({"reviewerPHID": phid, "status": status, "isBlocking": False,
                                 "actorPHID": phid if actor else None})

    # ---- Harbormaster ---------------------------------------------------------------------------------------
    def buildable_for(self, object_phid, container_phid=None):
        b = self.state["buildables"].get(object_phid)
        if b is None:
            bid = self.next_id("buildable")
            b = {"id": bid, "phid": self.phid("HMBB", bid), "objectPHID": object_phid, "containerPHID": container_phid,
                 "dateCreated": self.now()}
            self.state["buildables"][object_phid] = b
        return b

    def new_plan(self, name, waits=True, step="stepgate", auto=False):
        pid = self.next_id("plan")
        plan = {"id": pid, "phid": self.phid("HMCP", pid), "name": name, "waits": waits, "step": step, "auto": auto,
                "holdDrafts": "always", "dateCreated": int(time.time())}
        self.state["plans"][plan["phid"]] = plan
        return plan

    def new_build(self, buildable, plan, initiator, targets):
        """A build of `plan` with one target per (key, name, status)."""
        bid = self.next_id("build")
        build = {"id": bid, "phid": self.phid("HMBD", bid), "buildablePHID": buildable["phid"],
                 "planPHID": plan["phid"], "name": plan["name"], "initiatorPHID": initiator,
                 "dateCreated": int(time.time())}
        self.state["builds"][build["phid"]] = build
        out = {}
        for key, name, status in targets:
            tid = self.next_id("target")
            target = {"id": tid, "phid": self.phid("HMBT", tid), "buildPHID": build["phid"],
                      "buildStepPHID": self.phid("HMCS", tid), "diffPHID": buildable["objectPHID"], "key": key,
                      "planPHID": plan["phid"], "name": name, "status": status, "pending": [],
                      "dateCreated": int(time.time()), "messages": []}
            self.state["targets"][target["phid"]] = target
            out[key or name] = target
        return build, out

    def auto_plan(self):
        for plan in self.state["plans"].values():
            if plan.get("auto"):
                return plan
        return self.new_plan("arc lint + arc unit", waits=False, step=None, auto=True)

    def autotargets(self, diff, keys):
        """The diff's arcanist.lint/arcanist.unit targets, created (once) as queryautotargets does."""
        buildable = self.buildable_for(diff["phid"], diff.get("revisionPHID"))
        existing = {t["key"]: t for t in self.state["targets"].values()
                    if t["diffPHID"] == diff["phid"] and t["key"] in AUTOTARGETS}
        missing = [k for k in keys if k not in existing]
        if missing:
            _, made = self.new_build(buildable, self.auto_plan(), diff["authorPHID"],
                                     [(k, AUTOTARGETS[k], "target/pending") for k in missing])
            existing.update(made)
        return existing

    def arc_results(self, diff, author_phid):
        """arc diff: autotargets queried, then arc's own (empty) lint and unit results sent as "pass" and applied."""
        for key, target in self.autotargets(diff, list(AUTOTARGETS)).items():
            target["messages"].append({"type": "pass", "unit": [], "lint": [], "authorPHID": author_phid,
                                       "date": time.time()})
            target["status"] = "target/passed"

    def run_herald(self, rev, diff):
        """Herald on a revision's new diff: each rule on the revision's repository runs its plan once per diff; the
        plan's "Make HTTP Request" step then waits for a message."""
        for rule in self.state["rules"]:
            if rule["repositoryPHID"] != rev.get("repositoryPHID"):
                continue
            plan = self.state["plans"].get(rule["planPHID"])
            if plan is None:
                continue
            buildable = self.buildable_for(diff["phid"], rev["phid"])
            if any(b["buildablePHID"] == buildable["phid"] and b["planPHID"] == plan["phid"]
                   for b in self.state["builds"].values()):
                continue
            status = "target/waiting" if plan["waits"] else "target/passed"
            self.new_build(buildable, plan, rule["phid"], [(None, plan["step"] or plan["name"], status)])

    def settle(self, target):
        """Applies the target's queued pass/fail messages that are due (Phorge's daemons do it a moment later)."""
        due = [m for m in target.get("pending", []) if m["at"] <= time.time()]
        for m in due:
            if target["status"] in ("target/waiting", "target/building", "target/pending"):
                target["status"] = {"pass": "target/passed", "fail": "target/failed"}.get(m["type"], target["status"])
        target["pending"] = [m for m in target.get("pending", []) if m not in due]

    def build_status(self, build):
        statuses = []
        for t in self.state["targets"].values():
            if t["buildPHID"] == build["phid"]:
                self.settle(t)
                statuses.append(t["status"])
        if statuses and all(x == "target/passed" for x in statuses):
            return "passed"
        if any(x == "target/failed" for x in statuses):
            return "failed"
        return "building"

    def m_harbormaster_queryautotargets(self, p, actor):
        obj = p.get("objectPHID")
        diff = next((d for d in self.state["diffs"].values() if d["phid"] == obj), None)
        if diff is None:
            raise ConduitError("ERR-CONDUIT-CORE", 'No object exists with PHID "%s".' % obj)
        keys = p.get("targetKeys") or []
        for k in keys:
            if k not in AUTOTARGETS:
                raise ConduitError("ERR-CONDUIT-CORE", 'No autotarget exists with key "%s".' % k)
        targets = self.autotargets(diff, keys)
        return {"targetMap": {k: targets[k]["phid"] for k in keys}}

    def m_harbormaster_sendmessage(self, p, actor):
        receiver = p.get("receiver")
        if p.get("buildTargetPHID") is not None:
            if receiver is not None:
                raise ConduitError("ERR-CONDUIT-CORE", 'Call specifies both "receiver" and "buildTargetPHID". When '
                                                       'using the modern "receiver" parameter, omit the deprecated '
                                                       '"buildTargetPHID" parameter.')
            receiver = p["buildTargetPHID"]
        if not receiver:
            raise ConduitError("ERR-CONDUIT-CORE", 'Call omits required "receiver" parameter. Specify the PHID of the '
                                                   'object you want to send a message to.')
        mtype = p.get("type")
        if not mtype:
            raise ConduitError("ERR-CONDUIT-CORE", 'Call omits required "type" parameter. Specify the type of message '
                                               'you want to send.')
        target = self.state["targets"].get(receiver)
        if target is None:
            other = receiver in self.state["builds"] or any(b["phid"] == receiver
                                                            for b in self.state["buildables"].values())
            if not other:
                raise ConduitError("ERR-CONDUIT-CORE", 'Unable to load object "%s" to receive message.' % receiver)
            # A Build or Buildable takes control commands only, never results.
            for key in ("unit", "lint"):
                if p.get(key) is not None:
                    raise ConduitError("ERR-CONDUIT-CORE", 'Call includes "%s" parameter. This parameter must be '
                                                           'omitted when the receiver is not a Build Target.' % key)
            if mtype not in ("abort", "pause", "resume", "restart"):
                raise ConduitError("ERR-CONDUIT-CORE", 'Message type "%s" is not supported.' % mtype)
            return None
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
        # Lint and unit messages are saved at once; the pass/fail reaches the target when the daemons get to it.
        target["messages"].append({"type": mtype, "unit": unit, "lint": lint, "authorPHID": actor,
                                   "date": time.time()})
        if mtype in ("pass", "fail"):
            target.setdefault("pending", []).append({"type": mtype, "at": time.time() + 1.0})
        diff = next((d for d in self.state["diffs"].values() if d["phid"] == target["diffPHID"]), None)
        if diff and diff["revisionPHID"]:
            rev = self.find_revision(diff["revisionPHID"])
            if rev:
                self.touch(rev)  # Harbormaster results bump the revision's dateModified
        return None

    def m_harbormaster_buildplan_search(self, p, actor):
        def plan_json(plan, att):
            return {"id": plan["id"], "type": "HMCP", "phid": plan["phid"], "fields": {
                "name": plan["name"], "status": {"value": "active"},
                "behaviors": {"hold-drafts": {"value": plan.get("holdDrafts", "always")}},
                "dateCreated": plan["dateCreated"], "dateModified": plan["dateCreated"],
                "policy": {"view": "users", "edit": "admin"}}, "attachments": {}}

        fns = {"ids": lambda r, v: r["id"] in [int(x) for x in v], "phids": lambda r, v: r["phid"] in v}
        orders = {"newest": lambda r: r["id"], "oldest": lambda r: r["id"]}
        return self.search(p, list(self.state["plans"].values()), fns, orders, plan_json)

    def m_harbormaster_buildplan_edit(self, p, actor):
        xactions = p.get("transactions")
        if not isinstance(xactions, list) or not xactions:
            raise ConduitError("ERR-CONDUIT-CORE", 'Parameter "transactions" must be a list of transactions.')
        valid = ["name", "behavior.hold-drafts", "behavior.arc-land", "behavior.buildable", "behavior.restartable",
                 "behavior.runnable", "view", "edit"]
        for i, x in enumerate(xactions):
            if x.get("type") not in valid:
                raise ConduitError("ERR-CONDUIT-CORE", 'Transaction with key "%d" has invalid type "%s". This type is '
                                                       'not recognized. Valid types are: %s.'
                                   % (i, x.get("type"), ", ".join(valid)))
        ident = p.get("objectIdentifier")
        if ident is None:
            plan = self.new_plan("")
        else:
            plan = next((x for x in self.state["plans"].values() if ident in (x["phid"], str(x["id"]))), None)
            if plan is None:
                raise ConduitError("ERR-CONDUIT-CORE", 'No object exists with ID "%s".' % ident)
        for x in xactions:
            if x["type"] == "name":
                plan["name"] = x["value"]
            elif x["type"] == "behavior.hold-drafts":
                plan["holdDrafts"] = x["value"]
        return {"object": {"id": plan["id"], "phid": plan["phid"]},
                "transactions": [{"phid": self.phid("XACT", "HMCP")} for _ in xactions]}

    def m_harbormaster_buildable_search(self, p, actor):
        def b_json(b, att):
            builds = [x for x in self.state["builds"].values() if x["buildablePHID"] == b["phid"]]
            statuses = [self.build_status(x) for x in builds]
            status = ("failed" if "failed" in statuses else "building" if "building" in statuses
                      else "passed" if statuses else "preparing")
            return {"id": b["id"], "type": "HMBB", "phid": b["phid"], "fields": {
                "objectPHID": b["objectPHID"], "containerPHID": b.get("containerPHID"),
                "buildableStatus": {"value": status}, "isManual": False, "uri": "%s/B%d" % (self.base_url, b["id"]),
                "dateCreated": b["dateCreated"], "dateModified": b["dateCreated"],
                "policy": {"view": "users", "edit": "users"}}, "attachments": {}}

        fns = {"ids": lambda r, v: r["id"] in [int(x) for x in v], "phids": lambda r, v: r["phid"] in v,
               "objectPHIDs": lambda r, v: r["objectPHID"] in v,
               "containerPHIDs": lambda r, v: r.get("containerPHID") in v}
        orders = {"newest": lambda r: r["id"], "oldest": lambda r: r["id"]}
        return self.search(p, list(self.state["buildables"].values()), fns, orders, b_json)

    def m_harbormaster_build_search(self, p, actor):
        names = {"building": "Building", "passed": "Passed", "failed": "Failed"}

        def b_json(b, att):
            status = self.build_status(b)
            return {"id": b["id"], "type": "HMBD", "phid": b["phid"], "fields": {
                "buildablePHID": b["buildablePHID"], "buildPlanPHID": b["planPHID"],
                "buildStatus": {"value": status, "name": names.get(status, status)},
                "initiatorPHID": b["initiatorPHID"], "name": b["name"], "dateCreated": b["dateCreated"],
                "dateModified": b["dateCreated"], "policy": {"view": "users", "edit": "users"}}, "attachments": {}}

        fns = {"ids": lambda r, v: r["id"] in [int(x) for x in v], "phids": lambda r, v: r["phid"] in v,
               "plans": lambda r, v: r["planPHID"] in v, "buildables": lambda r, v: r["buildablePHID"] in v,
               "statuses": lambda r, v: self.build_status(r) in v,
               "initiators": lambda r, v: r["initiatorPHID"] in v}
        orders = {"newest": lambda r: r["id"], "oldest": lambda r: r["id"]}
        return self.search(p, list(self.state["builds"].values()), fns, orders, b_json)

    # ---- control API ---------------------------------------------------------------------------------------
    def control_diff(self, rev, author_phid, body):
        """A diff as `arc diff` makes it (refs: branch, base, optional onto; arc's results on the autotargets), or,
        with "raw": true, as `differential.createrawdiff` makes it (no refs). "refs" overrides arc's refs."""
        raw = body.get("diff") or DEFAULT_DIFF
        if body.get("raw"):
            return self.new_diff(rev, author_phid, raw, refs=[])
        refs = body.get("refs")
        if refs is None:
            refs = self.arc_refs(body.get("baseCommit") or hashlib.sha1(b"base").hexdigest(), body.get("branch"),
                                 body.get("onto"))
        return self.new_diff(rev, author_phid, raw, refs=refs, arc=True)

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
            if body.get("vcsPassword"):
                st["vcsPasswords"][body["userName"]] = body["vcsPassword"]
            return 200, dict(user, token=token)
        if path == "/__control/repositories" and method == "POST":
            rid = self.next_id("repo")
            repo = {"id": rid, "phid": self.phid("REPO", rid), "name": body["name"], "callsign": body.get("callsign"),
                    "shortName": body.get("shortName"), "dateCreated": int(time.time()), "path": body.get("path"),
                    "defaultBranch": body.get("defaultBranch")}
            st["repositories"][repo["phid"]] = repo
            return 200, repo
        if path == "/__control/plans" and method == "POST":
            plan = self.new_plan(body["name"], waits=body.get("waits", True), step=body.get("step", "stepgate"))
            return 200, plan
        if path == "/__control/herald" and method == "POST":
            repo = next((r for r in st["repositories"].values()
                         if body["repository"] in (r["phid"], r.get("callsign"), r.get("shortName"))), None)
            if repo is None or body.get("plan") not in st["plans"]:
                raise ControlError(400, "unknown repository or plan")
            rule = {"phid": self.phid("HRUL", repo["phid"]), "repositoryPHID": repo["phid"], "planPHID": body["plan"]}
            st["rules"].append(rule)
            return 200, rule
        if path == "/__control/config" and method == "POST":
            if "allowHTTPAuth" in body:
                st["allowHTTPAuth"] = bool(body["allowHTTPAuth"])
            return 200, {"allowHTTPAuth": st["allowHTTPAuth"]}
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
            rev = self.create_revision(author["phid"], body.get("title", "Revision"), repo_phid, status)
            rev["summary"] = body.get("summary", "")
            rev["testPlan"] = body.get("testPlan", "none")
            for name in body.get("reviewers", []):
                self.set_reviewer(rev, self.user_by_name(name)["phid"], "added", actor=None)
            diff = self.control_diff(rev, author["phid"], body)
            return 200, {"id": rev["id"], "phid": rev["phid"], "monogram": "D%d" % rev["id"], "diffID": diff["id"],
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
                diff = self.control_diff(rev, rev["authorPHID"], body)
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
