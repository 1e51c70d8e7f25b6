#!/usr/bin/env bash
# The driver under iODBC (Debian's libiodbc2, the driver manager macOS applications use),
# against a fresh server:
#  - iodbctest (iODBC's own demo client, ANSI calls) logs in with TwoFactorCode in the
#    connection string and runs SQL;
#  - dm_client.c, built with gcc against libiodbc.so.2 (SQLWCHAR = 4-byte wchar_t):
#    SQLDriverConnectW, attribute 1002 read and set through the wide calls with a wchar_t
#    token, a statement with a wide and a narrow parameter, wide results and diagnostics;
#    SQLSetConnectOption(1002, <integer>) as PHP calls it; 1002 set before connecting;
#  - the same with WideCharSize = 4 in odbcinst.ini (the explicit setting);
#  - dm_client built against unixODBC's libodbc.so.2 (2-byte SQLWCHAR) for the same
#    checks, so both widths run through a real driver manager;
#  - PHP's odbc_setoption($c, 1, 1002, <integer>) (through unixODBC).
# Each check prints one line; the script ends with `N passed, M failed`.
#
# Environment: TWOFACTOR_PROFILE=debug|release (default debug); TWOFACTOR_KEEP_TEST_DIRS=1
# keeps the temporary directory.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
. "$root/scripts/packages.sh"
# iodbc: iodbctest; libiodbc2: the manager and its installer library. Not libiodbc2-dev:
# it conflicts with unixodbc-dev, which the other suites need (dm_client needs no headers).
# php-cli, php-odbc: PHP's odbc_setoption (through unixODBC).
ensure_packages iodbc libiodbc2 unixodbc odbcinst oathtool gcc libc6-dev php-cli php-odbc || exit 1

. "$here/../isql/test-server.sh"   # $profile, $server_bin, $driver_lib
ensure_built || exit 1
libdir="$(dirname "$(readlink -f /usr/lib/*/libiodbc.so.2 | head -n 1)")"
# The server, and the driver and DSN TwoFactorTest registered in $work/odbc.
start_test_server twofactor-iodbc || exit 1

# One set of ini files serves both managers: unixODBC reads $ODBCSYSINI/odbcinst.ini and
# $ODBCINI; iODBC reads $ODBCINSTINI and $ODBCINI (SYS* for its system files). unixODBC
# takes ODBCINSTINI as a file name inside ODBCSYSINI, so it is set for iODBC runs only.
conf="$ODBCSYSINI"
iodbc=(env ODBCINSTINI="$conf/odbcinst.ini" SYSODBCINI="$conf/odbc.ini" SYSODBCINSTINI="$conf/odbcinst.ini")

gcc -Wall -Werror -DSQLWCHAR_BYTES=4 -o "$work/iodbc_client" "$here/dm_client.c" "$libdir/libiodbc.so.2" || exit 1
gcc -Wall -Werror -DSQLWCHAR_BYTES=2 -o "$work/unixodbc_client" "$here/dm_client.c" "$libdir/libodbc.so.2" || exit 1

passed=0
failed=0
n=0
# new_user -> sets user, pass, secret (a fresh user per check: a code is accepted once).
new_user() {
    n=$((n + 1))
    user="iodbc$n"; pass="pw-$user"
    secret="$(add_user "$user" "$pass")" || { echo "could not enrol $user" >&2; exit 1; }
}
result() { # name status log
    if [ "$2" -eq 0 ]; then
        passed=$((passed + 1)); echo "PASS $1"
    else
        failed=$((failed + 1)); echo "FAIL $1"; sed 's/^/    /' "$3"
    fi
}
client() { # name mode command...
    local name="$1" mode="$2" log
    shift 2
    new_user
    log="$work/$user.log"
    timeout 60 "$@" "$mode" "DSN=TwoFactorTest;UID=$user;PWD=$pass" "$(oathtool --totp -b "$secret")" >"$log" 2>&1
    result "$name" $? "$log"
}

# iodbctest: SQL on standard input, the code in the connection string.
new_user
log="$work/iodbctest.log"
printf 'SELECT 6 * 7 AS answer\nquit\n' |
    timeout 60 "${iodbc[@]}" iodbctest "DSN=TwoFactorTest;UID=$user;PWD=$pass;TwoFactorCode=$(oathtool --totp -b "$secret")" >"$log" 2>&1
grep -q "Driver: .*libtwofactorodbc" "$log" && grep -qw 42 "$log" && ! grep -q "28000" "$log"
result "iodbctest logs in with TwoFactorCode and runs SQL" $? "$log"

client "iODBC wide calls, wchar_t 1002 token, wide and narrow parameters (detected width)" wide-attr "${iodbc[@]}" "$work/iodbc_client"
client "iODBC SQLSetConnectOption(1002, integer) as PHP calls it" odbc2-int "${iodbc[@]}" "$work/iodbc_client"
client "iODBC 1002 set before connecting" attr-before "${iodbc[@]}" "$work/iodbc_client"
client "unixODBC wide calls, 2-byte SQLWCHAR token, wide and narrow parameters" wide-attr "$work/unixodbc_client"
client "unixODBC SQLSetConnectOption(1002, integer) as PHP calls it" odbc2-int "$work/unixodbc_client"
client "PHP odbc_setoption(1002, integer)" php php "$here/php_setoption.php"

# The explicit setting: WideCharSize in the driver's odbcinst.ini section.
sed -i 's/^\[TwoFactor\]$/[TwoFactor]\nWideCharSize = 4/' "$conf/odbcinst.ini"
client "iODBC with WideCharSize = 4 in odbcinst.ini" wide-attr "${iodbc[@]}" "$work/iodbc_client"
sed -i 's/^WideCharSize = 4$/WideCharSize = 2/' "$conf/odbcinst.ini"
client "unixODBC with WideCharSize = 2 in odbcinst.ini" wide-attr "$work/unixodbc_client"

if [ "$failed" -gt 0 ]; then
    echo "server log (last lines):"
    tail -n 20 "$work/server.log" | sed 's/^/    /'
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
