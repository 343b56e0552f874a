#!/usr/bin/env bash
# Installs PostgreSQL from Debian packages if needed and starts a throwaway cluster on
# loopback. Prints the connection URL on its last line. Used by .ci/run.
set -euo pipefail
port="${1:-55432}"
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
echo "postgres://postgres@127.0.0.1:$port/semarize_test"
