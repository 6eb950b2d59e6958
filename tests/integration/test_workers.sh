#!/usr/bin/env bash
# Outside workers (docs/workers.md) end to end on 2 simulated GPUs, with the
# example client docs/examples/worker.py: it leases a GPU and registers; its
# GPU shows llm_ready with its model and the worker; LLM tasks are answered
# by it (complete/ names it) without gpumgr booting a server; killed by pid,
# it is marked dead and its GPU is idle within the heartbeat timeout. A
# second worker stopped (SIGSTOP) under a request misses its heartbeats: it
# is marked dead and its task is requeued and answered by gpumgr's own
# server. A lease without a pid that is not renewed is freed. Hostile API
# input gets 400/404/410 with a message, and the daemon stays up.
. "$(dirname "$0")/lib.sh"

WORKER_PY=$(cd "$(dirname "$0")/../../docs/examples" && pwd)/worker.py
api_port=$(free_ports 9)
llm_port=$(( api_port + 1 ))
echo "api port: $api_port, llm base port: $llm_port"
B=http://127.0.0.1:$api_port
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0, \"rescan_interval_ms\": 200,
  \"api\": {\"port\": $api_port}, \"workers\": {\"heartbeat_timeout_ms\": 3000},
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.2\",
                          \"--load-sec\", \"0.1\", \"--tokens-per-sec\", \"200\", \"--models\", \"m1\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}},
    \"base_port\": $llm_port}}"
stop_llm_servers_on_exit

# api METHOD PATH [BODY]: prints "CODE BODY".
api() {
  local out code
  out=$(mktemp "$TEST_TMP/reply.XXXXXX")
  code=$(curl -s -o "$out" -w '%{http_code}' -H "$(api_auth)" -X "$1" ${3:+-H 'Content-Type: application/json' --data-binary "$3"} "$B$2") || code=000
  echo "$code $(cat "$out")"
}
# expect_api CODE NEEDLE METHOD PATH [BODY]
expect_api() {
  local want=$1 needle=$2 got; shift 2
  got=$(api "$@")
  [[ ${got%% *} == "$want" && $got == *"$needle"* ]] ||
    fail "$* -> $got (want $want with '$needle')"
}
api_up() { [[ $(api GET /v1/status) == 200* ]]; }
json_get() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
# gpu_of UUID: the GPU index gpu_state.json gives that UUID.
gpu_of() {
  python3 - "$GPUMGR_ROOT/gpu_state.json" "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print([k for k, g in s["gpus"].items() if g["uuid"] == sys.argv[2]][0])
PY
}
# gpu_worker GPU: the worker id gpu_state.json shows on it, or "-".
gpu_worker() {
  python3 - "$GPUMGR_ROOT/gpu_state.json" "$1" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))["gpus"][sys.argv[2]]
print(g.get("worker", {}).get("id", "-"))
PY
}
gpu_idle_unworked() { state_is "$1" state idle && [[ $(gpu_worker "$1") == - ]]; }
worker_state_is() { [[ $(json_get "$GPUMGR_ROOT/workers/$1.json" state) == "$2" ]]; }
# queue_llm ID...: LLM tasks for m1, dropped in the queue as a submitter would.
queue_llm() {
  local id d=$GPUMGR_ROOT/tasks/llm_queue/priority_3
  for id in "$@"; do
    printf '{"task_id": "%s", "model": "m1", "prompt": "question %s"}\n' "$id" "$id" >"$d/.$id"
    mv "$d/.$id" "$d/$id.json"
  done
}
completed() { [[ -f $GPUMGR_ROOT/tasks/complete/$1.json ]]; }
start_worker() {  # start_worker NAME [ARGS...]: sets WPID
  local name=$1; shift
  python3 "$WORKER_PY" --api "$B" --model m1 --name "$name" \
    --ready-file "$TEST_TMP/$name.json" "$@" >>"$TEST_TMP/$name.log" 2>&1 &
  WPID=$!
  STARTED_PIDS+=("$WPID")
  wait_for 20 test -f "$TEST_TMP/$name.json"
}

start_daemon --sim 2x24GB
wait_for 10 api_up

# --- a worker answers LLM tasks ------------------------------------------
start_worker wA
WA=$WPID
wa=$(json_get "$TEST_TMP/wA.json" worker_id)
la=$(json_get "$TEST_TMP/wA.json" lease_id)
ga=$(gpu_of "$(json_get "$TEST_TMP/wA.json" gpu_uuid)")
wait_for 5 state_is "$ga" state llm_ready
expect_eq "model on the worker's GPU" "$(state_field "$ga" model)" m1
expect_eq "worker on GPU $ga" "$(gpu_worker "$ga")" "$wa"
expect_api 200 "\"state\":\"live\"" GET /v1/workers
expect_api 200 "\"state\":\"granted\"" GET "/v1/leases/$la"
pass "worker $wa attached to GPU $ga through lease $la"

queue_llm a0 a1
wait_for 20 completed a0
wait_for 20 completed a1
python3 - "$GPUMGR_ROOT" "$wa" <<'PY'
import json, os, sys
root, wid = sys.argv[1:3]
for tid in ("a0", "a1"):
    t = json.load(open(os.path.join(root, "tasks", "complete", tid + ".json")))
    assert t["worker"]["id"] == wid, t
    assert t["worker"]["endpoint"].startswith("http://127.0.0.1:"), t
    assert t["output"] == "wA (m1) answers: " + ("question " + tid)[::-1], t
PY
[[ -z $(ls "$GPUMGR_ROOT"/run/llm/llm-*.json 2>/dev/null) ]] ||
  fail "gpumgr booted its own server although the worker serves m1"
pass "tasks a0 a1 answered by the worker, none booted"

# --- a restarted daemon keeps the registration ------------------------------
stop_daemon
start_daemon
wait_for 10 api_up
wait_for 5 state_is "$ga" state llm_ready
expect_eq "worker on GPU $ga after a restart" "$(gpu_worker "$ga")" "$wa"
grep -q "lease $la re-held" "$TEST_TMP/daemon.log" || fail "lease not re-held"
queue_llm a2
wait_for 20 completed a2
grep -q "\"id\": \"$wa\"" "$GPUMGR_ROOT/tasks/complete/a2.json" || fail "a2 not answered by $wa"
pass "restart: worker $wa re-attached and answers a2"

# --- killed by pid: dead, GPU idle within the timeout ----------------------
kill -KILL "$WA"
wait "$WA" 2>/dev/null || true
wait_for 3 gpu_idle_unworked "$ga"     # the heartbeat timeout: 3 s
worker_state_is "$wa" dead || fail "$wa not marked dead"
grep -q "pid $WA is gone" "$GPUMGR_ROOT/workers/$wa.json" || fail "no reason recorded"
grep -q "worker $wa on GPU $ga .* is dead: its pid $WA is gone" "$TEST_TMP/daemon.log" ||
  fail "death not logged"
wait_for 2 eval "[[ ! -e $GPUMGR_ROOT/leases/$la.json ]]"
expect_api 410 "is dead" POST "/v1/workers/$wa/heartbeat"
expect_api 404 "no lease" GET "/v1/leases/$la"
pass "killed worker: dead, its GPU $ga idle, its lease gone"

# --- stopped under a request: heartbeats missed, task requeued ---------------
start_worker wB --delay 60
WB=$WPID
wb=$(json_get "$TEST_TMP/wB.json" worker_id)
gb=$(gpu_of "$(json_get "$TEST_TMP/wB.json" gpu_uuid)")
wait_for 5 state_is "$gb" state llm_ready
queue_llm b0
wait_for 5 state_is "$gb" state llm_busy
kill -STOP "$WB"
wait_for 5 worker_state_is "$wb" dead   # 3 s timeout + one 750 ms poll
grep -q "no heartbeat for" "$GPUMGR_ROOT/workers/$wb.json" || fail "wrong reason"
[[ $(gpu_worker "$gb") == - ]] || fail "GPU $gb still shows the dead worker"
grep -q "task b0 requeued" "$TEST_TMP/daemon.log" || fail "b0 not requeued"
wait_for 20 completed b0
python3 - "$GPUMGR_ROOT/tasks/complete/b0.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
assert "worker" not in t, t           # gpumgr's own server answered
assert t["llm"]["eval_count"] > 0, t
PY
kill -KILL "$WB"
wait "$WB" 2>/dev/null || true
pass "silent worker: dead after its heartbeats stopped, b0 answered elsewhere"

# --- a lease without a pid must be renewed ----------------------------------
got=$(api POST /v1/leases '{"requires": {"vram_mb": 1024}, "holder": "curl"}')
[[ $got == 202* ]] || fail "lease: $got"
lp=$(sed 's/.*"lease_id":"\([^"]*\)".*/\1/' <<<"${got#* }")
# Granted, then freed 3 s later: the granted state passes, so the test
# reads the daemon's log for it once the lease is gone, not the API.
wait_for 30 eval "[[ ! -e $GPUMGR_ROOT/leases/$lp.json ]]"
grep -A1000 "lease $lp granted GPU" "$TEST_TMP/daemon.log" | grep -q "lease $lp .*not renewed in time" ||
  fail "lease $lp not granted, then freed unrenewed: $(grep "lease $lp" "$TEST_TMP/daemon.log")"
expect_api 404 "no lease" GET "/v1/leases/$lp"
pass "unrenewed pid-less lease freed"

# --- hostile input --------------------------------------------------------
ep='"endpoint": "http://127.0.0.1:9"'
expect_api 400 invalid_json POST /v1/workers '{"kind": '
expect_api 400 "expected a JSON object" POST /v1/workers '[1]'
expect_api 400 "kind" POST /v1/workers '{}'
expect_api 400 "kind" POST /v1/workers "{\"kind\": \"tts\", \"model\": \"m1\", $ep, \"gpu\": 0}"
expect_api 400 "model" POST /v1/workers "{\"kind\": \"llm\", $ep, \"gpu\": 0}"
expect_api 400 "endpoint" POST /v1/workers '{"kind": "llm", "model": "m1", "gpu": 0, "endpoint": "ftp://x"}'
expect_api 400 "unknown GPU 'GPU-nope'" POST /v1/workers "{\"kind\": \"llm\", \"model\": \"m1\", $ep, \"gpu\": \"GPU-nope\"}"
expect_api 400 "unknown GPU '7'" POST /v1/workers "{\"kind\": \"llm\", \"model\": \"m1\", $ep, \"gpu\": 7}"
expect_api 400 "gpu: required" POST /v1/workers "{\"kind\": \"llm\", \"model\": \"m1\", $ep}"
expect_api 400 "pid" POST /v1/workers "{\"kind\": \"llm\", \"model\": \"m1\", $ep, \"gpu\": 0, \"pid\": 2147483646}"
expect_api 400 "no lease" POST /v1/workers "{\"kind\": \"llm\", \"model\": \"m1\", $ep, \"lease\": \"nope\"}"
expect_api 400 "unknown field" POST /v1/workers "{\"kind\": \"llm\", \"model\": \"m1\", $ep, \"gpu\": 0, \"x\": 1}"
expect_api 400 invalid_json POST /v1/leases 'nope'
expect_api 400 "priority" POST /v1/leases '{"priority": 9}'
expect_api 400 "gpu_requirement" POST /v1/leases '{"gpu_requirement": "none"}'
expect_api 400 "requires" POST /v1/leases '{"requires": {"vram_mb": "lots"}}'
expect_api 400 "pid" POST /v1/leases '{"pid": -5}'
expect_api 400 invalid_id GET /v1/leases/.hidden
expect_api 404 "no lease" GET /v1/leases/no-such-lease
expect_api 404 "no lease" DELETE /v1/leases/no-such-lease
expect_api 404 "no worker" POST /v1/workers/no-such-worker/heartbeat
expect_api 404 "no worker" DELETE /v1/workers/no-such-worker
expect_api 405 "allows" PUT /v1/workers
kill -0 "$DAEMON_PID" || fail "daemon died"
api_up || fail "API down"

# A registration on a GPU that is busy without a lease is rejected by the
# daemon, which says why; a clean DELETE removes it.
queue_llm c0
wait_for 20 completed c0
gi=$(python3 - "$GPUMGR_ROOT/gpu_state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print([k for k, g in sorted(s["gpus"].items()) if g["state"].startswith("llm")][0])
PY
)
got=$(api POST /v1/workers "{\"kind\": \"llm\", \"model\": \"m1\", $ep, \"gpu\": $gi}")
[[ $got == 201* ]] || fail "register: $got"
wr=$(sed 's/.*"worker_id":"\([^"]*\)".*/\1/' <<<"${got#* }")
wait_for 3 worker_state_is "$wr" rejected
grep -q "ask for a lease first" "$GPUMGR_ROOT/workers/$wr.json" || fail "no reason"
expect_api 410 "rejected" POST "/v1/workers/$wr/heartbeat"
expect_api 200 '"removed":true' DELETE "/v1/workers/$wr"
kill -0 "$DAEMON_PID" || fail "daemon died"
pass "hostile input answered with 400/404/405/410, daemon up"

# Sanitizer builds: no error, and no leak from the code of this feature.
stop_daemon
! grep -E "runtime error|ERROR: AddressSanitizer|src/daemon/(workers|lease|llm)\.c|src/api/api-(leases|workers)\.c" \
  "$TEST_TMP/daemon.log" || fail "sanitizer report in the daemon log"
pass "no sanitizer report"
