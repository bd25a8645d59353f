#!/bin/bash
# tests/cache/test_mock_sh.sh - the shell helpers of mock.sh work as documented:
# mock_start, mock_ctl, mock_stat, with the cache client as the client.
# usage: test_mock_sh.sh PATH_TO_mock_memcached PATH_TO_cache_cli_main
set -u
. "${TL_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/servers.sh"
MOCK_BIN=$1 CLI=$2
tl_init mock-sh
. "$TL_SRC/tests/cache/mock.sh"
mock_start --user mcuser --pass mcpass || tl_fail "mock_start"
[ -n "$MOCK_PORT" ] && [ -n "$MOCK_CONTROL" ] || tl_fail "MOCK_PORT/MOCK_CONTROL not set"
export CACHE_SERVERS=127.0.0.1:$MOCK_PORT CACHE_USER=mcuser CACHE_PASS=mcpass
out=$("$CLI" setget 3 2>&1) || tl_fail "setget through the mock: $out"
[ "$(mock_stat op_set)" = 3 ] || tl_fail "op_set = $(mock_stat op_set)"
[ "$(mock_stat op_getk)" = 3 ] || tl_fail "op_getk = $(mock_stat op_getk)"
[ "$(mock_ctl keys | sort | tr '\n' ' ')" = "tasklist:k0 tasklist:k1 tasklist:k2 " ] || tl_fail "keys: $(mock_ctl keys)"
mock_ctl item tasklist:k0 | grep -q "^VALUE 5 0 300$" || tl_fail "item: $(mock_ctl item tasklist:k0)"
mock_ctl reset >/dev/null
[ "$(mock_stat round_trips)" = 0 ] || tl_fail "reset"
mock_ctl fault refuse_auth >/dev/null
[ "$(mock_ctl stats | awk '$1 == "fault" { print $2 }')" = refuse_auth ] || tl_fail "fault not set"
out=$("$CLI" setget 1 2>"$T/log")
case $out in "ok 0 errors 1"*) ;; *) tl_fail "refuse_auth: $out" ;; esac
grep -q 'authentication failed for user "mcuser"' "$T/log" || tl_fail "no auth message: $(cat "$T/log")"
mock_ctl flush >/dev/null
[ "$(mock_stat curr_items)" = 0 ] || tl_fail "flush"
mock_stat no_such_counter >/dev/null && tl_fail "unknown counter should fail"
echo ok
