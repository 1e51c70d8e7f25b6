<?php
// PHP PDO_ODBC with its defaults (tests/clients/run.sh sets TF_DSN and TF_LOGINS). PDO
// cannot set attribute 1002: the code goes in the connection string. PDO has no catalog
// API, so the catalog is read with ordinary queries only through ext/odbc (php_odbc.php).

$dsn = getenv('TF_DSN');
$logins = array_map(fn($l) => explode(':', $l), explode(',', getenv('TF_LOGINS')));

function check(string $name, bool $ok, string $why = ''): void {
    echo $ok ? "PASS php_pdo: $name\n" : "FAIL php_pdo: $name: $why\n";
}

function connect_with(array $login, string $extra): PDO {
    [$user, $pass] = $login;
    return new PDO("odbc:DSN={$GLOBALS['dsn']};UID=$user;PWD=$pass;$extra", null, null,
                   [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
}

function answer(PDO $pdo): int { return (int) $pdo->query('SELECT 40 + 2')->fetchColumn(); }

$pdo = null;
try {
    $pdo = connect_with($logins[0], "TwoFactorCode={$logins[0][2]}");
    check('login with TwoFactorCode=', answer($pdo) === 42);
} catch (PDOException $e) { check('login with TwoFactorCode=', false, $e->getMessage()); }

try {
    connect_with($logins[0], "TwoFactorCode={$logins[0][2]}");
    check('a reused code is refused locally with 28000', false, 'connected');
} catch (PDOException $e) {
    check('a reused code is refused locally with 28000',
          str_contains($e->getMessage(), '28000') && str_contains($e->getMessage(), 'new code is needed'), $e->getMessage());
}

try {
    check('login with DMConnAttr=[1002]=', answer(connect_with($logins[1], "DMConnAttr=[1002]={$logins[1][2]}")) === 42);
} catch (PDOException $e) { check('login with DMConnAttr=[1002]=', false, $e->getMessage()); }

if (!$pdo) exit(0);

$blob = implode('', array_map('chr', range(0, 255)));
$row = [42, '1099511627776', '2.5', 'grüße, 世界', '1999-12-31', '2026-11-23 10:30:15', $blob];
try {
    $pdo->exec('CREATE TABLE pdo_types (i INTEGER, big BIGINT, d DOUBLE, s VARCHAR(40), dt DATE, ts TIMESTAMP, b BLOB)');
    $ins = $pdo->prepare('INSERT INTO pdo_types VALUES (?, ?, ?, ?, ?, ?, ?)');
    $ins->execute($row);
    $ins->execute(array_fill(0, 7, null));
    check('insert every type with parameters', true);
} catch (PDOException $e) { check('insert every type with parameters', false, $e->getMessage()); }

try {
    $rows = $pdo->query('SELECT i, big, d, s, dt, ts, b FROM pdo_types ORDER BY i IS NULL, i')->fetchAll(PDO::FETCH_NUM);
    check('select returns both rows', count($rows) === 2, 'rows: ' . count($rows));
    if (count($rows) === 2) {
        foreach (['INTEGER', 'BIGINT', 'DOUBLE', 'VARCHAR', 'DATE', 'TIMESTAMP'] as $k => $name) {
            $v = (string) $rows[0][$k];
            if ($k === 5) $v = preg_replace('/\.0+$/', '', $v);
            check("$name round-trips", $v === (string) $row[$k], "got '$v', expected '{$row[$k]}'");
        }
        $b = (string) $rows[0][6];
        check('BLOB of bytes 00..FF round-trips', $b === $blob,
              sprintf('got %d bytes starting %s', strlen($b), bin2hex(substr($b, 0, 8))));
        check('NULL round-trips in every column', $rows[1] === array_fill(0, 7, null), json_encode($rows[1]));
    }
} catch (PDOException $e) { check('select returns both rows', false, $e->getMessage()); }
