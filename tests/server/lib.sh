# tests/server/lib.sh - helpers for the server e2e scripts (sourced after
# tests/lib/servers.sh): start pool_app, wait for it, check HTTP answers.
APP=${TL_BUILD}/tests/server/pool_app
[ -x "$APP" ] || APP=${POOL_APP:-$APP}

# srv_start NAME ARGS... : pool_app serve in $T (no stray conf/ or .env),
# log in $T/NAME.log, pid in SRV_PID.
srv_start() {
  local name=$1; shift
  (cd "$T" && exec "$APP" serve --set server.debug=true --set "server.log_file=$T/$name.log" "$@") &
  SRV_PID=$!
  tl_remember "$SRV_PID"
}

# check NAME WANT_STATUS CURL_ARGS... : body in $T/body, headers in $T/hdr
check() {
  local name=$1 want=$2 got; shift 2
  got=$(curl -s -o "$T/body" -D "$T/hdr" -w '%{http_code}' "$@")
  [ "$got" = "$want" ] || tl_fail "$name: status $got, want $want (curl $*); body: $(head -c 300 "$T/body")"
}
body_is() { [ "$(cat "$T/body")" = "$2" ] || tl_fail "$1: body \"$(head -c 300 "$T/body")\", want \"$2\""; }
body_has() { grep -q -- "$2" "$T/body" || tl_fail "$1: body lacks \"$2\": $(head -c 300 "$T/body")"; }
hdr_has() { grep -qi -- "$2" "$T/hdr" || tl_fail "$1: headers lack \"$2\": $(cat "$T/hdr")"; }

# Worker pids from the status endpoint (URL), current generation only when $2 = current.
worker_pids() {
  curl -s "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(" ".join(str(w["pid"]) for w in d["workers"] if w["state"] in ("idle","busy")))'
}

# local_nginx UPSTREAM : nginx from nginx/local.conf.in on a free port, the
# way scripts/run-local.sh uses it. Sets NGINX_PORT.
local_nginx() {
  local p=$T/lnginx
  NGINX_PORT=$(tl_free_port)
  mkdir -p "$p/tmp"
  sed -e "s#@PREFIX@#$p#g" -e "s#@LISTEN@#127.0.0.1:$NGINX_PORT#g" \
      -e "s#@STATIC_DIR@#$TL_SRC/static/#g" -e "s#@UPSTREAM@#$1#g" \
      "$TL_SRC/nginx/local.conf.in" >"$p/nginx.conf"
  grep -q @ "$p/nginx.conf" && tl_fail "unsubstituted placeholder in local.conf.in"
  nginx -t -p "$p" -c "$p/nginx.conf" >"$p/t.out" 2>&1 || tl_fail "nginx -t local.conf: $(cat "$p/t.out")"
  nginx -p "$p" -c "$p/nginx.conf" -g 'daemon off;' >"$p/stdout" 2>&1 &
  tl_remember $!
  tl_wait_tcp "$NGINX_PORT" || tl_fail "local nginx does not answer: $(cat "$p/error.log")"
}

# wait_gone PID : up to 5 s
wait_gone() { local i; for i in $(seq 50); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
