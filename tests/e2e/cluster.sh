#!/bin/bash
# tests/e2e/cluster.sh - the local cluster of scripts/run-cluster.sh (3 Galera nodes, 3 SASL memcached,
# 2 pools of 2 workers, nginx) under concurrent clients (tests/e2e/cluster_consistency.py), through:
# a healthy period; one Galera node SIGKILLed, then restarted (it rejoins); one memcached server
# hung (SIGSTOP) and resumed. Checks: 0 stale reads; every answer 2xx or a clear 503; the database
# deadline holds: no write took longer than [database] timeout_ms + SLACK_MS in the pools (their
# slow-request log) — the strict check — nor longer than three times that at the client (a loose
# bound: a write may queue behind requests that hold a pool's 2 workers for their own full
# deadline, and nginx may put most clients on one pool during the stall); every acknowledged add (not deleted since) is on every
# node at the end, and no acknowledged delete is.
# Environment: TL_BIN (the tasklist binary under test; its folder is the build run-cluster uses).
set -u
. "$(dirname "$0")/../lib/servers.sh"
tl_init cluster
tl_need mariadbd mariadb-install-db mariadb memcached saslpasswd2 nginx rsync python3 curl
[ -f /usr/lib/galera/libgalera_smm.so ] || tl_skip_or_fail "galera-4 not installed"

python3 "$TL_SRC/tests/e2e/cluster_consistency.py" --self-test || tl_fail "the checker's self-test"

# A block of 44 free ports for run-cluster.sh (base+1 .. base+43)
base_free() {
  python3 - "$1" <<'PY'
import socket, sys
b = int(sys.argv[1])
for p in range(b + 1, b + 44):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
PY
}
for _ in $(seq 50); do
  BASE=$(( (RANDOM % 120) * 100 + 20000 ))   # 20000-31999: below the ephemeral port range
  base_free "$BASE" && break
done
chmod 755 "$T"    # the Galera nodes run as mysql: they must reach their data folders
export TL_INSTANCE=$T/cluster TL_CLUSTER_PORT=$BASE TL_PORT=$(tl_free_port)
export TL_BUILD=$(dirname "$TL_BIN") TL_SKIP_DEPS=1
# a hung memcached costs one poll timeout per operation until the breaker opens: keep it short
export TASKLIST_CACHE_POLL_TIMEOUT_MS=300
# The database deadline of a request (the default) and what it may overrun by in the pool: the
# poll wake-up, closing the connection, the rest of the request (a write's cache delete, 300 ms at
# most while memcached 1 hangs, never together with a database stall), a loaded 2-core machine.
DB_TIMEOUT_MS=1000 SLACK_MS=300   # slack: closing the connection, logging, a loaded machine's scheduling
export TASKLIST_DATABASE_TIMEOUT_MS=$DB_TIMEOUT_MS
# every request over 300 ms is logged with its duration: the server-side check below reads them
export TASKLIST_SERVER_SLOW_REQUEST_MS=300
RUNC=$TL_SRC/scripts/run-cluster.sh
RUN=$TL_INSTANCE/run

setsid "$RUNC" >"$T/cluster.log" 2>&1 &
CPID=$!
stop_cluster() {
  kill -TERM "$CPID" 2>/dev/null
  for _ in $(seq 300); do kill -0 "$CPID" 2>/dev/null || break; sleep 0.1; done
  local f
  for f in "$RUN"/g*/pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
  tl_cleanup
}
trap stop_cluster EXIT

t0=$(date +%s.%N)
for _ in $(seq 1800); do
  grep -q "running on" "$T/cluster.log" && break
  kill -0 "$CPID" 2>/dev/null || break
  sleep 0.1
done
grep -q "running on" "$T/cluster.log" || tl_fail "run-cluster.sh did not start: $(tail -5 "$T/cluster.log")"
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
echo "cluster up in $(elapsed "$t0") s"
URL=http://127.0.0.1:$TL_PORT/
# both pools serve (nginx balances): each pool's log shows requests after a few reads
for _ in $(seq 20); do curl -fsS -o /dev/null "$URL" || tl_fail "GET / failed"; done

python3 "$TL_SRC/tests/e2e/cluster_consistency.py" "$URL" 120 "$T/result.json" \
  --stop-file "$T/stop" --started-file "$T/started" \
  --max-write-s "$(awk -v t=$DB_TIMEOUT_MS -v s=$SLACK_MS 'BEGIN { print 3 * (t + s) / 1000 + 0.5 }')" \
  >"$T/checker.log" 2>&1 &
CHECKER=$!
for _ in $(seq 300); do [ -f "$T/started" ] && break; sleep 0.05; done
phase() { printf '%6s s  %s  %s\n' "$(elapsed "$t1")" "$(date -u +%H:%M:%S)" "$*"; }
t1=$(date +%s.%N)
phase "healthy"
# The sleeps of the phases below are the test's point: the checker's clients keep reading and
# writing for that long in each state (healthy, a node down, rejoined, memcached hung, resumed),
# so each state sees real traffic; nothing is waited for by them.
sleep 6

# Node 2: the home of pool A's second worker and of pool B's first
G2=$(cat "$RUN/g2/pid")
kill -9 "$G2"
phase "galera node 2 killed (SIGKILL)"
sleep 6
phase "galera node 2 restarting"
"$RUNC" rejoin 2 >"$T/rejoin.log" 2>&1 || tl_fail "node 2 did not rejoin: $(tail -5 "$T/rejoin.log")"
how=$(grep -o 'Receiving IST: [0-9]* writesets' "$RUN/g2/mysqld.err" | tail -1)
phase "galera node 2 Synced again (${how:-by SST})"
sleep 5

MC1=$(cat "$RUN/memcached/pid1")
kill -STOP "$MC1"
phase "memcached 1 hung (SIGSTOP)"
sleep 5
kill -CONT "$MC1"
phase "memcached 1 resumed"
sleep 5
touch "$T/stop"
wait "$CHECKER"; rc=$?
phase "clients stopped"
cat "$T/checker.log"
# What the pools met: the database error codes, and on a failure the lines that explain a 500
pool_errors() {
  echo "database errors in the pool logs: $(grep -ho 'db: mariadb: .*([0-9]*)' "$RUN"/pool-*/tasklist.log |
    grep -o '([0-9]*)$' | sort | uniq -c | tr -s ' \n' ' ')," \
    "$(cat "$RUN"/pool-*/tasklist.log | grep -c 'no answer within\|no time left') deadline hits"
}
if [ "$rc" != 0 ]; then
  pool_errors
  echo "the pools' error lines (handler failures first):"
  grep -h "handler failed" "$RUN"/pool-*/tasklist.log | head -20
  grep -h " error " "$RUN"/pool-*/tasklist.log | cut -c 22- | sort | uniq -c | sort -rn | head -30
  tl_fail "cluster_consistency found problems (above)"
fi

# Every node has every acknowledged add and none of the acknowledged deletes
for i in 1 2 3; do
  for _ in $(seq 100); do
    st=$(mariadb --no-defaults -S "$RUN/g$i/mysql.sock" -uroot -N -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | cut -f2)
    [ "$st" = Synced ] && break
    sleep 0.1
  done
  mariadb --no-defaults -S "$RUN/g$i/mysql.sock" -uroot -N task_list \
    -e "SET SESSION wsrep_sync_wait = 1; SELECT id FROM task" >"$T/ids$i" ||
    tl_fail "cannot read node $i"
  python3 - "$T/result.json" "$T/ids$i" "$i" <<'PY' || tl_fail "node $i lost acknowledged writes"
import json, sys
r = json.load(open(sys.argv[1]))
have = {int(x) for x in open(sys.argv[2]).read().split()}
lost = [i for i in r["must_exist"] if i not in have]
back = [i for i in r["must_not_exist"] if i in have]
print(f"node {sys.argv[3]}: {len(have)} tasks; {len(r['must_exist'])} acknowledged adds all present: "
      f"{not lost}; {len(r['must_not_exist'])} acknowledged deletes all absent: {not back}")
if lost or back:
    print("lost:", lost[:20], "deleted but present:", back[:20])
    sys.exit(1)
PY
done
grep -h "failed over\|back on\|closed the connection\|giving up" "$RUN"/pool-*/tasklist.log | cut -c 22- | sort | uniq -c | head -20
# Server side: no write (POST, DELETE) spent longer in a pool than the database timeout + slack
python3 - "$DB_TIMEOUT_MS" "$SLACK_MS" "$RUN"/pool-*/tasklist.log <<'PY' || tl_fail "a write overran the database timeout in a pool"
import re, sys
limit = int(sys.argv[1]) + int(sys.argv[2])
slow = []
for path in sys.argv[3:]:
    for line in open(path, errors="replace"):
        m = re.search(r'slow request: (POST|DELETE) "([^"]*)" took (\d+) ms \(status (\d+)\)', line)
        if m:
            slow.append((int(m.group(3)), m.group(1), m.group(4), line[:20]))
slow.sort(reverse=True)
print(f"server side: {len(slow)} writes over 300 ms; the slowest: "
      + (", ".join(f"{ms} ms ({meth} {st} at {at})" for ms, meth, st, at in slow[:3]) or "none")
      + f"; limit {limit} ms")
sys.exit(1 if slow and slow[0][0] > limit else 0)
PY
pool_errors
echo "PASS"
