#!/usr/bin/env bash
# Registers the TwoFactor ODBC driver with unixODBC (odbcinst -i -d) and, optionally, a
# DSN (odbcinst -i -s). Idempotent: running it again replaces the entries, it does not
# add a second copy or raise the usage count.
#
#   odbcinst/install.sh                         system-wide: /etc/odbcinst.ini (root)
#   odbcinst/install.sh --user                  per user: $ODBCSYSINI/odbcinst.ini, or
#                                               ~/.odbc/odbcinst.ini (export ODBCSYSINI)
#   odbcinst/install.sh --config-dir DIR        a private configuration: DIR/odbcinst.ini
#                                               and DIR/odbc.ini (set ODBCSYSINI=DIR and
#                                               ODBCINI=DIR/odbc.ini to use it)
#   ... --dsn NAME --server HOST --port PORT --ca-file FILE [--tls-server-name NAME]
#                                               also write a DSN (system DSN; user DSN
#                                               with --user)
#   ... --uninstall [--dsn NAME]                remove the driver (and the DSN)
#
# Other options: --driver PATH (default: target/release/libtwofactorodbc.so, else
# target/debug/...), --name NAME (driver name, default TwoFactor), --bin-dir DIR (where
# the interactive client twofactor-sql, built beside the driver, is linked: default
# /usr/local/bin, ~/.local/bin with --user, DIR/bin with --config-dir).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
name="TwoFactor"
driver=""
mode="system"
config_dir=""
uninstall=0
dsn=""
server="localhost"
port="7443"
ca_file=""
tls_server_name=""
bin_dir=""

usage() { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "install.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --user) mode="user" ;;
        --config-dir) mode="dir"; config_dir="${2:?--config-dir needs a directory}"; shift ;;
        --uninstall) uninstall=1 ;;
        --driver) driver="${2:?--driver needs a path}"; shift ;;
        --name) name="${2:?--name needs a name}"; shift ;;
        --dsn) dsn="${2:?--dsn needs a name}"; shift ;;
        --server) server="${2:?--server needs a host}"; shift ;;
        --port) port="${2:?--port needs a number}"; shift ;;
        --ca-file) ca_file="${2:?--ca-file needs a file}"; shift ;;
        --tls-server-name) tls_server_name="${2:?--tls-server-name needs a name}"; shift ;;
        --bin-dir) bin_dir="${2:?--bin-dir needs a directory}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

command -v odbcinst >/dev/null || die "odbcinst not found: install unixODBC (apt-get install unixodbc)"

# Where unixODBC reads its files: ODBCSYSINI is the directory of odbcinst.ini and the
# system odbc.ini; ODBCINI is the user DSN file.
case "$mode" in
    system)
        if [ "$(id -u)" -ne 0 ] && [ -z "${ODBCSYSINI:-}" ]; then
            die "system-wide registration writes $(odbcinst -j | sed -n 's/^DRIVERS\.*: //p'); run as root, or use --user"
        fi
        dsn_scope="-l"
        ;;
    user)
        if [ -z "${ODBCSYSINI:-}" ]; then
            export ODBCSYSINI="$HOME/.odbc"
            remind_sysini=1
        fi
        mkdir -p "$ODBCSYSINI"
        dsn_scope="-h"
        ;;
    dir)
        mkdir -p "$config_dir"
        config_dir="$(cd "$config_dir" && pwd)"
        export ODBCSYSINI="$config_dir"
        export ODBCINI="$config_dir/odbc.ini"
        touch "$ODBCSYSINI/odbcinst.ini" "$ODBCINI"
        dsn_scope="-l"
        ;;
esac

# Removes every registration of section $2 of kind $1 (-d or -s with scope), however
# many times it was installed: odbcinst -u only lowers the usage count.
remove_all() {
    local kind=("$@")
    local n
    for n in $(seq 1 50); do
        odbcinst -q "${kind[@]}" -n "$removing" >/dev/null 2>&1 || return 0
        odbcinst -u "${kind[@]}" -n "$removing" >/dev/null 2>&1 || return 0
    done
}

drivers_file() { odbcinst -j | sed -n 's/^DRIVERS\.*: //p'; }

# twofactor-sql, the interactive client shipped with the driver, is linked into a bin
# directory (it is not copied, as the driver is registered where it was built).
if [ -z "$bin_dir" ]; then
    case "$mode" in
        system) bin_dir="/usr/local/bin" ;;
        user) bin_dir="$HOME/.local/bin" ;;
        dir) bin_dir="$config_dir/bin" ;;
    esac
fi

if [ "$uninstall" -eq 1 ]; then
    if [ -n "$dsn" ]; then
        removing="$dsn"; remove_all -s "$dsn_scope"
        echo "removed DSN [$dsn]"
    fi
    removing="$name"; remove_all -d
    echo "removed driver [$name] from $(drivers_file)"
    if [ -L "$bin_dir/twofactor-sql" ]; then
        rm -f "$bin_dir/twofactor-sql"
        echo "removed $bin_dir/twofactor-sql"
    fi
    exit 0
fi

if [ -z "$driver" ]; then
    for candidate in "$root/target/release/libtwofactorodbc.so" "$root/target/debug/libtwofactorodbc.so"; do
        if [ -f "$candidate" ]; then driver="$candidate"; break; fi
    done
    [ -n "$driver" ] || die "no built driver: run 'cargo build --release -p twofactor-odbc' or pass --driver PATH"
fi
[ -f "$driver" ] || die "$driver does not exist"
driver="$(cd "$(dirname "$driver")" && pwd)/$(basename "$driver")"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# The template's section name is TwoFactor; --name renames it.
sed -e "s#@DRIVER@#$driver#" -e "s/^\[TwoFactor\]/[$name]/" "$here/odbcinst.ini.template" > "$tmp/driver.ini"
removing="$name"; remove_all -d
odbcinst -i -d -f "$tmp/driver.ini" >/dev/null
echo "registered driver [$name] = $driver in $(drivers_file)"

client="$(dirname "$driver")/twofactor-sql"
if [ -x "$client" ]; then
    mkdir -p "$bin_dir"
    ln -sfn "$client" "$bin_dir/twofactor-sql"
    echo "linked the client: $bin_dir/twofactor-sql -> $client"
else
    echo "no twofactor-sql beside the driver (cargo build --release -p twofactor-sql); the client is not installed"
fi

if [ -n "$dsn" ]; then
    {
        echo "[$dsn]"
        echo "Driver = $name"
        echo "Description = TwoFactor server at $server:$port"
        echo "Server = $server"
        echo "Port = $port"
        if [ -n "$ca_file" ]; then
            [ -f "$ca_file" ] || echo "install.sh: warning: CA file $ca_file does not exist (yet)" >&2
            echo "CAFile = $(cd "$(dirname "$ca_file")" 2>/dev/null && pwd || dirname "$ca_file")/$(basename "$ca_file")"
        fi
        if [ -n "$tls_server_name" ]; then echo "TLSServerName = $tls_server_name"; fi
    } > "$tmp/dsn.ini"
    removing="$dsn"; remove_all -s "$dsn_scope"
    odbcinst -i -s "$dsn_scope" -f "$tmp/dsn.ini" >/dev/null
    if [ "$dsn_scope" = "-h" ]; then
        where="${ODBCINI:-$HOME/.odbc.ini}"
    else
        where="$(odbcinst -j | sed -n 's/^SYSTEM DATA SOURCES\.*: //p')"
    fi
    echo "wrote DSN [$dsn] (Server=$server Port=$port${ca_file:+ CAFile=$ca_file}) in $where"
fi

if [ "${remind_sysini:-0}" -eq 1 ]; then
    echo "unixODBC finds this registration only with: export ODBCSYSINI=$ODBCSYSINI"
fi
if [ "$mode" = "dir" ]; then
    echo "use it with: export ODBCSYSINI=$ODBCSYSINI ODBCINI=$ODBCINI"
fi
