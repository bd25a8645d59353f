#!/bin/bash
# e2e_abuse: the pool under abuse, through real nginx (stock fastcgi_params)
# or straight on its socket.
#  - log forging: a %0a in a refused request's path forges no log line, ESC
#    bytes from the path or Origin never reach the log raw, a 2 KB path is cut;
#  - a flood of refused requests costs a bounded number of log lines, and the
#    ones left out are counted;
#  - public_origin pins the Host: another Host gets 421, a DNS-rebinding POST
#    (Host and Origin both the attacker's) is refused, the own origin works;
#  - read_timeout_s: two connections that send nothing, and one that trickles
#    a byte every 0.5 s, do not keep a 2-worker pool from serving; a
#    connection that starts while an earlier request's expiry is pending is
#    closed after its own full read_timeout_s;
#  - bytes that are not FastCGI (an HTTP request) and malformed params are
#    closed without an answer and logged, and the pool keeps serving;
#  - allowed_clients: a TCP peer not listed is closed at accept.
source "${TL_SOURCE_ROOT:-$(dirname "$0")/../..}/tests/lib/servers.sh"
source "$TL_SRC/tests/server/lib.sh"
tl_init server-abuse
tl_need nginx curl python3
FC="python3 $TL_SRC/tests/server/fcgi_client.py"

SOCK=$T/app.sock
P=$(tl_free_port)
srv_start app --set "server.listen=unix:$SOCK" --set server.socket_mode=0666 --set server.workers=2 \
  --set limits.read_timeout_s=1 --set "server.public_origin=http://127.0.0.1:$P,http://localhost:$P"
tl_wait_socket "$SOCK" || tl_fail "pool does not listen: $(cat "$T/app.log")"
tl_start_nginx "$SOCK" "$P"
U=http://127.0.0.1:$P
LOG=$T/app.log

# ---- logs: forged lines, escape sequences, length ----
forged='2026-01-01T00:00:00Z error 1 forged-by-e2e-abuse'
check "forging POST refused" 403 -H 'Origin: https://evil.example' --data x=1 \
  "$U/a%0a2026-01-01T00:00:00Z%20error%201%20forged-by-e2e-abuse"
check "ESC in Origin refused" 403 -H $'Origin: https://evil.example\e[2J' --data x=1 "$U/esc%1b%5b31m"
long=$(head -c 2000 /dev/zero | tr '\0' a)
check "2 KB path refused" 403 -H 'Origin: https://evil.example' --data x=1 "$U/$long"
tl_wait_until 5 grep -q 'a\\x0a2026-01-01T00:00:00Z error 1 forged-by-e2e-abuse' "$LOG"
grep -q "^$forged" "$LOG" && tl_fail "a %0a in the path forged a log line: $(grep "^$forged" "$LOG")"
LC_ALL=C grep -q $'\e' "$LOG" && tl_fail "a raw ESC reached the log: $(LC_ALL=C grep $'\e' "$LOG" | cat -v)"
grep -q 'a\\x0a2026-01-01T00:00:00Z error 1 forged-by-e2e-abuse' "$LOG" ||
  tl_fail "the refused path is not logged escaped: $(grep cross-origin "$LOG" | head -3)"
grep -q 'Origin "https://evil.example\\x1b\[2J"' "$LOG" || tl_fail "the Origin is not logged escaped: $(grep esc "$LOG")"
n=$(grep "aaaa" "$LOG" | awk '{ print length($0) }' | sort -n | tail -1)
[ "${n:-0}" -gt 0 ] && [ "$n" -lt 400 ] || tl_fail "the 2 KB path gives a log line of ${n:-no} bytes, want < 400"
grep -q '\.\.\.(2001 bytes)' "$LOG" || tl_fail "the cut path does not say its length: $(grep aaaa "$LOG" | head -c 300)"

# ---- a flood of refused requests: bounded log lines, the rest counted ----
before=$(grep -c 'refused' "$LOG")
for i in $(seq 300); do printf "url = \"%s\"\noutput = \"/dev/null\"\n" "$U/flood"; done >"$T/flood.curl"
curl -s -o /dev/null -K "$T/flood.curl" -H 'Origin: https://evil.example' --data x=1
after=$(grep -c 'refused' "$LOG")
lines=$((after - before))
# 2 workers, 10 lines a second each, over however long 300 requests take
[ "$lines" -lt 300 ] && [ "$lines" -le 80 ] || tl_fail "300 refused requests wrote $lines log lines"
sleep 2.5   # an idle worker writes the count of what it left out within about a second
left=$(grep -oE '(; |[0-9] )[0-9]+ more refused requests not logged' "$LOG" | awk '{ s += $2 } END { print s + 0 }')
[ $((lines + left)) -ge 300 ] ||
  tl_fail "300 refused requests: $lines lines + $left counted as left out, want >= 300"

# ---- public_origin: the Host is pinned ----
check "own origin" 200 "$U/"
check "localhost too" 200 -H "Host: localhost:$P" "$U/"
check "other Host" 421 -H 'Host: evil.example' "$U/"
check "other Host with our port" 421 -H "Host: evil.example:$P" "$U/"
check "rebinding POST" 421 -H "Host: evil.example:$P" -H "Origin: http://evil.example:$P" --data a=1 "$U/echo"
check "same-origin POST" 200 -H "Origin: $U" --data a=1 "$U/echo"
check "POST from the other listed origin" 200 -H "Origin: http://localhost:$P" --data a=1 "$U/echo"
check "POST from an unlisted origin" 403 -H "Origin: http://127.0.0.1:1" --data a=1 "$U/echo"
grep -q 'Host "evil.example" refused (421)' "$LOG" || tl_fail "421 not logged: $(tail -3 "$LOG")"

# ---- read_timeout_s: idle and trickling connections free their worker ----
rm -f "$T/ready"
$FC hold "unix:$SOCK" 2 20 "$T/ready" &
tl_remember $!
for _ in $(seq 50); do [ -s "$T/ready" ] && break; sleep 0.1; done
[ -s "$T/ready" ] || tl_fail "cannot connect to $SOCK"
sleep 1.5
r=$(curl -s -m 3 -o /dev/null -w '%{http_code} %{time_total}' "$U/")
[ "${r%% *}" = 200 ] || tl_fail "2 workers, 2 idle connections, read_timeout_s 1: GET / answered $r after 1.5 s"
out=$($FC trickle "unix:$SOCK" 15)
s=$(echo "$out" | awk '{ print int($3) }')
[ "${s:-99}" -le 3 ] || tl_fail "a client trickling its request was served or held for: $out (want closed within ~1 s)"
grep -q 'no complete request within 1 s' "$LOG" || tl_fail "idle connections not logged: $(tail -3 "$LOG")"
# The timer stays armed across requests (no setitimer per request): a connection that starts while an
# earlier request's expiry is pending still gets its whole read_timeout_s, counted from its own start
for _ in 1 2 3 4; do curl -s -o /dev/null "$U/"; done
sleep 0.6
out=$($FC trickle "unix:$SOCK" 15)
awk -v s="$(echo "$out" | awk '{ print $3 }')" 'BEGIN { exit !(s >= 0.9 && s <= 3) }' ||
  tl_fail "trickling client after other requests: $out (want closed 1 s after its own start, not earlier)"
check "still serving" 200 "$U/"

# ---- bytes that are not FastCGI: closed without an answer, logged, the pool keeps serving ----
out=$($FC raw "unix:$SOCK" http)
[ "$out" = closed ] || tl_fail "an HTTP request on the FastCGI socket was answered: $out"
grep -q 'FastCGI connection closed: not a FastCGI record' "$LOG" || tl_fail "non-FastCGI bytes not logged: $(tail -3 "$LOG")"
out=$($FC raw "unix:$SOCK" badpairs)
[ "$out" = closed ] || tl_fail "malformed params were answered: $out"
grep -q 'FastCGI connection closed: malformed FastCGI params' "$LOG" || tl_fail "malformed params not logged: $(tail -3 "$LOG")"
check "still serving after malformed streams" 200 "$U/"

# ---- allowed_clients: TCP peers not listed are closed at accept ----
TP=$(tl_free_port)
srv_start tcp --set "server.listen=127.0.0.1:$TP" --set server.workers=1 --set 'server.allowed_clients=::1'
tl_wait_tcp "$TP" || tl_fail "no TCP listener: $(cat "$T/tcp.log")"
out=$($FC get "127.0.0.1:$TP" /); rc=$?
[ $rc = 3 ] || tl_fail "127.0.0.1 not in allowed_clients = ::1, yet answered: $out"
grep -q 'FastCGI connection from 127.0.0.1 refused' "$T/tcp.log" || tl_fail "refusal not logged: $(cat "$T/tcp.log")"
TP2=$(tl_free_port)
srv_start tcp2 --set "server.listen=127.0.0.1:$TP2" --set server.workers=1
tl_wait_tcp "$TP2" || tl_fail "no TCP listener: $(cat "$T/tcp2.log")"
out=$($FC get "127.0.0.1:$TP2" /) || tl_fail "default allowed_clients refuses 127.0.0.1: $out"
[ "$out" = "Status: 200 OK" ] || tl_fail "default allowed_clients: got \"$out\""
echo ok
