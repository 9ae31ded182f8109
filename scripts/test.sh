#!/usr/bin/env bash
# Run the test suite: one command on a fresh Debian machine with Python 3.11.
#
#   bash scripts/test.sh [pytest args]        e.g. bash scripts/test.sh -q -k consent
#
# 1. creates .venv if missing and installs `-e .[test]` (only when pyproject.toml changed;
#    stamp in .venv/.cartrecovery-stamp-test),
# 2. provides a real PostgreSQL: installs Debian's `postgresql` package when no
#    /usr/lib/postgresql/*/bin/{initdb,pg_ctl} exists, then starts a throwaway cluster
#    (temp dir, trust auth on 127.0.0.1 only, free port, fsync off) with database
#    cartrecovery_test, exports CR_TEST_POSTGRES_URL, and stops + deletes it on exit
#    (also on failure and Ctrl-C). No systemd/service manager is used.
#    If CR_TEST_POSTGRES_URL is already set, that database is used and nothing is started.
# 3. installs Chromium + chromedriver only for browser tests (tests/web or CR_TEST_BROWSER=1),
# 4. runs the static checks - ruff (lint and format), mypy, import-linter (the layers in
#    pyproject.toml) - and stops at the first that fails,
# 5. runs `.venv/bin/python -m pytest "$@"` and exits with pytest's status.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

source scripts/venv.sh

# Run a command as root (sudo only when we are not root already).
as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# apt_install PKG...: Debian packages, non-interactive, without recommends.
apt_install() {
    say "installing $* (apt-get)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Highest PostgreSQL version under /usr/lib/postgresql with initdb + pg_ctl, or CR_PG_BIN.
find_pg_bin() {
    if [[ -n "${CR_PG_BIN:-}" ]]; then echo "$CR_PG_BIN"; return 0; fi
    local d found=""
    for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V); do
        if [[ -x $d/initdb && -x $d/pg_ctl ]]; then found=$d; fi
    done
    echo "$found"
}

# Run a PostgreSQL server binary: as user postgres when we are root (initdb/pg_ctl refuse root).
run_pg() {
    if [[ $EUID -ne 0 ]]; then
        (cd "$PG_TMP" && "$@")
    elif command -v runuser >/dev/null 2>&1; then
        (cd "$PG_TMP" && runuser -u postgres -- "$@")
    else
        (cd "$PG_TMP" && su postgres -s /bin/sh -c "$(printf '%q ' "$@")")
    fi
}

# The server runs as a background child of this script (not daemonised by `pg_ctl start`),
# so this script reaps it and nothing outlives the test run.
PG_TMP="" PG_PID=""
stop_postgres() {
    [[ -n "$PG_TMP" && -d "$PG_TMP" ]] || return 0
    if [[ -n "$PG_PID" ]] && kill -0 "$PG_PID" 2>/dev/null; then
        say "stopping PostgreSQL"
        if ! run_pg "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m immediate -w -t 30 stop >/dev/null 2>&1; then
            kill -9 "$(head -n1 "$PG_TMP/data/postmaster.pid" 2>/dev/null)" 2>/dev/null || true
        fi
        wait "$PG_PID" 2>/dev/null || true
    fi
    rm -rf "$PG_TMP" || true
}

start_postgres() {
    if [[ -n "${CR_TEST_POSTGRES_URL:-}" ]]; then
        say "using CR_TEST_POSTGRES_URL from the environment"
        return 0
    fi
    PG_BIN="$(find_pg_bin)"
    if [[ -z "$PG_BIN" ]]; then
        apt_install postgresql
        PG_BIN="$(find_pg_bin)"
        [[ -n "$PG_BIN" ]] || { echo "error: PostgreSQL install did not provide initdb/pg_ctl" >&2; exit 1; }
    fi
    local base="${TMPDIR:-/tmp}"
    if [[ $EUID -eq 0 ]]; then
        base=/tmp  # must be reachable by the postgres user
        id -u postgres >/dev/null 2>&1 || useradd --system --user-group --no-create-home postgres
    fi
    PG_TMP="$(mktemp -d "$base/cartrecovery-pg.XXXXXX")"
    trap stop_postgres EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [[ $EUID -eq 0 ]]; then chown postgres: "$PG_TMP"; fi

    local port version
    port="$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    version="$(basename "$(dirname "$PG_BIN")")"
    say "starting PostgreSQL $version on port $port"
    if ! run_pg "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres --auth=trust -E UTF8 --locale=C \
        --no-sync >"$PG_TMP/initdb.log" 2>&1; then
        cat "$PG_TMP/initdb.log" >&2
        exit 1
    fi
    # Loopback TCP only; the unix socket lives in the temp dir; durability off (throwaway data).
    run_pg "$PG_BIN/postgres" -D "$PG_TMP/data" -c listen_addresses=127.0.0.1 -p "$port" \
        -k "$PG_TMP" -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
        >"$PG_TMP/postgres.log" 2>&1 &
    PG_PID=$!
    local tries=0
    until "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres; do
        if ! kill -0 "$PG_PID" 2>/dev/null || ((++tries > 120)); then
            echo "error: PostgreSQL did not start:" >&2
            tail -n 30 "$PG_TMP/postgres.log" >&2 || true
            exit 1
        fi
        sleep 0.5
    done
    "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres cartrecovery_test
    export CR_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$port/cartrecovery_test"
}

ensure_venv "[test]"

# --- Browser tests hook --------------------------------------------------------------
# Browser tests (tests/web) drive Debian's headless Chromium through chromedriver. They are
# installed only when tests/web exists or CR_TEST_BROWSER=1, so other runs stay fast.
if [[ -d tests/web || "${CR_TEST_BROWSER:-0}" == 1 ]]; then
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        apt_install chromium chromium-driver
    fi
fi

# --- Static checks ---------------------------------------------------------------------------
say "static checks: ruff check, ruff format --check, mypy, lint-imports"
.venv/bin/ruff check --quiet .
.venv/bin/ruff format --check --quiet .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache

start_postgres

set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
exit "$status"
