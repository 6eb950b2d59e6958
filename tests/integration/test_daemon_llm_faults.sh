#!/usr/bin/env bash
# LLM failures at scale, on the original design's 5 simulated GPUs (0 and 3
# brain): 200 LLM and 100 script tasks interleaved all complete and the
# brain GPUs are never evicted; then a server that keeps failing takes its
# GPU offline with the reason in gpu_state.json. A daemon restart in the
# middle of the run re-adopts every loaded server with its pid unchanged.
. "$(dirname "$0")/lib.sh"

port=$(free_ports 8)
echo "base_port: $port"
ledger=$TEST_TMP/ledger
config() {  # EXTRA-FAKE-LLM-ARGS (a JSON list's inner part)
  write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"resource_manager\": {\"gpu_roles\": {\"0\": \"brain_primary\", \"3\": \"brain_secondary\"},
     \"eviction_policy\": {\"min_script_queue_for_evict\": 5}},
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}},
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.1\",
                          \"--load-sec\", \"0.1\", \"--tokens-per-sec\", \"0\", \"--models\", \"m1\"$1],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}, \"fail_offline_after\": 3},
    \"base_port\": $port}}"
}
stop_llm_servers_on_exit

config ""
start_daemon --sim 5x24GB
# Sample the brain GPUs' states while the run goes: after their boot they
# must never leave llm_ready / llm_busy.
python3 - "$GPUMGR_ROOT" "$TEST_TMP/brains" <<'PY' &
import json, os, sys, time
root, out = sys.argv[1], sys.argv[2]
seen, end = [], time.time() + 120
while time.time() < end and not os.path.exists(out + ".stop"):
    try:
        g = json.load(open(os.path.join(root, "gpu_state.json")))["gpus"]
        seen.append((g["0"]["state"], g["3"]["state"]))
    except Exception:
        pass
    time.sleep(0.02)
json.dump(seen, open(out, "w"))
PY
sampler=$!
python3 - "$GPUMGR_ROOT" "$SEED" <<'PY'
import json, os, random, sys
root, seed = sys.argv[1], int(sys.argv[2])
rng = random.Random(seed)
def put(cls, prio, tid, body):
    d = os.path.join(root, "tasks", cls + "_queue", "priority_%d" % prio)
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, "." + tid)
    with open(tmp, "w") as f:
        json.dump(body, f); f.flush(); os.fsync(f.fileno())
    os.rename(tmp, os.path.join(d, tid + ".json"))
for i in range(300):
    if i % 3 == 2:
        put("script", rng.randint(1, 5), "s%03d" % i, {"script": "record", "script_args": {"ms": rng.randint(5, 40)}})
    else:
        put("llm", rng.randint(1, 5), "l%03d" % i, {"prompt": "question %d" % i})
PY
# A daemon restart in the middle of the run: every server that had its model
# loaded is re-adopted with the same pid, none is booted again or forgotten.
wait_for 120 files_at_least complete 100
stop_daemon
loaded=$(python3 - "$GPUMGR_ROOT" <<'PY'
import glob, json, os, sys
for p in sorted(glob.glob(os.path.join(sys.argv[1], "run", "llm", "llm-*.json"))):
    st = json.load(open(p))
    try:
        os.kill(st["pid"], 0)
    except OSError:
        continue
    if st.get("model"):
        print(st["pid"])
PY
)
[[ -n $loaded ]] || fail "no LLM server was loaded at the restart"
log_from=$(wc -l <"$TEST_TMP/daemon.log")
start_daemon
readopted() {  # PID: the new daemon's log says it re-adopted that server
  tail -n +"$((log_from + 1))" "$TEST_TMP/daemon.log" |
    grep -q "re-adopted its LLM server (pid $1,"
}
for pid in $loaded; do
  wait_for 10 readopted "$pid"
done
pass "restart mid-run: servers $(echo $loaded) re-adopted with the same pids"
wait_for 120 files_at_least complete 300
: >"$TEST_TMP/brains.stop"
wait "$sampler"
expect_eq "failed tasks" "$(count_files failed)" 0
python3 - "$GPUMGR_ROOT" "$TEST_TMP/brains" <<'PY'
import glob, json, os, sys
root, samples = sys.argv[1], json.load(open(sys.argv[2]))
tasks = [json.load(open(p)) for p in glob.glob(os.path.join(root, "tasks", "complete", "*.json"))]
llm = [t for t in tasks if t["task_class"] == "llm"]
assert len(llm) == 200 and len(tasks) == 300, (len(llm), len(tasks))
assert all(t["output"] and t["llm"]["eval_count"] > 0 for t in llm)
for gpu in (0, 1):
    states = [s[gpu] for s in samples]
    first = next((i for i, s in enumerate(states) if s == "llm_ready"), None)
    assert first is not None, "brain never ready"
    bad = {s for s in states[first:] if s not in ("llm_ready", "llm_busy")}
    assert not bad, "brain GPU %d left the LLM states: %s" % ((0, 3)[gpu], bad)
print("ok: 200 LLM + 100 script tasks complete on 5 GPUs; %d samples: brains never evicted" % len(samples))
PY
stop_daemon
stop_llm_servers

# A server that dies on every request: after fail_offline_after failures in a
# row its GPU goes offline, with the reason.
rm -rf "$GPUMGR_ROOT"/run/llm
config ", \"--fail-after\", \"0\""
python3 - "$GPUMGR_ROOT" <<'PY'
import json, os, sys
root = sys.argv[1]
s = {"gpus": [{"uuid": "GPU-fault-0000-0000-0000-000000000001", "name": "sim", "vram_total_mb": 24576,
               "vram_used_mb": 0, "compute_capability": "8.6", "health": "ok"}]}
json.dump(s, open(os.path.join(root, "sim_gpus.json"), "w"))
PY
rm -f "$GPUMGR_ROOT/gpu_state.json"
start_daemon
"$GPUMGR_BIN" submit --id doomed "this server always dies" >/dev/null
offline() { [[ $(python3 -c 'import json,sys; g=json.load(open(sys.argv[1]))["gpus"]["0"]; print(g["state"])' "$GPUMGR_ROOT/gpu_state.json") == offline ]]; }
wait_for 60 offline
reason=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["gpus"]["0"]["offline_reason"])' "$GPUMGR_ROOT/gpu_state.json")
[[ -n $reason ]] || fail "offline without a reason"
pass "a failing server took its GPU offline: $reason"
[[ -f $GPUMGR_ROOT/tasks/complete/doomed.json ]] && fail "the doomed task completed"
pass "its task waits for a healthy GPU instead of failing"
