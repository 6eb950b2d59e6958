#!/usr/bin/env bash
# Crash safety: during a 150-task run (300 with GPUMGR_TEST_BIG=1) the
# daemon is killed with SIGKILL 20 times at random moments and restarted
# each time (tasks of 100-400 ms, so that the kills land while tasks run
# and finish). Every task must end exactly once in complete/, none may run
# twice (each script appends its task id to a ledger), and no process may
# be left at the end.
. "$(dirname "$0")/lib.sh"

total=150
[[ ${GPUMGR_TEST_BIG:-0} == 1 ]] && total=300
per_round=$(( (total / 2 + 19) / 20 ))
echo "tasks: $total (GPUMGR_TEST_BIG=1: 300)"

ledger=$TEST_TMP/ledger
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}}}"

submit_batch() {  # FIRST COUNT: raw submissions t<FIRST>..t<FIRST+COUNT-1>
  python3 - "$GPUMGR_ROOT" "$1" "$2" "$SEED" <<'PY'
import json, os, random, sys
root, first, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(seed + first)
for i in range(first, first + count):
    prio = rng.randint(1, 5)
    d = os.path.join(root, "tasks", "script_queue", "priority_%d" % prio)
    os.makedirs(d, exist_ok=True)
    tid = "c%03d" % i
    body = {"script": "record", "script_args": {"ms": rng.randint(100, 400)}}
    if i % 5 == 0:
        body["gpu_requirement"] = "none"
    tmp = os.path.join(d, "." + tid)
    with open(tmp, "w") as f:
        json.dump(body, f); f.flush(); os.fsync(f.fileno())
    os.rename(tmp, os.path.join(d, tid + ".json"))
PY
}

submit_batch 0 $((total / 2))
next=$((total / 2))
for round in $(seq 1 20); do
  "$GPUMGR_BIN" daemon --sim 4x24GB >>"$TEST_TMP/daemon.log" 2>&1 &
  pid=$!
  if (( next < total )); then
    n=$(( total - next < per_round ? total - next : per_round ))
    submit_batch "$next" "$n"; next=$((next + n))
  fi
  # A random moment: 0-300 ms into this daemon's life.
  sleep "0.$(printf '%03d' $((RANDOM % 300)))"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
done
if (( next < total )); then submit_batch "$next" $((total - next)); fi
echo "killed the daemon 20 times with $(count_files complete) of $total tasks complete; finishing the run"

start_daemon --sim 4x24GB
wait_for 120 files_at_least complete "$total"
stop_daemon
wait_for 20 no_live_runs

expect_eq "failed tasks" "$(count_files failed)" 0
expect_eq "tasks left in processing" "$(count_files processing)" 0
expect_eq "tasks left queued" "$(count_files llm_queue) $(count_files script_queue)" "0 0"
python3 - "$GPUMGR_ROOT" "$ledger" "$total" <<'PY'
import collections, glob, json, os, sys
root, ledger, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
ids = [os.path.basename(p)[:-5] for p in glob.glob(os.path.join(root, "tasks", "complete", "*.json"))]
assert len(ids) == total and len(set(ids)) == total, len(ids)
starts = collections.Counter(l.split()[1] for l in open(ledger) if l.startswith("start "))
twice = [k for k, n in starts.items() if n > 1]
assert not twice, "ran twice: %s" % twice[:10]
assert set(starts) == set(ids), set(ids) ^ set(starts)
print("ok: %d tasks complete exactly once across 20 SIGKILLs" % total)
PY
# No stray process: nothing still runs from this test's folder.
strays=$(grep -l -a "$TEST_TMP" /proc/[0-9]*/cmdline 2>/dev/null | grep -v "/proc/$$/" | grep -v "/proc/self/" || true)
for f in $strays; do
  p=${f#/proc/}; p=${p%/cmdline}
  [[ $p == "$BASHPID" ]] && continue
  [[ -r /proc/$p/stat ]] && [[ $(awk '{print $3}' /proc/$p/stat) != Z ]] && fail "stray process $p: $(tr '\0' ' ' <"$f")"
done
pass "no stray process"
