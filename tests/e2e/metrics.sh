#!/bin/bash
# tests/e2e/metrics.sh - GET /metrics through real nginx, the pool (2 workers) and a real SASL
# memcached: it parses with python3-prometheus-client (Debian's), its counters move as requests are
# made and sum over every worker (requests by route and status, the latency histogram, hits of the
# same-host tier, misses and round trips of memcached, the breaker gauge when memcached dies, workers
# recycled by max_requests). (monitor_allow: server_allow and server_e2e_nginx_conf.)
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/app_lib.sh"
tl_init metrics
PY=/usr/bin/python3
"$PY" -c 'import prometheus_client' 2>/dev/null || tl_skip_or_fail "python3-prometheus-client not installed"
app_memcached
export DATABASE_URL="sqlite:///$T/db/tasks.sqlite" TASKLIST_SERVER_METRICS_PATH=/metrics \
  TASKLIST_SERVER_MAX_REQUESTS=7 TASKLIST_CACHE_RETRY_TIMEOUT_S=30
app_start
snap() { curl -s -o "$T/$1.txt" -w '%{http_code}' "$U/metrics" | grep -qx 200 || tl_fail "GET /metrics did not answer 200"; }
# value NAME LABEL=VALUE...: a sample's value in snapshot $S (sum over the unnamed labels)
value() {
  "$PY" - "$T/$S.txt" "$@" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families as parse
want = dict(a.split("=", 1) for a in sys.argv[3:])
try:
    fams = list(parse(open(sys.argv[1]).read()))
except Exception as e:
    sys.exit(f"does not parse: {e}")
print(int(sum(s.value for f in fams for s in f.samples
              if s.name == sys.argv[2] and all(s.labels.get(k) == v for k, v in want.items()))))
PY
}
snap m0
S=m0; v=$(value tasklist_http_requests_total) || tl_fail "/metrics: $v"
post --data "name=one" "$U/" >/dev/null
for _ in $(seq 20); do curl -s -o /dev/null "$U/"; done     # 20 GETs over 2 workers and recycled ones
curl -s -o /dev/null "$U/nope"
snap m1
S=m0; a=$(value tasklist_http_requests_total route=task_list.index status=200)
S=m1; b=$(value tasklist_http_requests_total route=task_list.index status=200)
[ $((b - a)) = 20 ] || tl_fail "GET / 200 moved by $((b - a)), want 20 (summed over workers)"
S=m1; [ "$(value tasklist_http_requests_total route=task_list.index status=303)" = 1 ] || tl_fail "POST / 303 not counted once"
[ "$(value tasklist_http_requests_total route=none status=404)" = 1 ] || tl_fail "404 not counted under route none"
[ "$(value tasklist_http_requests_total route=metrics status=200)" -ge 1 ] || tl_fail "/metrics not counted"
n=$(value tasklist_http_request_duration_seconds_count); b=$(value tasklist_http_request_duration_seconds_bucket le=+Inf)
[ "$n" -ge 23 ] && [ "$n" = "$b" ] || tl_fail "histogram count $n, +Inf bucket $b"
# the same-host tier answers the warm GETs; memcached saw the cold ones
lh=$(value tasklist_cache_hits_total tier=local)
m=$(value tasklist_cache_misses_total tier=memcached); rt=$(value tasklist_cache_round_trips_total tier=memcached)
[ "$lh" -ge 15 ] && [ "$m" -ge 1 ] && [ "$rt" -ge 1 ] ||
  tl_fail "cache counters: local hits $lh, memcached misses $m, round trips $rt"
[ "$(value tasklist_workers_recycled_total)" -ge 2 ] || tl_fail "max_requests = 7 over 23 requests recycled $(value tasklist_workers_recycled_total) workers"
[ "$(value tasklist_cache_breaker_open tier=memcached)" = 0 ] || tl_fail "breaker open while memcached runs"
[ "$(value tasklist_db_errors_total)" = 0 ] || tl_fail "database errors counted"
[ "$(value tasklist_workers state=busy)" -ge 1 ] || tl_fail "the worker serving /metrics is not busy"
# memcached gone: the breaker opens in the workers that tried it (a flash stored in a session)
kill "$(cat "$T/mc$MCPORT/pid")"
for i in $(seq 6); do post --data "name=down$i" "$U/" >/dev/null; done   # the flash's session write fails
snap m2
S=m2; [ "$(value tasklist_cache_breaker_open tier=memcached)" -ge 1 ] || tl_fail "breaker gauge still 0 with memcached dead"
echo "metrics: parses; requests by route/status, histogram, cache tier, breaker, recycling counted over all workers"
