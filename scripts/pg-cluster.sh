#!/usr/bin/env bash
# A private PostgreSQL cluster on a loopback port, for the tests (and anyone trying the
# PostgreSQL store or SQL backend by hand). TLS only, with certificates from a throwaway
# CA, so clients verify the server exactly as they must in production.
#
#   scripts/pg-cluster.sh start DIR        new cluster in DIR (which must not hold one)
#   scripts/pg-cluster.sh stop DIR         fast shutdown (the data stays)
#   scripts/pg-cluster.sh start-again DIR  start a stopped cluster: same port, same data
#   scripts/pg-cluster.sh restart DIR      stop, then start-again
#   scripts/pg-cluster.sh destroy DIR      stop and delete DIR
#
# `start` writes DIR/env, shell `export` lines the tests read (`. DIR/env`):
#   TWOFACTOR_TEST_PG_DIR, TWOFACTOR_TEST_PG_PORT, TWOFACTOR_TEST_PG_CA (the CA file),
#   TWOFACTOR_TEST_PG_SUPERUSER_PASSWORD_FILE (the password of role `postgres`).
# Only hostssl with scram-sha-256 is accepted on 127.0.0.1; the Unix socket in DIR/sock
# (trust) is for this script. fsync is off: a test cluster's data need not survive a
# power cut, and the suites create hundreds of databases.
set -euo pipefail

usage() { echo "usage: $0 start|stop|start-again|restart|destroy DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
dir=$(realpath -m "$2")

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$bin" ] && [ -x "$bin/initdb" ] || {
    echo "pg-cluster: PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)" >&2
    exit 1
}

# initdb and the server refuse to run as root.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

data="$dir/data"
sock="$dir/sock"

pg_ctl_start() {
    as_pg "$bin/pg_ctl" -D "$data" -l "$dir/log/server.log" -w -t 60 start >/dev/null || {
        echo "pg-cluster: the server did not start; its log:" >&2
        tail -20 "$dir/log/server.log" >&2
        exit 1
    }
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

make_certificates() {
    local t="$dir/tls"
    mkdir -p "$t"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=twofactor test CA" \
        -keyout "$t/ca.key" -out "$dir/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$t/ext"
    openssl x509 -req -in "$t/server.csr" -CA "$dir/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
        -days 30 -extfile "$t/ext" -out "$t/server.crt" 2>/dev/null
}

start_new() {
    [ ! -e "$data" ] || { echo "pg-cluster: $data exists; use start-again" >&2; exit 1; }
    command -v openssl >/dev/null || { echo "pg-cluster: openssl is needed" >&2; exit 1; }
    mkdir -p "$dir" "$sock" "$dir/log"
    chmod 755 "$dir"
    make_certificates
    local port password
    port=$(free_port)
    password=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
    (umask 077; printf '%s' "$password" >"$dir/superuser-password")
    if [ "$(id -u)" = 0 ]; then
        chown postgres "$sock" "$dir/log"
        mkdir -p "$data" && chown postgres "$data"
    fi
    as_pg "$bin/initdb" -D "$data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    install -m 600 "$dir/tls/server.key" "$data/server.key"
    install -m 644 "$dir/tls/server.crt" "$data/server.crt"
    [ "$(id -u)" = 0 ] && chown postgres "$data/server.key" "$data/server.crt"
    cat >>"$data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
password_encryption = 'scram-sha-256'
max_connections = 600
shared_buffers = 64MB
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    cat >"$data/pg_hba.conf" <<EOF
local all all trust
hostssl all all 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 reject
EOF
    pg_ctl_start
    as_pg psql -h "$sock" -p "$port" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 \
        -c "ALTER ROLE postgres PASSWORD '$password'" >/dev/null
    cat >"$dir/env" <<EOF
export TWOFACTOR_TEST_PG_DIR='$dir'
export TWOFACTOR_TEST_PG_PORT='$port'
export TWOFACTOR_TEST_PG_CA='$dir/ca.crt'
export TWOFACTOR_TEST_PG_SUPERUSER_PASSWORD_FILE='$dir/superuser-password'
EOF
    echo "pg-cluster: PostgreSQL on 127.0.0.1:$port (TLS; CA $dir/ca.crt); . $dir/env" >&2
}

stop() {
    [ -e "$data/postmaster.pid" ] || return 0
    as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

case "$cmd" in
    start) start_new ;;
    stop) stop ;;
    start-again) pg_ctl_start ;;
    restart) stop; pg_ctl_start ;;
    destroy) stop; rm -rf "$dir" ;;
    *) usage ;;
esac
