#!/usr/bin/env bash
# Runs Tenure's whole test suite, setting up what it needs first:
#   - the independent peer SCIM server (PyPI `scim2-server`) in a virtual environment cached in
#     target/scim2-venv;
#   - PostgreSQL: the server named by TENURE_TEST_PG_URL (default
#     postgres://postgres@127.0.0.1:5432/test) when it answers, otherwise a throwaway cluster
#     made with the installed server binaries in a temporary directory and removed afterwards.
# Extra arguments go to `cargo test` instead of `--workspace` (e.g. `-p tenure-store`).
set -euo pipefail
cd "$(dirname "$0")/.."

SCIM2_SERVER_VERSION=0.8.3
venv=target/scim2-venv
# The `cursor` extra lets the server page by cursor (RFC 9865) when a test configures it so; the
# marker tells a venv made before the extra was needed from a complete one.
marker="$venv/.tenure-scim2-server-$SCIM2_SERVER_VERSION-cursor"
if [ ! -x "$venv/bin/scim2-server" ] || [ ! -f "$marker" ]; then
    echo "==> installing scim2-server[cursor] $SCIM2_SERVER_VERSION into $venv"
    mkdir -p target
    [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "scim2-server[cursor]==$SCIM2_SERVER_VERSION"
    echo "$SCIM2_SERVER_VERSION" > "$marker"
fi
# A real SMTP server for the notification tests (crates/testkit/src/smtp.rs).
AIOSMTPD_VERSION=1.4.6
if ! "$venv/bin/python3" -c "import aiosmtpd" 2>/dev/null; then
    echo "==> installing aiosmtpd $AIOSMTPD_VERSION into $venv"
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
fi
export TENURE_SCIM2_SERVER="$PWD/$venv/bin/scim2-server"
export TENURE_TEST_PYTHON="$PWD/$venv/bin/python3"

pg_url=${TENURE_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
pg_answers() {
    if command -v psql >/dev/null; then
        psql -w "$1" -Atqc 'select 1' >/dev/null 2>&1
    else
        local hostport=${1#*@}; hostport=${hostport%%/*}
        (exec 3<>"/dev/tcp/${hostport%%:*}/${hostport##*:}") 2>/dev/null
    fi
}

pg_bin_dir() {
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(command -v pg_ctl)"
        return
    fi
    local d
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [ -x "$d/initdb" ] && { echo "$d"; return; }
    done
    return 1
}

throwaway=""
cleanup() {
    if [ -n "$throwaway" ]; then
        as_pg "$bin/pg_ctl" -D "$throwaway/data" -m immediate stop >/dev/null 2>&1 || true
        rm -rf "$throwaway"
    fi
}
trap cleanup EXIT

# initdb refuses to run as root; run the throwaway cluster as the postgres user then.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if pg_answers "$pg_url"; then
    echo "==> PostgreSQL for tests: ${pg_url}"
else
    bin=$(pg_bin_dir) || { echo "error: no PostgreSQL at $pg_url and no PostgreSQL server binaries to start one (install the Debian package postgresql)" >&2; exit 1; }
    throwaway=$(mktemp -d /tmp/tenure-pg.XXXXXX)
    [ "$(id -u)" = 0 ] && chown postgres "$throwaway"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    echo "==> starting a throwaway PostgreSQL on 127.0.0.1:$port ($bin)"
    as_pg "$bin/initdb" -D "$throwaway/data" -U postgres -A trust --no-sync >/dev/null
    as_pg "$bin/pg_ctl" -D "$throwaway/data" -l "$throwaway/log" -w \
        -o "-p $port -k $throwaway -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
    pg_url="postgres://postgres@127.0.0.1:$port/postgres"
fi
export TENURE_TEST_PG_URL="$pg_url"

echo "==> cargo test"
if [ $# -gt 0 ]; then
    cargo test "$@"
else
    cargo test --workspace
fi
