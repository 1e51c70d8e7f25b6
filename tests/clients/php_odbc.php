<?php
// PHP ext/odbc (tests/clients/run.sh sets TF_DSN and TF_LOGINS). The code three ways:
// TwoFactorCode= and DMConnAttr=[1002]= in the connection string, and attribute 1002
// with odbc_setoption after connecting (an integer: SQLSetConnectOption(1002, code)).
// Parameters are bound with ext/odbc's defaults.

const CLIENT = 'php_odbc';
require __DIR__ . '/php_common.php';

function connect_with(array $login, string $extra) {
    [$user, $pass] = $login;
    return @odbc_connect("DSN={$GLOBALS['dsn']};UID=$user;PWD=$pass;$extra", '', '');
}

function answer($conn): ?int {
    $r = @odbc_exec($conn, 'SELECT 40 + 2');
    return $r && odbc_fetch_row($r) ? (int) odbc_result($r, 1) : null;
}

// 1. TwoFactorCode=.
$conn = connect_with($logins[0], "TwoFactorCode={$logins[0][2]}");
check('login with TwoFactorCode=', $conn && answer($conn) === 42, odbc_errormsg());

// 2. The same code again: refused locally.
$again = connect_with($logins[0], "TwoFactorCode={$logins[0][2]}");
check('a reused code is refused locally with 28000', !$again && odbc_error() === '28000'
      && str_contains(odbc_errormsg(), 'new code is needed'), odbc_error() . ' ' . odbc_errormsg());

// 3. DMConnAttr=[1002]=.
$dm = connect_with($logins[1], "DMConnAttr=[1002]={$logins[1][2]}");
check('login with DMConnAttr=[1002]=', $dm && answer($dm) === 42, odbc_errormsg());

if ($conn) {

// 4. Every type, through parameters.
$ok = @odbc_exec($conn, 'CREATE TABLE php_types ' . TYPES_TABLE);
$ins = $ok ? @odbc_prepare($conn, 'INSERT INTO php_types VALUES (?, ?, ?, ?, ?, ?, ?)') : false;
$ok = $ins && @odbc_execute($ins, $row) && @odbc_execute($ins, array_fill(0, 7, null));
check('insert every type with parameters', (bool) $ok, odbc_errormsg($conn));
$r = @odbc_exec($conn, 'SELECT i, big, d, s, dt, ts, b FROM php_types ORDER BY i IS NULL, i');
$rows = [];
while ($r && ($a = odbc_fetch_array($r))) $rows[] = array_values($a);
check_rows($rows);

// 5. The catalog.
$t = @odbc_tables($conn, null, null, 'php_types', 'TABLE');
$found = false;
while ($t && ($a = odbc_fetch_array($t))) $found = $found || strtolower($a['TABLE_NAME']) === 'php_types';
check('odbc_tables lists the table', $found, odbc_errormsg($conn));
$c = @odbc_columns($conn, null, null, 'php_types');
$cols = [];
while ($c && ($a = odbc_fetch_array($c))) $cols[] = strtolower($a['COLUMN_NAME']);
check('odbc_columns lists the columns in order', implode(',', $cols) === 'i,big,d,s,dt,ts,b', implode(',', $cols));
}

// 6. Last, as a driver that reads the integer as a pointer crashes PHP here:
// attribute 1002 after connecting, as PHP can: odbc_setoption takes an integer.
$late = connect_with($logins[2], '');
$set = $late && @odbc_setoption($late, 1, 1002, (int) $logins[2][2]);
check('attribute 1002 with odbc_setoption', $set && answer($late) === 42,
      $late ? odbc_error($late) . ' ' . odbc_errormsg($late) : odbc_errormsg());
