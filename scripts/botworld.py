"""Shared by the bot's bench and soak scripts (Python standard library only): the fakes' control API and git."""
import json
import subprocess
import urllib.request


def control(base, method, path, body=None):
    """Calls a fake's control API (`/__control/PATH`); returns the decoded JSON."""
    req = urllib.request.Request(base + "/__control/" + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read() or b"null")


def git(*args):
    subprocess.run(["git", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
