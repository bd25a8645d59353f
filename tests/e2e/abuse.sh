#!/bin/bash
# tests/e2e/abuse.sh - the task list under abuse, through real nginx with a real SASL memcached:
#  - 300 invalid cookieless POSTs store nothing in memcached (each gets the page with the message, 400);
#  - names that look empty, hide or reorder text, or hold controls are refused with a message and add
#    no row; a legitimate non-ASCII name with a no-break space is accepted;
#  - another application's cookie that is not UTF-8 does not break any page;
#  - with public_origin: another Host gets 421, a DNS-rebinding POST adds nothing, the own origin works;
#  - the CSP forbids form posts elsewhere, <base> and plugins;
#  - a DATABASE_URL password with '@' never shows in check-config or in the connect error.
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/app_lib.sh"
tl_init abuse
tl_need memcstat sqlite3
app_memcached
export DATABASE_URL="sqlite:///$T/db/tasks.sqlite"
P=$(tl_free_port)
export TASKLIST_SERVER_PUBLIC_ORIGIN="http://127.0.0.1:$P"
APP_NGINX_PORT=$P app_start
items() { mc_stat | awk '/curr_items:/{print $2}'; }
count() { sqlite3 "$T/db/tasks.sqlite" 'SELECT count(*) FROM task'; }

# ---- 300 invalid cookieless POSTs: no memcached item ----
post --data "name=seed" "$U/" >/dev/null
curl -s -o /dev/null "$U/"; curl -s -o /dev/null "$U/"
post --data "name=" "$U/" >/dev/null      # warms what the error page renders from
i0=$(items)
for i in $(seq 300); do printf 'url = "%s/"\noutput = "/dev/null"\n' "$U"; done >"$T/posts.curl"
codes=$(curl -s -H "Origin: $U" --data "name=" -D "$T/ph" -w '%{http_code}\n' -K "$T/posts.curl" | sort | uniq -c | tr '\n' ' ')
i1=$(items)
[ "$i1" = "$i0" ] || tl_fail "300 invalid cookieless POSTs added $((i1 - i0)) memcached items ($i0 -> $i1); answers: $codes"
[ "$(echo $codes)" = "300 400" ] || tl_fail "300 invalid cookieless POSTs answered $codes, want 400 each"
grep -qi '^set-cookie' "$T/ph" && tl_fail "an invalid cookieless POST got a cookie"
c=$(post --data "name=" "$U/"); grep -q "Task name is required." "$T/body" || tl_fail "the 400 page ($c) lacks the message"

# ---- names ----
for e in '%E2%80%8B%E2%80%8B|U+200B U+200B|visible' '%E3%80%80|U+3000|visible' '%C2%A0%C2%A0|NBSP NBSP|visible' \
  'abc%E2%80%AEgnp.exe|U+202E|bidirectional' 'x%E2%81%A6y|U+2066|bidirectional' 'a%7Fb|DEL|control' \
  'a%C2%85b|U+0085|control' 'a%09b|TAB|control' '%20%20|spaces|required'; do
  IFS='|' read -r enc label msg <<<"$e"
  n0=$(count)
  c=$(post --data "name=$enc" "$U/")
  n1=$(count)
  [ "$n1" = "$n0" ] || tl_fail "name [$label] was accepted ($c)"
  [ "$c" = 400 ] && grep -q "$msg" "$T/body" || tl_fail "name [$label] answered $c without a message on \"$msg\""
done
n0=$(count)
c=$(post --data "name=Gr%C3%BC%C3%9Fe%C2%A0%E6%97%A5%E6%9C%AC" "$U/")
[ "$c" = 303 ] && [ "$(count)" = $((n0 + 1)) ] || tl_fail "a legitimate name answered $c"
curl -s "$U/" | grep -q "Grüße.日本" || tl_fail "the legitimate name is not listed"
c=$(curl -s -o "$T/body" -w '%{http_code}' -H "Origin: $U" -H 'Content-Type: application/json' \
  --data '{"name": "a\u202eb"}' "$U/api/tasks")
[ "${c:0:1}" = 4 ] || tl_fail "the API accepted a name with U+202E ($c)"

# ---- another application's cookie ----
c=$(python3 - "$P" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:" + sys.argv[1].encode() +
          b"\r\nCookie: other=caf\xe9; x=\xff\xfe\r\nConnection: close\r\n\r\n")
print(s.recv(100).split(b" ")[1].decode())
PY
)
[ "$c" = 200 ] || tl_fail "GET / with a foreign non-UTF-8 cookie answered $c"
jar=$T/jar
curl -s -c "$jar" -b "$jar" -o /dev/null -H "Origin: $U" --data "name=with-cookie" "$U/"
v=$(awk '$6=="session"{print $7}' "$jar")
curl -s -H $'Cookie: other=caf\xe9; session='"$v" "$U/" | grep -q "Task added." ||
  tl_fail "the session cookie next to a foreign non-UTF-8 cookie lost its flash"
# another application's cookie of the same name (Flask's default is "session" too), sent first
curl -s -c "$jar" -b "$jar" -o /dev/null -H "Origin: $U" --data "name=with-two-cookies" "$U/"
v=$(awk '$6=="session"{print $7}' "$jar")
curl -s -H "Cookie: session=eyJmbGFzayI6InNlc3Npb24ifQ.Zx1Y2w.c2lnbmF0dXJl; session=$v" "$U/" | grep -q "Task added." ||
  tl_fail "our session cookie after another application's \"session\" cookie lost its flash"

# ---- public_origin ----
[ "$(code "$U/")" = 200 ] || tl_fail "own origin not served"
c=$(code "$U/" -H 'Host: evil.example'); [ "$c" = 421 ] || tl_fail "Host: evil.example answered $c, want 421"
n0=$(count)
c=$(code "$U/" -H "Host: evil.example:$P" -H "Origin: http://evil.example:$P" --data name=rebound)
[ "${c:0:1}" = 4 ] && [ "$(count)" = "$n0" ] || tl_fail "a rebinding POST answered $c and the table went $n0 -> $(count)"

# ---- CSP ----
csp=$(curl -s -D - -o /dev/null "$U/" | tr -d '\r' | grep -i '^content-security-policy:')
for d in "default-src 'self'" "form-action 'self'" "base-uri 'none'" "object-src 'none'" "frame-ancestors 'none'"; do
  echo "$csp" | grep -q "$d" || tl_fail "CSP lacks $d: $csp"
done

# ---- DATABASE_URL passwords ----
for u in 'mysql://u:pa%40ssWORDTAIL@127.0.0.1:1/db' 'mysql://u:pa@ssWORDTAIL@127.0.0.1:1/db'; do
  out=$(DATABASE_URL=$u timeout 20 "$TL_BIN" check-config 2>&1)
  echo "$out" | grep -q 'url = mysql://u:\*\*\*\*\*\*\*\*@127.0.0.1:1/db' || tl_fail "check-config for $u: $(echo "$out" | grep url)"
  echo "$out" | grep -E 'WORDTAIL|pa@ss|%40' && tl_fail "check-config shows the password of $u"
  out=$(DATABASE_URL=$u timeout 20 "$TL_BIN" db upgrade --migrations "$TL_SRC/migrations" 2>&1)
  echo "$out" | grep -q '127.0.0.1' || tl_fail "the connect error does not name the host: $out"
  echo "$out" | grep -E 'WORDTAIL|pa@ss|%40' && tl_fail "the connect error shows the password of $u: $out"
done
grep -E $'\e' "$T/app.log" && tl_fail "a raw ESC reached the log"
echo "abuse: 0 items for 300 invalid POSTs, 9 bad names refused, foreign cookie ok, Host pinned, CSP, no password shown"
