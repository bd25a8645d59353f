#!/bin/bash
# e2e_basic: real nginx (stock fastcgi_params) -> pool_app on a unix socket.
# A request reaches its handler; 404, 405 + Allow, HEAD, typed ids, form echo,
# handler errors (503/500), 413 for oversize bodies, 400 for malformed and
# invalid UTF-8 input, 403 for cross-origin POST, security headers, /ping and
# the status endpoint.
source "${TL_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/servers.sh"
source "$TL_SRC/tests/server/lib.sh"
tl_init server-basic
tl_need nginx curl python3
SOCK=$T/app.sock
srv_start app --set "server.listen=unix:$SOCK" --set server.socket_mode=0666 --set server.workers=2 \
  --set server.ping_path=/ping --set server.status_path=/status --set limits.body_max=1024 \
  --set limits.params_max=16
tl_wait_socket "$SOCK" || tl_fail "pool does not listen: $(cat "$T/app.log")"
[ "$(stat -c %a "$SOCK")" = 666 ] || tl_fail "socket mode $(stat -c %a "$SOCK"), want 666"
tl_start_nginx "$SOCK"
U=http://127.0.0.1:$NGINX_PORT

# [server] sched_batch (default on): every worker runs under SCHED_BATCH (policy 3), the master not
workers=$(ps -o pid= --ppid "$SRV_PID")
[ -n "$workers" ] || tl_fail "no workers"
for w in $workers; do
  pol=$(awk '/^policy/{print $3}' "/proc/$w/sched")
  [ "$pol" = 3 ] || tl_fail "worker $w runs under policy $pol, want 3 (SCHED_BATCH)"
done
[ "$(awk '/^policy/{print $3}' "/proc/$SRV_PID/sched")" = "$(awk '/^policy/{print $3}' /proc/$$/sched)" ] ||
  tl_fail "the master's policy changed: $(grep ^policy "/proc/$SRV_PID/sched")"

check "GET /" 200 "$U/"
body_is "GET /" hello
for h in "X-Content-Type-Options: nosniff" "Content-Security-Policy: default-src 'self'" \
         "Referrer-Policy: same-origin" "X-Frame-Options: DENY" "X-Worker-Pid: "; do
  hdr_has "GET / headers" "$h"
done
check "HEAD /" 200 -I "$U/"
grep -q hello "$T/body" && tl_fail "HEAD / has a body"
hdr_has "HEAD /" "Content-Length: 6"
check "item 42" 200 "$U/items/42"; body_is "item 42" "item 42"
check "item 0" 404 "$U/items/0"
check "item abc" 404 "$U/items/abc"
check "item 007" 404 "$U/items/007"
check "unknown path" 404 "$U/nope"; body_has "404 page" "Not Found"
check "POST / (405)" 405 -d x=1 "$U/"
hdr_has "405 Allow" "Allow: GET, HEAD"
check "DELETE /echo (405)" 405 -X DELETE "$U/echo"; hdr_has "405 Allow" "Allow: POST"
check "form echo" 200 --data-urlencode "name=Buy milk & eggs" --data-urlencode "x=✓" "$U/echo"
body_is "form echo" "$(printf 'name=Buy milk & eggs\nx=✓')"
check "url_for" 200 "$U/url"; body_is "url_for" "/items/7?q=a%20b%26c"
check "503 mapping" 503 "$U/fail"; hdr_has "503" "Retry-After: 1"
check "500 mapping" 500 "$U/boom"
grep -q half-built "$T/body" && tl_fail "500 page leaks the handler's partial body"

# same-origin check (DESIGN.md 9): Origin vs HTTP_HOST + SERVER_PORT
check "same-origin POST" 200 -H "Origin: http://127.0.0.1:$NGINX_PORT" -d a=1 "$U/echo"
check "cross-origin POST" 403 -H "Origin: http://evil.example" -d a=1 "$U/echo"
check "origin without port" 403 -H "Origin: http://127.0.0.1" -d a=1 "$U/echo"
check "Sec-Fetch-Site cross-site" 403 -H "Sec-Fetch-Site: cross-site" -d a=1 "$U/echo"
check "cross-origin GET allowed" 200 -H "Origin: http://evil.example" "$U/"

# limits and malformed input
head -c 2000 /dev/zero | tr '\0' a >"$T/big"
check "body over body_max" 413 --data-binary "@$T/big" -H "Content-Type: text/plain" "$U/echo"
head -c 5000000 /dev/zero | tr '\0' a >"$T/huge"
check "5 MB body" 413 --data-binary "@$T/huge" -H "Content-Type: text/plain" "$U/echo"
check "invalid UTF-8 in query" 400 "$U/?x=%ff"
check "invalid UTF-8 in path" 400 "$U/%c3%28"
check "NUL in form" 400 -d "a=%00" "$U/echo"
check "invalid UTF-8 in form" 400 -d "name=%e9t%e9" "$U/echo"
check "bad escape in form" 400 -d "name=%zz" "$U/echo"
check "another application's cookie, not UTF-8, is ignored" 200 -H $'Cookie: other=caf\xe9; a=\xff' "$U/"
q=$(python3 -c 'print("&".join("p%d=1" % i for i in range(17)))')
check "too many params" 400 "$U/?$q"
q=$(python3 -c 'print("&".join("p%d=1" % i for i in range(16)))')
check "params at the limit" 200 "$U/?$q"
check "still serving after errors" 200 "$U/"

# ping and status
check "ping" 200 "$U/ping"; body_is "ping" pong
check "status" 200 "$U/status"
hdr_has "status json" "Content-Type: application/json"
python3 - "$T/body" <<'PY' || tl_fail "status JSON: $(cat "$T/body")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["accepted"] >= 20, d
assert len(d["workers"]) == 2, d
assert all(w["state"] in ("idle", "busy") for w in d["workers"]), d
assert sum(w["requests"] for w in d["workers"]) >= 20, d
for k in ("active", "idle", "max_active", "restarts", "slow_requests", "generation"):
    assert k in d, k
PY
grep " error " "$T/app.log" | grep -v "GET \"/boom\": handler failed" | grep -q . &&
  tl_fail "unexpected errors logged: $(grep ' error ' "$T/app.log")"
kill -TERM "$SRV_PID"
for i in $(seq 50); do kill -0 "$SRV_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SRV_PID" 2>/dev/null && tl_fail "pool did not stop on TERM"
[ -e "$SOCK" ] && tl_fail "socket not removed at stop"
grep -q "master: stopped" "$T/app.log" || tl_fail "no stop line: $(tail -3 "$T/app.log")"
echo "ok"
