#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL 15 and a moto server (AWS APIs) on loopback, then stops both.
#
#   scripts/with-test-servers.sh COMMAND [ARG...]
#
# The command sees STEPGATE_TEST_POSTGRES (postgres://USER:PASSWORD@127.0.0.1:PORT/stepgate) and
# STEPGATE_TEST_AWS_ENDPOINT (http://127.0.0.1:PORT). PostgreSQL runs from a temporary data directory, as the
# `postgres` system user when this runs as root (the server refuses root); moto runs through scripts/moto_server.py
# (moto's server with its Step Functions gaps filled: repeated executions, versions and aliases, activities).
# Missing packages are installed when root (Debian's postgresql, PyPI's moto[server]); a server that does not
# start is one line on stderr and exit status 2, never a silent skip.
set -euo pipefail

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
die() { echo "with-test-servers: $*" >&2; exit 2; }
[ $# -gt 0 ] || die "usage: scripts/with-test-servers.sh COMMAND [ARG...]"

# --- packages ---------------------------------------------------------------------------------------
if [ ! -x "$PG_BIN/initdb" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "with-test-servers: installing postgresql with apt-get" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null && apt-get install -y -qq postgresql >/dev/null || die "apt-get install postgresql failed"
  fi
  [ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 is missing ($PG_BIN/initdb); install it with: sudo apt-get install postgresql"
fi
if ! python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1; then
  echo "with-test-servers: installing moto[server] with pip" >&2
  python3 -m pip install -q 'moto[server]' >/dev/null 2>&1 || die "pip install 'moto[server]' failed"
  python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1 || die "moto[server] does not import after installing it"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

WORK=$(mktemp -d /tmp/stepgate-servers.XXXXXX)
PG_DATA="$WORK/pg"
PG_PID_FILE="$PG_DATA/postmaster.pid"
MOTO_PID=""
as_pg=()
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
  as_pg=(runuser -u postgres --)
fi

cleanup() {
  status=$?
  if [ -n "$MOTO_PID" ]; then kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; fi
  if [ -f "$PG_PID_FILE" ]; then "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -s stop >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
  exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- PostgreSQL -------------------------------------------------------------------------------------
PG_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
PG_PORT=$(free_port)
mkdir -p "$PG_DATA"
printf '%s\n' "$PG_PASSWORD" > "$WORK/pwfile"
[ "$(id -u)" = 0 ] && chown -R postgres "$WORK"
"${as_pg[@]}" "$PG_BIN/initdb" -D "$PG_DATA" -U stepgate --pwfile="$WORK/pwfile" --auth=scram-sha-256 -E UTF8 \
  >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
rm -f "$WORK/pwfile"
"${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$WORK/postgres.log" -w -t 60 -s \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DATA -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
  start || { cat "$WORK/postgres.log" >&2; die "PostgreSQL did not start on 127.0.0.1:$PG_PORT"; }
PGPASSWORD="$PG_PASSWORD" "$PG_BIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U stepgate -d postgres -c 'CREATE DATABASE stepgate' \
  >/dev/null || die "cannot create the test database"

# --- moto (AWS APIs) --------------------------------------------------------------------------------
MOTO_PORT=$(free_port)
python3 "$(dirname "$0")/moto_server.py" -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 1 150); do
  if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$MOTO_PORT/moto-api/', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$MOTO_PID" 2>/dev/null || { cat "$WORK/moto.log" >&2; die "moto_server exited before it answered"; }
  sleep 0.2
done
python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$MOTO_PORT/moto-api/', timeout=2)" 2>/dev/null \
  || { cat "$WORK/moto.log" >&2; die "moto_server did not answer on 127.0.0.1:$MOTO_PORT"; }

export STEPGATE_TEST_POSTGRES="postgres://stepgate:$PG_PASSWORD@127.0.0.1:$PG_PORT/stepgate"
export STEPGATE_TEST_AWS_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
echo "with-test-servers: PostgreSQL on 127.0.0.1:$PG_PORT, moto on 127.0.0.1:$MOTO_PORT" >&2
set +e
"$@"
