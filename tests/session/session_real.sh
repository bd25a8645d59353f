#!/bin/bash
# tests/session/session_real.sh - test_session_server against a real SASL
# memcached (memcached -S, PLAIN): persistence across a worker restart, two
# pools sharing sessions, traffic counted by the client.
# Usage: session_real.sh PATH_TO_test_session_server
. "$(dirname "$0")/../lib/servers.sh"
tl_init session-real
port=$(tl_free_port)
command -v memcached >/dev/null && command -v saslpasswd2 >/dev/null ||
  tl_skip_or_fail "memcached or saslpasswd2 not installed"
tl_start_sasl_memcached "$port" sessuser sesspass
"$1" real "$port" sessuser sesspass || tl_fail "test_session_server against SASL memcached on $port"
