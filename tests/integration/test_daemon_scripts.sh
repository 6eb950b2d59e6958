#!/usr/bin/env bash
# 50 script tasks of 3 priorities on 3 simulated GPUs, real processes: every
# task completes; higher priorities start first; no GPU ever runs two
# scripts at once; every process saw the CUDA_VISIBLE_DEVICES of the GPU
# recorded in its task.
. "$(dirname "$0")/lib.sh"

ledger=$TEST_TMP/ledger
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}}}"

# Queue everything before the daemon starts, as a submitter would: dot-name,
# fsync, rename.
python3 - "$GPUMGR_ROOT" "$SEED" <<'PY'
import json, os, random, sys
root, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
for i in range(50):
    prio = [1, 3, 5][i % 3]
    d = os.path.join(root, "tasks", "script_queue", "priority_%d" % prio)
    os.makedirs(d, exist_ok=True)
    tid = "t%02d" % i
    body = {"task_id": tid, "script": "record", "script_args": {"ms": rng.randint(20, 80)}}
    tmp = os.path.join(d, "." + tid)
    with open(tmp, "w") as f:
        json.dump(body, f); f.flush(); os.fsync(f.fileno())
    os.rename(tmp, os.path.join(d, tid + ".json"))
PY

start_daemon --sim 3x24GB
wait_for 60 files_at_least complete 50
stop_daemon

expect_eq "failed tasks" "$(count_files failed)" 0
python3 - "$GPUMGR_ROOT" "$ledger" <<'PY'
import glob, json, os, sys
root, ledger = sys.argv[1], sys.argv[2]
tasks = {}
for p in glob.glob(os.path.join(root, "tasks", "complete", "*.json")):
    t = json.load(open(p))
    tasks[t["task_id"]] = t
assert len(tasks) == 50, len(tasks)
for t in tasks.values():
    assert t["status"] == "complete", t
    assert t["output"].strip() == "done " + t["task_id"], t["output"]
    assert t["attempts"] == 1, t

# Higher priorities start first (all were queued before the daemon began).
from datetime import datetime
def ts(s):
    return datetime.strptime(s.replace("Z", ""), "%Y-%m-%dT%H:%M:%S.%f" if "." in s else "%Y-%m-%dT%H:%M:%S")
for a in tasks.values():
    for b in tasks.values():
        if a["priority"] > b["priority"]:
            assert ts(a["started_at"]) <= ts(b["started_at"]), (a["task_id"], b["task_id"])

# One script per GPU at a time, and each ran on the GPU its task records.
spans = {}
for line in open(ledger):
    kind, tid, dev, t = line.split()[:4]
    spans.setdefault(tid, {})[kind] = (dev, int(t))
by_gpu = {}
for tid, s in spans.items():
    assert s["start"][0] == tasks[tid]["assigned_gpu_uuid"], (tid, s, tasks[tid].get("assigned_gpu_uuid"))
    by_gpu.setdefault(s["start"][0], []).append((s["start"][1], s["end"][1], tid))
assert len(by_gpu) == 3, by_gpu.keys()
for dev, iv in by_gpu.items():
    iv.sort()
    for (s1, e1, t1), (s2, e2, t2) in zip(iv, iv[1:]):
        assert e1 <= s2, "GPU %s ran %s and %s at once" % (dev, t1, t2)
print("ok: 50 tasks, priorities respected, no GPU shared, CUDA_VISIBLE_DEVICES as recorded")
PY
