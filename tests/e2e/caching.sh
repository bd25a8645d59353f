#!/bin/bash
# tests/e2e/caching.sh - the tutorial's caching story end to end: real nginx, the pool, SQLite and
# a real SASL memcached, read from memcached's own counters (as the MemCachier dashboard shows them)
# and from the app's X-Debug-Counters header (debug mode: db queries and cache round trips per request).
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/app_lib.sh"
tl_init caching
tl_need memcstat; tl_need memccat
app_memcached
export DATABASE_URL="sqlite:///$T/db/tasks.sqlite" TASKLIST_SERVER_DEBUG=true TASKLIST_SERVER_STATUS_PATH=/status
app_start
stats() { mc_stat |
  awk '/get_hits:/{h=$2} /get_misses:/{m=$2} /cmd_set:/{s=$2} END{print h+0, m+0, s+0}'; }
hdrs() { curl -s -D - -o "$T/page" "$U/" "$@" | tr -d '\r'; }

for i in 1 2 3; do post --data "name=task+$i" "$U/" >/dev/null; done
h=$(hdrs); echo "$h" | grep -qi '^x-cache: miss' || tl_fail "first load is not a MISS"
grep -c '<td>task [0-9]</td>' "$T/page" | grep -q 3 || tl_fail "first load does not list 3 tasks"
h=$(hdrs); echo "$h" | grep -qi '^x-cache: hit' || tl_fail "reload is not a HIT"
# a cached page costs the data version (one primary-key read, none when this worker read it since
# the last commit) and, from the same-host tier, no memcached round trip at all (the worker that
# stored it, or any other: the tier is shared)
echo "$h" | grep -qi '^x-debug-counters: db=[01]; cache_rt=0' || tl_fail "cached GET /: want db=0 or 1, cache_rt=0, got: $(echo "$h" | grep -i debug)"
# each of the 2 workers reads the version at most once after the last commit, then never again
reads=0
for _ in $(seq 10); do
  h=$(hdrs)
  echo "$h" | grep -qi '^x-debug-counters: db=[01]; cache_rt=0' || tl_fail "warm cached GET /: got $(echo "$h" | grep -i debug)"
  echo "$h" | grep -qi '^x-debug-counters: db=1' && reads=$((reads + 1))
done
[ "$reads" -le 2 ] || tl_fail "10 warm cached GET / read the version $reads times, want at most once per worker"
read -r h0 m0 s0 <<<"$(stats)"
for _ in $(seq 20); do hdrs >/dev/null; done
read -r h1 m1 s1 <<<"$(stats)"
echo "20 warm GET /: memcached hits +$((h1 - h0)) misses +$((m1 - m0)) sets +$((s1 - s0))"
[ $((m1 - m0)) = 0 ] && [ $((s1 - s0)) = 0 ] && [ $((h1 - h0)) = 0 ] ||
  tl_fail "20 warm GET /: want nothing at memcached (the same-host tier answers)"
st=$(curl -s "$U/status")
echo "$st" | grep -q '"cache_tier":{"size":' || tl_fail "/status has no cache_tier: $st"
"$TL_BIN" cache stats 2>/dev/null | grep -q '^same-host tier (pid' || tl_fail "tasklist cache stats does not show the tier"
etag=$(echo "$h" | awk -F': ' 'tolower($1)=="etag"{print $2}')
[ -n "$etag" ] || tl_fail "no ETag on a cached page"
c=$(code "$U/" -H "If-None-Match: $etag"); [ "$c" = 304 ] || tl_fail "If-None-Match answered $c, want 304"

# add: visible at once; delete: gone at once (the write moved the data version)
post --data "name=fresh+one" "$U/" >/dev/null
h=$(hdrs); grep -q '<td>fresh one</td>' "$T/page" || tl_fail "added task not visible at once"
echo "$h" | grep -qi '^x-cache: miss' || tl_fail "the page after a write is not a MISS"
echo "$h" | grep -qi '^x-debug-counters: db=2;' || tl_fail "after a write: want the version and one query, got: $(echo "$h" | grep -i debug)"
id=$(grep -o '/[0-9]*/delete' "$T/page" | tail -1 | tr -dc 0-9)
post -X POST "$U/$id/delete" >/dev/null
hdrs >/dev/null; grep -q 'fresh one' "$T/page" && tl_fail "deleted task still shown"
h=$(hdrs); echo "$h" | grep -qi '^x-cache: hit' || tl_fail "the page is not cached again after a delete"
# the explicit deletes freed the entries of the version the write replaced (memory, not correctness)
v=$(sqlite3 "$T/db/tasks.sqlite" "SELECT version FROM data_version WHERE name='task'")
memccat --binary --servers=127.0.0.1:$MCPORT --username=mcuser --password=mcpass "tasklist:view//@$((v - 1))" \
  >/dev/null 2>&1 && tl_fail "the view of the replaced version $((v - 1)) is still cached"
memccat --binary --servers=127.0.0.1:$MCPORT --username=mcuser --password=mcpass "tasklist:view//@$v" \
  >/dev/null 2>&1 || tl_fail "the view of the current version $v is not cached"

# writes that bypass the app (the sqlite3 command line): the triggers move the version, the next
# GET / shows them although nothing touched memcached
sqlite3 "$T/db/tasks.sqlite" "INSERT INTO task (name) VALUES ('from the cli')" || tl_fail "sqlite3 insert"
page | grep -q '<td>from the cli</td>' || tl_fail "a row inserted with sqlite3 is not on the next GET /"
sqlite3 "$T/db/tasks.sqlite" "UPDATE task SET name = 'renamed by the cli' WHERE name = 'from the cli'"
page | grep -q '<td>renamed by the cli</td>' || tl_fail "a row renamed with sqlite3 is not renamed on the next GET / (fragment)"
sqlite3 "$T/db/tasks.sqlite" "DELETE FROM task WHERE name = 'renamed by the cli'"
page | grep -q 'renamed by the cli' && tl_fail "a row deleted with sqlite3 is still on the next GET /"

# query strings are ignored by the index view (Flask-Caching's default)
h=$(hdrs -G --data 'x=1'); echo "$h" | grep -qi '^x-cache: hit' || tl_fail "GET /?x=1 is not served from the view cache"

# stale-write race with a concurrent reader (as the acceptance check does, shorter)
accepted() { curl -s "$U/status" | grep -o '"accepted":[0-9]*' | cut -d: -f2; }
a0=$(accepted)
# the reader is reading: the pool has accepted more than the polls' own requests
reader_reads() { [ "$(accepted)" -gt $((a0 + 20)) ]; }
wrk -t1 -c1 -d6s "$U/" >"$T/wrk.txt" 2>&1 &
w=$!
tl_wait_until 5 reader_reads || tl_fail "the concurrent reader (wrk) sent no requests: $(cat "$T/wrk.txt")"
stale=0
for i in $(seq 12); do
  curl -s -o /dev/null -H "Origin: $U" --data "name=first+$i" "$U/" \
    --next -s -o /dev/null -H "Origin: $U" --data "name=race+$i" "$U/"
  curl -s "$U/" | grep -q "<td>race $i</td>" || stale=$((stale + 1))
done
wait $w
[ "$stale" = 0 ] || tl_fail "stale page after $stale of 12 write pairs with a concurrent reader"

# tasklist cache stats shows the dashboard counters
"$TL_BIN" cache stats >"$T/stats.txt" 2>&1 || tl_fail "tasklist cache stats failed: $(cat "$T/stats.txt")"
for k in get_hits get_misses cmd_get cmd_set curr_items bytes evictions; do
  grep -q "$k" "$T/stats.txt" || tl_fail "cache stats lacks $k"
done

# cache down: same pages, from the database, no error
mcpid=$(cat "$T/mc$MCPORT/pid"); kill "$mcpid"
tl_wait_until 5 bash -c "! kill -0 $mcpid 2>/dev/null" || tl_fail "memcached did not stop"
for i in 1 2 3; do
  c=$(code "$U/"); [ "$c" = 200 ] || tl_fail "memcached down: GET / answered $c"
done
c=$(post --data "name=while+down" "$U/"); [ "$c" = 303 ] || tl_fail "memcached down: POST answered $c"
page | grep -q "while down" || tl_fail "memcached down: new task not shown"
echo "caching: MISS then HIT, warm GET = 0 memcached commands (same-host tier), 1 version read; writes visible at once; 0 stale of 12; cache down still serves"
