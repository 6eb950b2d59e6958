#!/usr/bin/env bash
# History that scales: ls and show on a ROOT made by hand (one queue folder,
# one dropped task) before any gpumgr ran; on 3 simulated GPUs, ls shows the
# assigned GPU, puts finished tasks latest-ended first, takes --limit and
# --since; the *_total counters (metrics, status) do not go down when
# finished tasks are moved away, purged, or the daemon restarts; drain of
# an unknown GPU exits 3 and a drained GPU shows as drained; purge removes
# what the retention policy says, with the files kept beside a task.
. "$(dirname "$0")/lib.sh"

# 1. A hand-made ROOT.
mkdir -p "$GPUMGR_ROOT/tasks/llm_queue/priority_3"
echo '{"prompt": "dropped by hand"}' >"$GPUMGR_ROOT/tasks/llm_queue/priority_3/.tmp"
mv "$GPUMGR_ROOT/tasks/llm_queue/priority_3/.tmp" "$GPUMGR_ROOT/tasks/llm_queue/priority_3/hand1.json"
gpumgr ls >"$TEST_TMP/ls"
grep -q "^hand1 .* llm .* queued .*dropped by hand" "$TEST_TMP/ls" || { cat "$TEST_TMP/ls"; fail "ls on a hand-made ROOT"; }
gpumgr show hand1 | grep -q '"prompt": "dropped by hand"' || fail "show on a hand-made ROOT"
pass "ls and show read a ROOT made by hand"
rm "$GPUMGR_ROOT/tasks/llm_queue/priority_3/hand1.json"
# A finished task from before any daemon ran: the counters start from it.
mkdir -p "$GPUMGR_ROOT/tasks/complete"
echo '{"task_id": "ancient", "task_class": "llm", "prompt": "p", "status": "complete",
  "created_at": "2025-02-05T10:00:00Z", "completed_at": "2025-02-05T10:01:00.000Z"}' \
  >"$GPUMGR_ROOT/tasks/complete/ancient.json"

port=$(free_ports 1)
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0, \"api\": {\"port\": $port},
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$TEST_TMP/ledger\", \"{ms}\", \"{code}\"]}},
  \"rescan_interval_ms\": 200}"
start_daemon --sim 3x24GB
SOCK=$GPUMGR_ROOT/api.sock
wait_for 20 test -S "$SOCK"

# 2. Finished tasks list latest end first (the order their completed_at
# says, whatever the timing was).
gpumgr submit --id slow --script record --arg ms=1500 --arg code=0 >/dev/null
gpumgr submit --id quick --script record --arg ms=50 --arg code=0 >/dev/null
gpumgr submit --id broken --script record --arg ms=0 --arg code=4 --retries 0 >/dev/null
set +e
gpumgr wait --quiet --timeout 60 slow quick broken; rc=$?
set -e
expect_eq "wait" "$rc" "1"
gpumgr ls >"$TEST_TMP/ls"
order=$(awk 'NR > 1 { printf "%s ", $1 }' "$TEST_TMP/ls")
want=$(python3 - "$GPUMGR_ROOT" <<'PY'
import datetime, glob, json, os, sys
ends = []
for p in glob.glob(os.path.join(sys.argv[1], "tasks", "*", "*.json")):
    t = json.load(open(p))
    at = datetime.datetime.strptime(t["completed_at"].replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    ends.append((-at.timestamp(), t["task_id"]))
print(" ".join(i for _, i in sorted(ends)) + " ")
PY
)
expect_eq "ls order (latest end first)" "$order" "$want"
gpu=$(awk '$1 == "slow" { print $5 }' "$TEST_TMP/ls")
assigned=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["assigned_gpu"])' \
  "$GPUMGR_ROOT/tasks/complete/slow.json")
expect_eq "ls GPU column = assigned_gpu" "$gpu" "$assigned"
[[ $gpu =~ ^[0-2]$ ]] || fail "assigned GPU '$gpu' is not an index"
expect_eq "ls --limit 1" "$(gpumgr ls --limit 1 | awk 'NR > 1 { print $1 }')" "${want%% *}"
expect_eq "ls --limit 2 --json" "$(gpumgr ls --limit 2 --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" "2"
expect_eq "ls --since 1h" "$(gpumgr ls --since 1h | awk 'NR > 1' | wc -l)" "3"
expect_eq "ls --since (future)" "$(gpumgr ls --since 2099-01-01T00:00:00Z | awk 'NR > 1' | wc -l)" "0"
set +e
gpumgr ls --since yesterday >/dev/null 2>&1; rc=$?
set -e
expect_eq "ls --since yesterday" "$rc" "2"
pass "ls: assigned GPU, latest end first, --limit, --since"

# 3. Counters that never go down.
metric() {
  curl -s --unix-socket "$SOCK" http://localhost/metrics |
    awk -v m="$1" '$1 == m { print $2 }'
}
counters_are() {
  [[ $(metric 'gpumgr_tasks_completed_total{class="script"}') == "$1" &&
     $(metric 'gpumgr_tasks_failed_total{class="script"}') == "$2" ]]
}
wait_for 10 counters_are 2 1
[[ $(metric 'gpumgr_tasks_completed_total{class="llm"}') == 1 ]] || fail "the counters did not start from the files there were"
mkdir -p "$TEST_TMP/archive"
mv "$GPUMGR_ROOT"/tasks/complete/* "$TEST_TMP/archive/"
gpumgr submit --id after --script record --arg ms=0 --arg code=0 >/dev/null
gpumgr wait --quiet --timeout 60 after
wait_for 10 counters_are 3 1
stop_daemon
start_daemon --sim 3x24GB
wait_for 20 test -S "$SOCK"
counters_are 3 1 || fail "counters after a restart: $(metric 'gpumgr_tasks_completed_total{class="script"}')"
expect_eq "status --json totals" "$(gpumgr status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["tasks_completed_total"], d["tasks_failed_total"])')" "4 1"
gpumgr status | grep -q "ended in all: 4 complete, 1 failed" || fail "status text totals"
pass "the *_total counters do not go down (files moved away, daemon restarted)"

# 4. Drains.
set +e
gpumgr drain 9 >/dev/null 2>"$TEST_TMP/err"; rc=$?
set -e
expect_eq "drain 9 on 3 GPUs" "$rc" "3"
grep -q "no GPU '9'" "$TEST_TMP/err" || fail "drain 9 said: $(cat "$TEST_TMP/err")"
gpumgr drain 1 >/dev/null
drained_shown() {
  gpumgr status --json | python3 -c '
import json, sys
g = {x["index"]: x for x in json.load(sys.stdin)["gpus"]}
sys.exit(0 if g[1]["drained"] and not g[0]["drained"] else 1)' &&
  gpumgr status | awk '$1 == "1"' | grep -q drained
}
wait_for 10 drained_shown
gpumgr undrain 1 >/dev/null
pass "drain: an unknown GPU exits 3; a drained GPU shows as drained"

# 5. Purge: age, count, the files beside, counters untouched.
gpumgr submit --id old --script record --arg ms=0 --arg code=0 >/dev/null
gpumgr wait --quiet --timeout 60 old
[[ -f $GPUMGR_ROOT/tasks/complete/old.stdout ]] || fail "no stdout kept beside the task"
touch -d '40 days ago' "$GPUMGR_ROOT/tasks/complete/old.json"
gpumgr purge --dry-run >"$TEST_TMP/out"
grep -q "^would remove old " "$TEST_TMP/out" || fail "dry run: $(cat "$TEST_TMP/out")"
[[ -f $GPUMGR_ROOT/tasks/complete/old.json ]] || fail "a dry run removed a task"
gpumgr purge >/dev/null
[[ ! -e $GPUMGR_ROOT/tasks/complete/old.json && ! -e $GPUMGR_ROOT/tasks/complete/old.stdout ]] ||
  fail "purge left the old task or its output"
[[ -f $GPUMGR_ROOT/tasks/complete/after.json ]] || fail "purge removed a recent task"
gpumgr purge --keep 0 --keep-days 0 >/dev/null
expect_eq "failed/ after purge --keep 0" "$(count_files failed)" "1"
gpumgr submit --id newer --script record --arg ms=0 --arg code=0 >/dev/null
gpumgr wait --quiet --timeout 60 newer
touch -d '1 hour ago' "$GPUMGR_ROOT/tasks/complete/after.json"
gpumgr purge --keep 1 >/dev/null
expect_eq "complete/ after purge --keep 1" "$(ls "$GPUMGR_ROOT/tasks/complete" | grep -c '\.json$')" "1"
[[ -f $GPUMGR_ROOT/tasks/complete/newer.json ]] || fail "purge --keep 1 kept the wrong task"
wait_for 10 counters_are 5 1
pass "purge: by age and count, with the files beside; counters unchanged"
