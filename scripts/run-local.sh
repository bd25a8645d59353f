#!/bin/bash
# scripts/run-local.sh - set up and run tasklist locally behind nginx on http://127.0.0.1:8080
# with the embedded defaults: SQLite in instance/task-list.sqlite and a local SASL memcached.
# Installs the Debian packages it needs, builds a release binary, upgrades the database,
# starts memcached (SASL, like MemCachier), the worker pool and nginx as plain processes,
# and stops them all on Ctrl-C.
# Environment (or .env) overrides: DATABASE_URL, MEMCACHIER_SERVERS/USERNAME/PASSWORD, SECRET_KEY,
# TASKLIST_SERVER_PUBLIC_ORIGIN; TL_PORT (8080), TL_WORKERS (number of CPUs), TL_MEMCACHED_PORT
# (11511), TL_INSTANCE (./instance: the database, the generated secrets, sockets and logs),
# TL_USER (started as root: the user the servers run as; default $SUDO_USER, else the owner of
# the checkout, else nobody).
# Private by construction: everything written under the instance folder is 0600 (folders 0700),
# and started as root, no server runs as root (see "Started as root" below).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/deps.sh run
[ -f build-release/build.ninja ] || meson setup build-release -Dbuildtype=release >/dev/null
meson compile -C build-release >/dev/null
# From here on every file and folder this script (and what it starts) creates is private: the
# instance folder holds the secret key, the memcached password and the database.
umask 077
TL=$ROOT/build-release/tasklist
TEMPLATES=$ROOT/templates
STATIC=$ROOT/static
MIGRATIONS=$ROOT/migrations
INST=${TL_INSTANCE:-$ROOT/instance}
RUN=$INST/run
mkdir -p "$RUN"
chmod 700 "$INST" "$RUN"
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

# Pin the public origin to this local site: a request for another Host (a DNS-rebinding page)
# gets 421, and the cross-site check compares Origin with these.
if [ -z "${TASKLIST_SERVER_PUBLIC_ORIGIN:-}" ] && ! dotenv_has TASKLIST_SERVER_PUBLIC_ORIGIN; then
  export TASKLIST_SERVER_PUBLIC_ORIGIN="http://127.0.0.1:$PORT,http://localhost:$PORT"
fi

# A secret key generated once for this checkout (never committed: instance/ is ignored)
if [ -z "${SECRET_KEY:-}" ] && ! dotenv_has SECRET_KEY; then
  [ -s "$INST/secret_key" ] || head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$INST/secret_key"
  export SECRET_KEY=$(cat "$INST/secret_key")
fi

# A local memcached with SASL (binary protocol, PLAIN), unless servers are configured
MCPORT=""
if [ -z "${MEMCACHIER_SERVERS:-}" ] && ! dotenv_has MEMCACHIER_SERVERS; then
  MCPORT=${TL_MEMCACHED_PORT:-11511}
  MC=$RUN/memcached; mkdir -p "$MC"
  [ -s "$INST/memcached_password" ] || head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$INST/memcached_password"
  export MEMCACHIER_USERNAME=tasklist MEMCACHIER_PASSWORD=$(cat "$INST/memcached_password")
  export MEMCACHIER_SERVERS=127.0.0.1:$MCPORT
  rm -f "$MC/sasldb2"
  printf '%s' "$MEMCACHIER_PASSWORD" | saslpasswd2 -p -a memcached -c -f "$MC/sasldb2" "$MEMCACHIER_USERNAME"
  printf 'mech_list: plain\nsasldb_path: %s/sasldb2\n' "$MC" >"$MC/memcached.conf"
fi
NG=$RUN/nginx; mkdir -p "$NG/conf" "$NG/logs" "$NG/tmp"
SOCK=$RUN/tasklist.sock

# Started as root: no server runs as root. memcached, the pool and nginx (its master too) run as
# an unprivileged user through setpriv (which execs: no root process stays behind). That user
# owns the instance folder; the binary, templates and static files are staged into it, so a
# checkout it cannot read (/root/...) does not matter. Files left by an earlier run are tightened.
RUNAS=()
if [ "$(id -u)" = 0 ]; then
  U=${TL_USER:-${SUDO_USER:-}}
  { [ -n "$U" ] && [ "$U" != root ]; } || U=$(stat -c %U "$ROOT")
  { [ "$U" != root ] && [ "$U" != UNKNOWN ]; } || U=nobody
  G=$(id -gn "$U")
  APP=$RUN/app; rm -rf "$APP"; mkdir -p "$APP"
  cp "$TL" "$APP/tasklist"; cp -r "$TEMPLATES" "$APP/templates"; cp -r "$STATIC" "$APP/static"
  cp -r "$MIGRATIONS" "$APP/migrations"
  TL=$APP/tasklist TEMPLATES=$APP/templates STATIC=$APP/static MIGRATIONS=$APP/migrations
  chown -R "$U:$G" "$INST"
  RUNAS=(setpriv --reuid="$U" --regid="$G" --init-groups --inh-caps=-all)
  "${RUNAS[@]}" test -x "$INST/." ||
    { echo "run-local: user $U cannot reach $INST (a folder above it is closed to others): set TL_INSTANCE or TL_USER"; exit 1; }
  echo "run-local: started as root; the servers run as $U"
fi
find "$INST" -type f -exec chmod go-rwx {} +
find "$INST" -type d -exec chmod go-rwx {} +

if [ -n "$MCPORT" ]; then
  SASL_CONF_PATH=$MC "${RUNAS[@]}" memcached -S -l 127.0.0.1 -p "$MCPORT" -U 0 -m 64 &
  PIDS+=($!)
fi

"${RUNAS[@]}" "$TL" db upgrade --migrations "$MIGRATIONS"

"${RUNAS[@]}" "$TL" serve --listen "unix:$SOCK" ${TL_WORKERS:+--workers "$TL_WORKERS"} --templates "$TEMPLATES" &
PIDS+=($!)
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || { echo "tasklist did not start (see the messages above)"; exit 1; }

sed -e "s|@PREFIX@|$NG|g" -e "s|@LISTEN@|127.0.0.1:$PORT|g" -e "s|@UPSTREAM@|unix:$SOCK|g" \
    -e "s|@STATIC_DIR@|$STATIC/|g" nginx/local.conf.in >"$NG/nginx.conf"
[ "$(id -u)" = 0 ] && chown "$U:$G" "$NG/nginx.conf"
# -e: nginx would first try its compiled-in error log under /var/log/nginx.
"${RUNAS[@]}" nginx -p "$NG" -e "$NG/error.log" -c "$NG/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
sleep 0.5
echo "tasklist is running on http://127.0.0.1:$PORT/ (Ctrl-C stops it)"
wait -n || true
