#!/bin/bash
# e2e_supervise: the master replaces a SIGKILLed worker; request_timeout_s
# kills a stuck worker (the client gets nginx's 502, the pool serves on);
# max_requests recycles workers; slow requests are logged with method, path
# and duration; a worker that cannot initialise trips the crash-loop brake,
# and the pool recovers when the cause goes away; USR1 reopens the log.
source "${TL_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/servers.sh"
source "$TL_SRC/tests/server/lib.sh"
tl_init server-supervise
tl_need nginx curl python3
SOCK=$T/app.sock
srv_start app --set "server.listen=unix:$SOCK" --set server.workers=2 --set server.status_path=/status \
  --set server.metrics_path=/metrics \
  --set server.request_timeout_s=1 --set server.max_requests=25 --set server.slow_request_ms=200
tl_wait_socket "$SOCK" || tl_fail "pool does not listen: $(cat "$T/app.log")"
tl_start_nginx "$SOCK"
U=http://127.0.0.1:$NGINX_PORT

wait_workers() { # N: until N idle/busy workers are listed
  local i
  for i in $(seq 50); do
    [ "$(worker_pids "$U/status" | wc -w)" = "$1" ] && return 0
    sleep 0.1
  done
  tl_fail "expected $1 workers: $(curl -s "$U/status")"
}

# 1. SIGKILL a worker: replaced, pool keeps answering
wait_workers 2
before=$(worker_pids "$U/status")
victim=${before%% *}
kill -KILL "$victim"
tl_wait_until 10 bash -c "! kill -0 $victim 2>/dev/null"
wait_workers 2
after=$(worker_pids "$U/status")
case " $after " in *" $victim "*) tl_fail "killed worker $victim still listed: $after";; esac
check "after SIGKILL" 200 "$U/"
grep -q "worker $victim killed by signal 9" "$T/app.log" || tl_fail "kill not logged: $(tail -3 "$T/app.log")"

# 2. request_timeout_s = 1: a 4 s request is killed; others still served
start=$(date +%s.%N)
check "stuck request" 502 "$U/sleep?ms=4000"
took=$(python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 3.5 else 1)" "$took" ||
  tl_fail "stuck request was not cut short (took $took s)"
grep -q "request_timeout_s = 1); killing it" "$T/app.log" || tl_fail "timeout kill not logged"
wait_workers 2
check "after the timeout" 200 "$U/"
curl -s "$U/metrics" | grep -qx "tasklist_workers_killed_total 1" || tl_fail "/metrics does not count the killed worker"

# 3. slow request log: method, path, duration
check "slow request" 200 "$U/sleep?ms=300"
grep -Eq "slow request: GET \"/sleep\" took [0-9]+ ms" "$T/app.log" || tl_fail "slow request not logged"

# 4. max_requests = 25 recycles workers
pids1=$(worker_pids "$U/status")
for i in $(seq 80); do curl -s -o /dev/null "$U/"; done
wait_workers 2
pids2=$(worker_pids "$U/status")
for p in $pids1; do
  case " $pids2 " in *" $p "*) tl_fail "worker $p not recycled after 80 requests: $pids1 -> $pids2";; esac
done
grep -q "max_requests); recycling" "$T/app.log" || tl_fail "recycling not logged"
n=$(curl -s "$U/metrics" | sed -n 's/^tasklist_workers_recycled_total //p')
[ "${n:-0}" -ge 2 ] || tl_fail "/metrics counts ${n:-no} recycled workers, want >= 2"

# 5. USR1 reopens the log file
mv "$T/app.log" "$T/app.log.1"
kill -USR1 "$SRV_PID"
tl_wait_until 5 grep -qs "log reopened" "$T/app.log"
[ -f "$T/app.log" ] && grep -q "log reopened" "$T/app.log" || tl_fail "USR1 did not reopen the log"

# 6. crash-loop brake: worker_init fails while the file exists
S2=$T/brake.sock
touch "$T/fail-init"
(cd "$T" && POOL_APP_INIT_FAIL_FILE=$T/fail-init exec "$APP" serve --set server.debug=true \
  --set "server.log_file=$T/brake.log" --set "server.listen=unix:$S2" --set server.workers=2 \
  --set server.ping_path=/ping) &
B=$!
tl_remember $B
for i in $(seq 60); do grep -q "crash loop" "$T/brake.log" 2>/dev/null && break; sleep 0.1; done
grep -q "crash loop" "$T/brake.log" || tl_fail "no crash-loop brake: $(tail -5 "$T/brake.log")"
n1=$(grep -c "exited with status 3" "$T/brake.log")
sleep 1
n2=$(grep -c "exited with status 3" "$T/brake.log")
[ $((n2 - n1)) -le 3 ] || tl_fail "brake does not slow respawning: $n1 -> $n2 in 1 s"
rm -f "$T/fail-init"
sleep 4   # longest brake delay reached so far is 1-4 s
n3=$(grep -c "exited with status 3" "$T/brake.log")
sleep 1
n4=$(grep -c "exited with status 3" "$T/brake.log")
[ "$n3" = "$n4" ] || tl_fail "workers still failing after the cause was removed"
kill -0 $B || tl_fail "master died during the crash loop"
kill -TERM $B
echo ok
