#!/usr/bin/env bash
# CPU cost of dispatch, which load does not skew the way it skews rates:
# N trivial script tasks (`true`, gpu_requirement none, P at a time) through
# a daemon, and the CPU time (user + system) that the daemon, its
# supervisors and their scripts used, per task, from getrusage(CHILDREN)
# once the daemon is stopped (each process of the tree waits for its
# children). Also prints the wall rate. Run it for two binaries in turn:
#   GPUMGR_BIN=old/gpumgr bench/cpu.sh 2000 8; bench/cpu.sh 2000 8
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${GPUMGR_BIN:-$here/../build/gpumgr}
n=${1:-2000} p=${2:-8}
work=$(mktemp -d /tmp/gpumgr-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"
cat >"$root/config.json" <<JSON
{"gpu_backend": "sim", "cooling_sec": 0, "rescan_interval_ms": 2000,
 "tasks": {"max_cpu_tasks": $p},
 "scripts": {"true": {"argv": ["true"]}}}
JSON
python3 - "$bin" "$root" "$n" "$work/log" <<'PY'
import json, os, resource, signal, subprocess, sys, time
binary, root, n, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
p = subprocess.Popen([binary, "--root", root, "daemon", "--sim", "1x24GB", "--log", log])
state = os.path.join(root, "gpu_state.json")
end = time.time() + 60
while True:
    try:
        if json.load(open(state)).get("daemon_pid") == p.pid:
            break
    except Exception:
        pass
    assert time.time() < end and p.poll() is None, "daemon did not start"
    time.sleep(0.01)
q = os.path.join(root, "tasks", "script_queue", "priority_3")
done = os.path.join(root, "tasks", "complete")
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.time()
for i in range(n):
    tid = "c%05d" % i
    tmp = os.path.join(q, "." + tid)
    with open(tmp, "w") as f:
        json.dump({"script": "true", "gpu_requirement": "none"}, f); f.flush(); os.fsync(f.fileno())
    os.rename(tmp, os.path.join(q, tid + ".json"))
while sum(1 for x in os.listdir(done) if x.endswith(".json")) < n:
    time.sleep(0.02)
wall = time.time() - t0
p.send_signal(signal.SIGTERM)
p.wait()
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print("%d tasks: %.1f/s wall, CPU %.2f ms per task (user %.2f, system %.2f; daemon, supervisors, scripts)"
      % (n, n / wall, 1000 * cpu / n, 1000 * (r1.ru_utime - r0.ru_utime) / n,
         1000 * (r1.ru_stime - r0.ru_stime) / n))
PY
