#!/bin/bash
# bench/run.sh - the benchmark: one command that sets everything up on this machine, measures, and
# prints a Markdown table. A measurement, not a test: it prints figures and never fails on a number.
#
# Owns: the benchmark method (see docs/bench.md). Everything it starts runs as a plain process under
# /tmp/tl-bench on ports 26000-26999 and is stopped on exit (trap), also on Ctrl-C.
#   - a release build (-O2) of tasklist in /tmp/tl-bench/build (or TL_BIN=/path/to/tasklist)
#   - the yardsticks bench/fcgi_hello.c and bench/fcgi_hello_mc.c, built with gcc + pkg-config
#   - a real SASL memcached (binary protocol, PLAIN), nginx with Debian's stock fastcgi_params,
#     SQLite databases seeded with N tasks
#   - wrk -t2 -cCONNS for DURATION seconds per row, REPEAT times, rows interleaved; medians printed
# Only one FastCGI pool runs at a time (started, warmed up, measured, stopped per row and repeat),
# so the proportional set size (PSS) of a pool is not diluted by another pool of the same binary.
#
# Environment: W (workers, 4), N (tasks; a list runs the table for each: N="20 1000"; default 20),
#   DURATION (seconds per wrk run, 5), REPEAT (3), WARMUP (seconds, 1), CONNS (64), THREADS (2),
#   TL_BIN (use this tasklist binary instead of building), ROWS (subset, e.g. ROWS="1 2 2b 3"),
#   BENCH_PAGE_SIZE (tasks per page, [app] page_size; default the app's 50),
#   TL_BIN_BASE (a tasklist binary of another commit, e.g. the one before a change: adds row 3base,
#   row 3 served by that binary with its own migrations, interleaved with the others; its build must
#   still exist, since its migrations folder is the one compiled into it),
#   PROFILE=1 (perf record -a during each measured run; PROFILE=dwarf adds call graphs; reports in
#   bench/out/profile/; the figures of a profiled run are disturbed by perf: do not publish them).
# Output: the table on stdout, and bench/out/results.md, results.csv, chart.png (gnuplot).
#   BENCH_DOCS=1 also writes the table into docs/bench.md (between its results markers) and the
#   chart to docs/bench-chart.png.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
W=${W:-4}
NS=${N:-20}
DURATION=${DURATION:-5}
REPEAT=${REPEAT:-3}
WARMUP=${WARMUP:-1}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
ROWS=${ROWS:-"1 2 2b 3 3m 4 5 6 7"}
B=/tmp/tl-bench
RUN=$B/run
OUT=$ROOT/bench/out
MC_USER=bench
MC_PASS=bench-$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

say() { echo "bench: $*" >&2; }
die() { say "$*"; exit 1; }

for c in wrk nginx memcached saslpasswd2 gcc pkg-config curl python3 sqlite3; do
  command -v "$c" >/dev/null 2>&1 || die "$c is not installed (scripts/deps.sh installs the Debian packages)"
done

# ---- process bookkeeping: every pid we start, killed by pid on exit --------------------------------
PIDS=()
stop_pid() { # PID: TERM, wait up to 5 s, then KILL
  local p=$1 i
  kill "$p" 2>/dev/null || return 0
  for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null
  wait "$p" 2>/dev/null
  return 0
}
cleanup() {
  trap - EXIT INT TERM
  local p
  for p in "${PIDS[@]}"; do stop_pid "$p"; done
}
trap cleanup EXIT
trap 'say interrupted; exit 130' INT TERM

port_free() { python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1",int(sys.argv[1]))); s.close()' "$1" 2>/dev/null; }
next_port=26000
pick_port() { # VAR: set VAR to a free port in 26000-26999 (not in a subshell: next_port advances)
  while [ $next_port -lt 26999 ]; do
    next_port=$((next_port + 1))
    port_free $next_port && { printf -v "$1" '%s' $next_port; return 0; }
  done
  die "no free port in 26000-26999"
}
wait_unix() { # PATH
  local i
  for i in $(seq 100); do
    [ -S "$1" ] && python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
wait_tcp() { # PORT
  local i
  for i in $(seq 100); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2).close()' "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

rm -rf "$RUN"
mkdir -p "$RUN"/{logs,wrk,db,static,bin} "$OUT" "$B"
AS_ROOT=0; [ "$(id -u)" = 0 ] && AS_ROOT=1

# ---- build ---------------------------------------------------------------------------------------
say "building the yardsticks (gcc -O2)"
for p in fcgi_hello fcgi_hello_mc; do
  # shellcheck disable=SC2046
  gcc -O2 -std=c17 -D_GNU_SOURCE -Wall -Wextra -o "$RUN/bin/$p" "$ROOT/bench/$p.c" \
    $(pkg-config --cflags --libs fcgi libmemcached) || die "cannot build bench/$p.c"
done

TL=${TL_BIN:-}
BENCH_TEMPLATE=""
if [ -z "$TL" ]; then
  say "building tasklist (release, -O2) in $B/build"
  if [ ! -f "$B/build/build.ninja" ]; then
    rm -rf "$B/build"
    (cd "$ROOT" && meson setup "$B/build" -Dbuildtype=release -Doptimization=2 -Db_ndebug=true) \
      >"$RUN/logs/meson-setup.log" 2>&1 || say "meson setup failed (see $RUN/logs/meson-setup.log)"
  fi
  if meson compile -C "$B/build" tasklist >"$RUN/logs/meson-compile.log" 2>&1; then
    TL=$B/build/tasklist
  else
    say "tasklist does not build yet: rows 3-7 are skipped (see $RUN/logs/meson-compile.log)"
  fi
  # the template engineer's render benchmark, when it exists
  if meson compile -C "$B/build" bench_template >>"$RUN/logs/meson-compile.log" 2>&1; then
    BENCH_TEMPLATE=$(find "$B/build/bench" -maxdepth 1 -name bench_template -type f -perm -u+x | head -1)
  fi
fi
[ -n "$TL" ] && [ ! -x "$TL" ] && die "TL_BIN=$TL is not executable"

# ---- servers that stay up for the whole run: memcached (SASL) and nginx ---------------------------
pick_port MC_PORT
MCD=$RUN/memcached; mkdir -p "$MCD"
printf '%s' "$MC_PASS" | saslpasswd2 -p -a memcached -c -f "$MCD/sasldb2" "$MC_USER"
printf 'mech_list: plain\nsasldb_path: %s/sasldb2\n' "$MCD" >"$MCD/memcached.conf"
MCU=(); [ $AS_ROOT = 1 ] && MCU=(-u root)
SASL_CONF_PATH=$MCD memcached -S "${MCU[@]}" -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 512 >"$RUN/logs/memcached.log" 2>&1 &
MC_PID=$!; PIDS+=("$MC_PID")
wait_tcp "$MC_PORT" || die "memcached does not answer on $MC_PORT"

pick_port NG_STATIC
pick_port NG_APP
SOCK=$RUN/app.sock
NGD=$RUN/nginx; mkdir -p "$NGD/conf" "$NGD/logs" "$NGD/tmp"
NGUSER=""; [ $AS_ROOT = 1 ] && NGUSER="user root;"
# The same shape as the project's nginx/ config: one worker, stock fastcgi_params, no upstream
# keep-alive (libfcgi serves one connection at a time per worker), access log off for measuring.
cat >"$NGD/conf/nginx.conf" <<NGX
$NGUSER
worker_processes 1;
pid $NGD/logs/nginx.pid;
error_log $NGD/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $NGD/tmp/body;
    fastcgi_temp_path     $NGD/tmp/fastcgi;
    proxy_temp_path       $NGD/tmp/proxy;
    scgi_temp_path        $NGD/tmp/scgi;
    uwsgi_temp_path       $NGD/tmp/uwsgi;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    server {                           # row 1: the rendered page as a static file
        listen 127.0.0.1:$NG_STATIC;
        root $RUN/static;
        location = /page.html { }
    }
    server {                           # rows 2-7: whatever FastCGI pool is running on app.sock
        listen 127.0.0.1:$NG_APP;
        location /static/ { alias $ROOT/static/; }
        location / {
            fastcgi_pass unix:$SOCK;
            include /etc/nginx/fastcgi_params;
        }
    }
}
NGX
nginx -p "$NGD" -c conf/nginx.conf -g 'daemon off;' >"$NGD/logs/stdout" 2>&1 &
NG_PID=$!; PIDS+=("$NG_PID")
wait_tcp "$NG_APP" || die "nginx does not start: $(tail -3 "$NGD/logs/error.log" "$NGD/logs/stdout" 2>/dev/null)"
APP_URL=http://127.0.0.1:$NG_APP
say "memcached :$MC_PORT (SASL), nginx :$NG_STATIC (static) :$NG_APP (FastCGI), W=$W, N=[$NS]"

# ---- FastCGI pools: one at a time on $SOCK -------------------------------------------------------
POOL_PID=""
POOL_KIND=""
pool_stop() {
  [ -n "$POOL_PID" ] || return 0
  stop_pid "$POOL_PID"
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" != "$POOL_PID" ] && keep+=("$p"); done
  PIDS=("${keep[@]}")
  POOL_PID=""
  rm -f "$SOCK"
}
# pool_start KIND [DB PREFIX CACHE DEBUG [BINARY]]: KIND hello | hello_mc | tasklist
pool_start() {
  local kind=$1 log=$RUN/logs/pool-$1-${4:-}-${5:-}.log
  pool_stop
  rm -f "$SOCK"
  case $kind in
    hello) "$RUN/bin/fcgi_hello" --listen "$SOCK" "$W" "$PAGE" >>"$log" 2>&1 & ;;
    hello_mc) MC_PORT=$MC_PORT MC_USER=$MC_USER MC_PASS=$MC_PASS \
        "$RUN/bin/fcgi_hello_mc" --listen "$SOCK" "$W" "$PAGE" >>"$log" 2>&1 & ;;
    tasklist)
      local db=$2 prefix=$3 cache=$4 debug=$5 bin=${6:-$TL} mc=()
      [ "$cache" = on ] && mc=(MEMCACHIER_SERVERS=127.0.0.1:$MC_PORT MEMCACHIER_USERNAME=$MC_USER
                               MEMCACHIER_PASSWORD=$MC_PASS)
      # run from $RUN: no conf/tasklist.ini or .env of the checkout is read, only what is set here
      (cd "$RUN" && exec env -u MEMCACHIER_SERVERS -u MEMCACHIER_USERNAME -u MEMCACHIER_PASSWORD \
        $(env | awk -F= '/^TASKLIST_/{print "-u " $1}') \
        DATABASE_URL="sqlite:///$db" SECRET_KEY="$SECRET" TASKLIST_CACHE_KEY_PREFIX="$prefix" \
        TASKLIST_SERVER_DEBUG="$debug" "${mc[@]}" ${POOL_EXTRA_ENV:-} \
        ${BENCH_PAGE_SIZE:+TASKLIST_APP_PAGE_SIZE=$BENCH_PAGE_SIZE} \
        "$bin" serve --listen "unix:$SOCK" --workers "$W" --templates "${7:-$ROOT/templates}") >>"$log" 2>&1 & ;;
  esac
  POOL_PID=$!; POOL_KIND=$kind; PIDS+=("$POOL_PID")
  wait_unix "$SOCK" || { say "pool $kind did not start: $(tail -3 "$log")"; pool_stop; return 1; }
  # a pool's workers may still be forking: wait until W children exist
  local i
  for i in $(seq 50); do [ "$(children "$POOL_PID" | wc -w)" -ge "$W" ] && break; sleep 0.05; done
  return 0
}
children() { ps -o pid= --ppid "$1" 2>/dev/null | tr -s ' \n' ' '; }
# csw PID -> context switches (voluntary + involuntary) of PID and its children so far
csw() {
  local p s=0
  for p in "$1" $(children "$1"); do
    s=$((s + $(awk '/ctxt_switches/{n += $2} END{print n+0}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo "$s"
}
# cpu_ns PID -> nanoseconds on a CPU of PID and its children so far (/proc/PID/schedstat, field 1):
# the pool's own CPU per request, a figure that a busy machine disturbs far less than req/s
cpu_ns() {
  local p s=0 v
  for p in "$1" $(children "$1"); do
    read -r v _ <"/proc/$p/schedstat" 2>/dev/null && s=$((s + v))
  done
  echo "$s"
}

# mem PID -> "pss_master rss_master pss_children_sum rss_children_sum n_children tier_rss" (KiB). PSS and
# RSS leave out the same-host tier's segment (memfd:tasklist-cache), whose resident size is the last
# field (the largest any one process maps: they all map the same pages).
mem_of() { # PID -> "pss rss tier_rss" from /proc/PID/smaps
  awk '/^[0-9a-f]+-[0-9a-f]+ /{tier = ($0 ~ /memfd:tasklist-cache/)}
       /^Pss:/{if (!tier) p += $2} /^Rss:/{if (tier) t += $2; else r += $2}
       END{print p+0, r+0, t+0}' "/proc/$1/smaps" 2>/dev/null
}
mem() {
  local m=$1 k pm rm tm ps=0 rs=0 n=0 p r t
  read -r pm rm tm < <(mem_of "$m")
  for k in $(children "$m"); do
    read -r p r t < <(mem_of "$k")
    ps=$((ps + ${p:-0})); rs=$((rs + ${r:-0})); n=$((n + 1))
    [ "${t:-0}" -gt "${tm:-0}" ] && tm=$t   # the pages any process touched (the master touches none)
  done
  echo "${pm:-0} ${rm:-0} $ps $rs $n ${tm:-0}"
}

# ---- wrk and its output --------------------------------------------------------------------------
to_ms() { # 1.23ms 456.00us 1.02s 2.00m -> milliseconds
  awk -v v="$1" 'BEGIN{ n=v+0; u=v; sub(/^[0-9.]+/, "", u);
    if (u=="us") n/=1000; else if (u=="s") n*=1000; else if (u=="m") n*=60000; printf "%.3f", n }'
}
# run_wrk FILE URL [wrk args] -> "rps p50ms p99ms errors requests"
run_wrk() {
  local f=$1 url=$2; shift 2
  wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "$@" "$url" >"$f" 2>&1
  local rps p50 p99 err req
  rps=$(awk '/^Requests\/sec:/{print $2}' "$f")
  p50=$(awk '$1=="50%"{print $2}' "$f"); p99=$(awk '$1=="99%"{print $2}' "$f")
  req=$(awk '/requests in/{print $1}' "$f")
  err=$(awk '/Non-2xx or 3xx responses:/{e+=$NF} /Socket errors:/{gsub(/,/,""); e+=$4+$6+$8+$10} END{print e+0}' "$f")
  echo "${rps:-0} $(to_ms "${p50:-0}") $(to_ms "${p99:-0}") ${err:-0} ${req:-0}"
}
warm() { [ "$WARMUP" -gt 0 ] && wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" "$@" >/dev/null 2>&1; return 0; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{ if (NR==0) print "-"; else if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }

# debug counters of one request: "db cache_rt" from X-Debug-Counters
counters() { # curl args...
  curl -s -o /dev/null -D - "$@" | tr -d '\r' |
    awk -F': ' 'tolower($1)=="x-debug-counters"{ split($2,a,"; "); sub("db=","",a[1]); sub("cache_rt=","",a[2]); print a[1], a[2] }'
}

# ---- the page: seeded databases, the rendered page -----------------------------------------------
seed_db() { # FILE N [BINARY]: schema by `tasklist db upgrade`, then N tasks
  local f=$1 n=$2 bin=${3:-$TL}
  rm -f "$f" "$f"-*
  (cd "$RUN" && DATABASE_URL="sqlite:///$f" "$bin" db upgrade --migrations "$ROOT/migrations") >>"$RUN/logs/db-upgrade.log" 2>&1 || return 1
  sqlite3 "$f" "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i<$n)
                INSERT INTO task(name) SELECT 'Task number ' || i FROM s;" || return 1
}
synthetic_page() { # N -> a page shaped like templates/task_list/index.html (when tasklist is not built)
  local n=$1 i
  {
    echo '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Task List - Task List</title></head><body>'
    echo '<div class="container"><section class="content"><header><h1 class="title">Task List</h1></header>'
    echo '<table class="table">'
    for i in $(seq "$n"); do
      printf '<tr>\n  <td>Task number %d</td>\n  <td class="actions">\n    <form action="/%d/delete" method="POST">\n      <button type="submit" class="btn btn-danger btn-sm">Delete</button>\n    </form>\n  </td>\n</tr>\n' "$i" "$i"
    done
    echo '</table></section></div></body></html>'
  }
}

declare -A RES MEMV CNT NOTE BYTES ROW_NAMES
ROW_NAMES=([1]="nginx static copy" [2]="libfcgi hello (ceiling)" [2b]="libfcgi hello + 1 memcached get"
  [3]="GET / view cache hit" [3m]="GET / view cache hit from memcached (same-host tier off: a cold host)" [3base]="GET / view cache hit, TL_BIN_BASE" [4]="GET / caching off (db + render)" [5]="GET / cold, fragments cached"
  [6]="POST / + 303 redirect" [7]="GET /api/tasks")

# profile_report DATA OUTPREFIX "PIDS": CPU share per process, and the symbols of the row's pool
profile_report() {
  local pids
  pids=$(echo $3 | tr ' ' ',')
  mkdir -p "$(dirname "$2")"
  perf report -i "$1" --stdio --no-children --sort comm,dso 2>/dev/null | grep -v '^$' | head -40 >"$2-processes.txt"
  perf report -i "$1" --stdio --no-children --pid "$pids" --sort dso,symbol 2>/dev/null | grep -v '^$' |
    head -${PROFILE_LINES:-120} >"$2-pool.txt"
  say "profile: $2-processes.txt, $2-pool.txt"
}

measure_n() { # N
  local n=$1 rep row r
  local DB=$RUN/db/main-$n.sqlite DBPOST0=$RUN/db/post-$n.sqlite
  PAGE=$RUN/static/page.html
  local have_tl=0
  if [ -n "$TL" ] && seed_db "$DB" "$n" && seed_db "$DBPOST0" "$n"; then have_tl=1; fi
  local DBBASE=$RUN/db/base-$n.sqlite have_base=0
  if [ -n "${TL_BIN_BASE:-}" ] && seed_db "$DBBASE" "$n" "$TL_BIN_BASE"; then have_base=1; fi
  [ -n "$TL" ] && [ $have_tl = 0 ] && say "cannot set up the database (see $RUN/logs/db-upgrade.log)"

  # The page: rendered by tasklist itself (caching off, so nothing is stored yet), else synthetic.
  if [ $have_tl = 1 ] && pool_start tasklist "$DB" "bench$n:" off false; then
    curl -s -o "$PAGE" "$APP_URL/"
    pool_stop
  fi
  [ -s "$PAGE" ] || { say "using a synthetic page (tasklist not available)"; synthetic_page "$n" >"$PAGE"; have_tl=0; }
  BYTES[$n]=$(stat -c %s "$PAGE")
  say "N=$n: page is ${BYTES[$n]} bytes"

  # Counters per request (debug pools: X-Debug-Counters), sampled with curl before the measurement.
  CNT[$n,1]="0 0"; CNT[$n,2]="0 0"; CNT[$n,2b]="0 1"
  if [ $have_tl = 1 ]; then
    if pool_start tasklist "$DB" "bench$n:" on true; then
      NOTE[$n,miss]=$(counters "$APP_URL/")                 # first GET: view miss, fragments cold
      counters "$APP_URL/" >/dev/null
      CNT[$n,3]=$(counters "$APP_URL/")
      CNT[$n,5]=$(counters -H 'Cache-Control: no-cache' "$APP_URL/")
      counters "$APP_URL/api/tasks" >/dev/null
      CNT[$n,7]=$(counters "$APP_URL/api/tasks")
      pool_stop
    fi
    if pool_start tasklist "$DB" "bench$n:" off true; then
      counters "$APP_URL/" >/dev/null
      CNT[$n,4]=$(counters "$APP_URL/")
      pool_stop
    fi
    if POOL_EXTRA_ENV=TASKLIST_CACHE_LOCAL_SIZE_MB=0 pool_start tasklist "$DB" "bench$n:" on true; then
      counters "$APP_URL/" >/dev/null
      CNT[$n,3m]=$(counters "$APP_URL/")
      pool_stop
    fi
    cp "$DBPOST0" "$RUN/db/post-sample.sqlite"
    if pool_start tasklist "$RUN/db/post-sample.sqlite" "bpost$n:" on true; then
      counters -H "Origin: $APP_URL" --data 'name=sample+1' "$APP_URL/" >/dev/null
      CNT[$n,6]=$(counters -H "Origin: $APP_URL" --data 'name=sample+2' "$APP_URL/")
      pool_stop
    fi
  fi

  # Rows, interleaved across repeats so that the ratios hold on a noisy machine.
  for rep in $(seq "$REPEAT"); do
    for row in $ROWS; do
      local f=$RUN/wrk/n$n-row$row-rep$rep.txt url=$APP_URL/ args=() ok=1 master=""
      case $row in
        1) url=http://127.0.0.1:$NG_STATIC/page.html; master=$NG_PID ;;
        2) pool_start hello || ok=0 ;;
        2b) pool_start hello_mc || ok=0 ;;
        3) [ $have_tl = 1 ] && pool_start tasklist "$DB" "bench$n:" on false || ok=0 ;;
        3m) [ $have_tl = 1 ] && POOL_EXTRA_ENV=TASKLIST_CACHE_LOCAL_SIZE_MB=0 \
              pool_start tasklist "$DB" "bench$n:" on false || ok=0 ;;
        3base) [ $have_base = 1 ] && pool_start tasklist "$DBBASE" "base$n:" on false "$TL_BIN_BASE" \
                 "${TL_TEMPLATES_BASE:-$ROOT/templates}" || ok=0 ;;
        4) [ $have_tl = 1 ] && pool_start tasklist "$DB" "bench$n:" off false || ok=0 ;;
        5) [ $have_tl = 1 ] && pool_start tasklist "$DB" "bench$n:" on true || ok=0
           args=(-H 'Cache-Control: no-cache') ;;
        6) cp "$DBPOST0" "$RUN/db/post-run.sqlite"; rm -f "$RUN/db/post-run.sqlite"-*
           [ $have_tl = 1 ] && pool_start tasklist "$RUN/db/post-run.sqlite" "bpost$n:" on false || ok=0
           args=(-s "$ROOT/bench/post.lua") ;;
        7) [ $have_tl = 1 ] && pool_start tasklist "$DB" "bench$n:" on false || ok=0
           url=$APP_URL/api/tasks ;;
        *) say "unknown row $row"; continue ;;
      esac
      if [ $ok = 0 ]; then RES[$n,$row]=""; continue; fi
      [ -z "$master" ] && master=$POOL_PID
      # sanity: what does the row answer?
      local st
      if [ "$row" = 6 ]; then
        st=$(curl -s -o /dev/null -w '%{http_code}' -H "Origin: $APP_URL" --data 'name=check' "$url")
      else
        st=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "${args[@]}" "$url")
      fi
      [ "$rep" = 1 ] && NOTE[$n,$row,status]=$st
      if [ "$row" = 3 ] || [ "$row" = 3m ] || [ "$row" = 3base ]; then
        curl -s -o /dev/null -D - "$url" >/dev/null
        curl -s -o /dev/null -D - "$url" | tr -d '\r' | grep -qi '^x-cache: hit' || NOTE[$n,$row,nohit]=1
      fi
      BENCH_ORIGIN=$APP_URL warm "${args[@]}" "$url"
      local v
      local perf_pid="" pdata=$RUN/perf-n$n-row$row-rep$rep.data
      if [ -n "${PROFILE:-}" ]; then   # whole machine: where the CPU goes during this row's load
        local cg=(); [ "$PROFILE" = dwarf ] && cg=(--call-graph dwarf,8192)
        perf record -a -F "${PROFILE_HZ:-999}" "${cg[@]}" -o "$pdata" -- sleep "$DURATION" >/dev/null 2>&1 &
        perf_pid=$!
      fi
      local cpu0 cs0 ng0; cpu0=$(cpu_ns "$master"); cs0=$(csw "$master"); ng0=$(cpu_ns "$NG_PID")
      v=$(BENCH_ORIGIN=$APP_URL run_wrk "$f" "$url" "${args[@]}")
      # field 6: the pool's CPU microseconds per request (row 1: nginx's)
      v="$v $(awk -v a="$cpu0" -v b="$(cpu_ns "$master")" -v n="$(echo "$v" | awk '{print $5}')" \
        'BEGIN{ if (n > 0) printf "%.1f", (b - a) / 1000 / n; else print 0 }')"
      # field 7: the pool's context switches per request
      v="$v $(awk -v a="$cs0" -v b="$(csw "$master")" -v n="$(echo "$v" | awk '{print $5}')" \
        'BEGIN{ if (n > 0) printf "%.2f", (b - a) / n; else print 0 }')"
      # field 8: nginx's CPU microseconds per request (what the pool's answers cost the front end)
      v="$v $(awk -v a="$ng0" -v b="$(cpu_ns "$NG_PID")" -v n="$(echo "$v" | awk '{print $5}')" \
        'BEGIN{ if (n > 0) printf "%.1f", (b - a) / 1000 / n; else print 0 }')"
      if [ -n "$perf_pid" ]; then
        wait "$perf_pid"
        profile_report "$pdata" "$OUT/profile/n$n-row$row-rep$rep" "$master $(children "$master")"
      fi
      RES[$n,$row]="${RES[$n,$row]:-}|$v"
      MEMV[$n,$row]=$(mem "$master")
      say "N=$n rep $rep row $row: $(echo "$v" | awk '{printf "%s req/s, p50 %s ms, p99 %s ms, errors %s, pool CPU %s us/req, %s context switches/req, nginx CPU %s us/req", $1, $2, $3, $4, $6, $7, $8}')"
      [ "$row" != 1 ] && pool_stop
    done
  done
  pool_stop
}

for n in $NS; do measure_n "$n"; done

# ---- the table -----------------------------------------------------------------------------------
col() { # N ROW FIELD(1..5) -> median over repeats
  local s=${RES[$1,$2]:-}
  [ -z "$s" ] && { echo "-"; return; }
  echo "$s" | tr '|' '\n' | awk -v k="$3" 'NF{print $k}' | tr '\n' ' ' | median
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a=="-" || b=="-" || b+0==0) print "-"; else printf "%.0f%%", 100*a/b }'; }
kib_mib() { awk -v k="$1" 'BEGIN{printf "%.1f", k/1024}'; }

CSV=$OUT/results.csv
MD=$OUT/results.md
echo "n_tasks,row,name,rps,p50_ms,p99_ms,errors,requests_total,pool_cpu_us_per_req,pct_of_row2,pct_of_row2b,cache_rt_per_req,db_queries_per_req,pss_master_kib,pss_workers_kib,pss_total_kib,rss_master_kib,rss_workers_kib,workers" >"$CSV"
{
  echo "## tasklist benchmark"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), W=$W workers, wrk -t$THREADS -c$CONNS, ${DURATION}s x $REPEAT (median), nginx $(nginx -v 2>&1 | sed 's/.*nginx\///'), memcached $(memcached -V | awk '{print $2}') with SASL."
  echo
  for n in $NS; do
    r2=$(col "$n" 2 1); r2b=$(col "$n" 2b 1)
    echo "### N = $n tasks (page: ${BYTES[$n]} bytes)"
    echo
    echo "| row | what | req/s | p50 ms | p99 ms | errors | pool CPU µs/req | % of 2 | % of 2b | mc round trips/req | db queries/req | PSS total MiB (master + workers) | PSS master / per worker KiB | RSS master / per worker KiB |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for row in $ROWS; do
      rps=$(col "$n" "$row" 1); p50=$(col "$n" "$row" 2); p99=$(col "$n" "$row" 3)
      err=$(col "$n" "$row" 4); req=$(col "$n" "$row" 5); cpu=$(col "$n" "$row" 6)
      read -r db rt <<<"${CNT[$n,$row]:-- -}"
      read -r pm rm pw rw nw tier <<<"${MEMV[$n,$row]:-0 0 0 0 0 0}"
      [ "${nw:-0}" -gt 0 ] && { pwa=$((pw / nw)); rwa=$((rw / nw)); } || { pwa=0; rwa=0; }
      if [ "$rps" = "-" ]; then
        echo "| $row | ${ROW_NAMES[$row]} | not measured (tasklist not built) | | | | | | | | | | | |"
        continue
      fi
      total=$((pm + pw))
      printf '| %s | %s | %.0f | %.2f | %.2f | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s |\n' \
        "$row" "${ROW_NAMES[$row]}" "$rps" "$p50" "$p99" "$err" "$cpu" "$(pct "$rps" "$r2")" "$(pct "$rps" "$r2b")" \
        "$rt" "$db" "$(kib_mib $total)" "$pm" "$pwa" "$rm" "$rwa"
      echo "$n,$row,${ROW_NAMES[$row]},$rps,$p50,$p99,$err,$req,$cpu,$(pct "$rps" "$r2"),$(pct "$rps" "$r2b"),$rt,$db,$pm,$pw,$total,$rm,$rw,$nw" >>"$CSV"
    done
    echo
    # targets (reported, never enforced)
    r3=$(col "$n" 3 1); r4=$(col "$n" 4 1); p99_3=$(col "$n" 3 3)
    read -r pm rm pw rw nw tier <<<"${MEMV[$n,3]:-0 0 0 0 0 0}"
    if [ "$r3" != "-" ]; then
      echo "Targets: row 3 = $(pct "$r3" "$r2") of row 2, the libfcgi ceiling (target >= 90% with the" \
        "same-host tier); row 3m (memcached only) = $(pct "$(col "$n" 3m 1)" "$r2b") of row 2b;" \
        "row 4 = $(pct "$r4" "$r2") of row 2 (target >= 60% with 20 tasks);" \
        "row 3 p99 = ${p99_3} ms (target < 5 ms; with $CONNS connections always in flight the mean latency is" \
        "$CONNS / throughput = $(awk -v c="$CONNS" -v r="$r3" 'BEGIN{printf "%.2f", 1000*c/r}') ms, and row 2's p99 is $(col "$n" 2 3) ms);" \
        "master + $nw workers = $(kib_mib $((pm + pw))) MiB PSS without the tier's segment (target < 8 MiB);" \
        "the segment's resident size: ${tier:-0} KiB (the largest any worker maps; it grows with what is cached)."
      [ -n "${NOTE[$n,miss]:-}" ] && echo "First GET / after start (view and fragments cold): db queries / mc round trips = ${NOTE[$n,miss]/ / / }."
      [ -n "${NOTE[$n,3,nohit]:-}" ] && echo "WARNING: row 3 was not answered with X-Cache: HIT before measuring."
    fi
    s=""
    for row in $ROWS; do s+=" $row=${NOTE[$n,$row,status]:-?}"; done
    echo "Sanity check before each row (HTTP status [bytes]):$s."
    echo
  done
  if [ -n "$BENCH_TEMPLATE" ]; then
    echo "### Template render time ($BENCH_TEMPLATE)"
    echo
    echo '```'
    (cd "$ROOT" && "$BENCH_TEMPLATE" 2>&1 | tail -20)
    echo '```'
  fi
} >"$MD"
cat "$MD"

# ---- the chart -----------------------------------------------------------------------------------
if command -v gnuplot >/dev/null 2>&1; then
  DAT=$OUT/chart.dat
  {
    printf 'row'; for n in $NS; do printf '\t"N=%s"' "$n"; done; echo
    for row in $ROWS; do
      printf '"%s %s"' "$row" "${ROW_NAMES[$row]}"
      for n in $NS; do v=$(col "$n" "$row" 1); [ "$v" = "-" ] && v=0; printf '\t%s' "$v"; done; echo
    done
  } >"$DAT"
  ncol=$(($(echo $NS | wc -w) + 1))
  term="pngcairo size 1100,560 font 'sans,10'"
  gnuplot -e "set terminal pngcairo" >/dev/null 2>&1 || term="png size 1100,560"
  gnuplot <<GP 2>"$RUN/logs/gnuplot.log" || say "gnuplot failed (see $RUN/logs/gnuplot.log)"
set terminal $term
set output '$OUT/chart.png'
set title "tasklist behind nginx: requests/s (wrk -t$THREADS -c$CONNS, W=$W, median of $REPEAT x ${DURATION}s)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set ylabel 'requests/s'
set yrange [0:*]
set grid ytics
set key top right
set xtics rotate by -25 left
set bmargin 7
set rmargin 10
plot for [i=2:$ncol] '$DAT' using i:xtic(1) title columnheader(i)
GP
else
  say "gnuplot not installed (apt-get install -y gnuplot-nox): no chart"
fi
if [ "${BENCH_DOCS:-0}" = 1 ]; then
  # the results section of docs/bench.md (between the markers) and the chart README.md shows
  python3 - "$ROOT/docs/bench.md" "$MD" <<'PY' || say "could not update docs/bench.md"
import sys
doc, res = sys.argv[1], open(sys.argv[2]).read()
s = open(doc).read()
a, b = "<!-- results -->", "<!-- /results -->"
i, j = s.index(a) + len(a), s.index(b)
open(doc, "w").write(s[:i] + "\n" + res.replace("## tasklist benchmark\n\n", "") + s[j:])
PY
  [ -f "$OUT/chart.png" ] && cp "$OUT/chart.png" "$ROOT/docs/bench-chart.png"
fi
say "wrote $MD, $CSV${DAT:+, $OUT/chart.png}"
