#!/usr/bin/env python3
"""tests/e2e/cluster_consistency.py - concurrent clients against a running tasklist, and the check
that every read shows every write completed before it started (stdlib only).

Owns: the client threads (adds with POST /api/tasks, deletes with DELETE /api/tasks/<id>, reads
with GET /api/tasks, every op timed on one monotonic clock) and the offline check of the history.

usage: cluster_consistency.py URL SECONDS OUT.json [--threads N] [--stop-file PATH] [--started-file PATH]
       cluster_consistency.py --self-test   (the check against made-up histories)
  Runs SECONDS (or until PATH exists), then checks:
  - stale reads: a read R misses an add A acknowledged (201) before R started, and no delete of
    A's id had started before R ended; or R shows an id whose delete was acknowledged (204, or
    404: already gone) before R started;
  - answers: every answer is 2xx, 404 for a delete of an id already gone, or 503 (a clear "try
    again"); anything else (500, 502, 504, a timeout of the client's own 10 s) is a failure;
  - latency: writes slower than --max-write-s (default 3.0).
  Writes OUT.json: {"must_exist": [ids acknowledged and never (possibly) deleted],
  "must_not_exist": [ids whose delete was acknowledged], ...counters} for the caller to compare
  with every database node. Prints a summary with a per-second (UTC wall clock) timeline of non-2xx answers.
  Exit status 0 when every check passes, 1 otherwise.
"""
import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse


class Op:
    __slots__ = ("kind", "start", "end", "status", "id", "ids")

    def __init__(self, kind, start, end, status, id_=None, ids=None):
        self.kind, self.start, self.end, self.status, self.id, self.ids = kind, start, end, status, id_, ids


def request(conn_box, host, port, method, path, body=None):
    """One request on a kept-alive connection (reopened on any error). Returns (status, body);
    status 0 = the client gave up (timeout or connection error)."""
    headers = {"Origin": f"http://{host}:{port}"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    for attempt in (0, 1):
        if conn_box[0] is None:
            conn_box[0] = http.client.HTTPConnection(host, port, timeout=10)
        try:
            conn_box[0].request(method, path, body=body, headers=headers)
            r = conn_box[0].getresponse()
            data = r.read()
            if r.getheader("Connection", "").lower() == "close":
                conn_box[0].close()
                conn_box[0] = None
            return r.status, data
        except (http.client.HTTPException, OSError) as e:
            conn_box[0].close()
            conn_box[0] = None
            # a kept-alive connection closed by nginx before we sent: nothing reached the app
            if attempt == 0 and isinstance(e, (http.client.RemoteDisconnected, BrokenPipeError,
                                               ConnectionResetError)) and method == "GET":
                continue
            return 0, str(e).encode()
    return 0, b""


def client(tid, host, port, deadline, stop_file, ops, lock, seed):
    rnd = random.Random(seed)
    box = [None]
    mine = []        # ids this thread added and may delete
    n = 0
    while time.monotonic() < deadline and not (stop_file and os.path.exists(stop_file)):
        r = rnd.random()
        t0 = time.monotonic()
        # the live set stays bounded (every read must see it whole on one page of GET /api/tasks
        # ?limit=1000): past 40 tasks of its own a client deletes instead of adding
        if r < 0.30 and len(mine) >= 40:
            r = 0.35
        if r < 0.30:
            n += 1
            name = f"t{tid}-{n}-{rnd.randrange(1 << 30)}"
            st, body = request(box, host, port, "POST", "/api/tasks", json.dumps({"name": name}))
            t1 = time.monotonic()
            id_ = None
            if st == 201:
                id_ = json.loads(body)["id"]
                mine.append(id_)
            op = Op("add", t0, t1, st, id_)
        elif r < 0.40 and mine:
            id_ = mine.pop(rnd.randrange(len(mine)))
            st, _ = request(box, host, port, "DELETE", f"/api/tasks/{id_}")
            op = Op("del", t0, time.monotonic(), st, id_)
        else:
            st, body = request(box, host, port, "GET", "/api/tasks?limit=1000")
            t1 = time.monotonic()
            ids = None
            if st == 200:
                ids = frozenset(t["id"] for t in json.loads(body))
            op = Op("read", t0, t1, st, ids=ids)
        with lock:
            ops.append(op)


def check(ops, max_write_s):
    adds = [o for o in ops if o.kind == "add" and o.status == 201]
    dels = [o for o in ops if o.kind == "del"]
    reads = [o for o in ops if o.kind == "read" and o.status == 200]
    del_start = {}     # id -> earliest start of any delete (acknowledged or not)
    del_acked = {}     # id -> end of an acknowledged delete
    for d in dels:
        del_start[d.id] = min(del_start.get(d.id, d.start), d.start)
        if d.status in (204, 200, 404):
            del_acked[d.id] = min(del_acked.get(d.id, d.end), d.end)
    problems = []
    stale = 0
    for r in reads:
        for a in adds:
            if a.end < r.start and a.id not in r.ids and not (a.id in del_start and del_start[a.id] < r.end):
                stale += 1
                if len(problems) < 10:
                    problems.append(f"stale read [{r.start:.3f}, {r.end:.3f}]: misses task {a.id} "
                                    f"added [{a.start:.3f}, {a.end:.3f}]")
        for id_, end in del_acked.items():
            if end < r.start and id_ in r.ids:
                stale += 1
                if len(problems) < 10:
                    problems.append(f"stale read [{r.start:.3f}, {r.end:.3f}]: shows task {id_} "
                                    f"deleted before {end:.3f}")
    bad = [o for o in ops if not (200 <= o.status < 300 or o.status == 503 or
                                  (o.kind == "del" and o.status == 404))]
    for o in bad[:10]:
        problems.append(f"{o.kind} [{o.start:.3f}, {o.end:.3f}] answered {o.status or 'nothing'}")
    slow = [o for o in ops if o.kind != "read" and o.end - o.start > max_write_s]
    for o in slow[:10]:
        problems.append(f"slow {o.kind}: {o.end - o.start:.2f} s")
    return stale, bad, slow, problems, del_acked


def self_test():
    """The checker must catch what it is for: a read missing an earlier add, a read showing an
    earlier delete, a bad answer, a slow write; and must accept overlapping operations."""
    ops = [Op("add", 0.0, 1.0, 201, 1), Op("read", 2.0, 2.5, 200, ids=frozenset())]
    assert check(ops, 3.0)[0] == 1, "missed add not caught"
    ops = [Op("add", 0.0, 1.0, 201, 1), Op("read", 0.5, 2.5, 200, ids=frozenset())]
    assert check(ops, 3.0)[0] == 0, "concurrent add flagged"
    ops = [Op("add", 0.0, 1.0, 201, 1), Op("del", 1.5, 2.0, 204, 1), Op("read", 3.0, 3.5, 200, ids=frozenset({1}))]
    assert check(ops, 3.0)[0] == 1, "shown delete not caught"
    ops = [Op("add", 0.0, 1.0, 201, 1), Op("del", 1.5, 2.0, 503, 1), Op("read", 3.0, 3.5, 200, ids=frozenset())]
    assert check(ops, 3.0)[0] == 0, "a failed delete may have applied: not stale"
    ops = [Op("add", 0.0, 1.0, 502, None), Op("add", 0.0, 4.0, 201, 2)]
    stale, bad, slow, _, _ = check(ops, 3.0)
    assert len(bad) == 1 and len(slow) == 1, "bad answer or slow write not caught"
    print("cluster_consistency: self-test ok")
    return 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("seconds", type=float)
    ap.add_argument("out")
    ap.add_argument("--threads", type=int, default=6)
    ap.add_argument("--stop-file")
    ap.add_argument("--max-write-s", type=float, default=3.0)
    ap.add_argument("--started-file", help="created once the clients run")
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    ops, lock = [], threading.Lock()
    t_begin = time.monotonic()
    deadline = t_begin + a.seconds
    threads = [threading.Thread(target=client, args=(i, u.hostname, u.port or 80, deadline, a.stop_file,
                                                    ops, lock, 1000 + i)) for i in range(a.threads)]
    for t in threads:
        t.start()
    if a.started_file:
        open(a.started_file, "w").close()
    wall0 = time.time() - (time.monotonic() - t_begin)   # wall clock at t_begin
    for t in threads:
        t.join()
    stale, bad, slow, problems, del_acked = check(ops, a.max_write_s)
    # ids that must be in every node at the end: acknowledged adds never (possibly) deleted
    deleted_maybe = {o.id for o in ops if o.kind == "del"}
    must_exist = sorted(o.id for o in ops if o.kind == "add" and o.status == 201 and o.id not in deleted_maybe)
    counts = {}
    for o in ops:
        k = f"{o.kind} {o.status}"
        counts[k] = counts.get(k, 0) + 1
    timeline = {}     # by wall-clock second (UTC), to set beside the faults' times
    for o in ops:
        if not 200 <= o.status < 300:
            s = time.strftime("%H:%M:%S", time.gmtime(wall0 + (o.start - t_begin)))
            timeline.setdefault(s, {}).setdefault(f"{o.kind} {o.status}", 0)
            timeline[s][f"{o.kind} {o.status}"] += 1
    wl = sorted(o.end - o.start for o in ops if o.kind != "read")
    rl = sorted(o.end - o.start for o in ops if o.kind == "read")
    pct = lambda xs, p: xs[min(len(xs) - 1, int(p * len(xs)))] if xs else 0.0
    summary = {
        "ops": len(ops), "counts": counts, "stale_reads": stale, "bad_answers": len(bad),
        "slow_writes": len(slow), "max_write_s": round(wl[-1], 3) if wl else 0,
        "write_p50_ms": round(pct(wl, 0.5) * 1000, 1), "write_p99_ms": round(pct(wl, 0.99) * 1000, 1),
        "read_p50_ms": round(pct(rl, 0.5) * 1000, 1), "read_p99_ms": round(pct(rl, 0.99) * 1000, 1),
        "non_2xx_by_second_utc": dict(sorted(timeline.items())),
        "must_exist": must_exist, "must_not_exist": sorted(del_acked),
    }
    with open(a.out, "w") as f:
        json.dump(summary, f)
    short = {k: v for k, v in summary.items() if k not in ("must_exist", "must_not_exist")}
    print(json.dumps(short, indent=1))
    for p in problems:
        print("FAIL:", p)
    ok = stale == 0 and not bad and not slow and len(must_exist) > 0
    print("cluster_consistency:", "ok" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
