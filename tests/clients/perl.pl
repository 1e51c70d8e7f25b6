#!/usr/bin/perl
# Perl DBI with DBD::ODBC (tests/clients/run.sh sets TF_DSN and TF_LOGINS).
# DBD::ODBC cannot set attribute 1002, so the code goes in the connection string:
# TwoFactorCode=, and unixODBC's DMConnAttr=[1002]= (applied by the driver, as the DSN is
# named). Parameters are bound with DBD::ODBC's defaults (no explicit SQL types).
use strict;
use warnings;
use DBI;
binmode STDOUT, ':encoding(UTF-8)';

my $dsn = $ENV{TF_DSN};
my @logins = map { [ split /:/ ] } split /,/, $ENV{TF_LOGINS};

sub check {
    my ($name, $ok, $why) = @_;
    print $ok ? "PASS perl: $name\n" : "FAIL perl: $name: " . ($why // '') . "\n";
}

sub connect_with {
    my ($login, $extra) = @_;
    my ($user, $pass) = @$login;
    return DBI->connect("dbi:ODBC:DSN=$dsn;UID=$user;PWD=$pass;$extra", undef, undef,
        { RaiseError => 1, PrintError => 0, AutoCommit => 1 });
}

sub answer { my ($dbh) = @_; return ($dbh->selectrow_array("SELECT 40 + 2"))[0]; }

# 1. TwoFactorCode= in the connection string.
my $first = $logins[0];
my $dbh = eval { connect_with($first, "TwoFactorCode=$first->[2]") };
check("login with TwoFactorCode=", $dbh && eval { answer($dbh) } == 42, $@ || $DBI::errstr);

# 2. The same code again in this process: refused by the driver, not sent.
my $again = eval { connect_with($first, "TwoFactorCode=$first->[2]") };
my $err = $DBI::errstr // $@ // '';
check("a reused code is refused locally with 28000", !$again && $DBI::state eq '28000' && $err =~ /new code is needed/,
      "state " . ($DBI::state // '') . ": $err");

# 3. DMConnAttr=[1002]= with the DSN named.
my $second = $logins[1];
my $dm = eval { connect_with($second, "DMConnAttr=[1002]=$second->[2]") };
check("login with DMConnAttr=[1002]=", $dm && eval { answer($dm) } == 42, $@ || $DBI::errstr);
$dm->disconnect if $dm;

exit 0 unless $dbh;

# 4. Every type, through parameters with DBD::ODBC's default binding.
my $blob = join '', map { chr } 0 .. 255;
my @row = (42, '1099511627776', 2.5, "gr\x{fc}\x{df}e, \x{4e16}\x{754c}", '1999-12-31', '2026-11-23 10:30:15', $blob);
my $ok = eval {
    $dbh->do("CREATE TABLE pl_types (i INTEGER, big BIGINT, d DOUBLE, s VARCHAR(40), dt DATE, ts TIMESTAMP, b BLOB)");
    my $ins = $dbh->prepare("INSERT INTO pl_types VALUES (?, ?, ?, ?, ?, ?, ?)");
    $ins->execute(@row);
    $ins->execute((undef) x 7);
    1;
};
check("insert every type with parameters", $ok, $@);
my $got = eval {
    $dbh->{LongReadLen} = 1024;
    $dbh->selectall_arrayref("SELECT i, big, d, s, dt, ts, b FROM pl_types ORDER BY i IS NULL, i");
};
check("select returns both rows", $got && @$got == 2, $@ || 'rows: ' . ($got ? scalar @$got : 'none'));
if ($got && @$got == 2) {
    my @names = qw(INTEGER BIGINT DOUBLE VARCHAR DATE TIMESTAMP BLOB);
    for my $k (0 .. 5) {
        my $v = $got->[0][$k] // 'NULL';
        $v =~ s/\.0+$// if $k == 5;
        # The driver's narrow text is UTF-8 (docs/clients.md); DBD::ODBC hands it over as bytes.
        utf8::decode($v) unless utf8::is_utf8($v);
        check("$names[$k] round-trips", $v eq $row[$k], "got '$v', expected '$row[$k]'");
    }
    my $b = $got->[0][6] // '';
    check("BLOB of bytes 00..FF round-trips", $b eq $blob,
          sprintf("got %d bytes starting %s", length $b, unpack('H16', $b)));
    my @nulls = @{ $got->[1] };
    check("NULL round-trips in every column", @nulls == 7 && !grep({ defined } @nulls),
          join(',', map { defined $_ ? "'$_'" : 'NULL' } @nulls));
}

# 5. The catalog.
my $tables = eval { $dbh->table_info(undef, undef, 'pl_types', 'TABLE')->fetchall_arrayref({}) };
check("table_info lists the table", $tables && grep({ lc($_->{TABLE_NAME}) eq 'pl_types' } @$tables), $@);
my $cols = eval { $dbh->column_info(undef, undef, 'pl_types', '%')->fetchall_arrayref({}) };
my $names = $cols ? join(',', map { lc $_->{COLUMN_NAME} } @$cols) : '';
check("column_info lists the columns in order", $names eq 'i,big,d,s,dt,ts,b', $@ || $names);
$dbh->disconnect;
