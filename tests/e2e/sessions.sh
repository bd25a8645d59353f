#!/bin/bash
# tests/e2e/sessions.sh - sessions and flash messages through real nginx with a real SASL memcached:
# cookieless GETs write nothing; a cookieless invalid form gets the page with the message (400) and
# no session; an add flashes once through a signed cookie, and an invalid form rides on a session the
# client has; a tampered cookie is not trusted; the cached view keeps serving everyone else.
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/app_lib.sh"
tl_init sessions
tl_need memcstat
app_memcached
export DATABASE_URL="sqlite:///$T/db/tasks.sqlite"
app_start
sets() { mc_stat | awk '/cmd_set:/{print $2}'; }
curl -s -o /dev/null -H "Origin: $U" --data "name=one" "$U/"
curl -s -o /dev/null "$U/"; curl -s -o /dev/null "$U/"
s0=$(sets)
for i in $(seq 10); do curl -s -D "$T/h$i" -o /dev/null "$U/"; done
s1=$(sets)
[ $((s1 - s0)) = 0 ] || tl_fail "10 cookieless GETs made $((s1 - s0)) cache writes"
grep -qi '^set-cookie' "$T"/h[0-9]* && tl_fail "a cookieless GET got a cookie"
jar=$T/jar
# a cookieless invalid form: the page with the message (400), no session stored for it
c=$(curl -s -c "$jar" -b "$jar" -D "$T/eh" -o "$T/ebody" -w '%{http_code}' -H "Origin: $U" --data "name=" "$U/")
[ "$c" = 400 ] || tl_fail "empty name without a session answered $c, want 400 (the page with the message)"
grep -q "Task name is required." "$T/ebody" || tl_fail "the 400 page lacks the message"
grep -qi '^set-cookie' "$T/eh" && tl_fail "a cookieless invalid form got a cookie: $(grep -i '^set-cookie' "$T/eh")"
# a valid add flashes through a signed cookie
c=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' -H "Origin: $U" --data "name=two" "$U/")
[ "$c" = 303 ] || tl_fail "adding a task answered $c, want 303"
v=$(awk '$6=="session"{print $7}' "$jar"); [ -n "$v" ] || tl_fail "no session cookie after a flash"
echo "$v" | grep -Eq '^[0-9a-f]{64}\.[0-9a-f]{64}$' || tl_fail "cookie is not <hex id>.<hex mac>: $v"
# with that session, an invalid form rides on it too (post/redirect/get)
c=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' -H "Origin: $U" --data "name=" "$U/")
[ "$c" = 303 ] || tl_fail "empty name with a session answered $c, want 303"
curl -s -c "$jar" -b "$jar" "$U/" >"$T/p1"
grep -q "Task added." "$T/p1" && grep -q "Task name is required." "$T/p1" || tl_fail "flashes not shown after redirect"
# flash categories ride on the session (Flask's flash(message, category)), each styled by its own
grep -q '<div class="alert alert-success" role="alert">Task added.</div>' "$T/p1" ||
  tl_fail "\"Task added.\" is not flashed with the success category: $(grep alert "$T/p1")"
grep -q '<div class="alert alert-error" role="alert">Task name is required.</div>' "$T/p1" ||
  tl_fail "the error flash is not styled by its category: $(grep alert "$T/p1")"
grep -q '<div class="alert alert-error" role="alert">Task name is required.</div>' "$T/ebody" ||
  tl_fail "the 400 page's message is not styled as an error: $(grep alert "$T/ebody")"
curl -s -c "$jar" -b "$jar" "$U/" | grep -q "Task name is required." && tl_fail "flash shown twice"
# every flash shown, the session is empty: it is kept (same cookie), so the next error still rides on it
grep -q "session" "$jar" || tl_fail "the emptied session's cookie was cleared"
c=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' -H "Origin: $U" --data "name=" "$U/")
[ "$c" = 303 ] || tl_fail "empty name after every flash was shown answered $c, want 303 (the session is kept)"
curl -s -c "$jar" -b "$jar" "$U/" | grep -q "Task name is required." || tl_fail "the error flash after an emptied session not shown"
h=$(curl -s -D - -o /dev/null "$U/" | tr -d '\r'); echo "$h" | grep -qi '^x-cache: hit' || tl_fail "others are no longer served the cached view"
curl -s -D - -o /dev/null -H "Origin: $U" --data "name=three" "$U/" | tr -d '\r' | grep -i '^set-cookie: session=' |
  grep -q 'HttpOnly' || tl_fail "session cookie lacks HttpOnly"
curl -s -D - -o /dev/null -H "Origin: $U" --data "name=four" "$U/" | tr -d '\r' | grep -i '^set-cookie: session=' |
  grep -qi 'SameSite=Lax' || tl_fail "session cookie lacks SameSite=Lax"
rm -f "$jar"
c=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' -H "Origin: $U" --data "name=five" "$U/")
c=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' -H "Origin: $U" --data "name=" "$U/")
v=$(awk '$6=="session"{print $7}' "$jar")
mac=${v##*.}; d=0; [ "${mac:0:1}" = 0 ] && d=1
curl -s -b "session=${v%.*}.$d${mac:1}" "$U/" | grep -q "Task name is required." && tl_fail "a tampered cookie was trusted"
curl -s -b "session=${v%.*}" "$U/" | grep -q "Task name is required." && tl_fail "a cookie without MAC was trusted"
curl -s -b "session=$v" "$U/" | grep -q "Task name is required." || tl_fail "the genuine cookie lost its flash"
# a forged id gets a fresh id, never the client's
fake=$(printf '%064d' 7)
curl -s -D "$T/fh" -o /dev/null -b "session=$fake.$(printf '%064d' 0)" -H "Origin: $U" --data "name=six" "$U/"
grep -i '^set-cookie: session=' "$T/fh" | grep -q "$fake" && tl_fail "the server adopted a forged session id"
# sessions survive a worker restart: kill every worker, the flash is still there
rm -f "$jar"
c=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' -H "Origin: $U" --data "name=seven" "$U/")
c=$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{http_code}' -H "Origin: $U" --data "name=" "$U/")
killed=" $(pgrep -P "$APP_PID" | tr '\n' ' ')"
for p in $killed; do kill -9 "$p"; done
# the master has respawned as many workers as it had, none of them a killed one
respawned() {
  local now; now=$(pgrep -P "$APP_PID" | tr '\n' ' ')
  [ "$(echo $now | wc -w)" -ge "$(echo $killed | wc -w)" ] || return 1
  for p in $now; do case "$killed " in *" $p "*) return 1 ;; esac; done
}
tl_wait_until 10 respawned || tl_fail "the workers were not respawned after SIGKILL"
curl -s -c "$jar" -b "$jar" "$U/" | grep -q "Task name is required." || tl_fail "the session did not survive a worker restart"
echo "sessions: lazy (0 writes for 10 cookieless GETs), flash once, tampered/forged cookies refused, survives restarts"
