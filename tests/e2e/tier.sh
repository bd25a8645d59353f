#!/bin/bash
# tests/e2e/tier.sh - the same-host tier's lifecycle through real nginx, SQLite and a real SASL memcached:
# every worker maps the one memfd "tasklist-cache"; a warm page is served with memcached stopped
# (SIGSTOP: the tier answers, no timeout paid); a write is seen at once on every worker; a SIGHUP keeps
# the segment when its size is unchanged and maps a new one of the new size otherwise; local_size_mb = 0
# turns it off.
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/app_lib.sh"
tl_init tier
app_memcached
export DATABASE_URL="sqlite:///$T/db/tasks.sqlite" WORKERS=3
ini=$T/tasklist.ini
printf '[cache]\nlocal_size_mb = 8\n' >"$ini"
app_start --config "$ini"
seg() { # PID -> "inode size_kib" of its tasklist-cache mapping (nothing when it has none)
  local range _perm _off _dev inode _rest
  read -r range _perm _off _dev inode _rest < <(grep -m1 'memfd:tasklist-cache' "/proc/$1/maps" 2>/dev/null) ||
    return 0
  echo "$inode $(( (16#${range#*-} - 16#${range%-*}) / 1024 ))"
}
workers() { pgrep -P "$APP_PID" | tr '\n' ' '; }
wait_generation() { # until every worker maps segment "$1" (or none when $1 is empty)
  local i w ok
  for i in $(seq 100); do
    ok=1
    for w in $(workers); do [ "$(seg "$w" | cut -d' ' -f1)" = "$1" ] || ok=0; done
    [ "$ok" = 1 ] && [ -n "$(workers)" ] && return 0
    sleep 0.1
  done
  return 1
}
read -r ino size <<<"$(seg "$APP_PID")"
[ -n "$ino" ] && [ "$size" -ge 8192 ] || tl_fail "the master maps no 8 MiB tasklist-cache segment: $(seg "$APP_PID")"
wait_generation "$ino" || tl_fail "not every worker maps the master's segment"

for i in 1 2 3; do post --data "name=task+$i" "$U/" >/dev/null; done
for _ in $(seq 10); do page >/dev/null; done
# memcached hung: warm pages come from the tier at once
kill -STOP "$(cat "$T/mc$MCPORT/pid")"
t0=$(date +%s%N)
for _ in $(seq 9); do page | grep -q '<td>task 3</td>' || tl_fail "memcached stopped: the page lost a task"; done
ms=$((($(date +%s%N) - t0) / 1000000))
kill -CONT "$(cat "$T/mc$MCPORT/pid")"
[ "$ms" -lt 1500 ] || tl_fail "9 warm pages with memcached stopped took $ms ms: the tier did not answer"
# a write is seen at once on every worker (the version moved; the tier is never invalidated)
post --data "name=fresh" "$U/" >/dev/null
for _ in $(seq 12); do page | grep -q '<td>fresh</td>' || tl_fail "a read after a write missed it"; done

# SIGHUP, same size: the same segment in the new generation
old_workers=$(workers)
kill -HUP "$APP_PID"
for _ in $(seq 100); do [ "$(workers)" != "$old_workers" ] && break; sleep 0.1; done
wait_generation "$ino" || tl_fail "after SIGHUP with the same size the workers do not map the same segment"
page | grep -q '<td>fresh</td>' || tl_fail "page after SIGHUP"
# SIGHUP, new size: a new segment of that size
printf '[cache]\nlocal_size_mb = 16\n' >"$ini"
kill -HUP "$APP_PID"
read -r ino2 size2 <<<"$(seg "$APP_PID")"
for _ in $(seq 100); do read -r ino2 size2 <<<"$(seg "$APP_PID")"; [ "$ino2" != "$ino" ] && break; sleep 0.1; done
[ "$ino2" != "$ino" ] && [ "$size2" -ge 16384 ] || tl_fail "after SIGHUP with 16 MiB the master maps $ino2 ($size2 KiB)"
wait_generation "$ino2" || tl_fail "the new workers do not map the new segment"
page | grep -q '<td>fresh</td>' || tl_fail "page after the resize"
# off
printf '[cache]\nlocal_size_mb = 0\n' >"$ini"
kill -HUP "$APP_PID"
for _ in $(seq 100); do [ -z "$(seg "$APP_PID")" ] && break; sleep 0.1; done
[ -z "$(seg "$APP_PID")" ] || tl_fail "local_size_mb = 0: the master still maps a segment"
wait_generation "" || tl_fail "local_size_mb = 0: workers still map a segment"
page | grep -q '<td>fresh</td>' || tl_fail "page with the tier off"
echo "tier: one memfd in master and workers; 9 warm pages in $ms ms with memcached stopped; writes seen at once; SIGHUP keeps it, resizes it, turns it off"
