#!/usr/bin/env bash
# Exclusive batch mode in the daemon with batch_settings
# exclusive_takes_brains (DESIGN §4 to the letter; the default keeps the
# brain GPUs, test_daemon_design.sh): with the brain LLM loaded on GPU 0, an
# exclusive batch makes the daemon enter exclusive mode once, unload the LLM
# so the batch has every GPU, hold LLM tasks back, and when the batch is
# done leave the mode and reload the LLM that was loaded. Checked on what
# the daemon leaves (task files, log), not by catching the mode's window.
. "$(dirname "$0")/lib.sh"

port=$(free_ports 8)
echo "base_port: $port"
ledger=$TEST_TMP/ledger
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"resource_manager\": {\"gpu_roles\": {\"0\": \"brain_primary\"},
    \"batch_settings\": {\"exclusive_takes_brains\": true}},
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}},
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.2\",
                          \"--load-sec\", \"0.2\", \"--tokens-per-sec\", \"200\", \"--models\", \"m1\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}},
    \"base_port\": $port}}"

stop_llm_servers_on_exit


start_daemon --sim 2x24GB
wait_for 30 state_is 0 state llm_ready
pass "brain GPU 0 booted m1"

for i in 1 2 3 4 5 6; do echo 400; done >"$TEST_TMP/items.txt"
out=$(gpumgr batch submit --type transcribe --script record --input "$TEST_TMP/items.txt" \
      --item-arg ms --exclusive --batch-id vids)
gpumgr submit --id q1 "a question asked during the batch" >/dev/null
wait_for 60 files_at_least complete 6
wait_for 30 state_is mode normal
expect_eq "entered exclusive mode for vids" \
  "$(grep -c 'exclusive mode for batch vids' "$TEST_TMP/daemon.log")" 1
expect_eq "left it" "$(grep -c 'exclusive mode ends (batch vids)' "$TEST_TMP/daemon.log")" 1
expect_eq "the batch record" "$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["status"], r["completed"])' "$GPUMGR_ROOT/batches/vids.json")" "complete 6"
wait_for 30 state_is 0 state llm_ready
expect_eq "GPU 0's model after the batch" "$(state_field 0 model)" m1
wait_for 30 test -f "$GPUMGR_ROOT/tasks/complete/q1.json"

python3 - "$GPUMGR_ROOT" <<'PY'
import glob, json, os, sys
root = sys.argv[1]
done = [json.load(open(p)) for p in glob.glob(os.path.join(root, "tasks", "complete", "vids-*.json"))]
assert len(done) == 6, len(done)
gpus = {t["assigned_gpu"] for t in done}
assert gpus == {0, 1}, "the batch did not get every GPU: %s" % gpus
q = json.load(open(os.path.join(root, "tasks", "complete", "q1.json")))
last_start = max(t["started_at"] for t in done)
assert q["started_at"] >= last_start, ("the LLM task ran during the batch", q["started_at"], last_start)
assert q["output"], q
print("ok: the batch ran on both GPUs (the brain's LLM unloaded), the LLM task waited, m1 reloaded")
PY
