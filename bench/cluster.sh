#!/bin/bash
# bench/cluster.sh - what the cluster topology costs on one machine: cached and uncached GET / and
# POST / through scripts/run-cluster.sh (3 Galera nodes, 3 SASL memcached, 2 pools x 2 workers,
# nginx balancing) against one host (one MariaDB, one SASL memcached, one pool of 4 workers,
# nginx); the cost of a causal read (bench_causal); and the write rate against certification
# (POST / with 1, 4 and 16 concurrent writers). Figures, not a test: on a 2-core machine the
# cluster's 3 database servers share the cores with everything else, so the figures show
# overheads, never capacity.
# Environment: TL_BUILD (a build folder with tasklist and bench/bench_causal; default: a release
# build in /tmp/tl-bench-cluster/build), DURATION (5 s per wrk run), CONNS (32), N (20 tasks),
# ONLY (all | one | cluster: which topologies).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
W=/tmp/tl-bench-cluster
DURATION=${DURATION:-5}
CONNS=${CONNS:-32}
N=${N:-20}
BUILD=${TL_BUILD:-$W/build}
mkdir -p "$W"
if [ ! -x "$BUILD/tasklist" ]; then
  [ -f "$BUILD/build.ninja" ] || meson setup "$BUILD" -Dbuildtype=release -Doptimization=2 >/dev/null
  meson compile -C "$BUILD" >/dev/null
fi
BUILD=$(cd "$BUILD" && pwd)
export TL_BIN=$BUILD/tasklist TL_SOURCE_ROOT=$ROOT
OUT=$W/results.md
: >"$OUT"

# One wrk run: prints "req/s p50 p99 non2xx"
wrk_row() { # URL [lua]
  local lua=()
  [ -n "${2:-}" ] && lua=(-s "$2")
  local t=2; [ "$CONNS" -lt 2 ] && t=1
  wrk -t1 -c1 -d1s "$1" "${lua[@]}" >/dev/null 2>&1 || true     # warm-up
  { wrk -t$t -c"$CONNS" -d"${DURATION}s" --latency "$1" "${lua[@]}" 2>&1 || true; } | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    /Non-2xx or 3xx/ { bad = $5 }
    /Socket errors/ { bad += 0 }
    END { printf "%s %s %s %d\n", rps, p50, p99, bad }'
}
row() { # topology what URL [lua]
  local r; r=$(wrk_row "$3" "${4:-}")
  set -- "$1" "$2" $r
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$5" "$6" | tee -a "$OUT"
}
seed() { # URL
  local i
  for i in $(seq "$N"); do
    curl -fsS -o /dev/null -H "Origin: ${1%/}" --data-urlencode "name=seed $i" "$1" || true
  done
}

printf '| topology | request | req/s | p50 | p99 | non-2xx/3xx |\n|---|---|---:|---:|---:|---:|\n' | tee -a "$OUT"

# ---- the cluster, with memcached and without ----------------------------------------------------
cluster_run() { # cache(on|off)
  local port base log=$W/cluster.log
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  base=${TL_CLUSTER_PORT:-27100}
  TL_SKIP_DEPS=1 TL_BUILD=$BUILD TL_INSTANCE=$W/cluster TL_CLUSTER_PORT=$base TL_PORT=$port \
    TL_CLUSTER_CACHE=$1 setsid scripts/run-cluster.sh >"$log" 2>&1 &
  local cpid=$!
  for _ in $(seq 1800); do grep -q "running on" "$log" && break; kill -0 $cpid 2>/dev/null || break; sleep 0.1; done
  grep -q "running on" "$log" || { cat "$log"; kill -TERM $cpid; exit 1; }
  local url=http://127.0.0.1:$port/
  export BENCH_ORIGIN=${url%/}
  seed "$url"
  if [ "$1" = on ]; then
    row "cluster (2 pools, 3 Galera, 3 memcached)" "GET / cached" "$url"
    row "cluster" "POST / + 303 (cache on)" "$url" bench/post.lua
    # the cost of a causal read, idle and under writes, on node 1
    local curl_="mysql://tl:tlpass@127.0.0.1:$((base + 1))/task_list"
    echo "causal read, node 1, idle:" | tee -a "$OUT"
    "$BUILD/bench/bench_causal" "$curl_" 3000 | sed 's/^/    /' | tee -a "$OUT"
    echo "causal read, node 1, while wrk POSTs through the pools (-c4):" | tee -a "$OUT"
    wrk -t1 -c4 -d6s "$url" -s bench/post.lua >/dev/null 2>&1 &
    local wpid=$!
    sleep 0.5
    "$BUILD/bench/bench_causal" "$curl_" 3000 | sed 's/^/    /' | tee -a "$OUT"
    wait $wpid || true
    # write rate against certification: every write moves the one version row
    local c
    for c in 1 4 16; do
      CONNS=$c row "cluster" "POST / + 303, $c writers" "$url" bench/post.lua
    done
  else
    row "cluster" "GET / uncached (no memcached)" "$url"
    row "cluster" "POST / + 303 (no memcached)" "$url" bench/post.lua
  fi
  kill -TERM $cpid
  for _ in $(seq 300); do kill -0 $cpid 2>/dev/null || break; sleep 0.1; done
}

# ---- one host: one MariaDB, one memcached, one pool of 4 workers --------------------------------
one_host_run() { # cache(on|off)
  (
    set +e    # tests/lib/servers.sh is written for scripts without -e (its cleanup kills what may be gone)
    . tests/lib/servers.sh
    tl_init bench-one
    tl_start_mariadb
    local mcport sock=$T/tl.sock
    mcport=$(tl_free_port)
    tl_start_sasl_memcached "$mcport" tasklist benchpass
    export DATABASE_URL=$TL_MARIADB_URL SECRET_KEY=0123456789abcdef0123456789abcdef
    export MEMCACHIER_SERVERS=127.0.0.1:$mcport MEMCACHIER_USERNAME=tasklist MEMCACHIER_PASSWORD=benchpass
    [ "$1" = off ] && export MEMCACHIER_SERVERS=
    "$TL_BIN" db upgrade >/dev/null
    TASKLIST_SERVER_LOG_FILE=$T/tl.log "$TL_BIN" serve --listen "unix:$sock" --workers 4 \
      --templates "$ROOT/templates" &
    tl_remember $!
    tl_wait_socket "$sock" || tl_fail "pool did not start"
    tl_start_nginx "$sock"
    local url=http://127.0.0.1:$NGINX_PORT/
    export BENCH_ORIGIN=${url%/}
    seed "$url"
    if [ "$1" = on ]; then
      row "one host (1 pool, 1 MariaDB, 1 memcached)" "GET / cached" "$url"
      row "one host" "POST / + 303 (cache on)" "$url" bench/post.lua
      local c
      for c in 1 4 16; do
        CONNS=$c row "one host" "POST / + 303, $c writers" "$url" bench/post.lua
      done
    else
      row "one host" "GET / uncached (no memcached)" "$url"
      row "one host" "POST / + 303 (no memcached)" "$url" bench/post.lua
    fi
  )
}

case "${ONLY:-all}" in
  all) one_host_run on; one_host_run off; cluster_run on; cluster_run off ;;
  one) one_host_run on; one_host_run off ;;
  cluster) cluster_run on; cluster_run off ;;
esac
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, wrk -t2 -c$CONNS, ${DURATION} s per row, N=$N seeded tasks" | tee -a "$OUT"
echo "table in $OUT"
