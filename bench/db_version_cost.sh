#!/bin/bash
# bench/db_version_cost.sh - what the data version read costs per cached request, SQLite vs MariaDB,
# side by side in one run: the same binary, the same SASL memcached, nginx and 20 tasks; one pool on
# SQLite, one on MariaDB over TCP (loopback). A measurement, not a test: it prints figures.
#   - latency: wrk -t1 -c1 (one request at a time): the p50 difference is the version read's round trip
#     (on MariaDB) plus anything else that differs;
#   - throughput: wrk -t2 -c64.
# Environment: TL_BIN (default build/tasklist), DURATION (seconds per run, 4), REPEAT (3).
set -uo pipefail
. "$(dirname "$0")/../tests/lib/servers.sh"
tl_init dbcost
DURATION=${DURATION:-4}
REPEAT=${REPEAT:-3}
tl_need wrk
tl_start_mariadb
MC=$(tl_free_port)
tl_start_sasl_memcached "$MC" bench benchpass
export MEMCACHIER_SERVERS=127.0.0.1:$MC MEMCACHIER_USERNAME=bench MEMCACHIER_PASSWORD=benchpass
export SECRET_KEY=bench-secret-0123456789abcdef0123
seed_sqlite="WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i<20) INSERT INTO task(name) SELECT 'Task number ' || i FROM s"
seed_maria="INSERT INTO task(name) WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i<20) SELECT CONCAT('Task number ', i) FROM s"
start_pool() { # NAME URL
  DATABASE_URL=$2 "$TL_BIN" db upgrade --migrations "$TL_SRC/migrations" >/dev/null 2>&1 || tl_fail "db upgrade $1"
  DATABASE_URL=$2 TASKLIST_CACHE_KEY_PREFIX="$1:" "$TL_BIN" serve --listen "unix:$T/$1.sock" --workers 4 \
    --templates "$TL_SRC/templates" >"$T/$1.log" 2>&1 &
  tl_remember $!
  tl_wait_socket "$T/$1.sock" || tl_fail "pool $1 did not start: $(tail -3 "$T/$1.log")"
}
start_pool sqlite "sqlite:///$T/tasks.sqlite"
sqlite3 "$T/tasks.sqlite" "$seed_sqlite"
start_pool maria "$TL_MARIADB_URL"
mariadb --no-defaults -S "$TL_MARIADB_SOCK" -uroot task_list -e "$seed_maria" || tl_fail "seed MariaDB"
tl_start_nginx "$T/sqlite.sock"; US="http://127.0.0.1:$NGINX_PORT"
tl_start_nginx "$T/maria.sock"; UM="http://127.0.0.1:$NGINX_PORT"
for u in "$US" "$UM"; do curl -s -o /dev/null "$u/"; curl -s -D - -o /dev/null "$u/" | grep -qi 'x-cache: hit' ||
  tl_fail "$u/ is not a cache hit"; done
[ "$(curl -s "$US/" | grep -c '<td>Task number')" = 20 ] && [ "$(curl -s "$UM/" | grep -c '<td>Task number')" = 20 ] ||
  tl_fail "both pages must list the 20 tasks"
p50() { awk '$1=="50%"{v=$2; u=v; sub(/^[0-9.]+/,"",u); n=v+0; if(u=="ms")n*=1000; else if(u=="s")n*=1e6; print n}' "$1"; }
rps() { awk '/^Requests\/sec:/{print $2}' "$1"; }
declare -A L R
for rep in $(seq "$REPEAT"); do
  for b in sqlite maria; do
    u=$US; [ $b = maria ] && u=$UM
    wrk -t1 -c1 -d"${DURATION}s" --latency "$u/" >"$T/l-$b-$rep.txt" 2>&1
    wrk -t2 -c64 -d"${DURATION}s" "$u/" >"$T/r-$b-$rep.txt" 2>&1
    L[$b]="${L[$b]:-} $(p50 "$T/l-$b-$rep.txt")"; R[$b]="${R[$b]:-} $(rps "$T/r-$b-$rep.txt")"
  done
done
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
ls=$(echo "${L[sqlite]}" | med); lm=$(echo "${L[maria]}" | med)
rs=$(echo "${R[sqlite]}" | med); rm_=$(echo "${R[maria]}" | med)
echo "| database | cached GET / p50, one client (us) | cached GET / req/s, 64 connections |"
echo "|---|---:|---:|"
echo "| SQLite (version read in-process) | $ls | $rs |"
echo "| MariaDB over loopback TCP (version read = 1 round trip) | $lm | $rm_ |"
awk -v a="$ls" -v b="$lm" 'BEGIN{printf "MariaDB adds %.0f us per cached request at p50 (medians of %d runs)\n", b-a, '"$REPEAT"'}'
