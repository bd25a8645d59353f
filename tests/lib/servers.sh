# tests/lib/servers.sh - real servers as plain processes for the test suites.
# Source it from a test script. Everything lives under $T (a fresh temp dir per
# test) and is killed by tl_cleanup (installed as an EXIT trap by tl_init).
# Functions:
#   tl_init NAME                      make $T, trap cleanup
#   tl_free_port                      print a free TCP port on 127.0.0.1
#   tl_start_sasl_memcached PORT USER PASS   memcached -S (binary, PLAIN), pid in $T/mcPORT/pid
#   tl_start_memcached PORT           plain memcached (no SASL)
#   tl_start_mariadb                  throwaway MariaDB; sets TL_MARIADB_URL, TL_MARIADB_PID, TL_MARIADB_SOCK
#   tl_start_nginx SOCK [PORT]        nginx on 127.0.0.1:PORT (sets NGINX_PORT) with / -> unix:SOCK, stock fastcgi_params
#   tl_wait_socket PATH               wait until a unix socket accepts
#   tl_remember PID                   kill PID at cleanup
#   tl_fail MSG                       print and exit 1
#   tl_skip_or_fail MSG               exit 77 by hand, 1 under TL_REQUIRE_SERVERS=1
set -u
TL_SRC=${TL_SOURCE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TL_BUILD=${TL_BUILD_ROOT:-$TL_SRC/build}
TL_BIN=${TL_BIN:-$TL_BUILD/tasklist}

tl_init() {
  T=$(mktemp -d "/tmp/tl-test-${1:-x}.XXXXXX")
  : >"$T/pids"
  trap tl_cleanup EXIT
}

tl_remember() { [ -n "${1:-}" ] && echo "$1" >>"$T/pids"; }

tl_cleanup() {
  local p
  if [ -f "$T/pids" ]; then
    while read -r p; do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done <"$T/pids"
    sleep 0.3
    while read -r p; do kill -9 "$p" 2>/dev/null; done <"$T/pids"
  fi
  [ -n "${TL_KEEP_TMP:-}" ] || rm -rf "$T"
}

tl_fail() { echo "FAIL: $*" >&2; exit 1; }

tl_skip_or_fail() {
  if [ "${TL_REQUIRE_SERVERS:-0}" = 1 ]; then tl_fail "$*"; fi
  echo "SKIP: $*" >&2; exit 77
}

tl_need() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 || tl_skip_or_fail "$c not installed"; done; }

tl_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# tl_wait_until SECONDS CMD...: run CMD every 50 ms until it succeeds (0) or SECONDS pass (1). Tests wait
# for the state they need this way, never with a fixed sleep that a loaded machine can outrun.
tl_wait_until() {
  local deadline=$(( $(date +%s%N) + ${1%.*} * 1000000000 )); shift
  until "$@"; do
    [ "$(date +%s%N)" -lt "$deadline" ] || return 1
    sleep 0.05
  done
}
tl_wait_tcp() { # PORT
  local i
  for i in $(seq 100); do
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2).close()' "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

tl_wait_socket() { # PATH
  local i
  for i in $(seq 100); do
    [ -S "$1" ] && python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])' "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}

tl_start_sasl_memcached() { # PORT USER PASS
  tl_need memcached saslpasswd2
  local port=$1 user=$2 pass=$3 d=$T/mc$1
  mkdir -p "$d"; rm -f "$d/sasldb2" "$d/pid"
  printf '%s' "$pass" | saslpasswd2 -p -a memcached -c -f "$d/sasldb2" "$user"
  printf 'mech_list: plain\nsasldb_path: %s/sasldb2\n' "$d" >"$d/memcached.conf"
  SASL_CONF_PATH=$d memcached -d -S -u root -l 127.0.0.1 -p "$port" -U 0 -m 64 -P "$d/pid"
  local i; for i in $(seq 50); do [ -s "$d/pid" ] && break; sleep 0.05; done
  tl_remember "$(cat "$d/pid")"
  tl_wait_tcp "$port" || tl_fail "memcached on $port does not answer"
}

tl_start_memcached() { # PORT
  tl_need memcached
  local port=$1 d=$T/mc$1
  mkdir -p "$d"; rm -f "$d/pid"
  memcached -d -u root -l 127.0.0.1 -p "$port" -U 0 -m 32 -P "$d/pid"
  local i; for i in $(seq 50); do [ -s "$d/pid" ] && break; sleep 0.05; done
  tl_remember "$(cat "$d/pid")"
  tl_wait_tcp "$port" || tl_fail "memcached on $port does not answer"
}

tl_start_mariadb() {
  tl_need mariadbd mariadb-install-db mariadb
  local d=$T/maria port
  port=$(tl_free_port)
  mkdir -p "$d/data"
  mariadb-install-db --no-defaults --datadir="$d/data" --user=root \
    --auth-root-authentication-method=normal --skip-test-db >"$d/install.log" 2>&1 ||
    tl_fail "mariadb-install-db failed: $(tail -2 "$d/install.log")"
  mariadbd --no-defaults --user=root --datadir="$d/data" --socket="$d/mysql.sock" \
    --port="$port" --bind-address=127.0.0.1 --pid-file="$d/mysql.pid" \
    --log-error="$d/mysqld.err" --innodb-buffer-pool-size=32M --skip-log-bin \
    --innodb-log-file-size=8M >/dev/null 2>&1 &
  TL_MARIADB_PID=$!
  tl_remember "$TL_MARIADB_PID"
  local i
  for i in $(seq 300); do
    mariadb-admin --no-defaults -S "$d/mysql.sock" -uroot ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  mariadb --no-defaults -S "$d/mysql.sock" -uroot <<SQL || tl_fail "cannot create the test database"
CREATE DATABASE IF NOT EXISTS task_list;
CREATE USER IF NOT EXISTS 'tl'@'localhost' IDENTIFIED BY 'tlpass';
CREATE USER IF NOT EXISTS 'tl'@'127.0.0.1' IDENTIFIED BY 'tlpass';
GRANT ALL PRIVILEGES ON task_list.* TO 'tl'@'localhost';
GRANT ALL PRIVILEGES ON task_list.* TO 'tl'@'127.0.0.1';
SQL
  TL_MARIADB_SOCK=$d/mysql.sock
  TL_MARIADB_PORT=$port
  TL_MARIADB_URL="mysql://tl:tlpass@127.0.0.1:$port/task_list"
  export TL_MARIADB_URL TL_MARIADB_PID TL_MARIADB_SOCK TL_MARIADB_PORT
}

# nginx in front of a FastCGI unix socket, with Debian's stock fastcgi_params
# and the project's static files. Sets NGINX_PORT.
# tl_nginx_head DIR USER [CONNECTIONS] [MAIN]: the start of a private nginx.conf for DIR (the caller
# makes DIR/conf, logs and tmp first): pid, error log and temp folders inside DIR, no access log; MAIN
# adds directives of the main context (e.g. "worker_rlimit_nofile 8192;"); it leaves "http {" open for
# the caller to add its servers and close.
tl_nginx_head() {
  local n=$1
  cat <<NGX
user $2;
worker_processes 1;${4:+
$4}
pid $n/logs/nginx.pid;
error_log $n/logs/error.log warn;
events { worker_connections ${3:-1024}; }
http {
    access_log off;
    client_body_temp_path $n/tmp/body;
    fastcgi_temp_path $n/tmp/fastcgi;
    proxy_temp_path $n/tmp/proxy;
    scgi_temp_path $n/tmp/scgi;
    uwsgi_temp_path $n/tmp/uwsgi;
NGX
}

tl_start_nginx() { # SOCK [PORT]
  tl_need nginx
  NGINX_PORT=${2:-$(tl_free_port)}
  local n=$T/nginx
  mkdir -p "$n/conf" "$n/logs" "$n/tmp" "$n/html"
  { tl_nginx_head "$n" root; cat <<NGX
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_max_body_size 16m;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location /static/ { alias $TL_SRC/static/; }
        location / { fastcgi_pass unix:$1; include /etc/nginx/fastcgi_params; }
    }
}
NGX
  } >"$n/conf/nginx.conf"
  nginx -p "$n" -c conf/nginx.conf -g 'daemon off;' >"$n/logs/stdout" 2>&1 &
  tl_remember $!
  tl_wait_tcp "$NGINX_PORT" || tl_fail "nginx does not answer: $(cat "$n/logs/error.log" "$n/logs/stdout" 2>/dev/null | tail -3)"
}
