#!/bin/bash
# tests/e2e/pages.sh - pages of GET / and of the JSON list through real nginx, SQLite and a real SASL
# memcached: the newest page at /, older and newer pages by keyset (?before=ID, ?after=ID), each page
# cached under its own key, bad page arguments refused with 400, the landing page after an add shows
# it; GET /api/tasks bounded by [app] page_size or ?limit=, with Link rel="next".
. "$(dirname "$0")/../lib/servers.sh"
. "$(dirname "$0")/app_lib.sh"
tl_init pages
tl_need sqlite3
app_memcached
export DATABASE_URL="sqlite:///$T/db/tasks.sqlite"
mkdir -p "$T/db"
"$TL_BIN" db upgrade --migrations "$TL_SRC/migrations" >/dev/null 2>&1 || tl_fail "db upgrade"
sqlite3 "$T/db/tasks.sqlite" "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<120)
  INSERT INTO task(name) SELECT 'task '||x FROM c;"
app_start
ids() { grep -o '/[0-9]*/delete' "$1" | tr -dc '0-9\n' | tr '\n' ' ' | sed 's/ $//'; }
get() { curl -s -D "$T/h" -o "$T/p" "$U$1"; tr -d '\r' <"$T/h" | awk -F': ' 'tolower($1)=="x-cache"{print $2}'; }
seqids() { seq -s ' ' "$1" "$2"; }

get / >/dev/null
[ "$(ids "$T/p")" = "$(seqids 71 120)" ] || tl_fail "GET / should list the newest 50 (71..120) in order: $(ids "$T/p")"
grep -q 'href="/?before=71"' "$T/p" || tl_fail "GET / has no link to the older page"
grep -q 'after=' "$T/p" && tl_fail "the newest page links to a newer one"
[ "$(get /)" = HIT ] || tl_fail "second GET / is not a HIT"
[ "$(get '/?before=71')" = MISS ] || tl_fail "the older page shared the first page's entry"
[ "$(ids "$T/p")" = "$(seqids 21 70)" ] || tl_fail "?before=71 should list 21..70: $(ids "$T/p")"
grep -q 'href="/?before=21"' "$T/p" && grep -q 'href="/?after=70"' "$T/p" || tl_fail "?before=71 lacks its links"
[ "$(get '/?before=71')" = HIT ] || tl_fail "the older page is not cached"
get '/?before=21' >/dev/null
[ "$(ids "$T/p")" = "$(seqids 1 20)" ] && ! grep -q 'before=' "$T/p" && grep -q 'href="/?after=20"' "$T/p" ||
  tl_fail "?before=21 should list 1..20, no older link, a newer link"
get '/?after=70' >/dev/null
[ "$(ids "$T/p")" = "$(seqids 71 120)" ] && ! grep -q 'after=' "$T/p" || tl_fail "?after=70 should be the newest page"
# other arguments do not split the cache
[ "$(get '/?utm=x')" = HIT ] || tl_fail "GET /?utm=x is not served from the first page's entry"
# bad page arguments: 400 with a message, nothing cached
for q in 'after=abc' 'after=05' 'after=0' 'before=-1' 'after=1&before=2' 'after=99999999999999999999'; do
  c=$(code "$U/?$q"); [ "$c" = 400 ] || tl_fail "GET /?$q answered $c, want 400"
done
curl -s "$U/?after=abc" | grep -q 'That page does not exist' || tl_fail "a bad page argument has no message"
# after an add the landing page shows the new task
c=$(post --data 'name=the+newest' "$U/"); [ "$c" = 303 ] || tl_fail "POST / answered $c"
page | grep -q '<td>the newest</td>' || tl_fail "the page the browser lands on does not show the added task"

# JSON: bounded, ?limit=, ?after=, Link rel="next"
n_json() { python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$1"; }
first_json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d[0]["id"] if d else 0)' "$1"; }
curl -s -D "$T/ah" -o "$T/a.json" "$U/api/tasks"
[ "$(n_json "$T/a.json")" = 50 ] && [ "$(first_json "$T/a.json")" = 1 ] || tl_fail "GET /api/tasks should return ids 1..50"
link=$(tr -d '\r' <"$T/ah" | sed -n 's/^Link: <\([^>]*\)>; rel="next"$/\1/p')
[ "$link" = "/api/tasks?limit=50&after=50" ] || tl_fail "GET /api/tasks Link next is \"$link\""
curl -s -o "$T/a2.json" "$U$link"
[ "$(first_json "$T/a2.json")" = 51 ] || tl_fail "the next link does not continue at 51"
curl -s -D "$T/ah3" -o "$T/a3.json" "$U/api/tasks?limit=10&after=115"
[ "$(n_json "$T/a3.json")" = 6 ] && ! grep -qi '^link:' "$T/ah3" || tl_fail "the last page has 6 tasks and no next link"
for q in 'limit=0' 'limit=1001' 'limit=x' 'after=-3' 'limit=010'; do
  c=$(code "$U/api/tasks?$q"); [ "$c" = 400 ] || tl_fail "GET /api/tasks?$q answered $c, want 400"
done
[ "$(curl -s "$U/api/tasks?limit=1000" -o "$T/a4.json"; n_json "$T/a4.json")" = 121 ] || tl_fail "?limit=1000 should return all 121"
echo "pages: / = newest 50 of 120, older/newer pages by keyset, each cached, 400 for bad arguments, landing page shows an add; API 50 per page with Link next, ?limit up to 1000"
