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
