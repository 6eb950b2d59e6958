#!/usr/bin/env bash
# 400 tasks (1,000 with GPUMGR_TEST_BIG=1) from 8 concurrent writers into
# one ROOT: 4 run `gpumgr submit`,
# 4 write raw files the documented way (dot-name, fsync, rename). All land,
# each parses, ids are unique, none is torn. A raw writer killed with
# SIGKILL half-way through its dot-file leaves no visible task, and its
# dot-file is not a task to `gpumgr ls`.
. "$(dirname "$0")/lib.sh"

PER_WRITER=50
[[ ${GPUMGR_TEST_BIG:-0} == 1 ]] && PER_WRITER=125
TOTAL=$((8 * PER_WRITER + 1))	# and the first one
echo "tasks: $((TOTAL - 1)) from 8 writers (GPUMGR_TEST_BIG=1: 1000)"
PAD=$(printf 'x%.0s' $(seq 1 1500))	# big enough that a torn write shows

# Creates the layout (ROOT is created on first submit).
gpumgr submit --id first --priority 1 "the first task" >/dev/null

cli_writer() {	# k
  local k=$1 i
  for ((i = 0; i < PER_WRITER; i++)); do
    gpumgr submit --id "cli$k-$i" --priority $((i % 5 + 1)) \
      "prompt cli$k-$i $PAD" >/dev/null || { echo "submit cli$k-$i failed"; exit 1; }
  done
}

raw_writer() {	# k
  python3 - "$GPUMGR_ROOT" "$1" "$PER_WRITER" "$PAD" <<'EOF'
import json, os, sys
root, k, n, pad = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
for i in range(n):
    tid = f"raw{k}-{i}"
    cls = "llm"
    q = os.path.join(root, "tasks", f"{cls}_queue", f"priority_{i % 5 + 1}")
    tmp = os.path.join(q, f".{tid}.json")
    with open(tmp, "w") as f:
        json.dump({"task_id": tid, "prompt": f"prompt {tid} {pad}"}, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(q, f"{tid}.json"))
EOF
}

pids=()
for k in 0 1 2 3; do
  cli_writer "$k" & pids+=($!)
  raw_writer "$k" & pids+=($!)
done
for pid in "${pids[@]}"; do
  wait "$pid" || fail "writer $pid failed"
done
pass "8 writers finished"

# Every file is whole, parses, carries its own id and its own prompt.
python3 - "$GPUMGR_ROOT" "$PER_WRITER" "$PAD" <<'EOF' || fail "file check"
import glob, json, os, sys
root, n, pad = sys.argv[1], int(sys.argv[2]), sys.argv[3]
files = [p for p in glob.glob(os.path.join(root, "tasks", "*", "*", "*.json"))
         + glob.glob(os.path.join(root, "tasks", "*", "*.json"))
         if not os.path.basename(p).startswith(".")]
ids = {}
for p in files:
    with open(p) as f:
        t = json.load(f)
    tid = os.path.basename(p)[:-5]
    assert t["task_id"] == tid, (p, t.get("task_id"))
    assert tid not in ids, ("twice", tid, p, ids.get(tid))
    ids[tid] = p
    if tid != "first":
        assert t["prompt"] == f"prompt {tid} {pad}", ("torn", p)
        prio = int(tid.split("-")[1]) % 5 + 1
        assert p.endswith(f"llm_queue/priority_{prio}/{tid}.json"), p
want = {f"{w}{k}-{i}" for w in ("cli", "raw") for k in range(4) for i in range(n)}
want.add("first")
missing, extra = want - set(ids), set(ids) - want
assert not missing and not extra, (sorted(missing)[:5], sorted(extra)[:5])
print(f"{len(ids)} task files, all whole and unique")
EOF

count=$(gpumgr ls --json | python3 -c 'import json,sys; a=json.load(sys.stdin); print(len(a), len({t["task_id"] for t in a}), sum(t["status"]=="queued" for t in a))')
expect_eq "ls --json: tasks, unique ids, queued" "$count" "$TOTAL $TOTAL $TOTAL"
pass "$((TOTAL - 1)) concurrent tasks landed"

# A raw writer killed half-way through its dot-file.
q="$GPUMGR_ROOT/tasks/llm_queue/priority_3"
python3 - "$q" "$TEST_TMP/ready" <<'EOF' &
import os, sys, time
q, ready = sys.argv[1], sys.argv[2]
with open(os.path.join(q, ".slow.json"), "w") as f:
    f.write('{"task_id": "slow", "prompt": "half of it')
    f.flush()
    os.fsync(f.fileno())
    open(ready, "w").close()
    time.sleep(600)
    f.write('"}')
os.rename(os.path.join(q, ".slow.json"), os.path.join(q, "slow.json"))
EOF
slow=$!
STARTED_PIDS+=("$slow")
wait_for 10 test -e "$TEST_TMP/ready"
kill -KILL "$slow"
wait "$slow" 2>/dev/null || true
[[ ! -e $q/slow.json ]] || fail "a killed writer left a visible task"
[[ -e $q/.slow.json ]] || fail "the submitter's dot-file was removed"
rc=0; gpumgr show slow >/dev/null 2>&1 || rc=$?
expect_eq "show of the killed writer's task" "$rc" 3
count=$(gpumgr ls --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
expect_eq "tasks after the kill" "$count" "$TOTAL"
pass "a writer killed mid-write leaves no visible partial task"
