#!/bin/bash
# tests/package/e2e_package.sh - the Debian package end to end, on a Debian machine as root:
#  1. dpkg-buildpackage -us -uc -b from a copy of the source tree; lintian reports no error;
#  2. apt-get install ./tasklist_*.deb: system user tasklist, /var/lib/tasklist 0750 with the migrated
#     SQLite database, a generated 0600 secret key under /etc/tasklist, man pages;
#  3. the service started the way its unit says (ExecStartPre, ExecStart, User, Group,
#     SupplementaryGroups, directories and their modes, EnvironmentFile, NoNewPrivileges) without
#     systemd; the packaged nginx site enabled with one symlink (nginx -t of the system config), and
#     served by a private nginx on a free port (the system nginx and port 80 are left alone);
#  4. the e2e story (tests/e2e/story.sh) through it; CSS and favicon; /metrics parsed by
#     python3-prometheus-client, its counters moving;
#  5. an upgrade (the same package repacked with one more migration and a higher version) keeps the
#     tasks and runs the new migration; remove keeps the data; purge leaves nothing behind (the
#     system user stays, as Debian packages leave them; this test deletes it if it created it).
# Refuses to run (fails) when a tasklist package is already installed: it never touches one it
# did not install. Builds with DEB_BUILD_OPTIONS=nocheck (the suites already ran in build/).
. "${TL_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/servers.sh"
tl_init package
[ "$(id -u)" = 0 ] || tl_skip_or_fail "needs root (installs the package)"
tl_need dpkg-buildpackage lintian apt-get nginx curl python3 setpriv man git
PY=/usr/bin/python3   # Debian's, with python3-prometheus-client (not a python3 earlier on PATH)
"$PY" -c 'import prometheus_client' 2>/dev/null || tl_skip_or_fail "python3-prometheus-client not installed"
pkg_state() { dpkg-query -W -f='${db:Status-Abbrev}' tasklist 2>/dev/null | cut -c1-2; }
case $(pkg_state) in ""|un|pn) ;; *) tl_fail "a tasklist package is already installed (state $(pkg_state)): not touching it";; esac
apt() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"; }
had_user=0; getent passwd tasklist >/dev/null && had_user=1
SVC=""
pkg_cleanup() {
  [ -n "$SVC" ] && svc_stop
  # a user this test created runs nothing but what this test started
  if [ "$had_user" = 0 ] && getent passwd tasklist >/dev/null; then
    for p in $(pgrep -u tasklist); do kill -KILL "$p" 2>/dev/null; done
  fi
  case $(pkg_state) in ""|un|pn) ;; *) apt purge -y tasklist >>"$T/cleanup.log" 2>&1;; esac
  [ "$had_user" = 0 ] && getent passwd tasklist >/dev/null && userdel tasklist >>"$T/cleanup.log" 2>&1
  [ "$had_user" = 0 ] && getent group tasklist >/dev/null && groupdel tasklist >>"$T/cleanup.log" 2>&1
  rm -rf /run/tasklist
  [ -L /etc/nginx/sites-enabled/tasklist ] && [ "$(readlink /etc/nginx/sites-enabled/tasklist)" = ../sites-available/tasklist ] &&
    [ ! -e /etc/nginx/sites-enabled/tasklist ] && rm -f /etc/nginx/sites-enabled/tasklist
  tl_cleanup
}
trap pkg_cleanup EXIT
t0=$(date +%s)

# ---- 1. build, lintian ----
mkdir -p "$T/b/src"
# the working tree as it is (committed or not), without build folders
if git -C "$TL_SRC" rev-parse --git-dir >/dev/null 2>&1; then
  (cd "$TL_SRC" && git ls-files -co --exclude-standard -z | xargs -0 tar cf - --no-recursion) | tar xf - -C "$T/b/src"
else
  tar cf - -C "$TL_SRC" --exclude='./build*' --exclude='./obj-*' --exclude=./.git . | tar xf - -C "$T/b/src"
fi
[ -f "$T/b/src/debian/control" ] || tl_fail "could not copy the source tree"
(cd "$T/b/src" && dpkg-checkbuilddeps) >"$T/builddeps.log" 2>&1 || tl_skip_or_fail "Build-Depends missing: $(cat "$T/builddeps.log")"
(cd "$T/b/src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1 ||
  tl_fail "dpkg-buildpackage failed: $(tail -15 "$T/build.log")"
DEB=$(ls "$T"/b/tasklist_*.deb | head -1)
[ -f "$DEB" ] || tl_fail "no tasklist_*.deb built"
lintian "$DEB" >"$T/lintian.log" 2>&1
grep '^E: ' "$T/lintian.log" && tl_fail "lintian errors (above)"
echo "built $(basename "$DEB") in $(( $(date +%s) - t0 )) s; lintian: $(grep -c '^W: ' "$T/lintian.log") warnings, no errors"

# ---- 2. install ----
apt install -y "$DEB" >"$T/install.log" 2>&1 || tl_fail "apt-get install: $(tail -5 "$T/install.log")"
uid=$(id -u tasklist 2>/dev/null) || tl_fail "no user tasklist after install"
[ "$uid" -lt 1000 ] || tl_fail "tasklist is not a system user (uid $uid)"
[ "$(stat -c %a:%U:%G /var/lib/tasklist)" = 750:tasklist:tasklist ] || tl_fail "/var/lib/tasklist is $(stat -c %a:%U:%G /var/lib/tasklist)"
[ "$(stat -c %a:%U /etc/tasklist/env)" = 600:root ] || tl_fail "/etc/tasklist/env is $(stat -c %a:%U /etc/tasklist/env)"
grep -Eq '^SECRET_KEY=[0-9a-f]{64}$' /etc/tasklist/env || tl_fail "no generated SECRET_KEY in /etc/tasklist/env"
key1=$(grep SECRET_KEY /etc/tasklist/env)
[ "$(head -c 15 /var/lib/tasklist/tasklist.sqlite)" = "SQLite format 3" ] || tl_fail "no SQLite database in /var/lib/tasklist"
[ "$(stat -c %U /var/lib/tasklist/tasklist.sqlite)" = tasklist ] || tl_fail "the database is not the service user's"
man -w tasklist >/dev/null && man -w 5 tasklist.ini >/dev/null || tl_fail "man pages not found after install"
UNIT=/lib/systemd/system/tasklist.service
[ -f "$UNIT" ] || tl_fail "no $UNIT"
for want in 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'PrivateTmp=yes' 'StateDirectoryMode=0750' 'RuntimeDirectory=tasklist' \
    'ReadWritePaths=/var/lib/tasklist' 'User=tasklist'; do
  grep -qx "$want" "$UNIT" || tl_fail "the unit lacks $want"
done

# ---- 3. the service as its unit starts it (without systemd) ----
ukey() { sed -n "s/^$1=//p" "$UNIT" | tail -1; }
groups=$(id -g tasklist)
for g in $(ukey SupplementaryGroups); do groups+=,$(getent group "$g" | cut -d: -f3); done
svc_env=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin USER=tasklist LOGNAME=tasklist HOME=/var/lib/tasklist)
envfile=$(ukey EnvironmentFile); envfile=${envfile#-}
[ -f "$envfile" ] && while IFS= read -r l; do case $l in ''|\#*) ;; *=*) svc_env+=("$l");; esac; done <"$envfile"
as_unit() { # execs CMD... as the unit does: its user, groups, no new privileges, its directory, its
  # environment. Call it in a subshell: ( as_unit ... ) & leaves $! = the command's own pid.
  cd "$(ukey WorkingDirectory)" && exec env -i "${svc_env[@]}" setpriv --reuid="$uid" --regid="$(id -g tasklist)" \
    --groups="$groups" --no-new-privs "$@"
}
svc_start() {
  install -d -o tasklist -g tasklist -m "$(ukey RuntimeDirectoryMode)" "/run/$(ukey RuntimeDirectory)"
  chmod "$(ukey StateDirectoryMode)" "/var/lib/$(ukey StateDirectory)"
  read -r -a pre <<<"$(ukey ExecStartPre)"; (as_unit "${pre[@]}") >>"$T/service.log" 2>&1 || tl_fail "ExecStartPre: $(tail -3 "$T/service.log")"
  read -r -a start <<<"$(ukey ExecStart)"; (as_unit "${start[@]}") >>"$T/service.log" 2>&1 &
  SVC=$!
  tl_wait_socket /run/tasklist/tasklist.sock || tl_fail "the service does not listen on /run/tasklist/tasklist.sock: $(tail -3 "$T/service.log")"
}
svc_stop() { # TERM, as systemctl stop; the master waits for its workers; then reap it (no zombie left)
  kill -TERM "$SVC" 2>/dev/null
  for _ in $(seq 200); do [ "$(awk '{print $3}' "/proc/$SVC/stat" 2>/dev/null)" = Z ] || [ ! -e "/proc/$SVC" ] && break; sleep 0.1; done
  kill -KILL "$SVC" 2>/dev/null; wait "$SVC" 2>/dev/null
  for _ in $(seq 50); do pgrep -u tasklist >/dev/null || break; sleep 0.1; done
  SVC=""
}
[ -S /run/tasklist/tasklist.sock ] && tl_fail "something already serves /run/tasklist/tasklist.sock"
svc_start
[ "$(readlink "/proc/$SVC/exe")" = /usr/bin/tasklist ] || tl_fail "the service's pid $SVC is not /usr/bin/tasklist"
[ "$(stat -c %G:%a /run/tasklist/tasklist.sock)" = www-data:660 ] || tl_fail "socket is $(stat -c %G:%a /run/tasklist/tasklist.sock), want www-data:660"
ps -o user= -p "$(pgrep -P "$SVC" | head -1)" | grep -qx tasklist || tl_fail "the workers do not run as tasklist"

# the packaged site: enabled with one symlink, valid in the system nginx config
SITE=/etc/nginx/sites-available/tasklist
[ -f "$SITE" ] || tl_fail "no $SITE"
if [ ! -e /etc/nginx/sites-enabled/tasklist ]; then ln -s ../sites-available/tasklist /etc/nginx/sites-enabled/tasklist; fi
nginx -t >"$T/nginx-t.log" 2>&1 || tl_fail "nginx -t with the site enabled: $(cat "$T/nginx-t.log")"
# served by a private nginx (workers as www-data) on a free port
PORT=$(tl_free_port) N=$T/nginx
mkdir -p "$N/conf" "$N/logs" "$N/tmp"
sed -e "s/listen \[::\]:80;//" -e "s/listen 80;/listen 127.0.0.1:$PORT;/" /etc/nginx/sites-enabled/tasklist >"$N/conf/site.conf"
{ tl_nginx_head "$N" www-data 256; cat <<NGX
    include /etc/nginx/mime.types;
    include /etc/nginx/conf.d/*.conf;
    include $N/conf/site.conf;
}
NGX
} >"$N/conf/nginx.conf"
ln -s /etc/nginx/fastcgi_params "$N/conf/fastcgi_params"
chmod 755 "$T"; chown -R www-data "$N/tmp"   # nginx workers (www-data) buffer bodies there
nginx -p "$N" -c conf/nginx.conf -g 'daemon off;' >"$N/logs/stdout" 2>&1 &
tl_remember $!
tl_wait_tcp "$PORT" || tl_fail "nginx with the packaged site does not answer: $(tail -3 "$N/logs/error.log")"
U=http://127.0.0.1:$PORT

# ---- 4. the story, static files, metrics ----
curl -s "$U/metrics" >"$T/m1.txt"
TL_STORY_URL=$U bash "$TL_SRC/tests/e2e/story.sh" external >"$T/story.log" 2>&1 || tl_fail "e2e story against the package: $(tail -5 "$T/story.log")"
for p in /static/style.css /favicon.ico; do
  c=$(curl -s -o /dev/null -w '%{http_code}' "$U$p"); [ "$c" = 200 ] || tl_fail "GET $p answered $c"
done
for _ in $(seq 5); do curl -s -o /dev/null "$U/"; done
curl -s "$U/metrics" >"$T/m2.txt"
"$PY" - "$T/m1.txt" "$T/m2.txt" <<'PY' || tl_fail "/metrics (above)"
import sys
from prometheus_client.parser import text_string_to_metric_families as parse
def samples(p):
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in parse(open(p).read()) for s in f.samples}
a, b = samples(sys.argv[1]), samples(sys.argv[2])
def total(d, name, **labels):
    return sum(v for (n, l), v in d.items() if n == name and all(dict(l).get(k) == x for k, x in labels.items()))
idx = total(b, "tasklist_http_requests_total", route="task_list.index", status="200") - \
      total(a, "tasklist_http_requests_total", route="task_list.index", status="200")
ok = True
if idx < 5:
    print(f"GET / 200 counter moved by {idx}, want >= 5"); ok = False
for name, labels in (("tasklist_http_requests_total", {"status": "303"}), ("tasklist_http_requests_total", {"status": "404"}),
                     ("tasklist_http_request_duration_seconds_count", {})):
    if total(b, name, **labels) <= total(a, name, **labels):
        print(f"{name}{labels} did not move"); ok = False
for name in ("tasklist_cache_hits_total", "tasklist_cache_misses_total", "tasklist_cache_round_trips_total",
             "tasklist_cache_breaker_open", "tasklist_db_errors_total", "tasklist_workers",
             "tasklist_workers_recycled_total", "tasklist_workers_killed_total"):
    if not any(n == name for n, _ in b):
        print(f"no {name}"); ok = False
sys.exit(0 if ok else 1)
PY
c=$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 "http://127.0.0.1:$PORT/metrics")
[ "$c" = 403 ] || tl_fail "/metrics from 127.0.0.2 answered $c, want 403"

# ---- 5. upgrade, remove, purge ----
curl -s -o /dev/null -H "Origin: $U" --data-urlencode "name=survives the upgrade" "$U/"
svc_stop
mkdir "$T/up" && dpkg-deb -R "$DEB" "$T/up/x"
# the next migration after the packaged ones (versions run without gaps)
last=$(ls "$T/up/x/usr/share/tasklist/migrations" | sed -n 's/^\([0-9]*\)_.*/\1/p' | sort -n | tail -1)
next=$((10#$last + 1))
printf 'CREATE TABLE upgrade_probe (id INTEGER);\n' >"$T/up/x/usr/share/tasklist/migrations/$(printf %04d "$next")_upgrade_probe.up.sql"
printf 'DROP TABLE upgrade_probe;\n' >"$T/up/x/usr/share/tasklist/migrations/$(printf %04d "$next")_upgrade_probe.down.sql"
sed -i 's/^Version: \(.*\)$/Version: \1+upgrade1/' "$T/up/x/DEBIAN/control"
dpkg-deb -b --root-owner-group "$T/up/x" "$T/up/tasklist_upgrade.deb" >/dev/null || tl_fail "repacking the upgrade failed"
apt install -y "$T/up/tasklist_upgrade.deb" >"$T/upgrade.log" 2>&1 || tl_fail "upgrade: $(tail -5 "$T/upgrade.log")"
cur=$( (as_unit /usr/bin/tasklist db current --config /etc/tasklist/tasklist.ini) 2>&1)
echo "$cur" | grep -q "^$next (latest)" || tl_fail "the upgrade did not run the new migration: $cur"
[ "$(grep SECRET_KEY /etc/tasklist/env)" = "$key1" ] || tl_fail "the upgrade replaced the secret key"
svc_start
curl -s "$U/" | grep -q "survives the upgrade" || tl_fail "a task did not survive the upgrade"
svc_stop
dpkg -L tasklist >"$T/files"
apt remove -y tasklist >"$T/remove.log" 2>&1 || tl_fail "remove: $(tail -3 "$T/remove.log")"
[ -f /var/lib/tasklist/tasklist.sqlite ] && [ -f /etc/tasklist/env ] || tl_fail "remove deleted the data or the key (only purge may)"
apt purge -y tasklist >"$T/purge.log" 2>&1 || tl_fail "purge: $(tail -3 "$T/purge.log")"
left=""
for p in /etc/tasklist /var/lib/tasklist /usr/bin/tasklist /usr/share/tasklist /etc/nginx/sites-available/tasklist; do [ -e "$p" ] && left+="$p "; done
while IFS= read -r f; do [ ! -d "$f" ] && [ -e "$f" ] && left+="$f "; done <"$T/files"
[ -L /etc/nginx/sites-enabled/tasklist ] && left+="/etc/nginx/sites-enabled/tasklist (dangling link) "
pgrep -u tasklist >/dev/null && left+="processes of tasklist ($(pgrep -a -u tasklist | head -3 | tr '\n' ';')) "
[ -z "$left" ] || tl_fail "purge left behind: $left"
echo "package: built, lintian-clean, installed, served the story as the unit runs it, metrics move, upgrade kept data and migrated, purge left nothing ($(( $(date +%s) - t0 )) s)"
