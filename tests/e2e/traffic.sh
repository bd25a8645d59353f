#!/bin/bash
# tests/e2e/traffic.sh - the tutorial's story (first load, reload, add, reload, delete, reload, reload)
# through real nginx with the mock memcached, asserting memcached traffic command by command (the mock's
# per-opcode counters) and database queries (the app's X-Debug-Counters header). Then prints the
# round-trip table for N = 0, 1, 20, 1000 tasks that README.md shows.
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/app_lib.sh"
MOCK_BIN=$1
. "$(dirname "$0")/../cache/mock.sh"
tl_init traffic
tl_need sqlite3
mock_start --user mcuser --pass mcpass || tl_fail "mock memcached did not start"
export MEMCACHIER_SERVERS=127.0.0.1:$MOCK_PORT MEMCACHIER_USERNAME=mcuser MEMCACHIER_PASSWORD=mcpass
# the same-host tier off: this test counts what reaches memcached (tests/e2e/caching.sh covers the tier)
export DATABASE_URL="sqlite:///$T/db/tasks.sqlite" TASKLIST_SERVER_DEBUG=true WORKERS=1 TASKLIST_CACHE_LOCAL_SIZE_MB=0
WORKERS=1 app_start     # one worker: its version memo decides the query counts below
# the worker's first request opens its connection (the change stamp needs one that has read): not counted
curl -s -o /dev/null "$U/"
seed() { sqlite3 "$T/db/tasks.sqlite" "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<$1)
  INSERT INTO task(name) SELECT 'seed '||x FROM c;"; }
# run a request, then read the mock's counters for it: sets S_<op> and S_rt (requests that expect a
# reply: connection set-up (VERSION, SASL) excluded), CRT (round trips the client waited for, from the
# app's X-Debug-Counters: a pipelined batch of sets is one), DBQ (database queries) and XC (X-Cache)
step() {
  mock_ctl reset >/dev/null
  local h; h=$(curl -s -o /dev/null -D - "$@" | tr -d '\r')
  DBQ=$(echo "$h" | sed -n 's/^X-Debug-Counters: db=\([0-9]*\);.*/\1/p')
  CRT=$(echo "$h" | sed -n 's/^X-Debug-Counters: .*cache_rt=\([0-9]*\).*/\1/p')
  XC=$(echo "$h" | sed -n 's/^X-Cache: //p')
  local stats; stats=$(mock_ctl stats)
  for op in getk getkq noop set setq add delete incr get version sasl_list_mechs sasl_auth; do
    eval "S_$op=$(echo "$stats" | awk -v n="op_$op" '$1==n{print $2; f=1} END{if(!f) print 0}')"
  done
  S_rt=$(( $(echo "$stats" | awk '$1=="round_trips"{print $2}') - S_version - S_sasl_list_mechs - S_sasl_auth ))
}
expect() { # label "name=value ..."
  local label=$1; shift
  for kv in "$@"; do
    local k=${kv%%=*} v=${kv#*=} got
    eval "got=\${$k}"
    [ "$got" = "$v" ] || tl_fail "$label: $k = $got, want $v"
  done
}

seed 3
# DBQ counts the data version read (one primary-key read) as a query: every request that looks
# anything up in the cache needs the version first, and every write needs it before writing; the
# worker reads it again only when something was committed since its last read (SQLite's change
# stamp, task_data_version_memo), so a request after a commit reads it and the next ones do not.
step "$U/"
expect "first load (cold, 3 tasks)" XC=MISS DBQ=2 S_rt=7 CRT=7 S_getk=2 S_getkq=3 S_noop=1 S_add=1 S_set=2 S_setq=3 S_delete=1 S_incr=0
# the version, then: get view@v (miss), add its stampede lock, get the memoized query@v (miss),
# the query, one multi-get of the 3 fragments (miss); sets: query@v, view@v; quiet sets (one
# pipelined write, no reply waited for): the 3 fragments; delete: the lock. No generation, no memver.
step "$U/"
expect "reload" XC=HIT DBQ=0 S_rt=1 CRT=1 S_getk=1 S_getkq=0 S_noop=0 S_set=0 S_add=0 S_delete=0 S_incr=0
step -H "Origin: $U" --data name=new "$U/"
expect "add" DBQ=1 S_rt=3 CRT=3 S_incr=0 S_delete=2 S_set=1 S_getk=0 S_getkq=0
# the version before the write (unchanged since the reload: not read again), the insert; after the commit: delete query@old and view@old (the
# tutorial's explicit invalidation, which frees memory); set: the session (flash)
step "$U/"
expect "reload after add" XC=MISS DBQ=2 S_rt=7 CRT=7 S_getk=2 S_getkq=4 S_noop=1 S_set=2 S_setq=1 S_add=1 S_delete=1
# only the new task's fragment is rendered and stored; the 3 others come from the multi-get
step -H "Origin: $U" -X POST "$U/1/delete"
expect "delete" DBQ=1 S_rt=3 CRT=3 S_incr=0 S_delete=2 S_set=1
# the version (not read again), the delete; query@old, view@old; the session (flash). The deleted task's fragment is
# keyed by its row version and ages out: no id reuse can ever show it.
step "$U/"
expect "reload after delete" XC=MISS DBQ=2 S_rt=7 CRT=7 S_getk=2 S_getkq=3 S_set=2 S_setq=0 S_add=1 S_delete=1
step "$U/"
expect "reload again" XC=HIT DBQ=0 S_rt=1 S_getk=1

# The table: cold (empty cache), warm (cached view), after a write (fragments cached).
printf '\n| tasks | request | memcached commands | round trips | db queries |\n|---|---|---|---|---|\n'
for n in 0 1 20 1000; do
  sqlite3 "$T/db/tasks.sqlite" "DELETE FROM task;"
  [ "$n" -gt 0 ] && seed "$n"
  mock_ctl flush >/dev/null
  step "$U/"
  printf '| %s | cold GET / (empty cache) | %s gets + %s in %s multi-gets, %s sets + %s quiet sets, %s adds, %s deletes | %s | %s |\n' \
    "$n" "$S_getk" "$S_getkq" "$S_noop" "$S_set" "$S_setq" "$S_add" "$S_delete" "$CRT" "$DBQ"
  [ "$CRT" = "$S_rt" ] || tl_fail "$n tasks: the client counted $CRT round trips, the mock $S_rt"
  [ "$CRT" -le 7 ] || tl_fail "$n tasks: cold GET / took $CRT round trips, want a bound independent of N"
  step "$U/"
  [ "$S_rt" = 1 ] && [ "$DBQ" = 0 ] || tl_fail "$n tasks: cached GET / took $S_rt round trips and $DBQ queries"
  printf '| %s | cached GET / | %s get | %s | %s (the version, unchanged since this worker read it) |\n' "$n" "$S_getk" "$S_rt" "$DBQ"
  curl -s -o /dev/null -H "Origin: $U" --data name=extra "$U/"
  step "$U/"
  printf '| %s | GET / after a write (fragments cached) | %s gets + %s in %s multi-gets, %s sets + %s quiet sets, %s adds, %s deletes | %s | %s |\n' \
    "$n" "$S_getk" "$S_getkq" "$S_noop" "$S_set" "$S_setq" "$S_add" "$S_delete" "$CRT" "$DBQ"
  [ "$S_noop" -le 3 ] || tl_fail "$n tasks: $S_noop multi-gets after a write, want at most 3 (fragments in one)"
  [ "$CRT" = "$S_rt" ] || tl_fail "$n tasks: the client counted $CRT round trips, the mock $S_rt"
  [ "$CRT" -le 7 ] || tl_fail "$n tasks: GET / after a write took $CRT round trips, want a bound independent of N"
done
echo
echo "traffic: the tutorial's story matches command by command; cached GET / = 1 round trip, 1 version read"
