# tests/e2e/app_lib.sh - start the real tasklist pool behind real nginx for an end-to-end test.
# Source after tests/lib/servers.sh and tl_init. Functions:
#   app_memcached               a real SASL memcached (mcuser/mcpass) on a free port MCPORT, and the
#                               MEMCACHIER_* variables that point the app at it
#   mc_stat                     that server's memcstat output
#   app_start [serve args...]   db upgrade, serve on $T/app.sock, nginx in front (on $APP_NGINX_PORT when
#                               set, else a free port); sets U (base URL)
#   post ARGS...                curl POST with a same-origin Origin header; prints the status, body in $T/body
#   page                        GET / body
#   code URL [curl args]        status code only
export SECRET_KEY=${SECRET_KEY:-e2e-secret-key-0123456789abcdef}

app_memcached() {
  MCPORT=$(tl_free_port)
  tl_start_sasl_memcached "$MCPORT" mcuser mcpass
  export MEMCACHIER_SERVERS=127.0.0.1:$MCPORT MEMCACHIER_USERNAME=mcuser MEMCACHIER_PASSWORD=mcpass
}
mc_stat() { memcstat --binary --servers=127.0.0.1:$MCPORT --username=mcuser --password=mcpass; }
app_start() {
  [ -x "$TL_BIN" ] || tl_fail "no tasklist binary at $TL_BIN"
  "$TL_BIN" db upgrade --migrations "$TL_SRC/migrations" >"$T/upgrade.log" 2>&1 || tl_fail "db upgrade failed: $(tail -3 "$T/upgrade.log")"
  "$TL_BIN" serve --listen "unix:$T/app.sock" --workers "${WORKERS:-2}" --templates "$TL_SRC/templates" "$@" \
    >"$T/app.log" 2>&1 &
  APP_PID=$!
  tl_remember "$APP_PID"
  tl_wait_socket "$T/app.sock" || tl_fail "tasklist did not start: $(tail -5 "$T/app.log")"
  tl_start_nginx "$T/app.sock" ${APP_NGINX_PORT:-}
  U="http://127.0.0.1:$NGINX_PORT"
}
post() { curl -s -o "$T/body" -w '%{http_code}' -H "Origin: $U" "$@"; }
page() { curl -s "$U/"; }
code() { local url=$1; shift; curl -s -o /dev/null -w '%{http_code}' "$@" "$url"; }
