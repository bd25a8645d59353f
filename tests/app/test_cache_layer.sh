#!/bin/bash
# Run test_cache_layer against a real memcached started for it.
. "$(dirname "$0")/../lib/servers.sh"
tl_init cache-layer
port=$(tl_free_port)
tl_start_memcached "$port"
TL_TEST_MEMCACHED=127.0.0.1:$port "$1"
