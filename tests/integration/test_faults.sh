#!/usr/bin/env bash
# Fault injection during a mixed run (issue #6): a stream of script and LLM
# tasks on 5 simulated GPUs while twelve kinds of fault are injected, by
# editing the sim GPUs file and through /v1/sim/gpus: lost, xid:79, xid:48,
# ecc, an application's Xid 13 (which must NOT take the GPU out), too hot
# (with hysteresis), removed and re-added, VRAM filled by a foreign
# process, an unparsable GPUs file, a hot-added GPU, a killed LLM server
# and a killed script. Every task completes on the GPUs that
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
# No LLM server outlives its GPU's fault: every fake-llm serving this test's
# ports is one gpu_state.json lists on a GPU in an LLM state.
servers_accounted() {
  python3 - "$GPUMGR_ROOT" "$port" <<'PY'
import json, os, sys
root, base = sys.argv[1], int(sys.argv[2])
listed = {g.get("pid") for g in json.load(open(os.path.join(root, "gpu_state.json")))["gpus"].values()
          if g["state"].startswith(("llm_", "booting_llm"))}
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        cmd = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
        env = open("/proc/%s/environ" % p, "rb").read().split(b"\0")
    except OSError:
        continue
    if b"fake-llm" not in cmd:
        continue
    host = [e for e in env if e.startswith(b"OLLAMA_HOST=127.0.0.1:")]
    if host and base <= int(host[0].rsplit(b":", 1)[1]) < base + 8 and int(p) not in listed:
        print("fake-llm pid %s (%s) is not any GPU's server" % (p, host[0].decode()))
        sys.exit(1)
PY
}
wait_for 20 servers_accounted
pass "every running LLM server belongs to a GPU that serves it"
stop_daemon
! grep -E "runtime error|ERROR: AddressSanitizer" "$TEST_TMP/daemon.log" ||
  fail "sanitizer report in the daemon log"
pass "fault injection suite"
