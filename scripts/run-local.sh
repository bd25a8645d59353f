#!/bin/bash
# scripts/run-local.sh - set up and run tasklist locally behind nginx on http://127.0.0.1:8080
# with the embedded defaults: SQLite in instance/task-list.sqlite and a local SASL memcached.
# Installs the Debian packages it needs, builds a release binary, upgrades the database,
# starts memcached (SASL, like MemCachier), the worker pool and nginx as plain processes,
# and stops them all on Ctrl-C.
# Environment (or .env) overrides: DATABASE_URL, MEMCACHIER_SERVERS/USERNAME/PASSWORD, SECRET_KEY,
# TL_PORT (8080), TL_WORKERS (number of CPUs), TL_MEMCACHED_PORT (11511).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/deps.sh run
[ -f build-release/build.ninja ] || meson setup build-release -Dbuildtype=release >/dev/null
meson compile -C build-release >/dev/null
TL=$ROOT/build-release/tasklist
RUN=$ROOT/instance/run
mkdir -p "$RUN" "$ROOT/instance"
PORT=${TL_PORT:-8080}
PIDS=()
cleanup() {
  trap - EXIT INT TERM
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# .env wins over nothing, the environment wins over .env (tasklist reads .env itself too)
if [ -f .env ]; then set -a; . ./.env; set +a; fi

# A secret key generated once for this checkout (never committed: instance/ is ignored)
if [ -z "${SECRET_KEY:-}" ]; then
  [ -s instance/secret_key ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >instance/secret_key
  export SECRET_KEY=$(cat instance/secret_key)
fi

# A local memcached with SASL (binary protocol, PLAIN), unless servers are configured
if [ -z "${MEMCACHIER_SERVERS:-}" ]; then
  MCPORT=${TL_MEMCACHED_PORT:-11511}
  MC=$RUN/memcached; mkdir -p "$MC"
  [ -s instance/memcached_password ] || head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >instance/memcached_password
  export MEMCACHIER_USERNAME=tasklist MEMCACHIER_PASSWORD=$(cat instance/memcached_password)
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
# nginx started as root runs its workers as nobody: they need to reach the socket
TASKLIST_SERVER_SOCKET_MODE=0666 "$TL" serve --listen "unix:$SOCK" ${TL_WORKERS:+--workers "$TL_WORKERS"} --templates "$ROOT/templates" &
PIDS+=($!)
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || { echo "tasklist did not start (see the messages above)"; exit 1; }

NG=$RUN/nginx; mkdir -p "$NG/conf" "$NG/logs" "$NG/tmp"
sed -e "s|@PREFIX@|$NG|g" -e "s|@LISTEN@|127.0.0.1:$PORT|g" -e "s|@UPSTREAM@|unix:$SOCK|g" \
    -e "s|@STATIC_DIR@|$ROOT/static/|g" nginx/local.conf.in >"$NG/nginx.conf"
nginx -p "$NG" -c "$NG/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
sleep 0.5
echo "tasklist is running on http://127.0.0.1:$PORT/ (Ctrl-C stops it)"
wait -n || true
