#!/usr/bin/env bash
# GET /v1/tasks page by page from the daemon's in-memory index: with
# filters (status, class, batch), every task appears exactly once and in
# (created_at, task_id) order, while new tasks are submitted during the
# walk, while the tasks walked run and finish, and for tasks that had
# finished before the daemon started. Over the unix socket.
. "$(dirname "$0")/lib.sh"

R=$GPUMGR_ROOT
NQ=${GPUMGR_PAGES_N:-120}	# tasks in batch bA; the big run: more
port=$(free_ports 1)
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0, \"api\": {\"port\": $port},
 \"scripts\": {\"noop\": {\"argv\": [\"true\"]}}}"
mkdir -p "$R/control" "$R/tasks/complete" "$R/tasks/failed"
: >"$R/control/drain.0"
: >"$R/control/drain.1"
# Finished before this daemon: 30 complete (batch old), 10 failed.
python3 - "$R" <<'PY'
import json, os, sys
r = sys.argv[1]
for i in range(30):
    json.dump({"task_id": "old-%02d" % i, "task_class": "script", "script": "noop",
               "status": "complete", "batch_id": "old",
               "created_at": "2026-01-01T00:00:%02dZ" % i},
              open(os.path.join(r, "tasks/complete/old-%02d.json" % i), "w"))
for i in range(10):
    json.dump({"task_id": "bad-%02d" % i, "task_class": "llm", "prompt": "x",
               "status": "failed", "created_at": "2026-01-02T00:00:00Z"},
              open(os.path.join(r, "tasks/failed/bad-%02d.json" % i), "w"))
PY
start_daemon --sim 2x24GB

python3 - "$R/api.sock" "$NQ" "$R" <<'PY'
import calendar, http.client, json, os, socket, sys, threading, time

sock, nq, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]

class Conn(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(sock)

def req(method, path, body=None):
    c = Conn("localhost")
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    d = json.loads(r.read() or b"null")
    c.close()
    return r.status, d

def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)

def ms(stamp):
    """created_at ("...T10:00:00Z" or "...T10:00:00.012Z") in ms."""
    whole, _, frac = stamp.rstrip("Z").partition(".")
    t = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return t * 1000 + int((frac + "000")[:3])

def walk(query, limit, between=None):
    """Every page of QUERY; checks the filter holds on each row and that
    keys only grow. Returns the ids in order."""
    ids, cursor, pages, last = [], None, 0, None
    while True:
        q = "/v1/tasks?%slimit=%d" % (query + "&" if query else "", limit)
        if cursor:
            q += "&cursor=" + cursor
        code, d = req("GET", q)
        if code != 200:
            fail("%s: %d %s" % (q, code, d))
        if d["count"] != len(d["tasks"]) or d["count"] > limit:
            fail("%s: count %d for %d rows" % (q, d["count"], len(d["tasks"])))
        for t in d["tasks"]:
            key = (ms(t["created_at"]), t["task_id"])
            if last is not None and key <= last:
                fail("%s: %s after %s: not in key order" % (query, key, last))
            last = key
            for f in query.split("&") if query else []:
                k, v = f.split("=")
                col = {"status": "status", "class": "task_class", "batch": "batch_id"}[k]
                if t.get(col) != v:
                    fail("%s: row %s has %s=%s" % (query, t["task_id"], col, t.get(col)))
            ids.append(t["task_id"])
        pages += 1
        cursor = d["next"]
        if (cursor is None) == d["truncated"]:
            fail("next and truncated disagree: %s" % d)
        if cursor is None:
            return ids, pages
        if between:
            between()

def once(what, ids, want):
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        fail("%s: listed twice: %s" % (what, dup[:10]))
    missing = sorted(set(want) - set(ids))
    if missing:
        fail("%s: missing %d: %s" % (what, len(missing), missing[:10]))

def wait(what, pred, secs=60):
    end = time.time() + secs
    while not pred():
        if time.time() > end:
            fail("timed out waiting for " + what)
        time.sleep(0.05)

# Queued: batch bA (script, priority 2), batch bB (llm, priority 4), and
# single script tasks.
code, d = req("POST", "/v1/batches", {"batch_id": "bA", "script": "noop",
              "priority": 2, "gpu_mode": "shared", "items": [{} for _ in range(nq)]})
if code != 201: fail("batch bA: %d %s" % (code, d))
code, d = req("POST", "/v1/batches", {"batch_id": "bB", "task_class": "llm",
              "priority": 4, "gpu_mode": "shared", "items": ["p%d" % i for i in range(60)]})
if code != 201: fail("batch bB: %d %s" % (code, d))
for i in range(50):
    code, d = req("POST", "/v1/tasks", {"task_id": "one-%02d" % i, "script": "noop"})
    if code != 201: fail("submit one-%02d: %d %s" % (i, code, d))
bA = ["bA-%d" % i for i in range(nq)]
bB = ["bB-%d" % i for i in range(60)]
ones = ["one-%02d" % i for i in range(50)]
old = ["old-%02d" % i for i in range(30)]
bad = ["bad-%02d" % i for i in range(10)]

# Walk queued script tasks while another client submits 40 more.
new = ["new-%02d" % i for i in range(40)]
def submitter():
    for t in new:
        code, d = req("POST", "/v1/tasks", {"task_id": t, "script": "noop"})
        if code != 201: fail("submit %s: %d" % (t, code))
th = threading.Thread(target=submitter)
th.start()
ids, pages = walk("status=queued&class=script", 17, between=lambda: time.sleep(0.01))
th.join()
once("queued script tasks, walked during submissions", ids, bA + ones)
if set(ids) - set(bA + ones + new):
    fail("queued script walk listed strangers: %s" % sorted(set(ids) - set(bA + ones + new))[:5])
print("ok: %d queued script tasks in %d pages, each once, during 40 submissions" % (len(ids), pages))

ids, _ = walk("batch=bB", 9)
once("batch bB", ids, bB)
if len(ids) != 60: fail("batch bB: %d rows" % len(ids))
ids, _ = walk("class=llm&status=queued", 1000)
if sorted(ids) != sorted(bB): fail("queued llm: %s" % ids[:5])

# Old finished tasks are indexed shortly after the start.
wait("the index of finished tasks", lambda: "partial" not in req("GET", "/v1/tasks?status=complete")[1])
ids, _ = walk("status=complete", 7)
if sorted(ids) != old: fail("complete: %s" % ids)
ids, _ = walk("status=failed&class=llm", 3)
if sorted(ids) != bad: fail("failed llm: %s" % ids)
ids, _ = walk("", 50)
once("everything", ids, bA + bB + ones + new + old + bad)
if len(ids) != len(set(bA + bB + ones + new + old + bad)):
    fail("everything: %d rows" % len(ids))
# /v1/status counts the same tasks (from the index, not the folders).
code, d = req("GET", "/v1/status")
qs = d["queues"]
got = (qs["llm"]["priority_4"], qs["script"]["priority_2"], qs["script"]["total"],
       qs["complete"], qs["failed"], qs["processing"])
if got != (len(bB), nq, nq + len(ones) + len(new), 30, 10, 0):
    fail("/v1/status queues: %s" % (got,))
print("ok: filters by batch, class and status; old finished tasks listed; status counts")

# Cancel batch bB through the API: listed as failed at once.
for t in bB:
    code, d = req("DELETE", "/v1/tasks/" + t)
    if code != 200: fail("cancel %s: %d %s" % (t, code, d))
ids, _ = walk("batch=bB&status=failed", 11)
if sorted(ids) != sorted(bB): fail("cancelled bB: %d listed" % len(ids))
code, d = req("GET", "/v1/tasks?batch=bB&status=queued")
if d["count"] != 0: fail("cancelled bB still queued: %s" % d["tasks"][:3])

# Undrain: bA runs and finishes while it is walked, slowly.
os.unlink(os.path.join(root, "control/drain.0"))
os.unlink(os.path.join(root, "control/drain.1"))
ids, pages = walk("batch=bA", 7, between=lambda: time.sleep(0.05))
once("batch bA while it runs", ids, bA)
if len(ids) != nq: fail("batch bA while it runs: %d rows" % len(ids))
print("ok: batch bA walked in %d pages while it ran, each task once" % pages)
wait("batch bA complete", lambda: req("GET", "/v1/tasks?batch=bA&status=complete&limit=10000")[1]["count"] == nq, 120)
code, d = req("GET", "/v1/batches/bA")
if (d["completed"], d["failed"]) != (nq, 0): fail("batch bA record: %s %s" % (d["completed"], d["failed"]))

# Bad cursors are 400, not a crash.
for c in ("zzz", "AAAA", "%00"):
    code, d = req("GET", "/v1/tasks?cursor=" + c)
    if code != 400 or d["error"]["code"] != "bad_query": fail("cursor %s: %d %s" % (c, code, d))
PY
kill -0 "$DAEMON_PID" || fail "the daemon died"
stop_daemon
! grep -E "runtime error|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$TEST_TMP/daemon.log" ||
  fail "sanitizer report in the daemon log"
pass "pages: every task once, under submissions and moves"
