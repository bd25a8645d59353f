#!/bin/bash
# tests/package/test_man.sh MAN1 MAN5 - the built manual pages cover the binary: tasklist(1) every
# command and flag of `tasklist help`, every environment variable, the exit statuses; tasklist.ini(5)
# every [section] and key that `tasklist check-config` prints (it is generated from conf/tasklist.ini,
# and conf/tasklist.ini is held equal to the built-in defaults by server_config). Both render with
# no groff warnings.
. "${TL_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/servers.sh"
tl_init man
MAN1=$1 MAN5=$2
tl_need man
plain() { MANWIDTH=200 man --warnings -l "$1" 2>"$T/warn" | col -b; }
p1=$(plain "$MAN1"); [ -s "$T/warn" ] && tl_fail "tasklist.1 has groff warnings: $(head -3 "$T/warn")"
p5=$(plain "$MAN5"); [ -s "$T/warn" ] && tl_fail "tasklist.ini.5 has groff warnings: $(head -3 "$T/warn")"

# tasklist(1): commands and flags from the binary's own help
help=$("$TL_BIN" help)
for cmd in serve db cache check-config help --version; do
  echo "$help" | grep -q -- "tasklist $cmd\|tasklist .*$cmd" || tl_fail "tasklist help does not list $cmd"
  echo "$p1" | grep -q -- "$cmd" || tl_fail "tasklist.1 does not document $cmd"
done
for cmd in serve db cache check-config help version; do
  "$TL_BIN" help "$cmd" >"$T/h" || tl_fail "tasklist help $cmd failed"
  for flag in $(grep -o -- '--[a-z-]*' "$T/h" | sort -u); do
    echo "$p1" | grep -q -- "$flag" || tl_fail "tasklist.1 does not document $flag (from tasklist help $cmd)"
  done
  for word in $(grep -oE '^  [a-z]+' "$T/h" | sort -u); do   # sub-commands: upgrade, stats...
    echo "$p1" | grep -qw -- "$word" || tl_fail "tasklist.1 does not document \"$word\" (tasklist help $cmd)"
  done
done
"$TL_BIN" help nosuch >/dev/null 2>&1; [ $? = 2 ] || tl_fail "help of an unknown command does not exit 2"
for v in DATABASE_URL MEMCACHIER_SERVERS MEMCACHIER_USERNAME MEMCACHIER_PASSWORD SECRET_KEY TASKLIST_; do
  echo "$p1" | grep -q "$v" || tl_fail "tasklist.1 does not document the environment variable $v"
done
echo "$p1" | sed -n '/^EXIT STATUS/,/^[A-Z]/p' >"$T/exit"
for s in 0 1 2; do grep -Eq "^ +$s\b" "$T/exit" || tl_fail "tasklist.1 EXIT STATUS lacks $s"; done
for s in FILES ENVIRONMENT OPTIONS COMMANDS; do echo "$p1" | grep -q "^$s" || tl_fail "tasklist.1 has no $s section"; done

# tasklist.ini(5): every section and key the binary knows, in its section
cd "$T" && SECRET_KEY=man-test-0123456789abcdef "$TL_BIN" check-config --config /dev/null >"$T/cfg" 2>&1 ||
  tl_fail "check-config: $(cat "$T/cfg")"
n=0
while IFS= read -r line; do
  case $line in
    \[*\]) sec=$line
      echo "$p5" | grep -qF "$sec" || tl_fail "tasklist.ini.5 has no section $sec";;
    *" = "*) key=${line%% = *}; n=$((n + 1))
      echo "$p5" | sed -n "/^   $(printf '%s' "$sec" | sed 's/[][]/\\&/g')/,/^   \[/p" | grep -Eq "^ +$key( |$)" ||
        tl_fail "tasklist.ini.5 does not document $key under $sec";;
  esac
done <"$T/cfg"
[ "$n" -ge 40 ] || tl_fail "check-config printed only $n keys"
echo "man pages: tasklist.1 covers every command, flag, variable and exit status; tasklist.ini.5 all $n keys"
