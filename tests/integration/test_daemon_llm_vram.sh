#!/usr/bin/env bash
# After an LLM is unloaded for a script, the script starts only once the
# GPU's VRAM reads free again: the simulated GPU keeps the model's memory
# "used" after the server exits (as a driver that has not yet released it)
# and the script must not start until the file is edited back. The periodic
# rescan is an hour away: the daemon rescans by itself when the server exits.
. "$(dirname "$0")/lib.sh"

port=$(free_ports 8)
echo "base_port: $port"
ledger=$TEST_TMP/ledger
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0, \"rescan_interval_ms\": 3600000,
  \"resource_manager\": {\"eviction_policy\": {\"min_script_queue_for_evict\": 0}},
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}},
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.1\",
                          \"--load-sec\", \"0.1\", \"--tokens-per-sec\", \"0\", \"--models\", \"m1\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"},
                \"release_timeout_ms\": 600000},
    \"base_port\": $port}}"
stop_llm_servers_on_exit

# sim_used MB: VRAM of GPU 0 used by someone else; replaced atomically.
sim_used() {
  python3 - "$GPUMGR_ROOT/sim_gpus.json" "$1" <<'PY'
import json, os, sys
path, mb = sys.argv[1], int(sys.argv[2])
s = {"gpus": [{"uuid": "GPU-vram-0000-0000-0000-000000000001", "name": "sim",
               "vram_total_mb": 24576, "vram_used_mb": mb,
               "compute_capability": "8.6", "health": "ok"}]}
json.dump(s, open(path + ".tmp", "w"))
os.rename(path + ".tmp", path)
PY
}
logged() { grep -q "$1" "$TEST_TMP/daemon.log"; }

sim_used 0
start_daemon
"$GPUMGR_BIN" submit --id q1 "warm the model up" >/dev/null
wait_for 30 files_at_least complete 1
wait_for 10 state_is 0 state llm_ready
# The model now holds memory, as a real GPU would show.
sim_used 20000

"$GPUMGR_BIN" submit --id s1 --script record --arg ms=10 >/dev/null
wait_for 30 logged "GPU 0: waiting for its VRAM to be released"
logged "GPU 0: LLM server stopped (unloaded)" || fail "no unload logged"
[[ -f $GPUMGR_ROOT/tasks/script_queue/priority_3/s1.json ]] ||
  fail "s1 left the queue while the VRAM was still used"
[[ ! -f $ledger ]] || fail "s1 started before the VRAM was released: $(cat "$ledger")"
# gpu_state.json is rewritten at most every 100 ms: wait for it to drop
# the stopped server's pid.
no_server_pid() { [[ $(state_field 0 pid) == None ]]; }
wait_for 10 no_server_pid
pass "the unloaded GPU is held while its VRAM reads used (s1 waits)"

edited=$(date +%s%N)
sim_used 0
wait_for 30 files_at_least complete 2
logged "GPU 0: VRAM released after" || fail "no release logged"
started=$(awk '$1 == "start" && $2 == "s1" { print $4 }' "$ledger")
[[ -n $started ]] || fail "no start of s1 in the ledger"
(( started > edited )) || fail "s1 started at $started, before the VRAM was freed at $edited"
expect_eq "s1 ran on" "$(awk '$1 == "start" { print $3 }' "$ledger")" \
  "GPU-vram-0000-0000-0000-000000000001"
expect_eq "failed tasks" "$(count_files failed)" 0
pass "s1 started only after the VRAM read free again"
stop_daemon
! grep -E "runtime error|ERROR: AddressSanitizer" "$TEST_TMP/daemon.log" ||
  fail "sanitizer report in the daemon log"
