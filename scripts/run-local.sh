#!/bin/bash
# scripts/run-local.sh - set up and run tasklist locally behind nginx on http://127.0.0.1:8080
# with the embedded defaults: SQLite in instance/task-list.sqlite and a local SASL memcached.
# Installs the Debian packages it needs, builds a release binary, upgrades the database,
# starts memcached (SASL, like MemCachier), the worker pool and nginx as plain processes,
# and stops them all on Ctrl-C.
# Environment (or .env) overrides: DATABASE_URL, MEMCACHIER_SERVERS/USERNAME/PASSWORD, SECRET_KEY,
# TL_PORT (8080), TL_WORKERS (number of CPUs), TL_MEMCACHED_PORT (11511), TL_INSTANCE (./instance:
# the database, the generated secrets, sockets and logs).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/deps.sh run
[ -f build-release/build.ninja ] || meson setup build-release -Dbuildtype=release >/dev/null
meson compile -C build-release >/dev/null
TL=$ROOT/build-release/tasklist
INST=${TL_INSTANCE:-$ROOT/instance}
RUN=$INST/run
mkdir -p "$RUN"
PORT=${TL_PORT:-8080}
PIDS=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# tasklist reads .env itself (environment > .env > ini); here we only need to know whether .env
# already names a secret key or cache servers, so that we neither override nor duplicate them.
dotenv_has() { [ -f .env ] && grep -Eq "^(export )?$1=." .env; }

# With TL_INSTANCE, the default database moves there too (else sqlite:///instance/task-list.sqlite).
if [ -n "${TL_INSTANCE:-}" ] && [ -z "${DATABASE_URL:-}" ] && ! dotenv_has DATABASE_URL; then
  export DATABASE_URL="sqlite:///$INST/task-list.sqlite"
fi

# A secret key generated once for this checkout (never committed: instance/ is ignored)
if [ -z "${SECRET_KEY:-}" ] && ! dotenv_has SECRET_KEY; then
  [ -s "$INST/secret_key" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$INST/secret_key"
  export SECRET_KEY=$(cat "$INST/secret_key")
fi

# A local memcached with SASL (binary protocol, PLAIN), unless servers are configured
if [ -z "${MEMCACHIER_SERVERS:-}" ] && ! dotenv_has MEMCACHIER_SERVERS; then
  MCPORT=${TL_MEMCACHED_PORT:-11511}
  MC=$RUN/memcached; mkdir -p "$MC"
  [ -s "$INST/memcached_password" ] || head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$INST/memcached_password"
  export MEMCACHIER_USERNAME=tasklist MEMCACHIER_PASSWORD=$(cat "$INST/memcached_password")
  export MEMCACHIER_SERVERS=127.0.0.1:$MCPORT
  rm -f "$MC/sasldb2"
  printf '%s' "$MEMCACHIER_PASSWORD" | saslpasswd2 -p -a memcached -c -f "$MC/sasldb2" "$MEMCACHIER_USERNAME"
  printf 'mech_list: plain\nsasldb_path: %s/sasldb2\n' "$MC" >"$MC/memcached.conf"
  MCUSER=(); [ "$(id -u)" = 0 ] && MCUSER=(-u root)
  SASL_CONF_PATH=$MC memcached -S "${MCUSER[@]}" -l 127.0.0.1 -p "$MCPORT" -U 0 -m 64 &
  PIDS+=($!)
fi

"$TL" db upgrade

SOCK=$RUN/tasklist.sock
"$TL" serve --listen "unix:$SOCK" ${TL_WORKERS:+--workers "$TL_WORKERS"} --templates "$ROOT/templates" &
PIDS+=($!)
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || { echo "tasklist did not start (see the messages above)"; exit 1; }

NG=$RUN/nginx; mkdir -p "$NG/conf" "$NG/logs" "$NG/tmp"
sed -e "s|@PREFIX@|$NG|g" -e "s|@LISTEN@|127.0.0.1:$PORT|g" -e "s|@UPSTREAM@|unix:$SOCK|g" \
    -e "s|@STATIC_DIR@|$ROOT/static/|g" nginx/local.conf.in >"$NG/nginx.conf"
# Started as root, nginx would run its workers as nobody, who may not reach the socket or the
# static files under a private checkout (/root/...): keep them as the invoking user.
NGG='daemon off;'; [ "$(id -u)" = 0 ] && NGG='daemon off; user root;'
nginx -p "$NG" -c "$NG/nginx.conf" -g "$NGG" &
PIDS+=($!)
sleep 0.5
echo "tasklist is running on http://127.0.0.1:$PORT/ (Ctrl-C stops it)"
wait -n || true
