#!/usr/bin/env bash
# Operator commands against a running daemon on 2 simulated GPUs:
# `gpumgr exec` (runs pinned to a GPU that fits, holds it, returns the exit
# status; refused when nothing can ever fit; a killed client frees its GPU),
# `gpumgr drain` / `undrain`, and `gpumgr cancel` of a running task.
. "$(dirname "$0")/lib.sh"

ledger=$TEST_TMP/ledger
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0, \"rescan_interval_ms\": 200,
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}}}"
start_daemon --sim 2x24GB
state() {  # GPU FIELD
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["gpus"][sys.argv[2]].get(sys.argv[3]))' \
    "$GPUMGR_ROOT/gpu_state.json" "$1" "$2"
}
gpu_state_is() { [[ $(state "$1" state) == "$2" ]]; }

# exec: pinned, held while it runs, its exit status returned.
out=$(gpumgr exec --vram 6G -- sh -c 'echo "$CUDA_VISIBLE_DEVICES $GPUMGR_GPU_INDEX"; exit 7') && rc=0 || rc=$?
expect_eq "exec exit status" "$rc" 7
read -r uuid idx <<<"$out"
expect_eq "exec ran on the GPU it was granted" "$uuid" "$(state "$idx" uuid)"
setsid "$GPUMGR_BIN" exec --gpu 1 -- sleep 600 &   # killed below
execpid=$!
wait_for 10 gpu_state_is 1 script_busy
[[ $(state 1 task_id) == exec-* ]] || fail "GPU 1 not held by the exec lease: $(state 1 task_id)"
pass "exec holds GPU 1 while its command runs"
# Killing the client (and its command) frees the GPU at the next rescan.
kill -KILL -- -"$execpid"
wait "$execpid" 2>/dev/null || true
wait_for 10 gpu_state_is 1 idle
pass "a killed exec client frees its GPU"
err=$(gpumgr exec --vram 100G -- true 2>&1) && fail "a 100 GB exec ran" || rc=$?
expect_eq "exec refused exit" "$rc" 1
[[ $err == *refused* ]] || fail "exec refusal says: $err"
pass "exec that can never fit is refused: $err"

# drain: nothing new on GPU 0; undrain gives it back.
gpumgr drain 0 >/dev/null
wait_for 10 bash -c "grep -q '\"drained\": true' '$GPUMGR_ROOT/gpu_state.json'"
for i in 1 2 3 4; do gpumgr submit --script record --arg ms=50 --id "d$i" >/dev/null; done
wait_for 20 files_at_least complete 4
for i in 1 2 3 4; do
  g=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["assigned_gpu"])' "$GPUMGR_ROOT/tasks/complete/d$i.json")
  expect_eq "d$i ran on the undrained GPU" "$g" 1
done
gpumgr undrain 0 >/dev/null
wait_for 10 bash -c "! grep -q '\"drained\": true' '$GPUMGR_ROOT/gpu_state.json'"
pass "drain keeps new work off GPU 0; undrain returns it"

# cancel a running task: its process group dies, it ends in failed/ as cancelled.
gpumgr submit --script record --arg ms=60000 --id long >/dev/null
wait_for 10 test -s "$GPUMGR_ROOT/run/tasks/long/lock"
wait_for 10 grep -q "start long" "$ledger"
gpumgr cancel long >/dev/null
wait_for 20 test -f "$GPUMGR_ROOT/tasks/failed/long.json"
code=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"]["code"])' "$GPUMGR_ROOT/tasks/failed/long.json")
expect_eq "cancelled task's error code" "$code" cancelled
grep -q "end long" "$ledger" && fail "the cancelled script ran to its end"
pass "cancel of a running task"
