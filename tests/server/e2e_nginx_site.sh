#!/bin/bash
# e2e_nginx_site: the packaged plain-HTTP site nginx/tasklist.conf.in (sites-available/tasklist),
# with its paths substituted, passes `nginx -t` and serves: the app through the unix
# socket, /static/ and /favicon.ico from disk, /ping, /status and /metrics to
# 127.0.0.1 only (403 from another address), no version in Server.
source "${TL_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/servers.sh"
source "$TL_SRC/tests/server/lib.sh"
tl_init server-nginxsite
tl_need nginx curl
SOCK=$T/app.sock
N=$T/prod
mkdir -p "$N/conf" "$N/logs" "$N/tmp" "$T/share/static"
echo "body { color: red }" >"$T/share/static/site.css"
printf 'ICON' >"$T/share/static/favicon.ico"
cp /etc/nginx/fastcgi_params /etc/nginx/mime.types "$N/conf/"
PORT=$(tl_free_port)
sed -e "s#unix:@RUNDIR@/tasklist.sock#unix:$SOCK#" -e "s#@DATADIR@#$T/share#" \
    -e "s#listen 80;#listen 127.0.0.1:$PORT; listen 127.0.0.2:$PORT;#" -e "/listen \[::\]:80;/d" \
    "$TL_SRC/nginx/tasklist.conf.in" >"$N/conf/tasklist.conf"
grep -q @ "$N/conf/tasklist.conf" && tl_fail "placeholders left: $(grep @ "$N/conf/tasklist.conf")"
{ tl_nginx_head "$N" root 256; cat <<NGX
    include mime.types;
    include tasklist.conf;
}
NGX
} >"$N/conf/nginx.conf"
nginx -t -p "$N" -c conf/nginx.conf >"$T/t.out" 2>&1 || tl_fail "nginx -t: $(cat "$T/t.out")"
srv_start app --set "server.listen=unix:$SOCK" --set server.socket_mode=0660 --set server.workers=2 \
  --set server.ping_path=/ping --set server.status_path=/status --set server.metrics_path=/metrics
tl_wait_socket "$SOCK" || tl_fail "pool does not listen: $(cat "$T/app.log")"
nginx -p "$N" -c conf/nginx.conf -g 'daemon off;' >"$N/logs/stdout" 2>&1 &
tl_remember $!
tl_wait_tcp "$PORT" || tl_fail "nginx does not answer: $(cat "$N/logs/error.log")"
U=http://127.0.0.1:$PORT
check "app" 200 "$U/"; body_is "app" hello
grep -i '^server:' "$T/hdr" | grep -q '[0-9]' && tl_fail "Server header shows the version: $(grep -i '^server:' "$T/hdr")"
check "static" 200 "$U/static/site.css"; body_has "static" "color: red"
hdr_has "static cache" "Cache-Control: public"
check "ping from localhost" 200 "$U/ping"; body_is "ping" pong
check "status from localhost" 200 "$U/status"
check "metrics from localhost" 200 "$U/metrics"; body_has "metrics" "tasklist_http_requests_total"
check "favicon" 200 "$U/favicon.ico"; body_is "favicon" ICON
check "ping from another address" 403 --interface 127.0.0.2 "http://127.0.0.2:$PORT/ping"
check "status from another address" 403 --interface 127.0.0.2 "http://127.0.0.2:$PORT/status"
check "metrics from another address" 403 --interface 127.0.0.2 "http://127.0.0.2:$PORT/metrics"
check "app from another address" 200 --interface 127.0.0.2 "http://127.0.0.2:$PORT/items/3"
check "cross-origin POST" 403 -H "Origin: http://evil.example" -d a=1 "$U/echo"
echo ok
