# tests/cache/mock.sh - shell helpers around mock_memcached (source it).
# Functions:
#   mock_start [--user U --pass W] [--item-size N]
#                      start the mock on free ports; sets MOCK_PORT, MOCK_CONTROL,
#                      MOCK_PID (killed by tl_cleanup when servers.sh's tl_init ran)
#   mock_ctl CMD...    send one control command, print the reply lines (without END):
#                      stats | reset | flush | keys | item KEY |
#                      fault none|refuse_auth|hang|drop|delay MS
#   mock_stat NAME     print one counter from "stats" (e.g. op_getkq, round_trips)
# The mock binary: $MOCK_BIN, or the first argument meson passes as
# `mock_memcached` (tests/cache/meson.build), or $TL_BUILD_ROOT/tests/cache/mock_memcached.
MOCK_BIN=${MOCK_BIN:-${TL_BUILD_ROOT:-build}/tests/cache/mock_memcached}

mock_start() {
  local out=${T:-/tmp}/mock.$$.$RANDOM
  "$MOCK_BIN" --port 0 --control-port 0 "$@" >"$out" &
  MOCK_PID=$!
  command -v tl_remember >/dev/null 2>&1 && [ -n "${T:-}" ] && tl_remember "$MOCK_PID"
  local i line=""
  for i in $(seq 100); do
    read -r line <"$out" 2>/dev/null
    [ -n "$line" ] && break
    sleep 0.02
  done
  rm -f "$out"
  # "PORT n CONTROL m"
  set -- $line
  [ "${1:-}" = PORT ] || { echo "mock_memcached did not start" >&2; return 1; }
  MOCK_PORT=$2 MOCK_CONTROL=$4
  export MOCK_PORT MOCK_CONTROL MOCK_PID
}

mock_ctl() {
  local line
  exec 9<>"/dev/tcp/127.0.0.1/$MOCK_CONTROL" || return 1
  printf '%s\n' "$*" >&9
  while IFS= read -r line <&9; do
    [ "$line" = END ] && break
    printf '%s\n' "$line"
  done
  exec 9<&-
}

mock_stat() {
  mock_ctl stats | awk -v n="$1" '$1 == n { print $2; found = 1 } END { if (!found) exit 1 }'
}
