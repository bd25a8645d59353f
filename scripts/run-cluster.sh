#!/bin/bash
# scripts/run-cluster.sh - the "beyond one machine" topology on one machine, as plain processes on
# loopback: a 3-node MariaDB Galera cluster (separate data folders and ports), 3 SASL memcached
# servers, 2 tasklist pools (2 workers each) each preferring a different Galera node, and nginx
# balancing GET and POST across the pools on http://127.0.0.1:$TL_PORT/.
# Prints "running on http://..." when ready; Ctrl-C or SIGTERM stops everything.
#
# usage: scripts/run-cluster.sh [start]      build, start everything, wait (foreground)
#        scripts/run-cluster.sh rejoin N     (from another shell, same TL_INSTANCE) start Galera
#                                            node N again after it died; it rejoins by IST or SST
#        scripts/run-cluster.sh status       each Galera node's cluster size and state
# Environment:
#   TL_PORT (8090)            nginx
#   TL_CLUSTER_PORT (18100)   base of the other ports: Galera SQL base+1..3, group communication
#                             base+11..13, IST base+21..23, SST base+31..33, memcached base+41..43
#   TL_INSTANCE (./instance/cluster)  all state: data folders, sockets, logs, pid files
#   TL_BUILD (build-release)  the build folder whose tasklist binary runs (built when missing)
#   TL_POOL_WORKERS (2)       workers per pool
#   TL_CLUSTER_CACHE (on)     off: the pools run without memcached (every request reads MariaDB)
#   TL_GALERA_EVS             Galera failure-detection options (default: 1 s suspect timeout)
#   TL_SKIP_DEPS              set: do not check the Debian packages (scripts/deps.sh cluster)
# Any TASKLIST_<SECTION>_<KEY> in the environment reaches both pools (e.g. TASKLIST_DATABASE_TIMEOUT_MS).
# The nodes run as the mysql user (a joiner's rsync daemon started by root drops to nobody and
# cannot write a root-owned data folder); everything else runs as the invoking user.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
INST=${TL_INSTANCE:-$ROOT/instance/cluster}
RUN=$INST/run
BASE=${TL_CLUSTER_PORT:-18100}
PORT=${TL_PORT:-8090}
BUILD=${TL_BUILD:-build-release}
WORKERS=${TL_POOL_WORKERS:-2}
PROVIDER=${TL_GALERA_PROVIDER:-/usr/lib/galera/libgalera_smm.so}
GCOMM="gcomm://127.0.0.1:$((BASE + 11)),127.0.0.1:$((BASE + 12)),127.0.0.1:$((BASE + 13))"
# Failure detection on loopback: a SIGKILLed node stalls every commit and causal read in the cluster
# until it is evicted; Galera's defaults (suspect 5 s, inactive 15 s) suit WANs. Real hosts on one
# LAN: the same idea, a few seconds.
EVS=${TL_GALERA_EVS:-evs.keepalive_period=PT0.3S;evs.inactive_check_period=PT0.3S;evs.suspect_timeout=PT1S;evs.inactive_timeout=PT2S;evs.install_timeout=PT2S}
MYSQL_USER=$(id -un)
[ "$(id -u)" = 0 ] && id mysql >/dev/null 2>&1 && MYSQL_USER=mysql

# innodb_flush_log_at_trx_commit=0: a commit is durable by being replicated to every node before it
# is acknowledged (what Galera deployments usually rely on), not by each node's fsync.
galera_args() { # N [extra...]
  local i=$1; shift
  local g=$RUN/g$i
  echo --no-defaults --user=$MYSQL_USER --datadir="$g/data" --socket="$g/mysql.sock" \
    --port=$((BASE + i)) --bind-address=127.0.0.1 --pid-file="$g/mysqld.pid" \
    --log-error="$g/mysqld.err" --innodb-buffer-pool-size=64M --innodb-log-file-size=16M \
    --binlog-format=ROW --default-storage-engine=InnoDB --innodb-autoinc-lock-mode=2 \
    --innodb-flush-log-at-trx-commit=0 --log-bin-trust-function-creators=1 \
    --wsrep-on=ON --wsrep-provider="$PROVIDER" --wsrep-cluster-name=tasklist --wsrep-node-name=g$i \
    --wsrep-node-address=127.0.0.1:$((BASE + 10 + i)) --wsrep-cluster-address="$GCOMM" \
    --wsrep-provider-options="gmcast.listen_addr=tcp://127.0.0.1:$((BASE + 10 + i));ist.recv_addr=127.0.0.1:$((BASE + 20 + i));gcache.size=32M;$EVS" \
    --wsrep-sst-method=rsync --wsrep-sst-receive-address=127.0.0.1:$((BASE + 30 + i)) "$@"
}
galera_sql() { local i=$1; shift; mariadb --no-defaults -S "$RUN/g$i/mysql.sock" -uroot -N "$@"; }
galera_state() { galera_sql "$1" -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | cut -f2; }
# Started and Synced (a joiner answers pings before its state transfer is over).
galera_wait() { # N
  local i
  for i in $(seq 1200); do
    [ "$(galera_state "$1")" = Synced ] && return 0
    if ! kill -0 "$(cat "$RUN/g$1/pid" 2>/dev/null)" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "galera node $1 did not reach Synced; its log ends with:" >&2
  tail -5 "$RUN/g$1/mysqld.err" >&2
  return 1
}
galera_start() { # N [extra...]
  local i=$1; shift
  # setsid: a Ctrl-C at the terminal reaches only this script, which stops the node itself
  # (a node killed at once by SIGINT together with the others would need a full SST next time)
  setsid mariadbd $(galera_args "$i" "$@") </dev/null >>"$RUN/g$i/stdout" 2>&1 &
  echo $! >"$RUN/g$i/pid"
}

case "${1:-start}" in
start) ;;
rejoin)
  i=${2:?usage: $0 rejoin N}
  # After a crash grastate.dat says seqno -1, which forces a full state transfer (SST). Recover the
  # last committed position from InnoDB first (what Debian's galera_recovery does), so the node
  # asks for only the write sets it missed (IST, from the donors' gcache).
  rm -f "$RUN/g$i/recover.log"
  mariadbd $(galera_args "$i") --wsrep-recover --log-error="$RUN/g$i/recover.log" >/dev/null 2>&1 || true
  pos=$(grep -o 'Recovered position: [^ ]*' "$RUN/g$i/recover.log" 2>/dev/null | tail -1 | cut -d' ' -f3)
  galera_start "$i" ${pos:+--wsrep-start-position=$pos}
  galera_wait "$i"
  echo "galera node $i: $(galera_state "$i")"
  exit 0 ;;
status)
  for i in 1 2 3; do
    printf 'galera node %d: ' "$i"
    galera_sql "$i" -e "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_local_state_comment')" 2>/dev/null | tr '\n\t' '  ' || true
    echo
  done
  exit 0 ;;
*) echo "usage: $0 [start | rejoin N | status]" >&2; exit 2 ;;
esac

[ -n "${TL_SKIP_DEPS:-}" ] || bash scripts/deps.sh cluster >/dev/null
for c in mariadbd mariadb-install-db memcached saslpasswd2 nginx rsync; do
  command -v "$c" >/dev/null || { echo "$c is not installed (scripts/deps.sh cluster installs it)" >&2; exit 1; }
done
[ -f "$PROVIDER" ] || { echo "no Galera provider at $PROVIDER (Debian package galera-4)" >&2; exit 1; }
if [ ! -x "$BUILD/tasklist" ]; then
  [ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" -Dbuildtype=release >/dev/null
  meson compile -C "$BUILD" >/dev/null
fi
TL=$(cd "$BUILD" && pwd)/tasklist
# Every port must be free (nobody listening) before anything starts: a busy one would fail half way
busy=$(python3 - "$PORT" "$BASE" <<'PY'
import socket, sys
port, base = int(sys.argv[1]), int(sys.argv[2])
want = [port] + [base + o for o in (1, 2, 3, 11, 12, 13, 21, 22, 23, 31, 32, 33, 41, 42, 43)]
for p in want:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as the servers do: TIME_WAIT is no conflict
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        print(p, end=" ")
    finally:
        s.close()
PY
)
if [ -n "$busy" ]; then
  echo "ports in use: $busy(TL_PORT=$PORT, TL_CLUSTER_PORT=$BASE: choose others)" >&2
  exit 1
fi

PIDS=()
stop_all() {
  trap - EXIT INT TERM
  set +e    # stop everything, whatever has already gone
  local p i
  for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
  # Galera nodes last (a node may have been restarted by "rejoin": read the pid files)
  for i in 3 2 1; do
    p=$(cat "$RUN/g$i/pid" 2>/dev/null) || continue
    kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null
  done
  for i in 3 2 1; do
    p=$(cat "$RUN/g$i/pid" 2>/dev/null) || continue
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null
  done
  wait 2>/dev/null
}
trap stop_all EXIT
trap 'exit 0' INT TERM

# --- Galera: fresh data folders each run; node 1 bootstraps, 2 and 3 join it by SST ------------
rm -rf "$RUN"; mkdir -p "$RUN"; chmod 755 "$INST" "$RUN"
for i in 1 2 3; do mkdir -p "$RUN/g$i/data"; done
chown -R $MYSQL_USER: "$RUN"/g1 "$RUN"/g2 "$RUN"/g3
if [ "$(id -u)" = 0 ] && [ "$MYSQL_USER" != root ] && ! runuser -u "$MYSQL_USER" -- test -w "$RUN/g1/data"; then
  echo "the $MYSQL_USER user cannot write $RUN/g1/data: choose a TL_INSTANCE whose folders it can reach" >&2
  exit 1
fi
for i in 1 2 3; do
  mariadb-install-db --no-defaults --datadir="$RUN/g$i/data" --user=$MYSQL_USER \
    --auth-root-authentication-method=normal --skip-test-db >"$RUN/g$i/install.log" 2>&1 ||
    { echo "mariadb-install-db failed: $(tail -3 "$RUN/g$i/install.log")" >&2; exit 1; }
done
chown -R $MYSQL_USER: "$RUN"/g1 "$RUN"/g2 "$RUN"/g3
galera_start 1 --wsrep-new-cluster
galera_wait 1
galera_sql 1 <<'SQL'
CREATE DATABASE IF NOT EXISTS task_list;
CREATE USER IF NOT EXISTS 'tl'@'127.0.0.1' IDENTIFIED BY 'tlpass';
GRANT ALL PRIVILEGES ON task_list.* TO 'tl'@'127.0.0.1';
SQL
for i in 2 3; do galera_start "$i"; galera_wait "$i"; done
H1=127.0.0.1:$((BASE + 1)) H2=127.0.0.1:$((BASE + 2)) H3=127.0.0.1:$((BASE + 3))
# Pool A prefers node 1, pool B node 2 (the first host of each list; workers spread from there)
URL_A="mysql://tl:tlpass@$H1,$H2,$H3/task_list"
URL_B="mysql://tl:tlpass@$H2,$H3,$H1/task_list"
DATABASE_URL=$URL_A "$TL" db upgrade >/dev/null

# --- 3 SASL memcached servers --------------------------------------------------------------------
MC=$RUN/memcached; mkdir -p "$MC"
MCPASS=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$MCPASS" | saslpasswd2 -p -a memcached -c -f "$MC/sasldb2" tasklist
printf 'mech_list: plain\nsasldb_path: %s/sasldb2\n' "$MC" >"$MC/memcached.conf"
MCUSER=(); [ "$(id -u)" = 0 ] && MCUSER=(-u root)
SERVERS=""
for i in 1 2 3; do
  p=$((BASE + 40 + i))
  SASL_CONF_PATH=$MC memcached -S "${MCUSER[@]}" -l 127.0.0.1 -p "$p" -U 0 -m 64 &
  PIDS+=($!); echo $! >"$MC/pid$i"
  SERVERS=${SERVERS:+$SERVERS,}127.0.0.1:$p
done

# --- 2 pools --------------------------------------------------------------------------------------
export MEMCACHIER_SERVERS=$SERVERS MEMCACHIER_USERNAME=tasklist MEMCACHIER_PASSWORD=$MCPASS
[ "${TL_CLUSTER_CACHE:-on}" = off ] && export MEMCACHIER_SERVERS=
export SECRET_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')   # both pools: one key
for pool in a b; do
  url=$URL_A; [ $pool = b ] && url=$URL_B
  mkdir -p "$RUN/pool-$pool"
  DATABASE_URL=$url TASKLIST_SERVER_LOG_FILE="$RUN/pool-$pool/tasklist.log" \
    "$TL" serve --listen "unix:$RUN/pool-$pool/tasklist.sock" --workers "$WORKERS" \
    --templates "$ROOT/templates" &
  PIDS+=($!); echo $! >"$RUN/pool-$pool/pid"
done
for pool in a b; do
  for _ in $(seq 200); do [ -S "$RUN/pool-$pool/tasklist.sock" ] && break; sleep 0.05; done
  [ -S "$RUN/pool-$pool/tasklist.sock" ] || { echo "pool $pool did not start: $(tail -3 "$RUN/pool-$pool/tasklist.log")" >&2; exit 1; }
done

# --- nginx balancing across the pools ---------------------------------------------------------------
NG=$RUN/nginx; mkdir -p "$NG/tmp"
sed -e "s|@PREFIX@|$NG|g" -e "s|@LISTEN@|127.0.0.1:$PORT|g" -e "s|@STATIC_DIR@|$ROOT/static/|g" \
    -e "s|@POOL_A@|unix:$RUN/pool-a/tasklist.sock|g" -e "s|@POOL_B@|unix:$RUN/pool-b/tasklist.sock|g" \
    nginx/cluster.conf.in >"$NG/nginx.conf"
NGG='daemon off;'; [ "$(id -u)" = 0 ] && NGG='daemon off; user root;'
nginx -p "$NG" -c "$NG/nginx.conf" -g "$NGG" &
NGPID=$!
PIDS+=($NGPID); echo $NGPID >"$NG/pid"
for _ in $(seq 100); do
  kill -0 $NGPID 2>/dev/null || { echo "nginx did not start (is port $PORT free? TL_PORT moves it)" >&2; exit 1; }
  curl -fsS -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null && break
  sleep 0.1
done
kill -0 $NGPID 2>/dev/null || { echo "nginx did not start (is port $PORT free? TL_PORT moves it)" >&2; exit 1; }
echo "running on http://127.0.0.1:$PORT/ (Galera SQL on $H1 $H2 $H3, memcached on $SERVERS; Ctrl-C stops it)"
while :; do wait -n || true; sleep 1; done
