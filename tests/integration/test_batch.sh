#!/usr/bin/env bash
# `gpumgr batch`: a 125-item batch from a folder of empty files lands as
# 125 script tasks with batch_id and args; the record; ls and show; the
# daemon's work simulated by moving task files; wait's numbers and exit
# codes; cancel.
. "$(dirname "$0")/lib.sh"

CFG="$(cd "$(dirname "$0")/../.." && pwd)/contrib/config.example.json"
cp "$CFG" "$GPUMGR_ROOT/config.json"
IN="$TEST_TMP/videos"
mkdir -p "$IN"
for i in $(seq 1 125); do : > "$IN/clip$(printf %03d "$i").mp4"; done
: > "$IN/readme.txt"

jq_() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

# --- submit ---------------------------------------------------------------
out=$(gpumgr batch submit --type transcribe --script whisper_transcribe \
  --input "$IN" --batch-id big --arg lang=en --priority 4)
expect_eq "submit output" "$out" "big 125 items exclusive"
Q="$GPUMGR_ROOT/tasks/script_queue/priority_4"
n=$(ls "$Q" | grep -c '^big-[0-9]*\.json$')
expect_eq "tasks queued" "$n" 125
expect_eq "task batch_id" "$(jq_ "$Q/big-0042.json" 'd["batch_id"]')" big
expect_eq "task input" "$(jq_ "$Q/big-0042.json" 'd["script_args"]["input"]')" "$IN/clip042.mp4"
expect_eq "task lang" "$(jq_ "$Q/big-0042.json" 'd["script_args"]["lang"]')" en
expect_eq "task script" "$(jq_ "$Q/big-0042.json" 'd["script"]')" whisper_transcribe
REC="$GPUMGR_ROOT/batches/big.json"
expect_eq "record" "$(jq_ "$REC" '(d["batch_id"], d["task_class"], d["task_type"], d["total_items"], d["gpu_mode"], d["status"], len(d["items"]))')" \
  "('big', 'script', 'transcribe', 125, 'exclusive', 'queued', 125)"
expect_eq "record item" "$(jq_ "$REC" '(d["items"][124]["item"], d["items"][124]["task_id"])')" \
  "('$IN/clip125.mp4', 'big-0125')"
pass "submit"

# A small one from a list file, shared; --shared wins over the threshold.
printf '# two\n%s\n\n%s\n' "$IN/clip001.mp4" "$IN/clip002.mp4" > "$TEST_TMP/list.txt"
out=$(gpumgr batch submit --type transcribe --script whisper_transcribe \
  --input "$TEST_TMP/list.txt" --batch-id small --arg lang=de)
expect_eq "small" "$out" "small 2 items shared"
out=$(gpumgr batch submit --type transcribe --script whisper_transcribe \
  --input "$IN" --batch-id forced --shared --arg lang=en)
expect_eq "shared" "$out" "forced 125 items shared"
pass "list file, --shared"

# Refusals: nothing written.
rc=0; gpumgr batch submit --type transcribe --script whisper_transcribe \
  --input "$IN" --batch-id big --arg lang=en 2>/dev/null || rc=$?
expect_eq "taken id" "$rc" 5
rc=0; err=$(gpumgr batch submit --type transcribe --script nope \
  --input "$IN" --batch-id bad 2>&1) || rc=$?
expect_eq "bad script" "$rc" 4
[[ "$err" == *"script: expected a script registered"* ]] || fail "message: $err"
[[ ! -e "$GPUMGR_ROOT/batches/bad.json" ]] || fail "bad batch has a record"
rc=0; gpumgr batch submit --type transcribe --script whisper_transcribe \
  --input "$TEST_TMP/none" 2>/dev/null || rc=$?
expect_eq "missing input" "$rc" 4
rc=0; gpumgr batch submit --type transcribe --input "$IN" 2>/dev/null || rc=$?
expect_eq "no script" "$rc" 2
pass "refusals"

# --- ls / show ------------------------------------------------------------
ls_line() { gpumgr batch ls | awk -v id="$1" '$1 == id { print $2, $3, $4 }'; }
expect_eq "ls big" "$(ls_line big)" "exclusive 0/125 queued"
expect_eq "ls small" "$(ls_line small)" "shared 0/2 queued"

# --- the daemon's work, simulated ----------------------------------------
# complete: 1-40; failed: 41-45; running: 46-50.
finish() {  # finish STATUS DIR QUEUE ID...
  python3 - "$@" <<'EOF'
import json, os, sys
status, dst, src = sys.argv[1:4]
for i in sys.argv[4:]:
    d = json.load(open(os.path.join(src, i + ".json"))); d["status"] = status
    tmp = os.path.join(dst, ".gpumgr-t")
    json.dump(d, open(tmp, "w")); os.rename(tmp, os.path.join(dst, i + ".json"))
    os.unlink(os.path.join(src, i + ".json"))
EOF
}
ids() { for i in $(seq "$1" "$2"); do printf 'big-%04d ' "$i"; done; }
T="$GPUMGR_ROOT/tasks"
finish complete "$T/complete" "$Q" $(ids 1 40)
finish failed "$T/failed" "$Q" $(ids 41 45)
finish running "$T/processing" "$Q" $(ids 46 50)

gpumgr batch show big > "$TEST_TMP/show.json"
expect_eq "show counts" "$(jq_ "$TEST_TMP/show.json" '(d["completed"], d["failed"], d["running"], d["queued"], d["status"])')" \
  "(40, 5, 5, 75, 'running')"
expect_eq "show items" "$(jq_ "$TEST_TMP/show.json" '(d["items"][0]["status"], d["items"][40]["status"], d["items"][45]["status"], d["items"][50]["status"])')" \
  "('complete', 'failed', 'running', 'queued')"
expect_eq "ls progress" "$(ls_line big)" "exclusive 45/125 running"
pass "show / ls progress"

# wait: not on a terminal, plain lines; times out with 124.
rc=0; out=$(gpumgr batch wait big --timeout 0.3) || rc=$?
expect_eq "wait timeout" "$rc" 124
[[ "$out" == *"big: 45/125 done (40 complete, 5 failed), 5 running, 75 queued"* ]] || fail "wait output: $out"
[[ "$out" == *"timed out: 45/125 done"* ]] || fail "wait output: $out"

# The small batch completes: wait exits 0 as soon as it sees that, while
# it is already waiting (inotify or the 200 ms poll).
gpumgr batch wait small --timeout 30 > "$TEST_TMP/wait.out" &
WAITPID=$!
STARTED_PIDS+=("$WAITPID")
wait_for 10 grep -q "0/2 done" "$TEST_TMP/wait.out"
Q3="$GPUMGR_ROOT/tasks/script_queue/priority_3"
finish complete "$T/complete" "$Q3" small-0001 small-0002
rc=0; wait "$WAITPID" || rc=$?
expect_eq "wait complete" "$rc" 0
grep -q "small: complete: 2 complete, 0 failed" "$TEST_TMP/wait.out" || fail "$(cat "$TEST_TMP/wait.out")"
expect_eq "ls small done" "$(ls_line small)" "shared 2/2 complete"
pass "wait"

# --- cancel ---------------------------------------------------------------
# big: 75 queued cancelled; 5 running have no run folder yet (claimed, not
# started): reported, exit 5. One gets a run folder whose script has ended.
rc=0; out=$(gpumgr batch cancel big) || rc=$?
expect_eq "cancel rc" "$rc" 5
expect_eq "cancel out" "$out" "big: 75 queued cancelled, 0 running asked to stop, 5 starting (run cancel again)"
n=$(ls "$Q" | grep -c '^big-' || true)
expect_eq "queue after cancel" "$n" 0
expect_eq "cancelled task" "$(jq_ "$GPUMGR_ROOT/tasks/failed/big-0100.json" '(d["status"], d["error"]["code"])')" \
  "('failed', 'cancelled')"
expect_eq "record after cancel" "$(jq_ "$REC" '(d["status"], d["completed"], d["failed"])')" "('cancelled', 40, 80)"
expect_eq "ls cancelled" "$(ls_line big)" "exclusive 120/125 cancelled"
# The running five end (as the daemon would record them): wait exits 1.
finish failed "$T/failed" "$T/processing" $(ids 46 50)
rc=0; out=$(gpumgr batch wait big --timeout 10) || rc=$?
expect_eq "wait failed" "$rc" 1
[[ "$out" == *"big: cancelled: 40 complete, 85 failed"* ]] || fail "wait output: $out"
pass "cancel"

# Unknown batch.
rc=0; gpumgr batch show nosuch 2>/dev/null || rc=$?
expect_eq "show unknown" "$rc" 3
rc=0; gpumgr batch wait nosuch 2>/dev/null || rc=$?
expect_eq "wait unknown" "$rc" 3
pass "unknown batch"
