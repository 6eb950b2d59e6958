#!/usr/bin/env bash
# Dispatch throughput, end to end: N trivial script tasks (`true`) submitted
# as fast as a raw submitter can (dot-name, fsync, rename) to a running
# daemon, every move durable, until the last is in complete/. Two runs:
# gpu_requirement "none" (tasks.max_cpu_tasks = P) and P simulated GPUs.
# In the same command: the machine's raw spawn rate of `true` with P at a
# time, and task-spooler (`tsp -S P`, Debian package task-spooler) running
# the same N jobs. Prints the rates and the ratios.
#   bench/dispatch.sh [N] [P]        (defaults 5000 8)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${GPUMGR_BIN:-$here/../build/gpumgr}
n=${1:-5000} p=${2:-8}
work=$(mktemp -d /tmp/gpumgr-bench.XXXXXX)
dpid=
cleanup() {
  [[ -n $dpid ]] && kill "$dpid" 2>/dev/null && wait "$dpid" 2>/dev/null
  [[ -n ${TS_SOCKET:-} ]] && tsp -K >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
command -v tsp >/dev/null || { echo "task-spooler is missing: run scripts/install-deps.sh" >&2; exit 1; }
cc -O2 -o "$work/spawn" "$here/spawn.c"

raw=$("$work/spawn" "$n" "$p")

export TS_SOCKET=$work/tsp.sock TS_MAXFINISHED=$((n + 10)) TMPDIR=$work
tsp -S "$p" >/dev/null
t0=$(date +%s.%N)
for ((i = 0; i < n; i++)); do tsp -n true >/dev/null; done
tsp -w >/dev/null 2>&1 || true
while [[ $(tsp -l | grep -c ' finished ') -lt $n ]]; do sleep 0.05; done
t1=$(date +%s.%N)
tsp_rate=$(python3 -c "print('%.1f' % ($n / ($t1 - $t0)))")
tsp -K >/dev/null 2>&1 || true
unset TS_SOCKET

run_gpumgr() {  # MODE: none | gpu
  local mode=$1 root=$work/root-$1
  mkdir -p "$root"
  cat >"$root/config.json" <<JSON
{"gpu_backend": "sim", "cooling_sec": 0, "rescan_interval_ms": 2000,
 "tasks": {"max_cpu_tasks": $p},
 "scripts": {"true": {"argv": ["true"]}}}
JSON
  "$bin" --root "$root" daemon --sim "${p}x24GB" --log "$work/daemon-$mode.log" &
  dpid=$!
  python3 - "$root" "$n" "$mode" "$dpid" <<'PY'
import json, os, sys, time
root, n, mode, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
state = os.path.join(root, "gpu_state.json")
end = time.time() + 20
while True:
    try:
        if json.load(open(state)).get("daemon_pid") == pid:
            break
    except Exception:
        pass
    assert time.time() < end, "daemon did not start"
    time.sleep(0.01)
q = os.path.join(root, "tasks", "script_queue", "priority_3")
done = os.path.join(root, "tasks", "complete")
t0 = time.time()
for i in range(n):
    tid = "b%05d" % i
    body = {"script": "true"}
    if mode == "none":
        body["gpu_requirement"] = "none"
    tmp = os.path.join(q, "." + tid)
    with open(tmp, "w") as f:
        json.dump(body, f); f.flush(); os.fsync(f.fileno())
    os.rename(tmp, os.path.join(q, tid + ".json"))
while True:
    c = sum(1 for x in os.listdir(done) if x.endswith(".json"))
    if c >= n:
        break
    time.sleep(0.02)
print("%.1f" % (n / (time.time() - t0)))
PY
  kill "$dpid"; wait "$dpid" 2>/dev/null || true; dpid=
}
g_none=$(run_gpumgr none)
g_gpu=$(run_gpumgr gpu)

echo "dispatch of $n trivial tasks, $p at a time (same machine, same run):"
printf '  raw spawn (posix_spawn of true)   %8.1f /s\n' "$raw"
printf '  task-spooler (tsp -S %d)           %8.1f /s\n' "$p" "$tsp_rate"
printf '  gpumgr, gpu_requirement none      %8.1f /s  = %.2f x raw, %.2f x tsp\n' "$g_none" \
  "$(python3 -c "print($g_none/$raw)")" "$(python3 -c "print($g_none/$tsp_rate)")"
printf '  gpumgr, %d simulated GPUs          %8.1f /s  = %.2f x raw, %.2f x tsp\n' "$p" "$g_gpu" \
  "$(python3 -c "print($g_gpu/$raw)")" "$(python3 -c "print($g_gpu/$tsp_rate)")"
