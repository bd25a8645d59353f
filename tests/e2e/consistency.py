#!/usr/bin/env python3
"""tests/e2e/consistency.py - a Jepsen-style workload and checker for tasklist
(standard library only).

Concurrent clients run a weighted mix of operations through nginx:
  add   POST / name=... (form, answers 303) or POST /api/tasks {"name": ...} (201)
  del   POST /<id>/delete (form, 303) or DELETE /api/tasks/<id> (204), half each,
        of a task the client added itself (ids from the API's 201 answer or
        learned from any read that lists the name)
  get   GET /, task names and ids parsed from the HTML table
  api   GET /api/tasks (JSON)
Every operation's start and end (monotonic clock) and answer are recorded.
The run is a list of phases, each with a duration, a mix, and actions run at
its start (a shell command, e.g. kill -STOP a memcached). Afterwards every
successful read is checked:
  * every task whose add completed before the read started is listed, unless
    a delete of it started before the read ended (completed before, or
    concurrent with, the read);
  * no task whose delete completed before the read started is listed (ids are
    never reused).
A read breaking either rule is a stale read. Answers 5xx (503 included) and
requests without an answer are errors; any other answer outside the expected
ones (add 303/201, delete 303/204, read 200) is unexpected. The exit status is
1 when there is a stale read, an error or an unexpected answer, 2 on bad usage.

usage: consistency.py --url http://127.0.0.1:PORT [--url ...] --phases JSON|@FILE
         [--clients 6] [--max-live 30] [--think-ms 2] [--seed N] [--label NAME]
         [--history FILE]
       consistency.py --analyse FILE        re-check a saved history
phases: [{"name": "warm", "dur": 4, "mix": {"add": 1, "del": 1, "get": 2, "api": 2}},
         {"name": "hang", "dur": 5, "mix": {...}, "at_start": ["sh:kill -STOP 1234"]},
         {"name": "b-only", "dur": 5, "mix": {"get": 1}, "mix_by_url": {"1": {"add": 1}}}]
  Clients are given the URLs in turn (client i uses url i mod n); mix_by_url
  overrides the mix for the clients of URL number k. Actions: "sh:CMD" (run
  with sh -c; a non-zero status is reported and fails the run), "sleep:S".
Live tasks are kept at most --max-live: an add drawn when that many of this
run's tasks may exist becomes a delete; a delete with nothing to delete
becomes a GET /.
"""
import argparse
import html
import http.client
import json
import random
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

T0 = time.monotonic()
ROW_RE = re.compile(r"<tr>(.*?)</tr>", re.S)
CELL_RE = re.compile(r'^\s*<td>(.*?)</td>\s*<td class="actions">\s*<form action="/(\d+)/delete"', re.S)
OK_STATUS = {"add": (303, 201), "del": (303, 204), "get": (200,), "api": (200,)}


def now():
    return time.monotonic() - T0


def parse_index(body):
    """[(id, name)] of the task table of GET /; ValueError when the page is not the index."""
    text = body.decode("utf-8")
    if "<table" not in text:
        if "No tasks yet." in text:
            return []
        raise ValueError("neither a task table nor 'No tasks yet.'")
    rows = []
    for tr in ROW_RE.findall(text):
        if "/delete" not in tr:
            continue   # not a task row (a header, say)
        m = CELL_RE.match(tr)
        if not m:
            raise ValueError("unparsable row: %r" % tr[:120])
        rows.append((int(m.group(2)), html.unescape(m.group(1))))
    return rows


def parse_api(body):
    """[(id, name)] of GET /api/tasks: a JSON array of tasks, or an object with one under "tasks"."""
    doc = json.loads(body)
    if isinstance(doc, dict) and isinstance(doc.get("tasks"), list):
        doc = doc["tasks"]
    if not isinstance(doc, list):
        raise ValueError("GET /api/tasks is not a JSON array")
    return [(int(t["id"]), t["name"]) for t in doc]


class State:
    def __init__(self, run_id):
        self.run_id = run_id
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.ops = []
        self.phase = ""
        self.mix = {"get": 1}
        self.mix_by_url = {}
        self.id_by_name = {}     # learned from API adds and from reads
        self.maybe_live = 0      # adds sent minus deletes that succeeded (upper bound of live tasks)

    def learn(self, rows):
        with self.lock:
            for i, n in rows:
                self.id_by_name.setdefault(n, i)


class Client(threading.Thread):
    def __init__(self, cid, url_index, url, st, rng, args):
        super().__init__(daemon=True)
        self.cid, self.ui, self.url, self.st, self.rng, self.args = cid, url_index, url, st, rng, args
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.origin = "%s://%s" % (u.scheme, u.netloc)
        self.conn = None
        self.seq = 0
        self.mine = []           # names of this client's acknowledged adds, not yet picked for deletion

    def request(self, method, path, body=None, headers=None):
        """(status or None, headers, body or error text). GETs on a reused connection that the
        server closed are retried once on a fresh one; writes are never retried."""
        hdrs = {"Origin": self.origin}
        hdrs.update(headers or {})
        for attempt in (0, 1):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.args.timeout)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                r = self.conn.getresponse()
                data = r.read()
                if r.will_close:
                    self.conn.close()
                    self.conn = None
                return r.status, {k.lower(): v for k, v in r.getheaders()}, data
            except (OSError, http.client.HTTPException) as e:
                self.conn.close()
                self.conn = None
                if attempt == 0 and reused and method == "GET" and not isinstance(e, socket.timeout):
                    continue
                return None, {}, repr(e).encode()
        return None, {}, b""

    def pick(self):
        mix = self.st.mix_by_url.get(self.ui, self.st.mix)
        kinds = list(mix)
        kind = self.rng.choices(kinds, [mix[k] for k in kinds])[0]
        with self.st.lock:
            if kind == "add" and self.st.maybe_live >= self.args.max_live:
                kind = "del"
            victim = None
            if kind == "del":
                known = [n for n in self.mine if n in self.st.id_by_name]
                if known:
                    victim = self.rng.choice(known)
                    self.mine.remove(victim)
                else:
                    kind = "get"
            if kind == "add":
                self.st.maybe_live += 1
        return kind, victim

    def run(self):
        st = self.st
        while not st.stop.is_set():
            kind, victim = self.pick()
            if kind == "idle":
                time.sleep(0.05)
                continue
            op = {"c": self.cid, "u": self.ui, "kind": kind, "phase": st.phase}
            form = self.rng.random() < 0.5
            if kind == "add":
                self.seq += 1
                op["name"] = name = "%s-c%d-%d" % (st.run_id, self.cid, self.seq)
                op["via"] = "form" if form else "api"
                op["start"] = now()
                if form:
                    s, h, d = self.request("POST", "/", urllib.parse.urlencode({"name": name}),
                                           {"Content-Type": "application/x-www-form-urlencoded"})
                else:
                    s, h, d = self.request("POST", "/api/tasks", json.dumps({"name": name}),
                                           {"Content-Type": "application/json"})
                op["end"] = now()
            elif kind == "del":
                op["name"] = victim
                op["id"] = tid = st.id_by_name[victim]
                op["via"] = "form" if form else "api"
                op["start"] = now()
                if form:
                    s, h, d = self.request("POST", "/%d/delete" % tid, "",
                                           {"Content-Type": "application/x-www-form-urlencoded"})
                else:
                    s, h, d = self.request("DELETE", "/api/tasks/%d" % tid)
                op["end"] = now()
            else:
                op["start"] = now()
                s, h, d = self.request("GET", "/" if kind == "get" else "/api/tasks")
                op["end"] = now()
            op["status"] = s
            op["ok"] = s in OK_STATUS[kind]
            if h.get("x-cache"):
                op["xcache"] = h["x-cache"]
            if s is None or s >= 500:
                op["error"] = " ".join(re.sub(r"<[^>]*>", " ", d.decode(errors="replace")).split())[:200]
            if op["ok"] and kind in ("get", "api"):
                try:
                    op["rows"] = parse_index(d) if kind == "get" else parse_api(d)
                    st.learn(op["rows"])
                except (ValueError, KeyError, TypeError) as e:
                    op["ok"] = False
                    op["error"] = "unparsable answer: %s" % e
            if kind == "add":
                if s == 201:
                    try:
                        doc = json.loads(d)
                        op["id"] = int(doc["id"])
                        st.learn([(op["id"], op["name"])])
                    except (ValueError, KeyError, TypeError):
                        pass
                if op["ok"]:
                    self.mine.append(op["name"])
                elif s is not None and s < 500:
                    with st.lock:   # refused for sure: it does not exist
                        st.maybe_live -= 1
            if kind == "del" and op["ok"]:
                with st.lock:
                    st.maybe_live -= 1
            with st.lock:
                st.ops.append(op)
            if self.args.think_ms:
                time.sleep(self.args.think_ms / 1000.0)


def run_action(action, st):
    kind, _, arg = action.partition(":")
    t = now()
    if kind == "sleep":
        time.sleep(float(arg))
        return {"t": t, "action": action, "rc": 0}
    if kind == "sh":
        r = subprocess.run(["sh", "-c", arg], capture_output=True, text=True)
        return {"t": t, "action": action, "rc": r.returncode, "out": (r.stdout + r.stderr)[-300:]}
    raise SystemExit("consistency.py: unknown action %r" % action)


def analyse(ops):
    """Sweep over the successful reads in order of start time. `required`: names whose add
    completed before the read started and of which no delete started yet; a delete that starts
    after the read started but before it ended excuses a missing name; `gone`: ids whose delete
    completed before the read started. Returns [(read, missing adds, deleted tasks shown)]."""
    adds = sorted((o for o in ops if o["kind"] == "add" and o["ok"]), key=lambda o: o["end"])
    dels = [o for o in ops if o["kind"] == "del"]
    del_start = {}
    for d in dels:
        del_start[d["name"]] = min(d["start"], del_start.get(d["name"], d["start"]))
    dels_by_start = sorted(dels, key=lambda o: o["start"])
    dels_done = sorted((o for o in dels if o["ok"]), key=lambda o: o["end"])
    reads = sorted((o for o in ops if o["kind"] in ("get", "api") and o["ok"]), key=lambda o: o["start"])
    required, gone, stale = {}, {}, []
    ia = ids = idd = 0
    for r in reads:
        while ia < len(adds) and adds[ia]["end"] < r["start"]:
            a = adds[ia]
            ia += 1
            if del_start.get(a["name"], float("inf")) >= r["start"]:
                required[a["name"]] = a
        while ids < len(dels_by_start) and dels_by_start[ids]["start"] < r["start"]:
            required.pop(dels_by_start[ids]["name"], None)
            ids += 1
        while idd < len(dels_done) and dels_done[idd]["end"] < r["start"]:
            gone[dels_done[idd]["id"]] = dels_done[idd]
            idd += 1
        names = {n for _, n in r["rows"]}
        missing = [a for n, a in required.items()
                   if n not in names and del_start.get(n, float("inf")) >= r["end"]]
        shown = [gone[i] for i, _ in r["rows"] if i in gone]
        if missing or shown:
            stale.append((r, sorted(missing, key=lambda a: a["end"]), shown))
    return stale


def fmt(o):
    s = "%s c%d url%d [%.3f .. %.3f] %s" % (o["kind"], o["c"], o["u"], o["start"], o["end"], o["status"])
    if o.get("via"):
        s += " via " + o["via"]
    if o.get("xcache"):
        s += " X-Cache " + o["xcache"]
    if o.get("name"):
        s += " " + o["name"]
    if o.get("id") is not None:
        s += " id=%d" % o["id"]
    return s + " (phase %s)" % o["phase"]


def report(ops, phases, stale, label, out=sys.stdout):
    p = lambda *a: print(*a, file=out)  # noqa: E731
    errors = [o for o in ops if o["status"] is None or o["status"] >= 500 or
              (o["status"] == 200 and not o["ok"])]
    err_ids = {id(o) for o in errors}
    unexpected = [o for o in ops if id(o) not in err_ids and not o["ok"]]
    reads_ok = sum(1 for o in ops if o["kind"] in ("get", "api") and o["ok"])
    stale_by_phase = {}
    for r, _, _ in stale:
        stale_by_phase[r["phase"]] = stale_by_phase.get(r["phase"], 0) + 1
    p("consistency %s: %d operations, %d clients" % (label, len(ops), len({o["c"] for o in ops})))
    for ph in phases:
        n = [o for o in ops if o["phase"] == ph["name"]]
        cnt = {k: sum(1 for o in n if o["kind"] == k) for k in ("add", "del", "get", "api")}
        hits = sum(1 for o in n if o.get("xcache") == "HIT")
        lat = sorted(o["end"] - o["start"] for o in n) or [0.0]
        errs = sum(1 for o in n if id(o) in err_ids)
        p("phase %-12s %6.2f .. %6.2f s: ops %5d (add %d, del %d, GET / %d, GET /api/tasks %d; "
          "X-Cache HIT %d) latency median %.1f ms max %.0f ms; stale reads %d, errors %d%s" % (
              ph["name"], ph["start"], ph["end"], len(n), cnt["add"], cnt["del"], cnt["get"],
              cnt["api"], hits, 1000 * lat[len(lat) // 2], 1000 * lat[-1],
              stale_by_phase.get(ph["name"], 0), errs,
              "".join("; at start: %s -> rc %d" % (a["action"], a["rc"]) for a in ph["actions"])))
        for a in ph["actions"]:
            if a["rc"] != 0:
                p("    action failed: %s: %s" % (a["action"], a.get("out", "").strip()))
    counts = {}
    for o in ops:
        k = "%s/%s" % (o["kind"], o["status"])
        counts[k] = counts.get(k, 0) + 1
    p("answers: " + ", ".join("%s=%d" % kv for kv in sorted(counts.items())))
    most = max((len(o["rows"]) for o in ops if "rows" in o), default=0)
    p("largest read: %d tasks" % most)
    p("errors: %d" % len(errors))
    for o in errors[:5]:
        p("    " + fmt(o) + ": " + o.get("error", ""))
    p("unexpected answers: %d" % len(unexpected))
    for o in unexpected[:5]:
        p("    " + fmt(o))
    p("STALE READS: %d of %d successful reads" % (len(stale), reads_ok))
    if stale:
        p("    missing completed adds: %d instances; tasks shown after their delete completed: %d "
          "instances" % (sum(len(m) for _, m, _ in stale), sum(len(g) for _, _, g in stale)))
        lag = max(r["start"] - w["end"] for r, m, g in stale for w in m + g)
        p("    stale reads from %.3f to %.3f s; longest write-completed to read-start gap %.3f s" % (
            stale[0][0]["start"], stale[-1][0]["start"], lag))
        for r, m, g in stale[:6]:
            p("    READ " + fmt(r) + ", %d tasks" % len(r["rows"]))
            for a in m[:2]:
                p("        missing: " + fmt(a) + ", completed %.3f s before the read" % (r["start"] - a["end"]))
            for d in g[:2]:
                p("        deleted but shown: " + fmt(d) + ", completed %.3f s before the read" % (
                    r["start"] - d["end"]))
    failed_actions = sum(1 for ph in phases for a in ph["actions"] if a["rc"] != 0)
    p("RESULT %s: stale=%d errors=%d unexpected=%d reads=%d ops=%d failed_actions=%d" % (
        label, len(stale), len(errors), len(unexpected), reads_ok, len(ops), failed_actions))
    return 1 if stale or errors or unexpected or failed_actions or reads_ok == 0 else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", action="append", default=[])
    ap.add_argument("--phases")
    ap.add_argument("--clients", type=int, default=6)
    ap.add_argument("--max-live", type=int, default=30)
    ap.add_argument("--think-ms", type=float, default=2.0)
    ap.add_argument("--timeout", type=float, default=15.0, help="per request, seconds")
    ap.add_argument("--seed", type=int)
    ap.add_argument("--label", default="run")
    ap.add_argument("--history", help="save every operation as JSON")
    ap.add_argument("--analyse", help="re-check a history saved with --history")
    args = ap.parse_args()
    if args.analyse:
        with open(args.analyse) as f:
            h = json.load(f)
        sys.exit(report(h["ops"], h["phases"], analyse(h["ops"]), h.get("label", args.label)))
    if not args.url or not args.phases:
        ap.error("--url and --phases are required")
    spec = args.phases
    if spec.startswith("@"):
        with open(spec[1:]) as f:
            spec = f.read()
    phases = json.loads(spec)
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    print("consistency %s: seed %d, %d clients on %s" % (args.label, seed, args.clients, " ".join(args.url)),
          file=sys.stderr, flush=True)
    rng = random.Random(seed)
    st = State("c%x" % (int(time.time() * 1000) & 0xffffff))
    clients = [Client(i, i % len(args.url), args.url[i % len(args.url)], st,
                      random.Random(rng.random()), args) for i in range(args.clients)]
    log = []
    for k, ph in enumerate(phases):
        start = now()
        acts = [run_action(a, st) for a in ph.get("at_start", [])]
        with st.lock:
            st.phase = ph["name"]
            st.mix = ph["mix"]
            st.mix_by_url = {int(u): m for u, m in ph.get("mix_by_url", {}).items()}
        if k == 0:
            for c in clients:
                c.start()
        time.sleep(ph["dur"])
        log.append({"name": ph["name"], "start": start, "end": now(), "actions": acts})
        print("phase %s done at %.1f s, %d operations" % (ph["name"], now(), len(st.ops)),
              file=sys.stderr, flush=True)
    st.stop.set()
    for c in clients:
        c.join(args.timeout + 5)
    with st.lock:
        ops = sorted(st.ops, key=lambda o: o["start"])
    if args.history:
        with open(args.history, "w") as f:
            json.dump({"label": args.label, "ops": ops, "phases": log}, f)
    sys.exit(report(ops, log, analyse(ops), args.label))


if __name__ == "__main__":
    main()
