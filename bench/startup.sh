#!/usr/bin/env bash
# Start-up with a deep queue: N queued script tasks (default 100,000) on a
# drained simulated GPU, so none starts. Prints the time from exec to the
# daemon's first gpu_state.json (queue read, ready to schedule) and its
# resident memory then.
#   bench/startup.sh [N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${GPUMGR_BIN:-$here/../build/gpumgr}
n=${1:-100000}
work=$(mktemp -d /tmp/gpumgr-bench.XXXXXX)
dpid=
trap '[[ -n $dpid ]] && kill $dpid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/control"
cat >"$root/config.json" <<JSON
{"gpu_backend": "sim", "scripts": {"noop": {"argv": ["true"]}}}
JSON
: >"$root/control/drain.0"
python3 - "$root" "$n" <<'PY'
import json, os, sys
root, n = sys.argv[1], int(sys.argv[2])
for p in range(1, 6):
    os.makedirs(os.path.join(root, "tasks", "script_queue", "priority_%d" % p), exist_ok=True)
for i in range(n):
    p = 1 + i % 5
    with open(os.path.join(root, "tasks", "script_queue", "priority_%d" % p, "s%06d.json" % i), "w") as f:
        json.dump({"script": "noop", "script_args": {}, "created_at": "2026-01-01T00:00:00Z"}, f)
PY
sync
python3 - "$bin" "$root" "$n" "$work" <<'PY'
import json, os, subprocess, sys, time
bin, root, n, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
t0 = time.time()
p = subprocess.Popen([bin, "--root", root, "daemon", "--sim", "1x24GB", "--log", os.path.join(work, "log")])
state = os.path.join(root, "gpu_state.json")
while True:
    try:
        if json.load(open(state)).get("daemon_pid") == p.pid:
            break
    except Exception:
        pass
    assert p.poll() is None, open(os.path.join(work, "log")).read()
    assert time.time() - t0 < 120, "no start within 120 s"
    time.sleep(0.005)
t = time.time() - t0
rss = 0
for line in open("/proc/%d/status" % p.pid):
    if line.startswith("VmRSS:"):
        rss = int(line.split()[1]) / 1024
p.terminate(); p.wait()
print("start-up with %d queued tasks: %.2f s to ready, resident memory %.1f MB" % (n, t, rss))
PY
