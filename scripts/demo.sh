#!/usr/bin/env bash
# The README's first command: from a fresh clone on Debian/Ubuntu, a two-factor login
# from isql and rows printed.
#
#   1. installs unixODBC (with its headers and link library) and oathtool if missing
#      (apt-get; root or sudo);
#   2. builds the server, the driver and the interactive client twofactor-sql (release);
#   3. makes a fresh server data directory in ./demo/server, adds user `demo` with a
#      password and enrols a TOTP key (the QR code is what a phone would scan);
#   4. starts the server on 127.0.0.1:7443 (another free port if that one is taken);
#   5. registers the driver and a DSN `TwoFactorDemo` in ./demo/odbc (ODBCSYSINI), so
#      the machine's /etc/odbcinst.ini and /etc/odbc.ini are NOT touched;
#   6. computes the current TOTP code with oathtool, as an authenticator app would,
#      logs in with isql in one step (password + code), creates a table, inserts rows
#      and selects them;
#   7. stops the server. ./demo stays for you to look at; the next run starts afresh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$(pwd)"
. scripts/packages.sh

step() { printf '\n== %s\n' "$*"; }

step "1. packages: unixODBC, oathtool"
# unixodbc-dev: odbc-sys (the driver's ODBC types) names libodbc in a link attribute,
# so linking the driver needs libodbc.so even though the built library does not load it
# (`readelf -d` lists only libc, libgcc_s and ld-linux; the installer library is found
# at run time).
ensure_packages unixodbc unixodbc-dev odbcinst oathtool gcc libc6-dev

step "2. build (release)"
cargo build --release -p twofactor-server -p twofactor-odbc -p twofactor-sql
server_bin="$root/target/release/twofactor-server"
driver_lib="$root/target/release/libtwofactorodbc.so"

step "3. a fresh server in ./demo/server, user demo, TOTP enrolment"
rm -rf "$root/demo"
mkdir -p "$root/demo"
data="$root/demo/server"
port=7443
if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
    echo "port $port is taken; the server will pick a free one"
    port=0
fi
"$server_bin" init --data-dir "$data" --listen "127.0.0.1:$port" --hostname localhost
password="demo-password-$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')"
printf '%s\n' "$password" | "$server_bin" user add --data-dir "$data" demo --password-stdin
"$server_bin" totp enrol --data-dir "$data" demo --png "$root/demo/demo-totp.png" | tee "$root/demo/enrolment.txt"
secret="$(sed -n 's/^secret: *//p' "$root/demo/enrolment.txt")"
[ -n "$secret" ] || { echo "demo.sh: no secret in the enrolment output" >&2; exit 1; }
echo "password of demo: $password"

step "4. start the server"
"$server_bin" serve --data-dir "$data" >"$root/demo/server.out" 2>"$root/demo/server.log" &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null; wait "$server_pid" 2>/dev/null || true' EXIT
addr=""
for _ in $(seq 1 100); do
    addr="$(sed -n 's/^listening on //p' "$root/demo/server.out" | head -n 1)"
    [ -n "$addr" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
[ -n "$addr" ] || { echo "demo.sh: the server did not start:" >&2; cat "$root/demo/server.log" >&2; exit 1; }
port="${addr##*:}"
echo "server listening on $addr (log: demo/server.log)"

step "5. register the driver and DSN TwoFactorDemo in ./demo/odbc (global config untouched)"
export ODBCSYSINI="$root/demo/odbc" ODBCINI="$root/demo/odbc/odbc.ini"
odbcinst/install.sh --config-dir "$ODBCSYSINI" --driver "$driver_lib" \
    --dsn TwoFactorDemo --server localhost --port "$port" --ca-file "$data/ca.pem"
sed 's/^/    /' "$ODBCINI"

step "6. two-factor login with isql: password + the current TOTP code"
code="$(oathtool --totp -b "$secret")"
echo "code from the authenticator (oathtool --totp -b SECRET): $code"
echo "isql -v -k \"DSN=TwoFactorDemo;UID=demo;PWD=...;TwoFactorCode=$code\""
isql -v -b -k "DSN=TwoFactorDemo;UID=demo;PWD=$password;TwoFactorCode=$code" <<'SQL' 2>&1 | tee "$root/demo/isql.out"
CREATE TABLE fruit (id INTEGER PRIMARY KEY, name VARCHAR(20), price NUMERIC(6,2))
INSERT INTO fruit VALUES (1, 'apple', 0.40)
INSERT INTO fruit VALUES (2, 'banana', 0.25)
INSERT INTO fruit VALUES (3, 'cherry', 3.10)
SELECT id, name, price FROM fruit ORDER BY id
SQL
# isql exits 0 even when a statement fails: check that the rows came back.
if ! grep -q cherry "$root/demo/isql.out" || grep -q 'ERROR' "$root/demo/isql.out"; then
    echo "demo.sh: the isql session did not print the rows (see above)" >&2
    exit 1
fi

step "7. stop the server"
kill "$server_pid"
wait "$server_pid" 2>/dev/null || true
trap - EXIT
cat <<EOF
done. To log in again yourself (a code works once; wait for the next one):
  export ODBCSYSINI=$ODBCSYSINI ODBCINI=$ODBCINI
  $server_bin serve --data-dir $data &
  isql -v -k "DSN=TwoFactorDemo;UID=demo;PWD=$password;TwoFactorCode=\$(oathtool --totp -b $secret)"
EOF
