#!/usr/bin/env bash
# The llama-server backend end to end, served by `gpumgr fake-llm
# --llama-server` (which answers 404 to Ollama's /api/*): boots end when
# GET /health turns 200 (no load request), tasks are answered through
# /v1/chat/completions with token counts and durations in complete/, and an
# eviction unloads by stopping the server.
. "$(dirname "$0")/lib.sh"

port=$(free_ports 8)
echo "base_port: $port"
ledger=$TEST_TMP/ledger
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"resource_manager\": {\"gpu_roles\": {\"0\": \"brain_primary\"},
     \"eviction_policy\": {\"min_script_queue_for_evict\": 0}},
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}},
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"backend\": \"llama-server\",
                \"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--llama-server\", \"--port\", \"{port}\",
                          \"--models\", \"m1\", \"--load-sec\", \"0.3\", \"--tokens-per-sec\", \"200\"]},
    \"base_port\": $port}}"
stop_llm_servers_on_exit

# Six tasks wait before the daemon starts: the brain GPU 0 boots, and the
# backlog (4 per GPU) boots GPU 1 too.
for i in 1 2 3 4 5 6; do
  "$GPUMGR_BIN" submit --id "q$i" "question number $i for llama" >/dev/null
done
start_daemon --sim 2x24GB
wait_for 30 files_at_least complete 6
expect_eq "failed tasks" "$(count_files failed)" 0
python3 - "$GPUMGR_ROOT" <<'PY'
import glob, json, os, sys
root = sys.argv[1]
gpus = set()
for i in range(1, 7):
    t = json.load(open(os.path.join(root, "tasks", "complete", "q%d.json" % i)))
    assert t["output"].startswith("Fake"), t
    llm = t["llm"]
    assert llm["eval_count"] > 0 and llm["prompt_eval_count"] == 6, llm  # 5 words + 1
    # timings (ms) became ns; load is not reported by llama-server
    assert llm["prompt_eval_duration_ns"] > 0 and llm["eval_duration_ns"] > 0, llm
    assert llm["total_duration_ns"] == llm["prompt_eval_duration_ns"] + llm["eval_duration_ns"], llm
    assert llm["load_duration_ns"] is None, llm
    assert llm["done_reason"] == "stop", llm
    assert t["attempts"] == 1, t
    gpus.add(t["assigned_gpu"])
print("answered on GPUs", sorted(gpus))
PY
grep -q "GPU 1: m1 ready after" "$TEST_TMP/daemon.log" || fail "GPU 1 never booted m1"
! grep -q "loading m1 failed" "$TEST_TMP/daemon.log" || fail "a load request was sent"
pass "6 tasks answered through /v1/chat/completions with counts and durations"

# An eviction for a script: llama-server has no unload API, so the server
# of GPU 1 is stopped.
pid1=$(state_field 1 pid)
[[ $pid1 =~ ^[0-9]+$ ]] || fail "no server on GPU 1: $pid1"
"$GPUMGR_BIN" submit --id s1 --script record --arg ms=10 >/dev/null
wait_for 30 files_at_least complete 7
grep -q "GPU 1: LLM server stopped (unloaded)" "$TEST_TMP/daemon.log" ||
  fail "GPU 1's server was not stopped for the script"
# gone, or a zombie its adoptive parent has not reaped yet
gone() { [[ ! -e /proc/$1 ]] || [[ $(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) == Z ]]; }
# (it may take its time to exit after the TERM on a loaded machine)
wait_for 60 gone "$pid1"
expect_eq "s1 ran on GPU" "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["assigned_gpu"])' \
  "$GPUMGR_ROOT/tasks/complete/s1.json")" 1
state_is 0 state llm_ready || fail "the brain GPU left llm_ready"
pass "unloading a llama-server stopped it; the script ran on its GPU"
stop_daemon
! grep -E "runtime error|ERROR: AddressSanitizer" "$TEST_TMP/daemon.log" ||
  fail "sanitizer report in the daemon log"
