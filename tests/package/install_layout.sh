#!/bin/bash
# tests/package/install_layout.sh - `meson install` into a DESTDIR puts exactly the expected files in
# place (binary, templates, static files, migrations, tasklist.ini, the unit, the nginx site, both man
# pages), nothing of the build machine is compiled in, and the installed binary, run from an empty
# folder with no checkout around it, finds its templates and migrations (next to itself, through
# datadir relative to bindir), serves the page behind nginx, and the installed nginx site points at
# its static files.
. "${TL_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/servers.sh"
tl_init install-layout
tl_need meson nginx curl python3 objcopy strings
D=$T/dest
opts=$(meson introspect --buildoptions "$TL_BUILD" | python3 -c '
import json, os, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
p = o["prefix"]
def under(k):
    v = o[k]
    return v if v.startswith("/") else os.path.join(p, v)
unit = o["systemdunitdir"] or os.path.join(p, "lib/systemd/system")
site = o["nginx_sitedir"] or os.path.join(under("datadir"), "tasklist/examples/nginx")
print(under("bindir"), under("datadir") + "/tasklist", under("sysconfdir") + "/tasklist", under("mandir"), unit, site)')
read -r BIN DATA ETC MAN UNIT SITE <<<"$opts"
meson install -C "$TL_BUILD" --no-rebuild --destdir "$D" >"$T/install.log" 2>&1 || tl_fail "meson install: $(tail -5 "$T/install.log")"

# exactly these files
{
  echo "$BIN/tasklist"; echo "$ETC/tasklist.ini"; echo "$UNIT/tasklist.service"; echo "$SITE/tasklist"
  echo "$DATA/examples/nginx/tasklist-https"
  echo "$MAN/man1/tasklist.1"; echo "$MAN/man5/tasklist.ini.5"
  (cd "$TL_SRC" && find templates static migrations -type f ! -name README.md) | sed "s|^|$DATA/|"
} | sort >"$T/want"
(cd "$D" && find . -type f -o -type l) | sed 's|^\.||' | sort >"$T/got"
diff -u "$T/want" "$T/got" >"$T/diff" || tl_fail "installed files differ from the expected list (- missing, + extra):
$(cat "$T/diff")"

# nothing of the build machine compiled in (debug info aside: its DW_AT_comp_dir names the build
# folder by design, and packages strip it into a -dbgsym package)
objcopy --strip-debug "$D$BIN/tasklist" "$T/tasklist.nodebug" || tl_fail "objcopy --strip-debug failed"
hits=$(strings -a "$T/tasklist.nodebug" | grep -F -e "$TL_SRC" -e "$(realpath "$TL_BUILD")" | head -3)
[ -z "$hits" ] || tl_fail "the binary has build-machine paths compiled in: $hits"

# the installed binary from an empty folder: its own templates and migrations
mkdir "$T/empty" && cd "$T/empty" || exit 1
export TASKLIST_SERVER_SOCKET_OWNER= SECRET_KEY=install-layout-0123456789abcdef DATABASE_URL="sqlite:///$T/db/tasks.sqlite"
unset MEMCACHIER_SERVERS MEMCACHIER_USERNAME MEMCACHIER_PASSWORD
"$D$BIN/tasklist" --version | grep -qx "tasklist [0-9][0-9.]*" || tl_fail "--version: $("$D$BIN/tasklist" --version 2>&1)"
"$D$BIN/tasklist" help serve | grep -q -- --listen || tl_fail "help serve does not list --listen"
out=$("$D$BIN/tasklist" check-config --config "$D$ETC/tasklist.ini" 2>&1) || tl_fail "check-config of the installed ini: $out"
tpl=$(echo "$out" | sed -n 's/^templates = //p')
[ "$tpl" = "$(realpath "$D$DATA/templates")" ] || tl_fail "templates = $tpl, want the installed $D$DATA/templates"
out=$("$D$BIN/tasklist" db upgrade --config "$D$ETC/tasklist.ini" 2>&1) || tl_fail "db upgrade with the installed migrations: $out"
echo "$out" | grep -q "from 0 to [1-9]" || tl_fail "db upgrade did not migrate: $out"

# it serves the page with the installed templates, behind nginx
"$D$BIN/tasklist" serve --config "$D$ETC/tasklist.ini" --listen "unix:$T/app.sock" --workers 1 >"$T/app.log" 2>&1 &
tl_remember $!
tl_wait_socket "$T/app.sock" || tl_fail "the installed binary does not serve: $(tail -3 "$T/app.log")"
tl_start_nginx "$T/app.sock"
page=$(curl -s "http://127.0.0.1:$NGINX_PORT/")
echo "$page" | grep -q '<form' || tl_fail "GET / is not the task list page: $(echo "$page" | head -c 300)"

# the installed nginx site serves the installed static files
static=$(sed -n 's|^ *alias \(.*\)/static/;|\1/static|p' "$D$SITE/tasklist")
[ "$static" = "$DATA/static" ] || tl_fail "the nginx site's static alias is $static, want $DATA/static"
for f in style.css favicon.ico; do [ -s "$D$static/$f" ] || tl_fail "no $static/$f installed"; done
echo "install layout: $(wc -l <"$T/got") files as expected; installed binary finds templates and migrations; serves"
