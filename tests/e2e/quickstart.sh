#!/bin/bash
# tests/e2e/quickstart.sh - README's first quick-start command stays true: scripts/run-local.sh
# (release build, SQLite, local SASL memcached, the pool, nginx from nginx/local.conf.in) serves the
# task list with its stylesheet, caches it, and stops everything it started on SIGTERM.
# Uses its own ports and instance folder (TL_PORT, TL_MEMCACHED_PORT, TL_INSTANCE).
. "$(dirname "$0")/../lib/servers.sh"
tl_init quickstart
unset DATABASE_URL MEMCACHIER_SERVERS MEMCACHIER_USERNAME MEMCACHIER_PASSWORD SECRET_KEY
export TL_PORT=$(tl_free_port) TL_MEMCACHED_PORT=$(tl_free_port) TL_INSTANCE=$T/instance TL_WORKERS=2
setsid bash "$TL_SRC/scripts/run-local.sh" >"$T/run.log" 2>&1 &
RL=$!
tl_remember "$RL"
U="http://127.0.0.1:$TL_PORT"
ok=0
for _ in $(seq 600); do   # the first run builds a release binary
  grep -q "tasklist is running on" "$T/run.log" && curl -s -o /dev/null "$U/" && { ok=1; break; }
  kill -0 "$RL" 2>/dev/null || break
  sleep 0.5
done
[ "$ok" = 1 ] || tl_fail "run-local.sh did not come up: $(tail -5 "$T/run.log")"
c=$(curl -s -o /dev/null -w '%{http_code}' "$U/static/style.css"); [ "$c" = 200 ] || tl_fail "stylesheet answered $c"
c=$(curl -s -o /dev/null -w '%{http_code}' -H "Origin: $U" --data "name=quick+start" "$U/")
[ "$c" = 303 ] || tl_fail "POST / answered $c"
curl -s "$U/" | grep -q "<td>quick start</td>" || tl_fail "the added task is not listed"
h=$(curl -s -D - -o /dev/null "$U/" | tr -d '\r')
echo "$h" | grep -qi '^x-cache: hit' || tl_fail "the page is not served from the local SASL memcached: $h"
[ -s "$TL_INSTANCE/task-list.sqlite" ] || tl_fail "no SQLite database in the instance folder"
kill -TERM -- "-$RL" 2>/dev/null || kill -TERM "$RL"
for _ in $(seq 50); do kill -0 "$RL" 2>/dev/null || break; sleep 0.1; done
kill -0 "$RL" 2>/dev/null && tl_fail "run-local.sh did not stop on SIGTERM"
sleep 0.5
left=$(pgrep -f "$TL_INSTANCE" | tr '\n' ' ')
[ -z "$left" ] || tl_fail "processes left running after stop: $left"
echo "quickstart: run-local.sh serves, caches through SASL memcached, stops cleanly"
