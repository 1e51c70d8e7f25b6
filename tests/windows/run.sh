#!/usr/bin/env bash
# The Windows driver DLL under Wine, against a real twofactor-server (the Linux binary)
# on 127.0.0.1:
#  - scripts/build-windows.sh cross-builds twofactorodbc.dll (and checks its export
#    table against driver/windows/twofactorodbc.def);
#  - the driver and a DSN are registered in a fresh Wine prefix's registry with a .reg
#    file (regedit), as docs/windows.md tells a Windows user to;
#  - iris_flow.exe (iris_flow.c, built with mingw) loads the DLL, resolves every .def
#    export, runs ConfigDSN (add, refuse a secret, remove; read back through odbccp32),
#    and logs in: SQLConnect with the registry DSN, 1002 reads 1, 1002 set to the TOTP
#    code (oathtool), 1002 reads 0, SELECT 6 * 7 -> 42; a pointer to freed memory as
#    1002 -> HY024; a wrong code -> 28000; and, with a DSN without CAFile, refused (08001)
#    until the server's CA is in the Windows ROOT store, then the flow again.
# Wine 8's odbc32.dll forwards to the host's unixODBC and never loads a Windows driver
# (docs/windows.md), so iris_flow does the driver manager's part itself.
#
# Not part of scripts/test.sh: the packages (wine, mingw-w64, rustc-web, rust-web-src)
# and the standard library built from source take longer than CI's budget allows. Run it
# by hand: tests/windows/run.sh. TWOFACTOR_KEEP_TEST_DIRS=1 keeps the work directory;
# WINEDEBUG=+odbc,+loaddll (say) traces Wine.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
. "$root/scripts/packages.sh"
ensure_packages wine wine64 oathtool gcc-mingw-w64-x86-64 || exit 1

dll="$("$root/scripts/build-windows.sh" | tail -n 1)" || exit 1
. "$root/tests/isql/test-server.sh"   # $server_bin, add_user
# TWOFACTOR_SERVER_BIN: a twofactor-server built elsewhere (the server is the Linux one).
server_bin="${TWOFACTOR_SERVER_BIN:-$server_bin}"
[ -x "$server_bin" ] || (cd "$root" && cargo build -p twofactor-server) || exit 1

work="$(mktemp -d /tmp/twofactor-wine.XXXXXX)"
data="$work/data"
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    WINEPREFIX="$work/wine" wineserver -k 2>/dev/null
    if [ -n "${TWOFACTOR_KEEP_TEST_DIRS:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
"$server_bin" init --data-dir "$data" --listen 127.0.0.1:0 --hostname localhost >/dev/null || exit 1
sed -i -e 's/^argon2_memory_kib = .*/argon2_memory_kib = 64/' -e 's/^argon2_iterations = .*/argon2_iterations = 1/' \
    "$data/server.toml"
: >"$work/server.out"
serve_in_background "$server_bin" "$data" "$work" || exit 1
echo "server listening on $addr"

export WINEPREFIX="$work/wine" WINEDEBUG="${WINEDEBUG:--all}" WINEDLLOVERRIDES="mscoree,mshtml="
wine=wine64; command -v wine64 >/dev/null || wine=/usr/lib/wine/wine64
"$wine" wineboot --init >"$work/wineboot.log" 2>&1 || { cat "$work/wineboot.log"; exit 1; }

x86_64-w64-mingw32-gcc -Wall -Werror -O1 -o "$work/iris_flow.exe" "$here/iris_flow.c" -lodbccp32 -lcrypt32 || exit 1
# Wine 8 has no bcryptprimitives.dll; the stand-in goes where the loader looks first, the
# program's directory (see bcryptprimitives_shim.c).
x86_64-w64-mingw32-gcc -Wall -Werror -O1 -shared -o "$work/bcryptprimitives.dll" "$here/bcryptprimitives_shim.c" \
    -lbcrypt || exit 1
# Wine maps the Unix root to drive Z:.
winpath() { local p="$1"; printf 'Z:%s' "${p//\//\\}"; }
# The .reg file with the paths filled in (backslashes doubled, as .reg strings want).
python3 - "$here/twofactor-test.reg.in" "$work/twofactor.reg" "$(winpath "$dll")" "$port" "$(winpath "$data/ca.pem")" <<'PY' || exit 1
import sys
src, dst, dll, port, ca = sys.argv[1:]
reg = lambda p: p.replace("\\", "\\\\")
text = open(src).read().replace("@DLL@", reg(dll)).replace("@PORT@", port).replace("@CAFILE@", reg(ca))
open(dst, "w").write(text)
PY
"$wine" regedit /S "$(winpath "$work/twofactor.reg")" || exit 1
wineserver -w

passed=0 failed=0
step() { # name command...
    local name="$1" log="$work/step.log"; shift
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1)); echo "PASS $name"
    else
        failed=$((failed + 1)); echo "FAIL $name"
    fi
    sed 's/^/    /' "$log"
}
exe() { "$wine" "$work/iris_flow.exe" "$@"; }
dllw="$(winpath "$dll")"
step "the DLL loads and every .def export resolves" exe exports "$dllw" "$(winpath "$root/driver/windows/twofactorodbc.def")"
step "ConfigDSN adds, refuses a secret, removes" exe configdsn "$dllw" "$port" "$(winpath "$data/ca.pem")"
secret="$(add_user wine1 pw-wine1)" || exit 1
step "IRIS flow: SQLConnect, 1002 = 1, set 1002 = code, 1002 = 0, SELECT" \
    exe flow "$dllw" TwoFactorWine wine1 pw-wine1 "$(oathtool --totp -b "$secret")"
secret2="$(add_user wine2 pw-wine2)" || exit 1
bad=123456; [ "$(oathtool --totp -b "$secret2")" = "$bad" ] && bad=654321
step "an unreadable 1002 pointer is HY024; a wrong code is refused with 28000" exe badcode "$dllw" TwoFactorWine wine2 pw-wine2 "$bad"
secret3="$(add_user wine3 pw-wine3)" || exit 1
step "no CAFile: the Windows ROOT store is the trust source" \
    exe certstore "$dllw" TwoFactorWineStore wine3 pw-wine3 "$(oathtool --totp -b "$secret3")" "$(winpath "$data/ca.pem")"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
