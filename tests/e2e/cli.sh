#!/bin/bash
# tests/e2e/cli.sh - the tasklist command as users meet it: check-config (file:line errors, exit 2,
# precedence ini < .env < environment < flags, secrets masked), usage errors, template reload on
# SIGHUP (a broken template keeps the old set, named by file:line:col), privilege drop as root.
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/app_lib.sh"
tl_init cli
cd "$T"

# check-config: errors name file:line and key, exit 2
printf '[server]\nworkers = 2\nwokers = 4\n' >bad.ini
out=$("$TL_BIN" check-config --config bad.ini 2>&1); rc=$?
[ "$rc" = 2 ] || tl_fail "unknown key: exit $rc, want 2"
echo "$out" | grep -q 'bad.ini:3: unknown key "wokers"' || tl_fail "unknown key message: $out"
printf '[server]\nworkers = many\n' >bad2.ini
out=$("$TL_BIN" check-config --config bad2.ini 2>&1); rc=$?
[ "$rc" = 2 ] && echo "$out" | grep -q 'bad2.ini:2:.*workers' || tl_fail "bad value: exit $rc: $out"
printf '[nosuch]\nx = 1\n' >bad3.ini
out=$("$TL_BIN" check-config --config bad3.ini 2>&1); [ $? = 2 ] && echo "$out" | grep -q 'bad3.ini:2: unknown section \[nosuch\]' ||
  tl_fail "unknown section: $out"
out=$("$TL_BIN" check-config --config missing.ini 2>&1); [ $? = 2 ] && echo "$out" | grep -q 'missing.ini' ||
  tl_fail "missing explicit config file: $out"

# precedence: ini < .env < environment < flags; secrets masked
printf '[server]\nworkers = 2\nslow_request_ms = 100\n[session]\nsecret_key = from-ini-0123456789abcdef\n[cache]\npassword = ini-pass-XYZ\n' >good.ini
printf 'SECRET_KEY=from-dotenv-0123456789abcdef\nTASKLIST_SERVER_SLOW_REQUEST_MS=200\nMEMCACHIER_PASSWORD=dotenv-pass-QQQ\n' >.env
out=$(env -u SECRET_KEY TASKLIST_SERVER_SLOW_REQUEST_MS=300 DATABASE_URL='mysql://u:sekrit-pw@127.0.0.1/db' \
  "$TL_BIN" check-config --config good.ini 2>&1) || tl_fail "good config refused: $out"
echo "$out" | grep -Eq '^workers = 2$' || tl_fail "ini value not applied: $out"
echo "$out" | grep -Eq '^slow_request_ms = 300$' || tl_fail "environment does not win over .env and ini: $out"
for secret in from-ini from-dotenv ini-pass-XYZ dotenv-pass-QQQ sekrit-pw; do
  echo "$out" | grep -q "$secret" && tl_fail "check-config printed the secret $secret"
done
echo "$out" | grep -q '^secret_key = \*\*\*\*\*\*\*\*' || tl_fail "secret_key not masked: $out"
rm .env
# the default SECRET_KEY is refused unless debug
printf '[server]\nworkers = 1\n' >nokey.ini
out=$(env -u SECRET_KEY "$TL_BIN" check-config --config nokey.ini 2>&1); [ $? = 2 ] && echo "$out" | grep -qi secret ||
  tl_fail "default SECRET_KEY accepted: $out"
env -u SECRET_KEY TASKLIST_SERVER_DEBUG=true "$TL_BIN" check-config --config nokey.ini >/dev/null 2>&1 ||
  tl_fail "debug = true does not allow the default SECRET_KEY"
out=$("$TL_BIN" frobnicate 2>&1); [ $? = 2 ] && echo "$out" | grep -q usage || tl_fail "unknown command: $out"
out=$("$TL_BIN" serve --workers 2>&1); [ $? = 2 ] || tl_fail "flag without value accepted"

# template reload on SIGHUP; a broken template keeps the old ones
export DATABASE_URL="sqlite:///$T/db/tasks.sqlite"
cp -r "$TL_SRC/templates" "$T/tpl"
"$TL_BIN" db upgrade --migrations "$TL_SRC/migrations" >/dev/null 2>&1 || tl_fail "db upgrade"
"$TL_BIN" serve --listen "unix:$T/app.sock" --workers 2 --templates "$T/tpl" >"$T/app.log" 2>&1 &
APP_PID=$!; tl_remember $APP_PID
tl_wait_socket "$T/app.sock" || tl_fail "serve did not start: $(tail -3 "$T/app.log")"
tl_start_nginx "$T/app.sock"; U="http://127.0.0.1:$NGINX_PORT"
page | grep -q '<title>Task List - Task List</title>' || tl_fail "unexpected title before reload"
sed -i 's/- Task List</- Reloaded List</' "$T/tpl/base.html"
kill -HUP "$APP_PID"
ok=0; for _ in $(seq 50); do page | grep -q 'Reloaded List' && { ok=1; break; }; sleep 0.1; done
[ "$ok" = 1 ] || tl_fail "templates not reloaded on SIGHUP"
printf '{%% if %%}\n' >>"$T/tpl/task_list/index.html"
kill -HUP "$APP_PID"
tl_wait_until 10 grep -q 'task_list/index.html:[0-9]*:[0-9]*' "$T/app.log" || tl_fail "broken template not reported with file:line:col: $(tail -3 "$T/app.log")"
c=$(code "$U/"); [ "$c" = 200 ] && page | grep -q 'Reloaded List' || tl_fail "broken template on reload: old set not kept ($c)"
# a broken template refuses start-up with file:line:col
out=$(timeout 10 "$TL_BIN" serve --listen "unix:$T/app2.sock" --workers 1 --templates "$T/tpl" 2>&1); rc=$?
[ "$rc" != 0 ] && echo "$out" | grep -q 'task_list/index.html:[0-9]*:[0-9]*' || tl_fail "broken template at start: rc $rc: $out"

# privilege drop: started as root with user = nobody, the pool runs as nobody
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$T/pd"; chmod 777 "$T/pd"
  DATABASE_URL="sqlite:///$T/pd/tasks.sqlite" "$TL_BIN" db upgrade --migrations "$TL_SRC/migrations" >/dev/null 2>&1; chmod 666 "$T/pd/tasks.sqlite"
  DATABASE_URL="sqlite:///$T/pd/tasks.sqlite" TASKLIST_SERVER_USER=nobody TASKLIST_SERVER_SOCKET_MODE=0666 \
    "$TL_BIN" serve --listen "unix:$T/pd/app.sock" --workers 2 --templates "$TL_SRC/templates" >"$T/pd.log" 2>&1 &
  pd=$!; tl_remember $pd
  tl_wait_socket "$T/pd/app.sock" || tl_fail "privilege-drop pool did not start: $(tail -3 "$T/pd.log")"
  # the master and both workers exist (the socket is there before the workers are)
  two_workers() { [ "$(pgrep -P $pd | wc -l)" -ge 2 ]; }
  tl_wait_until 10 two_workers || tl_fail "privilege-drop pool has no workers: $(tail -3 "$T/pd.log")"
  for p in $pd $(pgrep -P $pd); do
    u=$(ps -o user= -p "$p"); [ "$u" = nobody ] || tl_fail "process $p runs as $u, want nobody"
  done
fi
echo "cli: check-config errors and precedence, masking, usage errors, template reload on HUP, privilege drop all hold"
