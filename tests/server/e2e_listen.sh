#!/bin/bash
# e2e_listen: the listen socket. TCP on IPv4 and IPv6 behind nginx's
# local.conf.in; a unix socket where a server still answers is refused (the
# running pool is untouched); a stale socket is replaced; a non-socket file is
# never replaced; socket_mode is applied; a TCP port in use is an error.
source "${TL_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/servers.sh"
source "$TL_SRC/tests/server/lib.sh"
tl_init server-listen
tl_need nginx curl python3

# IPv4
P4=$(tl_free_port)
srv_start v4 --set "server.listen=127.0.0.1:$P4" --set server.workers=1 --set server.sched_batch=off
tl_wait_tcp "$P4" || tl_fail "no IPv4 listener: $(cat "$T/v4.log")"
local_nginx "127.0.0.1:$P4"
check "IPv4 upstream" 200 "http://127.0.0.1:$NGINX_PORT/"; body_is "IPv4" hello
V4=$SRV_PID
# sched_batch = off: the worker keeps the master's policy (SCHED_OTHER, 0, under a normal shell)
w=$(ps -o pid= --ppid "$V4" | head -1)
[ "$(awk '/^policy/{print $3}' "/proc/${w// /}/sched")" = "$(awk '/^policy/{print $3}' "/proc/$V4/sched")" ] ||
  tl_fail "sched_batch=off: the worker's policy differs from the master's"
# the port is taken now: a second pool must refuse
srv_start v4b --set "server.listen=127.0.0.1:$P4" --set server.workers=1
wait "$SRV_PID"; rc=$?
[ $rc = 1 ] || tl_fail "second pool on a busy port: exit $rc, want 1"
grep -q "Address already in use" "$T/v4b.log" || tl_fail "busy port not logged: $(cat "$T/v4b.log")"
kill -TERM "$V4"; wait_gone "$V4" || tl_fail "IPv4 pool did not stop"
ngpid=$(cat "$T/lnginx/nginx.pid" 2>/dev/null); kill "$ngpid" 2>/dev/null
[ -z "$ngpid" ] || tl_wait_until 5 bash -c "! kill -0 $ngpid 2>/dev/null"

# IPv6 (skipped quietly when the host has no ::1)
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
  P6=$(tl_free_port)
  srv_start v6 --set "server.listen=[::1]:$P6" --set server.workers=1
  for i in $(seq 50); do
    python3 -c 'import socket,sys; socket.create_connection(("::1",int(sys.argv[1])),0.2).close()' "$P6" 2>/dev/null && break
    sleep 0.1
  done
  local_nginx "[::1]:$P6"
  check "IPv6 upstream" 200 "http://127.0.0.1:$NGINX_PORT/items/5"; body_is "IPv6" "item 5"
  kill -TERM "$SRV_PID"; wait_gone "$SRV_PID" || tl_fail "IPv6 pool did not stop"
else
  echo "note: no IPv6 loopback, IPv6 case skipped"
fi

# unix: mode, live-server refusal, stale replacement
SOCK=$T/app.sock
srv_start u1 --set "server.listen=unix:$SOCK" --set server.workers=1 --set server.socket_mode=0600
tl_wait_socket "$SOCK" || tl_fail "no unix listener: $(cat "$T/u1.log")"
U1=$SRV_PID
[ "$(stat -c %a "$SOCK")" = 600 ] || tl_fail "socket mode $(stat -c %a "$SOCK"), want 600"
ino=$(stat -c %i "$SOCK")
srv_start u2 --set "server.listen=unix:$SOCK" --set server.workers=1
wait "$SRV_PID"; rc=$?
[ $rc = 1 ] || tl_fail "second pool on a live socket: exit $rc, want 1"
grep -q "a server still answers there" "$T/u2.log" || tl_fail "refusal not logged: $(cat "$T/u2.log")"
[ "$(stat -c %i "$SOCK")" = "$ino" ] || tl_fail "the live socket was replaced"
tl_wait_socket "$SOCK" || tl_fail "first pool no longer answers"

# make it stale: SIGKILL the master (workers follow through PDEATHSIG)
kill -KILL "$U1"; wait_gone "$U1" || tl_fail "the SIGKILLed master did not go"
# its workers (PDEATHSIG) hold the listening socket too: stale means nobody accepts any more
sock_dead() { ! python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$SOCK" 2>/dev/null; }
tl_wait_until 5 sock_dead || tl_fail "the killed pool's workers still accept on $SOCK"
[ -S "$SOCK" ] || tl_fail "expected a stale socket file"
srv_start u3 --set "server.listen=unix:$SOCK" --set server.workers=1 --set server.socket_mode=0666
tl_wait_socket "$SOCK" || tl_fail "stale socket not replaced: $(cat "$T/u3.log")"
grep -q "removing stale socket" "$T/u3.log" || tl_fail "stale removal not logged"
tl_start_nginx "$SOCK"
check "after stale replacement" 200 "http://127.0.0.1:$NGINX_PORT/"
kill -TERM "$SRV_PID"; wait_gone "$SRV_PID" || tl_fail "pool did not stop"

# a regular file is never replaced
echo keep >"$T/file.sock"
srv_start u4 --set "server.listen=unix:$T/file.sock" --set server.workers=1
wait "$SRV_PID"; rc=$?
[ $rc = 1 ] && [ "$(cat "$T/file.sock")" = keep ] || tl_fail "a regular file at the socket path: exit $rc"
echo ok
