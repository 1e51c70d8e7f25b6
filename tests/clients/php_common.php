<?php
// What tests/clients/php_odbc.php and php_pdo.php share: the check line, the logins, the
// row every client round-trips and the comparison of what came back.

$dsn = getenv('TF_DSN');
$logins = array_map(fn($l) => explode(':', $l), explode(',', getenv('TF_LOGINS')));
$blob = implode('', array_map('chr', range(0, 255)));
$row = [42, '1099511627776', '2.5', 'grüße, 世界', '1999-12-31', '2026-11-23 10:30:15', $blob];
const TYPES_TABLE = '(i INTEGER, big BIGINT, d DOUBLE, s VARCHAR(40), dt DATE, ts TIMESTAMP, b BLOB)';

function check(string $name, bool $ok, string $why = ''): void {
    echo $ok ? "PASS " . CLIENT . ": $name\n" : "FAIL " . CLIENT . ": $name: $why\n";
}

// $rows: the two rows read back (values in column order), the full one first.
// $blob_as_hex: the client reads every column as SQL_C_CHAR (PDO_ODBC does, see
// ext/pdo_odbc/odbc_stmt.c), for which ODBC defines binary data as hex text: every
// byte must still be there, two hex digits each.
function check_rows(array $rows, bool $blob_as_hex = false): void {
    global $row, $blob;
    check('select returns both rows', count($rows) === 2, 'rows: ' . count($rows));
    if (count($rows) !== 2) return;
    foreach (['INTEGER', 'BIGINT', 'DOUBLE', 'VARCHAR', 'DATE', 'TIMESTAMP'] as $k => $name) {
        $v = (string) $rows[0][$k];
        if ($k === 5) $v = preg_replace('/\.0+$/', '', $v);
        check("$name round-trips", $v === (string) $row[$k], "got '$v', expected '{$row[$k]}'");
    }
    $b = (string) $rows[0][6];
    if ($blob_as_hex) {
        check('BLOB of bytes 00..FF round-trips (as the hex text SQL_C_CHAR gets)',
              strtolower($b) === bin2hex($blob), sprintf('got %d characters starting %s', strlen($b), substr($b, 0, 16)));
    } else check('BLOB of bytes 00..FF round-trips', $b === $blob,
          sprintf('got %d bytes starting %s', strlen($b), bin2hex(substr($b, 0, 8))));
    check('NULL round-trips in every column', $rows[1] === array_fill(0, 7, null), json_encode($rows[1]));
}
