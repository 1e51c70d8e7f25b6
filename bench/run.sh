#!/usr/bin/env bash
# The benchmark in one command: installs what it needs if missing (Debian/Ubuntu, as root
# or with sudo), builds in release mode, then runs bench/bench.py, which starts
# PostgreSQL (TLS, scram-sha-256) and our server on loopback in a temporary directory,
# loads the same 1,000,000-row table into each target, measures, prints one table and
# appends JSON lines to bench/results.jsonl. Arguments go to bench.py (--help).
#
#   bench/run.sh                      # everything, ~10-15 minutes on 2 cores
#   bench/run.sh --only fetch --reps 5
#   bench/run.sh --rows 20000 --burst 100 --idle 200 --big-copies 0 --reps 1 --logins 5 --no-callgrind
#                                     # quick: under a minute
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
    -h|--help) exec python3 bench/bench.py --help ;;
esac

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

apt_install() {
    # Another install may hold the dpkg lock for a while: wait instead of failing.
    for i in $(seq 1 30); do
        if $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; then
            return 0
        fi
        echo "apt-get busy or failed; retrying in 10 s ($i/30)" >&2
        sleep 10
        $SUDO apt-get update -qq >/dev/null 2>&1 || true
    done
    return 1
}

need=()
for pkg in postgresql odbc-postgresql libsqliteodbc unixodbc unixodbc-dev oathtool openssl python3; do
    # "installed", not merely known: a removed package keeps its config files, and
    # `dpkg -s` still succeeds for it (CI's fresh-demo check removes odbc-postgresql).
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" = installed ] || need+=("$pkg")
done
# valgrind: the client instructions per row (callgrind), unless the run skips them.
case " $* " in
    *" --no-callgrind "*) ;;
    *) [ "$(dpkg-query -W -f='${db:Status-Status}' valgrind 2>/dev/null)" = installed ] || need+=(valgrind) ;;
esac
PY=/usr/bin/python3
if ! "$PY" -c 'import pyodbc' 2>/dev/null; then need+=(python3-pyodbc); fi
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}" >&2
    $SUDO apt-get update -qq >/dev/null || true
    apt_install "${need[@]}"
fi
if ! "$PY" -c 'import pyodbc' 2>/dev/null; then
    "$PY" -m pip install --quiet pyodbc || "$PY" -m pip install --quiet --break-system-packages pyodbc
fi

cargo build --release -p twofactor-odbc -p twofactor-server -p twofactor-bench

# 10,000 idle sessions need 10,000 sockets in the client and more in the server (a
# socket and a SQLite file each).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# PostgreSQL runs as the postgres user, which must read the CSV and write its cluster.
export TMPDIR="${TMPDIR:-/tmp}"
exec "$PY" bench/bench.py "$@"
