#!/usr/bin/env python3
"""A tiny smart-HTTP git server for tests: HTTP Basic authentication in front of
`git http-backend` (CGI), Python 3 standard library only.

Usage: git_http_server.py PROJECT_ROOT LOG_FILE
Environment: GIT_TEST_USER, GIT_TEST_PASSWORD (the only accepted credentials); GIT_TEST_REDIRECT_TO
(optional: answer every request with a 302 to this base URL plus the request's path).

Binds 127.0.0.1 on a free port and prints "PORT <n>" on standard output once it is listening.
Every request is logged to LOG_FILE as "<status> <method> <path> <auth|->", the last field saying
whether the request carried an Authorization header.
"""

import base64
import http.server
import os
import subprocess
import sys


PROJECT_ROOT = sys.argv[1]
LOG_FILE = sys.argv[2]
USER = os.environ["GIT_TEST_USER"]
PASSWORD = os.environ["GIT_TEST_PASSWORD"]
REDIRECT_TO = os.environ.get("GIT_TEST_REDIRECT_TO")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # keep stderr quiet
        pass

    def record(self, status):
        with open(LOG_FILE, "a") as log:
            carried = "auth" if self.headers.get("Authorization") else "-"
            log.write(f"{status} {self.command} {self.path} {carried}\n")

    def authorised(self):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:
            return False
        return user == USER and password == PASSWORD

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send(self, status, headers, body):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.record(status)

    def handle_git(self):
        body = self.read_body()
        if REDIRECT_TO:
            self.send(302, [("Location", REDIRECT_TO + self.path)], b"")
            return
        if not self.authorised():
            self.send(401, [("WWW-Authenticate", 'Basic realm="git"'), ("Content-Type", "text/plain")],
                      b"authentication required\n")
            return
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": PROJECT_ROOT,
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": PROJECT_ROOT,
            "REMOTE_USER": USER,
            "REMOTE_ADDR": self.client_address[0],
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        result = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True)
        output = result.stdout
        separator = output.find(b"\r\n\r\n")
        skip = 4
        if separator < 0:
            separator = output.find(b"\n\n")
            skip = 2
        if result.returncode != 0 or separator < 0:
            self.send(500, [("Content-Type", "text/plain")], result.stderr or b"http-backend failed\n")
            return
        status = 200
        headers = []
        for line in output[:separator].decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            value = value.strip()
            if name.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((name, value))
        self.send(status, headers, output[separator + skip:])

    do_GET = handle_git
    do_POST = handle_git


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
