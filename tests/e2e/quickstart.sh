#!/bin/bash
# tests/e2e/quickstart.sh - README's first quick-start command stays true: scripts/run-local.sh
# (release build, SQLite, local SASL memcached, the pool, nginx from nginx/local.conf.in) serves the
# task list with its stylesheet, caches it, and stops everything it started on SIGTERM; its instance
# folder is private (0700, files 0600), started as root none of its servers runs as root, and it
# serves its own origin only.
# Uses its own ports and instance folder (TL_PORT, TL_MEMCACHED_PORT, TL_INSTANCE).
. "$(dirname "$0")/../lib/servers.sh"
tl_init quickstart
chmod 755 "$T"   # started as root, run-local's servers run as another user, who must reach the instance
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
# private: the instance folder 0700, every file in it 0600 (secrets, database, logs)
[ "$(stat -c %a "$TL_INSTANCE")" = 700 ] || tl_fail "instance folder is $(stat -c %a "$TL_INSTANCE"), want 700"
open=$(find "$TL_INSTANCE" -type f -perm /077 -printf '%p %m, ')
[ -z "$open" ] || tl_fail "files others can read: $open"
for f in secret_key memcached_password task-list.sqlite; do [ -f "$TL_INSTANCE/$f" ] || tl_fail "no $f"; done
# started as root: no server it started runs as root (the script and its subshells aside)
if [ "$(id -u)" = 0 ]; then
  roots=$(ps -e -o pgid=,pid=,ruid=,euid=,suid=,fsuid=,comm= |
    awk -v g="$RL" '$1 == g && $2 != g && $7 != "bash" && $7 != "sleep" && ($3 == 0 || $4 == 0 || $5 == 0 || $6 == 0) {printf "%s %s, ", $7, $2}')
  [ -z "$roots" ] || tl_fail "run-local runs servers as root: $roots"
  ps -e -o pgid=,comm= | awk -v g="$RL" '$1 == g' | grep -q tasklist || tl_fail "no tasklist in run-local's group"
fi
# its own origin only: another Host is closed by nginx (444) or refused by the app (421)
c=$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: evil.example' "$U/")
[ "$c" = 000 ] || [ "$c" = 421 ] || tl_fail "GET / with Host: evil.example answered $c, want 444 (000) or 421"
c=$(curl -s -o /dev/null -w '%{http_code}' "http://localhost:$TL_PORT/")
[ "$c" = 200 ] || tl_fail "http://localhost:$TL_PORT/ answered $c"
curl -s -D - -o /dev/null "$U/" | grep -i '^content-security-policy:' | grep -q "form-action 'self'" ||
  tl_fail "no hardened CSP"
kill -TERM -- "-$RL" 2>/dev/null || kill -TERM "$RL"
for _ in $(seq 50); do kill -0 "$RL" 2>/dev/null || break; sleep 0.1; done
kill -0 "$RL" 2>/dev/null && tl_fail "run-local.sh did not stop on SIGTERM"
# its servers exit on their own after it (memcached, the pool and nginx each finish their stop)
none_left() { [ -z "$(pgrep -f "$TL_INSTANCE")" ]; }
tl_wait_until 5 none_left || tl_fail "processes left running after stop: $(pgrep -f "$TL_INSTANCE" | tr '\n' ' ')"
echo "quickstart: run-local.sh serves, caches through SASL memcached, stops cleanly"
