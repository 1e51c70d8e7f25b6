<?php
// PHP's only setter for connection options: odbc_setoption($c, 1, 1002, <int>) calls
// ODBC 2 SQLSetConnectOption with the integer as the value, which unixODBC hands to
// the driver's SQLSetConnectOptionW. It used to kill PHP with SIGSEGV in the driver.
// Usage: php php_setoption.php php CONNECTION-STRING CODE (as dm_client takes them)
[, , $connection_string, $code] = $argv;
$failures = 0;
function check(bool $ok, string $what): void {
    global $failures;
    echo ($ok ? "ok   " : "FAIL ") . $what . "\n";
    if (!$ok) $failures++;
}
$c = odbc_connect($connection_string, "", "");
check($c !== false, "odbc_connect");
// Neither a 6-8 digit code nor readable memory: refused (S1009, ODBC 2's HY024).
check(@odbc_setoption($c, 1, 1002, 4096) === false && odbc_error($c) === "S1009",
      "odbc_setoption(1002, 4096) fails with S1009 and PHP lives on");
if ($code[0] === "0") {
    // 012345 is 12345 as an integer: refused, the code must go another way.
    check(@odbc_setoption($c, 1, 1002, (int)$code) === false, "a code with a leading zero as an integer is refused");
    odbc_close($c);
    $c = odbc_connect("$connection_string;TwoFactorCode=$code", "", "");
    check($c !== false, "the code with a leading zero in the connection string");
} else {
    check(odbc_setoption($c, 1, 1002, (int)$code) === true, "odbc_setoption(1002, <code as an integer>) verifies the code");
}
$s = odbc_exec($c, "SELECT 6 * 7");
check($s !== false && odbc_fetch_row($s) && odbc_result($s, 1) == 42, "a statement runs");
echo "php: $failures check(s) failed\n";
exit($failures ? 1 : 0);
