#!/bin/bash
# tests/db/test_db_mariadb.sh - run test_db against a throwaway MariaDB.
# Starts mariadbd (tests/lib/servers.sh), writes a restart helper the C test
# calls for its restart case, and runs TEST_DB mariadb. Exits 77 when MariaDB
# is not installed, unless TL_REQUIRE_SERVERS=1 (then 1).
set -u
TEST_DB=${1:?usage: test_db_mariadb.sh path/to/test_db}
. "${TL_SOURCE_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/servers.sh"
tl_init db-mariadb
tl_start_mariadb
mariadb-admin --no-defaults -S "$TL_MARIADB_SOCK" -uroot ping >/dev/null 2>&1 ||
  tl_fail "MariaDB did not come up: $(tail -3 "$T/maria/mysqld.err" 2>/dev/null)"

# Restart: TERM the server, wait until it is gone (it stays a zombie of this
# shell, so look at /proc), start it again on the same data, port and socket.
cat >"$T/restart.sh" <<SH
#!/bin/bash
pid=\$(cat "$T/maria/current.pid")
kill -TERM "\$pid"
for i in \$(seq 300); do
  st=\$(awk '/^State:/ {print \$2}' /proc/\$pid/status 2>/dev/null)
  [ -z "\$st" ] || [ "\$st" = Z ] && break
  sleep 0.1
done
mariadbd --no-defaults --user=root --datadir="$T/maria/data" --socket="$TL_MARIADB_SOCK" \\
  --port="$TL_MARIADB_PORT" --bind-address=127.0.0.1 --pid-file="$T/maria/mysql.pid" \\
  --log-error="$T/maria/mysqld.err" --innodb-buffer-pool-size=32M --skip-log-bin \\
  --innodb-log-file-size=8M </dev/null >/dev/null 2>&1 &
echo \$! >"$T/maria/current.pid"
echo \$! >>"$T/pids"
for i in \$(seq 300); do
  mariadb-admin --no-defaults -S "$TL_MARIADB_SOCK" -uroot ping >/dev/null 2>&1 && exit 0
  sleep 0.1
done
exit 1
SH
echo "$TL_MARIADB_PID" >"$T/maria/current.pid"
export TL_MARIADB_RESTART="bash $T/restart.sh"
"$TEST_DB" mariadb
