#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server: a fresh cluster in a
# temporary directory, listening on a Unix socket there (and no TCP port), its
# URL in WEFT_TEST_PG. The server is stopped and removed afterwards, however
# the command ends. Installs Debian's postgresql package if no server is found.
#
#   tools/with-postgres.sh cargo test --workspace
set -euo pipefail

find_bin() {
    local found
    found="$(command -v initdb 2> /dev/null || true)"
    [[ -z "$found" ]] && found="$(ls -1 /usr/lib/postgresql/*/bin/initdb 2> /dev/null | sort -V | tail -n 1 || true)"
    [[ -n "$found" ]] && dirname "$(readlink -f "$found")"
}

bin="$(find_bin)"
if [[ -z "$bin" ]]; then
    echo "tools/with-postgres.sh: installing PostgreSQL from Debian's packages (for the scale-out tests)"
    sudo_=""
    [[ "$(id -u)" != 0 ]] && sudo_="sudo"
    $sudo_ apt-get update -qq > /dev/null
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq postgresql > /dev/null
    bin="$(find_bin)"
fi
[[ -n "$bin" ]] || { echo "tools/with-postgres.sh: no PostgreSQL server found or installed" >&2; exit 1; }

dir="$(mktemp -d /tmp/weft-pg.XXXXXX)"
# initdb refuses to run as root: the cluster belongs to the postgres user then.
as=()
if [[ "$(id -u)" == 0 ]]; then
    id postgres > /dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$dir"
    as=(runuser -u postgres --)
fi
user="$(if [[ "$(id -u)" == 0 ]]; then echo postgres; else id -un; fi)"
# Server commands run from `/`: the postgres user may not enter the caller's
# directory (a fresh `mktemp -d` clone is private).
pg() { (cd / && "${as[@]}" "$@"); }
port=54329

stop() {
    pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop > /dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT
# A signal while the server starts is acted on once it is up (so that `stop`
# does not race `pg_ctl start`); after that, it stops the command and exits,
# which stops the server.
signalled=""
trap 'signalled=130' INT
trap 'signalled=143' TERM

pg "$bin/initdb" -D "$dir/data" -U "$user" --auth=trust --no-sync > "$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-c listen_addresses='' -k $dir -p $port -c fsync=off -c max_connections=300" start > /dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }
pg "$bin/createdb" -h "$dir" -p "$port" -U "$user" weft

# The socket directory is the URL's host, percent-encoded: libpq (psql) and
# tokio-postgres both read a host starting with `/` as a Unix socket
# directory. (`localhost` with `?host=DIR` would make tokio-postgres try TCP
# on localhost first, and perhaps reach some other server on that port.)
# The query string is kept for tools that swap the database name in
# `/weft?`; connect_timeout means the same to both clients.
host="$(printf '%s' "$dir" | sed 's|/|%2F|g')"
export WEFT_TEST_PG="postgresql://$user@$host:$port/weft?connect_timeout=10"
psql "$WEFT_TEST_PG" -qAtc 'SELECT 1' > /dev/null \
    || { echo "tools/with-postgres.sh: psql cannot connect to $WEFT_TEST_PG" >&2; exit 1; }

[[ -z "$signalled" ]] || exit "$signalled"
# bash runs a trap only between commands: the command runs in the background
# and is waited for, so that a signal acts at once.
child=""
on_signal() {
    [[ -z "$child" ]] || { kill -"$1" "$child" 2> /dev/null; wait "$child" || true; }
    exit "$2"
}
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
"$@" <&0 &
child=$!
wait "$child"
