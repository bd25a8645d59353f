#!/bin/bash
# e2e_hup: SIGHUP under continuous load (wrk through real nginx) loses no
# request: two reloads, zero non-2xx answers and zero socket errors; the new
# config is in effect and the old generation is gone. A broken config on HUP
# keeps the old one (logged) and the pool keeps serving.
source "${TL_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/servers.sh"
source "$TL_SRC/tests/server/lib.sh"
tl_init server-hup
tl_need nginx curl wrk python3
SOCK=$T/app.sock
INI=$T/pool.ini
write_ini() { printf '[server]\nworkers = 3\nstatus_path = /status\ntemplates = %s\n' "$1" >"$INI"; }
write_ini gen1
srv_start app --config "$INI" --set "server.listen=unix:$SOCK"
tl_wait_socket "$SOCK" || tl_fail "pool does not listen: $(cat "$T/app.log")"
tl_start_nginx "$SOCK"
U=http://127.0.0.1:$NGINX_PORT
check "gen1" 200 "$U/gen"; body_is gen1 gen1
old=$(worker_pids "$U/status")

wrk -t2 -c16 -d5s "$U/" >"$T/wrk.out" 2>&1 &
WRK=$!
sleep 1.2
write_ini gen2; kill -HUP "$SRV_PID"
sleep 1.5
write_ini gen3; kill -HUP "$SRV_PID"
wait "$WRK"
cat "$T/wrk.out"
grep -q "Requests/sec" "$T/wrk.out" || tl_fail "wrk did not run"
grep -q "Non-2xx" "$T/wrk.out" && tl_fail "non-2xx answers across SIGHUP"
grep -q "Socket errors" "$T/wrk.out" && tl_fail "socket errors across SIGHUP"
n=$(awk '/requests in/ {print $1}' "$T/wrk.out")
[ "${n:-0}" -gt 100 ] || tl_fail "too few requests under load: $n"

check "gen3" 200 "$U/gen"; body_is "after two reloads" gen3
# the old generation finishes its requests and goes: wait for that state, then check it
status_settled() {
  check "status" 200 "$U/status"
  python3 - "$T/body" "$old" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); old = set(sys.argv[2].split())
assert d["generation"] == 3, d
live = [w for w in d["workers"] if w["state"] != "exiting"]
assert len(live) == 3 and all(w["generation"] == 3 for w in live), d
assert not old & {str(w["pid"]) for w in d["workers"]}, (old, d)
PY
}
tl_wait_until 10 status_settled 2>/dev/null || { status_settled; tl_fail "status after reload: $(cat "$T/body")"; }

printf '[server]\nwokers = 3\n' >"$INI"
kill -HUP "$SRV_PID"
tl_wait_until 5 grep -q 'keeping the old configuration' "$T/app.log"
grep -q 'pool.ini:2: unknown key \\"wokers\\" in \[server\]; keeping the old configuration' "$T/app.log" ||
  grep -q "pool.ini:2: unknown key \"wokers\" in \[server\]; keeping the old configuration" "$T/app.log" ||
  tl_fail "bad reload not logged: $(tail -3 "$T/app.log")"
check "still gen3" 200 "$U/gen"; body_is "after a bad reload" gen3
echo ok
