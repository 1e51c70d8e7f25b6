#!/usr/bin/env bash
# The client-compatibility suite: the clients people run, each through the real unixODBC
# driver manager against a fresh server (tests/isql/test-server.sh), each logging in with
# the second factor by the means it has, round-tripping every type (a BLOB of the bytes
# 00..FF included) and reading the catalog where it has a catalog API. docs/clients.md
# says what each client can do and what is known not to work.
#
#   perl.pl          Perl DBI + DBD::ODBC (Debian libdbd-odbc-perl)
#   php_odbc.php     PHP ext/odbc (php-odbc), attribute 1002 with odbc_setoption
#   php_pdo.php      PHP PDO_ODBC with its defaults
#   node_odbc.js     node-odbc (npm `odbc`, built with node-gyp)
#   arrow_odbc_client.py  arrow-odbc (PyPI)
#   odbc2parquet.sh  odbc2parquet (cargo install, cached)
#   pyodbc_pool.py   unixODBC's own pool (Pooling=Yes, CPTimeout) under pyodbc
#
# Each client prints `PASS client: check` or `FAIL client: check: why`; a client that
# cannot be installed is one FAIL. The end is `N passed, N failed`.
# Installs are bounded (TWOFACTOR_CLIENTS_INSTALL_TIMEOUT seconds each, default 2400 for
# odbc2parquet's build, which took 32 minutes on one shared core, 600 for the others) and cached under
# TWOFACTOR_CLIENTS_CACHE (default ~/.cache/twofactor-clients). CLIENTS="perl node" runs
# only those. TWOFACTOR_PROFILE=debug|release as for tests/isql/run-all.sh.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../isql/test-server.sh"   # $root, $profile, $server_bin, $driver_lib
cache="${TWOFACTOR_CLIENTS_CACHE:-${HOME:-/tmp}/.cache/twofactor-clients}"
install_timeout="${TWOFACTOR_CLIENTS_INSTALL_TIMEOUT:-600}"
mkdir -p "$cache"

for tool in isql odbcinst oathtool; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (apt-get install unixodbc oathtool)" >&2; exit 1; }
done

want() { [ -z "${CLIENTS:-}" ] || grep -qw "$1" <<<"$CLIENTS"; }

results="$(mktemp /tmp/twofactor-clients-results.XXXXXX)"
note_fail() { echo "FAIL $1" | tee -a "$results"; }

# --- installs (each bounded; a client that cannot be had is a failure, not a skip) ---
apt_install() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    local sudo=()
    [ "$(id -u)" -ne 0 ] && sudo=(sudo -n)
    echo "installing: ${missing[*]}"
    timeout "$install_timeout" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" </dev/null >/dev/null ||
        { timeout "$install_timeout" "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -q </dev/null >/dev/null &&
          timeout "$install_timeout" "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}" </dev/null >/dev/null; }
}

have_perl=0 have_php=0 have_node=0 have_arrow=0 have_o2p=0 have_pyodbc=0
if want perl; then apt_install libdbd-odbc-perl && have_perl=1 || note_fail "perl: install libdbd-odbc-perl"; fi
if want php_odbc || want php_pdo; then
    apt_install php-cli php-odbc && have_php=1 || note_fail "php: install php-cli php-odbc"
fi
if want node; then
    node_dir="$cache/node"
    if ! (cd "$node_dir" 2>/dev/null && node -e "require('odbc')" 2>/dev/null); then
        # Debian's npm only where no npm is on PATH: a Node.js from elsewhere (NodeSource
        # bundles npm) conflicts with Debian's npm package, and apt then refuses both.
        node_pkgs=(g++ make python3 unixodbc-dev)
        command -v npm >/dev/null || node_pkgs+=(nodejs npm)
        apt_install "${node_pkgs[@]}" && mkdir -p "$node_dir" &&
            (cd "$node_dir" && timeout "$install_timeout" npm install --no-audit --no-fund odbc >/dev/null 2>&1 &&
             { node -e "require('odbc')" 2>/dev/null ||
               timeout "$install_timeout" npm rebuild odbc --foreground-scripts >/dev/null 2>&1; })
    fi
    (cd "$node_dir" 2>/dev/null && node -e "require('odbc')" 2>/dev/null) && have_node=1 ||
        note_fail "node: npm install odbc (node-gyp build)"
fi
if want arrow || want pool; then
    python3 -c 'import pyodbc' 2>/dev/null ||
        timeout "$install_timeout" python3 -m pip install -q --disable-pip-version-check pyodbc </dev/null
fi
if want arrow; then
    python3 -c 'import arrow_odbc, pyarrow' 2>/dev/null ||
        timeout "$install_timeout" python3 -m pip install -q --disable-pip-version-check arrow-odbc pyarrow </dev/null
    python3 -c 'import arrow_odbc, pyarrow' 2>/dev/null && have_arrow=1 || note_fail "arrow_odbc: pip install arrow-odbc"
fi
if want pool; then python3 -c 'import pyodbc' 2>/dev/null && have_pyodbc=1 || note_fail "pyodbc_pool: pip install pyodbc"; fi
if want odbc2parquet; then
    o2p="$cache/cargo/bin/odbc2parquet"
    if ! "$o2p" --version >/dev/null 2>&1; then
        echo "building odbc2parquet (cached in $cache/cargo; minutes)..."
        CARGO_TARGET_DIR="$cache/cargo-target" timeout "${TWOFACTOR_CLIENTS_INSTALL_TIMEOUT:-2400}" \
            cargo install --locked --root "$cache/cargo" odbc2parquet >"$cache/odbc2parquet-build.log" 2>&1
        rm -rf "$cache/cargo-target"  # gigabytes of build artifacts; the binary is kept
    fi
    "$o2p" --version >/dev/null 2>&1 && have_o2p=1 || note_fail "odbc2parquet: cargo install odbc2parquet"
    export ODBC2PARQUET="$o2p"
fi

# --- the server, the driver, the DSN ---
if [ ! -x "$server_bin" ] || [ ! -f "$driver_lib" ]; then
    (cd "$root" && cargo build $([ "$profile" = release ] && echo --release) -p twofactor-server -p twofactor-odbc) || exit 1
fi
start_test_server twofactor-clients || exit 1
export TF_DRIVER_LIB="$driver_lib" TF_CA_FILE="$data/ca.pem" TF_PORT="$port"

# TF_LOGINS for a client: N fresh users "user:password:code,..." (a TOTP code is good
# for one login, so every login of a client has its user); TF_SECRETS their secrets.
# A code that survives being passed as an integer (PHP's odbc_setoption has no other
# form): one without a leading zero, from the current step or a neighbour the server's
# skew window accepts; in the rare step where all three have one, the next step's.
integer_safe_code() {
    local secret="$1" at code
    while :; do
        for at in now "now + 30 seconds" "now - 30 seconds"; do
            code="$(oathtool --totp -b -N "$at" "$secret")"
            [ "${code:0:1}" != 0 ] && { echo "$code"; return; }
        done
        sleep 5
    done
}

counter=0
make_logins() {
    local n="$1" logins=() secrets=() i user pass secret
    for i in $(seq 1 "$n"); do
        counter=$((counter + 1))
        user="c${counter}"; pass="pw${counter}x"
        secret="$(add_user "$user" "$pass")" || return 1
        logins+=("$user:$pass:$(integer_safe_code "$secret")")
        secrets+=("$secret")
    done
    TF_LOGINS="$(IFS=,; echo "${logins[*]}")"
    TF_SECRETS="$(IFS=,; echo "${secrets[*]}")"
    export TF_LOGINS TF_SECRETS
}

run_client() { # name logins command...
    local name="$1" n="$2"; shift 2
    make_logins "$n" || { note_fail "$name: could not enrol users"; return; }
    local out rc
    out="$(timeout 180 "$@" 2>&1)"; rc=$?
    printf '%s\n' "$out" | grep -E '^(PASS|FAIL) ' | tee -a "$results"
    # Clients exit 0 after their checks; any other status (a crash: 139 is SIGSEGV) is a
    # failure of its own, and the checks after it never ran.
    [ "$rc" -ne 0 ] && note_fail "$name: exited with status $rc"
    if [ "$rc" -ne 0 ] || printf '%s\n' "$out" | grep -q '^FAIL '; then
        printf '%s\n' "$out" | grep -vE '^(PASS|FAIL) ' | tail -n 15 | sed 's/^/    | /'
    fi
}

[ "$have_perl" = 1 ] && run_client perl 2 perl "$here/perl.pl"
[ "$have_php" = 1 ] && want php_odbc && run_client php_odbc 3 php "$here/php_odbc.php"
[ "$have_php" = 1 ] && want php_pdo && run_client php_pdo 2 php "$here/php_pdo.php"
[ "$have_node" = 1 ] && NODE_PATH="$cache/node/node_modules" run_client node_odbc 2 node "$here/node_odbc.js"
[ "$have_arrow" = 1 ] && run_client arrow_odbc 2 python3 "$here/arrow_odbc_client.py"
[ "$have_o2p" = 1 ] && run_client odbc2parquet 4 bash "$here/odbc2parquet.sh"
[ "$have_pyodbc" = 1 ] && run_client pyodbc_pool 2 python3 "$here/pyodbc_pool.py"

passed="$(grep -c '^PASS ' "$results")"
failed="$(grep -c '^FAIL ' "$results")"
rm -f "$results"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
