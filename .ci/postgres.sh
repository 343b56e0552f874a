#!/usr/bin/env bash
# Installs PostgreSQL from Debian packages if needed and starts a throwaway cluster on
# loopback. Prints the data directory, then the connection URL. Used by .ci/run, which
# stops the cluster when it ends.
set -euo pipefail
# A free loopback port unless one is given.
port="${1:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
data=$(mktemp -d /tmp/semarize-pg.XXXXXX)
chown postgres:postgres "$data"
run() { runuser -u postgres -- "$@"; }
run "$bin/initdb" -D "$data" -A trust -U postgres >/dev/null
run "$bin/pg_ctl" -D "$data" -o "-p $port -k $data -c listen_addresses=127.0.0.1" -l "$data/log" -w start >/dev/null
run "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE semarize_test" >/dev/null
echo "$data"
echo "postgres://postgres@127.0.0.1:$port/semarize_test"
