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

# A TCP forwarder to the server on another port: a second "host" for the failover case, which the
# C test starts and stops (TL_MARIADB_PROXY_START / _STOP) to make that host come and go.
TL_MARIADB_PROXY_PORT=$(tl_free_port)
cat >"$T/proxy.py" <<'PY'
import asyncio, sys
async def pipe(r, w):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    except Exception:
        pass
    finally:
        w.close()
async def handle(cr, cw):
    try:
        sr, sw = await asyncio.open_connection("127.0.0.1", int(sys.argv[2]))
    except OSError:
        cw.close()
        return
    await asyncio.gather(pipe(cr, sw), pipe(sr, cw))
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    async with srv:
        await srv.serve_forever()
asyncio.run(main())
PY
cat >"$T/proxy-start.sh" <<SH
#!/bin/bash
python3 "$T/proxy.py" $TL_MARIADB_PROXY_PORT $TL_MARIADB_PORT </dev/null >/dev/null 2>&1 &
echo \$! >"$T/proxy.pid"
echo \$! >>"$T/pids"
for i in \$(seq 100); do
  python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),0.2).close()' $TL_MARIADB_PROXY_PORT 2>/dev/null && exit 0
  sleep 0.05
done
exit 1
SH
export TL_MARIADB_PROXY_PORT TL_MARIADB_PROXY_START="bash $T/proxy-start.sh"
export TL_MARIADB_PROXY_STOP="kill \$(cat $T/proxy.pid)"
export TL_MARIADB_RESTART="bash $T/restart.sh"
"$TEST_DB" mariadb
