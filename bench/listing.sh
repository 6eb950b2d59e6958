#!/usr/bin/env bash
# Lists against a deep queue: N queued script tasks (default 100,000) wait
# for a drained GPU 1 while GPU 0 stays idle. Prints
#  - GET /v1/tasks?batch=X (one batch of N/100 tasks, first page) answered
#    by the daemon from memory, against the same request answered by
#    `gpumgr api-serve` on the same ROOT, which reads every file (the way
#    the daemon answered before it had an index);
#  - submit-to-start latency on GPU 0 (as bench/latency.sh), alone and
#    while two other clients repeat that GET without pause.
#   bench/listing.sh [N] [M]    (M latency tasks, default 100)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${GPUMGR_BIN:-$here/../build/gpumgr}
n=${1:-100000}
m=${2:-100}
work=$(mktemp -d /tmp/gpumgr-bench.XXXXXX)
dpid=
spid=
trap '[[ -n $spid ]] && kill $spid 2>/dev/null; [[ -n $dpid ]] && kill $dpid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
cc -O2 -o "$work/stamp" "$here/stamp.c"
root=$work/root
mkdir -p "$root/control" "$work/out"
cat >"$root/config.json" <<JSON
{"gpu_backend": "sim", "cooling_sec": 0,
 "scripts": {"stamp": {"argv": ["$work/stamp", "{out}"]}}}
JSON
: >"$root/control/drain.1"
python3 - "$root" "$n" "$work" <<'PY'
import json, os, sys
root, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
for p in range(1, 6):
    os.makedirs(os.path.join(root, "tasks", "script_queue", "priority_%d" % p), exist_ok=True)
for i in range(n):
    p = 1 + i % 5
    b = "bX" if i % 100 == 0 else "b%03d" % (i % 97)
    with open(os.path.join(root, "tasks", "script_queue", "priority_%d" % p, "q%06d.json" % i), "w") as f:
        json.dump({"script": "stamp", "script_args": {"out": work + "/out/never"},
                   "gpu_requirement": "1", "batch_id": b,
                   "created_at": "2026-01-01T00:00:00Z"}, f)
PY
"$bin" --root "$root" daemon --sim 2x24GB --log "$work/daemon.log" &
dpid=$!
python3 - "$bin" "$root" "$work" "$n" "$m" "$dpid" <<'PY'
import http.client, json, os, socket, statistics, subprocess, sys, time
bin, root, work, n, m, dpid = sys.argv[1:7]
n, m = int(n), int(m)

def ready():
    try:
        return json.load(open(os.path.join(root, "gpu_state.json"))).get("daemon_pid") == int(dpid)
    except Exception:
        return False
t0 = time.time()
while not ready():
    assert time.time() - t0 < 600, "daemon did not start"
    time.sleep(0.05)

class Conn(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=600)
        self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)

def get(path, sock):
    c = Conn(sock)
    t = time.perf_counter()
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    dt = (time.perf_counter() - t) * 1000
    c.close()
    assert r.status == 200, body
    return dt, json.loads(body)

def q(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(p * len(v)))]

sock = os.path.join(root, "api.sock")
want = (n + 99) // 100
# The whole batch, page by page: every task once.
seen, cursor = [], None
while True:
    _, d = get("/v1/tasks?batch=bX&limit=1000" + ("&cursor=" + cursor if cursor else ""), sock)
    seen += [t["task_id"] for t in d["tasks"]]
    cursor = d["next"]
    if not cursor:
        break
assert len(seen) == len(set(seen)) == want, (len(seen), want)
lat = [get("/v1/tasks?batch=bX", sock)[0] for _ in range(50)]
deep = [get("/v1/tasks?batch=b001&status=complete", sock)[0] for _ in range(20)]
full = [get("/v1/tasks?limit=100&status=queued&class=script", sock)[0] for _ in range(20)]

# The baseline: the file walk, by api-serve on its own socket.
bsock = os.path.join(work, "walk.sock")
sp = subprocess.Popen([bin, "--root", root, "api-serve", "--port", "-1", "--socket", bsock],
                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
while not os.path.exists(bsock):
    if sp.poll() is not None:
        raise SystemExit("api-serve: " + sp.stderr.read())
    time.sleep(0.05)
base = [get("/v1/tasks?batch=bX", bsock)[0] for _ in range(3)]
sp.terminate(); sp.wait()

print("GET /v1/tasks?batch=X on %d queued tasks (X has %d; first page of 100):" % (n, want))
print("  from the daemon's index   median %.2f ms  p90 %.2f ms  (over 50)" % (statistics.median(lat), q(lat, .9)))
print("  a batch, no match (full scan) median %.2f ms  p90 %.2f ms" % (statistics.median(deep), q(deep, .9)))
print("  ?status=queued&class=script  median %.2f ms" % statistics.median(full))
print("  reading the files (api-serve, the old way)  median %.0f ms  (over 3)" % statistics.median(base))
print("  ratio files / index: %.0f" % (statistics.median(base) / statistics.median(lat)))

qdir = os.path.join(root, "tasks", "script_queue", "priority_5")
done = os.path.join(root, "tasks", "complete")
def wait_for(path, secs=30):
    end = time.time() + secs
    while not os.path.exists(path):
        if time.time() > end:
            raise SystemExit("timed out waiting for " + path)
        time.sleep(0.0002)

def latency(tag):
    out = []
    for i in range(m):
        tid = "%s%04d" % (tag, i)
        o = os.path.join(work, "out", tid)
        tmp = os.path.join(qdir, "." + tid)
        with open(tmp, "w") as f:
            json.dump({"script": "stamp", "script_args": {"out": o}, "gpu_requirement": "0"}, f)
            f.flush(); os.fsync(f.fileno())
        t0 = time.time_ns()
        os.rename(tmp, os.path.join(qdir, tid + ".json"))
        wait_for(o)
        while True:
            s = open(o).read().strip()
            if s:
                break
        out.append((int(s) - t0) / 1e6)
        wait_for(os.path.join(done, tid + ".json"))
    return out

alone = latency("a")
client = r'''
import http.client, socket, sys, time, statistics
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sys.argv[1])
import os
v = []
while not os.path.exists(sys.argv[2]):
    c = C("localhost"); t = time.perf_counter(); c.request("GET", "/v1/tasks?batch=bX")
    r = c.getresponse(); r.read(); c.close(); v.append((time.perf_counter() - t) * 1000)
print(len(v), "%.2f" % statistics.median(v))
'''
stop = os.path.join(work, "stop")
cl = [subprocess.Popen([sys.executable, "-c", client, sock, stop], stdout=subprocess.PIPE, text=True)
      for _ in range(2)]
time.sleep(0.5)
busy = latency("b")
open(stop, "w").close()
gets = [c.communicate()[0].split() for c in cl]
print("submit-to-start latency over %d tasks on the idle GPU, %d queued behind a drained one:" % (m, n))
print("  alone                          median %.2f ms  p90 %.2f ms  p99 %.2f ms" % (statistics.median(alone), q(alone, .9), q(alone, .99)))
print("  two clients repeating the GET  median %.2f ms  p90 %.2f ms  p99 %.2f ms" % (statistics.median(busy), q(busy, .9), q(busy, .99)))
print("  ratio busy / alone: %.2f" % (statistics.median(busy) / statistics.median(alone)))
print("  (the two clients: %s GETs, median %s ms each)" % (" and ".join(g[0] for g in gets), " and ".join(g[1] for g in gets)))
PY
