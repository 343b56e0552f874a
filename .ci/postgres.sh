#!/usr/bin/env bash
# Installs PostgreSQL from Debian packages if needed and starts a throwaway cluster on
# loopback, with TLS from a throwaway CA (as managed databases have). Prints the data
# directory, then the connection URL: TLS required, the server verified against that CA.
# With PG_TLS=off the cluster offers no TLS (to test that a client never falls back to
# plaintext where it must not) and the URL names no TLS setting.
# Used by .ci/run, which stops the clusters when it ends.
set -euo pipefail
# A free loopback port unless one is given.
port="${1:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || ! command -v openssl >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql openssl >/dev/null
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
data=$(mktemp -d /tmp/semarize-pg.XXXXXX)
chown postgres:postgres "$data"
run() { runuser -u postgres -- "$@"; }
run "$bin/initdb" -D "$data" -A trust -U postgres >/dev/null
if [ "${PG_TLS:-on}" = off ]; then
  run "$bin/pg_ctl" -D "$data" -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c ssl=off -c shared_preload_libraries=pg_stat_statements" -l "$data/log" -w start >/dev/null
  run "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE semarize_test" >/dev/null
  echo "$data"
  echo "postgres://postgres@127.0.0.1:$port/semarize_test"
  exit 0
fi
# A CA and a server certificate for 127.0.0.1 signed by it (rustls refuses a CA
# certificate used as the server's own).
(
  cd "$data"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
    -subj "/CN=semarize test CA" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=127.0.0.1" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
    -extfile server.ext -out server.crt 2>/dev/null
  chown postgres:postgres server.key server.crt
  chmod 600 server.key
)
run "$bin/pg_ctl" -D "$data" -o "-p $port -k $data -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements -c ssl=on -c ssl_cert_file=$data/server.crt -c ssl_key_file=$data/server.key" -l "$data/log" -w start >/dev/null
run "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE semarize_test" >/dev/null
echo "$data"
echo "postgres://postgres@127.0.0.1:$port/semarize_test?sslmode=require&sslrootcert=$data/ca.crt"
