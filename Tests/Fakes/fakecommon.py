"""Shared plumbing for stepgate's fake review servers (Python 3 standard library only).

Each fake is started as `python3 FAKE.py --port 0 [--host 127.0.0.1] [--state-file F] [--exit-on-stdin-eof]` and prints the port it
listens on as the first line of stdout (then nothing else on stdout; logs go to stderr with --verbose).

--state-file F: if F exists at start-up its JSON is loaded as the initial state; after every change the state
is written back to F (atomically), so a fake can be restarted without losing its data.

Every fake has, outside its API, a control API under /__control/ (JSON in, JSON out, no auth):
  GET    /__control/health                 -> {"ok": true}
  GET    /__control/state                  -> the whole state
  POST   /__control/reset                  -> empties the request log and the faults (state stays)
  GET    /__control/requests[?path=REGEX]  -> [{"method","path","target","status","fault","user","time","agent",
                                              "form_keys"?}] API requests seen (form_keys: field names only)
  DELETE /__control/requests               -> clears the log
  POST   /__control/faults                 -> adds a fault, body:
           {"kind": "status"|"hang"|"truncate"|"malformed"|"close"|<fake-specific>,
            "count": N (default 1), "path": REGEX (optional, searched in path+query), "method": "GET"|... (optional),
            "status": 500 (kind=status, apply-status), "retry_after": "1" (optional, any kind=status),
            "body": "text" (optional, kind=status), "seconds": S (kind=hang: then the request is served normally,
            applied even when the client has gone, unless the client's deadline (a fake that honours one) passed
            first: then it is answered 408 and never applied; kind=hold: then the connection is closed and the
            request is never served)}
         kinds apply-close (the request is applied, then the connection closes unanswered) and apply-status (applied,
         then answered with `status`) leave the client not knowing what happened to a write that did happen.
         -> {"id": n}
  GET    /__control/faults                 -> the pending faults, with "remaining"
  DELETE /__control/faults                 -> removes them all
  POST   /__control/chaos                  -> faults at random: {"rate": 0.2, "seed"?: N, "path"?: REGEX,
           "hang": [2, 8]}: each API request not given an explicit fault gets, with probability `rate`, one of
           status 500, 503, 429 (Retry-After 1), a hang of 2-8 s, a truncated or malformed body, a connection closed
           before the request is served, or (after it was applied) before it is answered
  DELETE /__control/chaos                  -> no more random faults
Faults apply to API requests only, first-added first, and each match uses one of its `count`.
"""

import argparse
import json
import os
import random
import re
import signal
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs


class Faults:
    def __init__(self):
        self.lock = threading.Lock()
        self.items = []
        self.next_id = 1

    def add(self, spec):
        with self.lock:
            fault = dict(spec)
            fault["id"] = self.next_id
            self.next_id += 1
            fault["remaining"] = int(spec.get("count", 1))
            self.items.append(fault)
            return fault["id"]

    def take(self, method, target):
        with self.lock:
            for fault in self.items:
                if fault["remaining"] <= 0:
                    continue
                if fault.get("method") and fault["method"].upper() != method:
                    continue
                if fault.get("path") and not re.search(fault["path"], target):
                    continue
                fault["remaining"] -= 1
                self.items = [f for f in self.items if f["remaining"] > 0]
                return dict(fault)
            return None

    def list(self):
        with self.lock:
            return [dict(f) for f in self.items]

    def clear(self):
        with self.lock:
            self.items = []


class Chaos:
    """Random faults, as an unreliable network and server give them."""

    KINDS = [({"kind": "status", "status": 500}, 2), ({"kind": "status", "status": 503}, 2),
             ({"kind": "status", "status": 429, "retry_after": "1"}, 1), ({"kind": "hang"}, 2),
             ({"kind": "truncate"}, 1), ({"kind": "malformed"}, 1), ({"kind": "close"}, 1), ({"kind": "apply-close"}, 1)]

    def __init__(self, spec):
        self.rate = float(spec.get("rate", 0.2))
        self.path = spec.get("path")
        self.hang = spec.get("hang", [2, 8])
        self.random = random.Random(spec.get("seed"))
        self.lock = threading.Lock()

    def take(self, target):
        if self.path and not re.search(self.path, target):
            return None
        with self.lock:
            if self.random.random() >= self.rate:
                return None
            fault = dict(self.random.choices([k for k, _ in self.KINDS], weights=[w for _, w in self.KINDS])[0])
            if fault["kind"] == "hang":
                fault["seconds"] = self.random.uniform(float(self.hang[0]), float(self.hang[1]))
            fault["chaos"] = True
            return fault


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, handler, app):
        super().__init__(address, handler)
        self.app = app


class App:
    """Holds state, the request log and faults; subclasses route API requests."""

    def __init__(self, state_file=None, verbose=False):
        self.lock = threading.RLock()
        self.state_file = state_file
        self.verbose = verbose
        self.faults = Faults()
        self.chaos = None
        self.requests = []
        self.state = self.initial_state()
        if state_file and os.path.exists(state_file) and os.path.getsize(state_file) > 0:
            with open(state_file) as f:
                loaded = json.load(f)
            self.state.update(loaded)
        self.after_load()

    # subclass hooks
    def initial_state(self):
        return {}

    def after_load(self):
        pass

    def save(self):
        if not self.state_file:
            return
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, indent=1, sort_keys=True)
        os.replace(tmp, self.state_file)

    def log(self, *args):
        if self.verbose:
            print(*args, file=sys.stderr, flush=True)

    def record(self, entry):
        with self.lock:
            self.requests.append(entry)

    # control API shared by all fakes; return (status, obj) or None when not handled
    def control(self, method, path, query, body):
        if path == "/__control/health":
            return 200, {"ok": True}
        if path == "/__control/state" and method == "GET":
            with self.lock:
                return 200, self.state
        if path == "/__control/reset" and method == "POST":
            self.faults.clear()
            with self.lock:
                self.requests = []
            return 200, {"ok": True}
        if path == "/__control/requests":
            if method == "DELETE":
                with self.lock:
                    self.requests = []
                return 200, {"ok": True}
            pattern = (query.get("path") or [None])[0]
            with self.lock:
                items = [r for r in self.requests if not pattern or re.search(pattern, r["target"])]
            return 200, items
        if path == "/__control/chaos":
            self.chaos = Chaos(body or {}) if method == "POST" else None
            return 200, {"ok": True}
        if path == "/__control/faults":
            if method == "POST":
                return 200, {"id": self.faults.add(body or {})}
            if method == "DELETE":
                self.faults.clear()
                return 200, {"ok": True}
            return 200, self.faults.list()
        return None

    def handle_control(self, method, path, query, body):
        """Fake-specific control endpoints; return (status, obj) or None."""
        return None

    def handle_api(self, handler, method, path, query, body_bytes):
        """Returns (status, headers dict, body bytes, user)."""
        raise NotImplementedError

    def malformed_body(self):
        return b'{"broken": [1, 2,'

    def deadline(self, handler):
        """The client's deadline for a request, in seconds, when the server honours one (None: no deadline)."""
        return None

    def fault_response(self, fault, handler, method, path, query, body_bytes):
        """Fake-specific fault kinds; return (status, headers, body) or None."""
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "stepgate-fake/1"

    def log_message(self, fmt, *args):
        self.server.app.log("%s - %s" % (self.address_string(), fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(self, status, headers, body, truncate=False):
        """With the header CLOSE_DELIMITED, the body has no length: it ends when the connection closes."""
        headers = dict(headers)
        close_delimited = headers.pop(CLOSE_DELIMITED, None) is not None
        try:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            if close_delimited:
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True
                return
            self.send_header("Content-Length", str(len(body)))
            if truncate:
                self.send_header("Connection", "close")
            self.end_headers()
            if truncate:
                self.wfile.write(body[: max(1, len(body) // 2)])
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(2)
                except OSError:
                    pass
            else:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True

    def drop(self):
        """Closes the connection without an answer."""
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass

    def send_json(self, status, obj):
        self.send(status, {"Content-Type": "application/json"}, json.dumps(obj, indent=1).encode())

    def dispatch(self, method):
        app = self.server.app
        split = urlsplit(self.path)
        path, query = split.path, parse_qs(split.query, keep_blank_values=True)
        body = self.read_body()
        if path.startswith("/__control/"):
            try:
                obj = json.loads(body) if body else None
            except ValueError:
                self.send_json(400, {"error": "bad JSON"})
                return
            try:
                with app.lock:
                    result = app.control(method, path, query, obj) or app.handle_control(method, path, query, obj)
                    if result is not None and method != "GET":
                        app.save()
            except ControlError as e:
                self.send_json(e.status, {"error": str(e)})
                return
            except Exception as e:  # noqa
                traceback.print_exc()
                self.send_json(500, {"error": repr(e)})
                return
            if result is None:
                self.send_json(404, {"error": "no such control endpoint: %s %s" % (method, path)})
            else:
                self.send_json(*result)
            return

        target = self.path
        entry = {"method": method, "path": path, "target": target, "time": time.time(), "status": None,
                 "fault": None, "user": None, "agent": self.headers.get("User-Agent")}
        if (self.headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            # the names (never the values) of the form fields, so tests can check what a client sends
            entry["form_keys"] = sorted(set(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)))
        app.record(entry)
        fault = app.faults.take(method, target)
        chaos = app.chaos
        if fault is None and chaos is not None:
            fault = chaos.take(target)
        if fault:
            entry["fault"] = fault["kind"]
            kind = fault["kind"]
            if kind == "status":
                status = int(fault.get("status", 500))
                headers = {"Content-Type": "text/plain; charset=UTF-8"}
                if fault.get("retry_after") is not None:
                    headers["Retry-After"] = str(fault["retry_after"])
                entry["status"] = status
                self.send(status, headers, (fault.get("body") or "injected fault %d\n" % status).encode())
                return
            if kind in ("close", "hold"):
                if kind == "hold":
                    # the request never reaches the server: held, then the connection is closed unanswered
                    time.sleep(float(fault.get("seconds", 5)))
                entry["status"] = 0
                self.drop()
                return
            if kind == "hang":
                seconds = float(fault.get("seconds", 5))
                deadline = app.deadline(self)
                if deadline is not None and deadline < seconds:
                    # the server gives up at the client's deadline: the request is never applied
                    time.sleep(deadline)
                    entry["status"] = 408
                    entry["fault"] = "hang-past-deadline"
                    self.send(408, {"Content-Type": "text/plain; charset=UTF-8"}, b"Client Provided Deadline Exceeded\n")
                    return
                time.sleep(seconds)
                # then serve the request normally (the client has usually given up by now)
            elif kind in ("truncate", "malformed", "apply-close", "apply-status"):
                pass
            else:
                custom = app.fault_response(fault, self, method, path, query, body)
                if custom is not None:
                    entry["status"] = custom[0]
                    self.send(*custom)
                    return
        try:
            with app.lock:
                status, headers, payload, user = app.handle_api(self, method, path, query, body)
                app.save()
        except Exception as e:  # noqa
            traceback.print_exc()
            status, headers, payload, user = 500, {"Content-Type": "text/plain"}, ("internal error: %r\n" % e).encode(), None
        entry["status"] = status
        entry["user"] = user
        if fault and fault["kind"] == "apply-close":
            # applied, then the connection drops before the answer
            entry["status"] = 0
            self.drop()
            return
        if fault and fault["kind"] == "apply-status":
            # applied, then an error answer (a proxy in front of the server timing out, say)
            status = int(fault.get("status", 502))
            entry["status"] = status
            self.send(status, {"Content-Type": "text/plain; charset=UTF-8"}, b"injected fault after applying\n")
            return
        if fault and fault["kind"] == "malformed":
            payload = app.malformed_body()
            status = 200
            entry["status"] = 200
        self.send(status, headers, payload, truncate=bool(fault and fault["kind"] == "truncate"))


# A handler's answer carrying this header is sent as PHP's built-in web server sends its answers: no
# Content-Length, not chunked, ended by closing the connection.
CLOSE_DELIMITED = "X-Fake-Close-Delimited"


class ControlError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def main(app_class, description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--state-file", default=None)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--exit-on-stdin-eof", action="store_true",
                        help="exit when stdin closes (the parent test process went away)")
    args = parser.parse_args()
    # A parent may have blocked SIGTERM/SIGINT in the mask we inherit; make sure they stop us.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    if args.exit_on_stdin_eof:
        def watch():
            try:
                while sys.stdin.buffer.read(1024):
                    pass
            finally:
                os._exit(0)
        threading.Thread(target=watch, daemon=True).start()
    app = app_class(state_file=args.state_file, verbose=args.verbose)
    server = FakeServer((args.host, args.port), Handler, app)
    app.port = server.server_address[1]
    app.base_url = "http://%s:%d" % (args.host, app.port)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
