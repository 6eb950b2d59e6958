#!/usr/bin/env bash
# Submit-to-start latency: the time from a task file's rename into a queue
# folder to its process starting on an idle (simulated) GPU, over N tasks
# submitted one after another. The baseline in the same run is the bare
# cost of fork+exec of the same program from the same driver.
#   bench/latency.sh [N]      (default 200; needs a built build/gpumgr)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${GPUMGR_BIN:-$here/../build/gpumgr}
n=${1:-200}
work=$(mktemp -d /tmp/gpumgr-bench.XXXXXX)
trap 'kill $dpid 2>/dev/null; wait $dpid 2>/dev/null; rm -rf "$work"' EXIT
cc -O2 -o "$work/stamp" "$here/stamp.c"
root=$work/root
mkdir -p "$root"
cat >"$root/config.json" <<JSON
{"gpu_backend": "sim", "cooling_sec": 0,
 "scripts": {"stamp": {"argv": ["$work/stamp", "{out}"]}}}
JSON
mkdir -p "$work/out"
"$bin" --root "$root" daemon --sim 1x24GB --log "$work/daemon.log" &
dpid=$!
python3 - "$root" "$work" "$n" <<'PY'
import json, os, statistics, subprocess, sys, time
root, work, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = os.path.join(root, "tasks", "script_queue", "priority_3")
done = os.path.join(root, "tasks", "complete")
deadline = time.time() + 20
while not os.path.exists(os.path.join(root, "gpu_state.json")):
    assert time.time() < deadline, "daemon did not start"
    time.sleep(0.01)

def wait_for(path, secs=10):
    end = time.time() + secs
    while not os.path.exists(path):
        if time.time() > end:
            raise SystemExit("timed out waiting for " + path)
        time.sleep(0.0002)

lat = []
for i in range(n):
    tid = "lat%05d" % i
    tmp = os.path.join(q, "." + tid)
    with open(tmp, "w") as f:
        json.dump({"script": "stamp", "script_args": {"out": os.path.join(work, "out", str(i))}}, f)
        f.flush(); os.fsync(f.fileno())
    t0 = time.time_ns()
    os.rename(tmp, os.path.join(q, tid + ".json"))
    out = os.path.join(work, "out", str(i))
    wait_for(out)
    while True:
        s = open(out).read().strip()
        if s:
            break
    lat.append((int(s) - t0) / 1e6)
    wait_for(os.path.join(done, tid + ".json"))

base = []
for i in range(n):
    out = os.path.join(work, "out", "b%d" % i)
    t0 = time.time_ns()
    subprocess.run([os.path.join(work, "stamp"), out], check=True)
    base.append((int(open(out).read()) - t0) / 1e6)

def q(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(p * len(v)))]
m, b = statistics.median(lat), statistics.median(base)
print("submit-to-start latency over %d tasks (rename -> process start, idle GPU):" % n)
print("  gpumgr        median %.2f ms  p90 %.2f ms  p99 %.2f ms" % (m, q(lat, .9), q(lat, .99)))
print("  bare exec     median %.2f ms  (fork+exec of the same program)" % b)
print("  ratio gpumgr / bare exec: %.2f" % (m / b if b > 0 else float("nan")))
PY
