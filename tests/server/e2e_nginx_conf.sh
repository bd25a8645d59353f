#!/bin/bash
# e2e_nginx_conf: the HTTPS production site nginx/tasklist-https.conf.in, with its
# paths, ports and certificate substituted (a self-signed one), passes
# `nginx -t` and serves: the app over HTTPS through the unix socket with HSTS,
# HTTP redirected to HTTPS, /static/ and /favicon.ico from disk, /ping, /status
# and /metrics to 127.0.0.1 only (403 from another address), unknown hosts closed (444, and
# the TLS handshake refused), no version in Server, unsafe methods
# rate-limited per client (429) while GETs are not.
source "${TL_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/servers.sh"
source "$TL_SRC/tests/server/lib.sh"
tl_init server-nginxconf
tl_need nginx curl openssl
SOCK=$T/app.sock
N=$T/prod
mkdir -p "$N/conf" "$N/logs" "$N/tmp" "$T/share/static"
echo "body { color: red }" >"$T/share/static/site.css"
printf 'ICON' >"$T/share/static/favicon.ico"
cp /etc/nginx/fastcgi_params /etc/nginx/mime.types "$N/conf/"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=tasks.example.com \
  -keyout "$N/conf/key.pem" -out "$N/conf/cert.pem" >/dev/null 2>&1 || tl_fail "openssl cannot make a certificate"
PORT=$(tl_free_port) SPORT=$(tl_free_port)
sed -e "s#unix:@RUNDIR@/tasklist.sock#unix:$SOCK#" -e "s#@DATADIR@#$T/share#" \
    -e "s#/etc/letsencrypt/live/tasks.example.com/fullchain.pem#$N/conf/cert.pem#" \
    -e "s#/etc/letsencrypt/live/tasks.example.com/privkey.pem#$N/conf/key.pem#" \
    -e "s#listen 80\( default_server\)\?;#listen 127.0.0.1:$PORT\1; listen 127.0.0.2:$PORT\1;#" \
    -e "s#listen 443 ssl\( default_server\| http2\)\?;#listen 127.0.0.1:$SPORT ssl\1;#" \
    -e "/listen \[::\]/d" \
    "$TL_SRC/nginx/tasklist-https.conf.in" >"$N/conf/tasklist.conf"
grep -q "listen 80\|listen 443\|letsencrypt\|@" "$N/conf/tasklist.conf" && tl_fail "unsubstituted: $(grep -n 'listen 80\|listen 443\|letsencrypt\|@' "$N/conf/tasklist.conf")"
{ tl_nginx_head "$N" root 4096 "worker_rlimit_nofile 8192;"; cat <<NGX
    include mime.types;
    include tasklist.conf;
}
NGX
} >"$N/conf/nginx.conf"
nginx -t -p "$N" -c conf/nginx.conf >"$T/t.out" 2>&1 || tl_fail "nginx -t: $(cat "$T/t.out")"
srv_start app --set "server.listen=unix:$SOCK" --set server.socket_mode=0660 --set server.workers=2 \
  --set server.ping_path=/ping --set server.status_path=/status --set server.metrics_path=/metrics \
  --set "server.public_origin=https://tasks.example.com:$SPORT"
tl_wait_socket "$SOCK" || tl_fail "pool does not listen: $(cat "$T/app.log")"
nginx -p "$N" -c conf/nginx.conf -g 'daemon off;' >"$N/logs/stdout" 2>&1 &
tl_remember $!
tl_wait_tcp "$PORT" || tl_fail "nginx does not answer: $(cat "$N/logs/error.log")"
H=tasks.example.com
S=(-k --resolve "$H:$SPORT:127.0.0.1")
U=https://$H:$SPORT
check "app over HTTPS" 200 "${S[@]}" "$U/"; body_is "app" hello
hdr_has "HSTS" "Strict-Transport-Security: max-age=63072000; includeSubDomains"
grep -i '^server:' "$T/hdr" | grep -q '[0-9]' && tl_fail "Server header shows the version: $(grep -i '^server:' "$T/hdr")"
check "static" 200 "${S[@]}" "$U/static/site.css"; body_has "static" "color: red"
hdr_has "static cache" "Cache-Control: public"
hdr_has "static HSTS" "Strict-Transport-Security: "
check "HTTP redirects" 301 -H "Host: $H" "http://127.0.0.1:$PORT/x?y=1"
hdr_has "HTTP redirects to HTTPS" "Location: https://$H/x?y=1"
check "ping from localhost over HTTP" 200 -H "Host: $H" "http://127.0.0.1:$PORT/ping"; body_is "ping" pong
check "ping from localhost" 200 "${S[@]}" "$U/ping"; body_is "ping" pong
check "status from localhost" 200 "${S[@]}" "$U/status"
check "metrics from localhost" 200 "${S[@]}" "$U/metrics"; body_has "metrics" "tasklist_http_requests_total"
check "favicon" 200 "${S[@]}" "$U/favicon.ico"; body_is "favicon" ICON
check "ping from another address" 403 -H "Host: $H" --interface 127.0.0.2 "http://127.0.0.2:$PORT/ping"
check "app from another address" 301 -H "Host: $H" --interface 127.0.0.2 "http://127.0.0.2:$PORT/items/3"
check "cross-origin POST" 403 "${S[@]}" -H "Origin: http://evil.example" -d a=1 "$U/echo"
check "same-origin POST" 200 "${S[@]}" -H "Origin: $U" -d a=1 "$U/echo"
# unknown hosts: no answer at all over HTTP, no handshake over TLS
check "unknown host over HTTP" 000 -H "Host: evil.example" "http://127.0.0.1:$PORT/"
check "by IP over HTTP" 000 "http://127.0.0.1:$PORT/"
check "unknown host over TLS" 000 -k --resolve "evil.example:$SPORT:127.0.0.1" "https://evil.example:$SPORT/"
# rate limit: 40 quick POSTs from one address -> 429s after the burst; GETs unaffected
for i in $(seq 40); do printf "url = \"%s\"\noutput = \"/dev/null\"\n" "$U/echo"; done >"$T/posts.curl"
codes=$(curl -s "${S[@]}" -o /dev/null -w '%{http_code}\n' -H "Origin: $U" -d a=1 -K "$T/posts.curl" | sort | uniq -c | tr '\n' ' ')
echo "$codes" | grep -q ' 429' || tl_fail "40 quick POSTs were never limited: $codes"
echo "$codes" | grep -q ' 200' || tl_fail "40 quick POSTs: none served: $codes"
for i in $(seq 40); do printf "url = \"%s\"\noutput = \"/dev/null\"\n" "$U/"; done >"$T/gets.curl"
codes=$(curl -s "${S[@]}" -o /dev/null -w '%{http_code}\n' -K "$T/gets.curl" | sort | uniq -c | tr '\n' ' ')
[ "$(echo $codes)" = "40 200" ] || tl_fail "40 quick GETs: $codes, want all 200"
echo ok
