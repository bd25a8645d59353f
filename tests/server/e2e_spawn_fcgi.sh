#!/bin/bash
# e2e_spawn_fcgi: started by spawn-fcgi (listen socket on fd 0, no listen
# key), the pool still runs its master + workers: requests reach handlers
# through nginx, a SIGKILLed worker is replaced, SIGHUP under load loses
# nothing, TERM stops it.
source "${TL_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/servers.sh"
source "$TL_SRC/tests/server/lib.sh"
tl_init server-spawn
tl_need nginx curl spawn-fcgi wrk python3
SOCK=$T/app.sock
cd "$T"
spawn-fcgi -n -s "$SOCK" -M 0666 -- "$APP" serve --set server.debug=true --set server.workers=2 \
  --set server.status_path=/status --set "server.log_file=$T/app.log" >"$T/spawn.out" 2>&1 &
SRV_PID=$!
tl_remember $SRV_PID
tl_wait_socket "$SOCK" || tl_fail "spawn-fcgi socket: $(cat "$T/spawn.out")"
tl_start_nginx "$SOCK"
U=http://127.0.0.1:$NGINX_PORT
for i in $(seq 30); do [ "$(worker_pids "$U/status" 2>/dev/null | wc -w)" = 2 ] && break; sleep 0.1; done
grep -q "listening on fd 0 (inherited) with 2 workers" "$T/app.log" || tl_fail "not on fd 0: $(cat "$T/app.log")"
check "GET /" 200 "$U/"; body_is "GET /" hello
check "POST /echo" 200 -d "a=b" "$U/echo"; body_is "echo" "a=b"

pids=$(worker_pids "$U/status")
victim=${pids%% *}
kill -KILL "$victim"
for i in $(seq 30); do
  now=$(worker_pids "$U/status")
  [ "$(echo $now | wc -w)" = 2 ] && case " $now " in *" $victim "*) ;; *) break;; esac
  sleep 0.1
done
case " $(worker_pids "$U/status") " in *" $victim "*) tl_fail "worker $victim not replaced";; esac

wrk -t2 -c8 -d3s "$U/" >"$T/wrk.out" 2>&1 &
W=$!
sleep 1; kill -HUP "$SRV_PID"
wait $W
grep -q "Requests/sec" "$T/wrk.out" || tl_fail "wrk did not run: $(cat "$T/wrk.out")"
grep -Eq "Non-2xx|Socket errors" "$T/wrk.out" && tl_fail "requests lost across HUP: $(cat "$T/wrk.out")"

kill -TERM "$SRV_PID"
wait_gone "$SRV_PID" || tl_fail "pool did not stop on TERM"
echo ok
