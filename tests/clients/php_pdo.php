<?php
// PHP PDO_ODBC with its defaults (tests/clients/run.sh sets TF_DSN and TF_LOGINS). PDO
// cannot set attribute 1002: the code goes in the connection string. PDO has no catalog
// API, so the catalog is read with ordinary queries only through ext/odbc (php_odbc.php).

const CLIENT = 'php_pdo';
require __DIR__ . '/php_common.php';

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

try {
    $pdo->exec('CREATE TABLE pdo_types ' . TYPES_TABLE);
    $ins = $pdo->prepare('INSERT INTO pdo_types VALUES (?, ?, ?, ?, ?, ?, ?)');
    $ins->execute($row);
    $ins->execute(array_fill(0, 7, null));
    check('insert every type with parameters', true);
} catch (PDOException $e) { check('insert every type with parameters', false, $e->getMessage()); }

try {
    $rows = $pdo->query('SELECT i, big, d, s, dt, ts, b FROM pdo_types ORDER BY i IS NULL, i')->fetchAll(PDO::FETCH_NUM);
    check_rows($rows, true);
} catch (PDOException $e) { check('select returns both rows', false, $e->getMessage()); }
