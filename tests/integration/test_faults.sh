#!/usr/bin/env bash
# Fault injection during a mixed run (issue #6): a stream of script and LLM
# tasks on 5 simulated GPUs while eleven kinds of fault are injected, by
# editing the sim GPUs file and through /v1/sim/gpus: lost, xid:79, xid:48,
# ecc, too hot (with hysteresis), removed and re-added, VRAM filled by a
# foreign process, an unparsable GPUs file, a hot-added GPU, a killed LLM
# server and a killed script. Every task completes on the GPUs that
# survive, none starts on a GPU while it is offline, a GPU back from a
# fault passes its probation first, a hot-added one works at once.
# scripts/faults.py does the injecting and the checking.
. "$(dirname "$0")/lib.sh"

port=$(free_ports 8)
echo "llm base_port: $port"
ledger=$TEST_TMP/ledger
: >"$ledger"
probation_ms=800
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0, \"rescan_interval_ms\": 200,
  \"health\": {\"probation_ms\": $probation_ms},
  \"resource_manager\": {\"eviction_policy\": {\"min_script_queue_for_evict\": 5}},
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}},
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.1\",
                          \"--load-sec\", \"0.1\", \"--tokens-per-sec\", \"200\", \"--models\", \"m1\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}},
    \"base_port\": $port}}"
stop_llm_servers_on_exit
start_daemon --sim 5x24GB
python3 "$SCRIPTS_DIR/faults.py" "$GPUMGR_ROOT" "$ledger" "$SEED" "$probation_ms" ||
  fail "fault injection (daemon log: $TEST_TMP/daemon.log)"
kill -0 "$DAEMON_PID" || fail "the daemon died"
stop_daemon
! grep -E "runtime error|ERROR: AddressSanitizer" "$TEST_TMP/daemon.log" ||
  fail "sanitizer report in the daemon log"
pass "fault injection suite"
