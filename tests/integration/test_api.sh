#!/usr/bin/env bash
# `gpumgr api-serve` on a temporary ROOT: every endpoint over TCP and over
# the unix socket, the files each leaves, hostile requests answered with the
# right 4xx while the server stays up, and /metrics accepted by promtool.
. "$(dirname "$0")/lib.sh"

R=$GPUMGR_ROOT
cat > "$R/config.json" <<'JSON'
{"scripts": {"whisper": {"argv": ["/bin/echo", "{file}"], "vram_mb": 2048}}}
JSON
cat > "$R/gpu_state.json" <<'JSON'
{"gpus": {"0": {"state": "llm_ready", "model": "qwen2.5:14b", "uuid": "GPU-aaaa",
                "name": "RTX 3090", "vram_total_mb": 24576, "vram_free_mb": 10000,
                "util_pct": 55, "temp_c": 61},
          "1": {"state": "idle", "uuid": "GPU-bbbb", "vram_total_mb": 24576,
                "vram_free_mb": 24000}},
 "mode": "normal", "batch_id": null, "evictions": 3}
JSON

# Start on a random free port; retry when the port is taken.
PID=
for try in 1 2 3 4 5 6 7 8; do
  PORT=$(( 20000 + RANDOM % 40000 ))
  "$GPUMGR_BIN" --root "$R" api-serve --port "$PORT" >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
  PID=$!
  started() { grep -q "listening port=$PORT" "$TEST_TMP/out" 2>/dev/null || ! kill -0 "$PID" 2>/dev/null; }
  wait_for 10 started
  if kill -0 "$PID" 2>/dev/null; then STARTED_PIDS+=("$PID"); break; fi
  wait "$PID" || true
  PID=
done
[[ -n $PID ]] || { cat "$TEST_TMP/err"; fail "api-serve did not start"; }
B="http://127.0.0.1:$PORT"
SOCK="$R/api.sock"
expect_eq "socket mode" "$(stat -c %a "$SOCK")" "666"
expect_eq "token mode" "$(stat -c %a "$R/api.token")" "600"
AUTH=$(api_auth)

# req METHOD PATH [DATA-FILE|-]: sets CODE and BODY (over TCP, or over the
# unix socket when USE_SOCK=1).
req() {
  local m=$1 p=$2
  local args=(--path-as-is -s -o "$TEST_TMP/body" -w '%{http_code}' -X "$m")
  [[ $# -ge 3 ]] && args+=(--data-binary "@$3" -H 'Content-Type: application/json')
  if [[ ${USE_SOCK:-0} == 1 ]]; then
    CODE=$(curl "${args[@]}" --unix-socket "$SOCK" "http://gpumgr$p")
  else
    CODE=$(curl "${args[@]}" -H "$AUTH" "$B$p")
  fi
  BODY=$(cat "$TEST_TMP/body")
}
body() { printf '%s' "$1" > "$TEST_TMP/req"; echo "$TEST_TMP/req"; }
jq_() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" <<<"$BODY"; }
alive() { kill -0 "$PID" 2>/dev/null || fail "api-serve died"; req GET /v1/status; expect_eq "alive" "$CODE" 200; }

# --- status and GPUs, both transports
for USE_SOCK in 0 1; do
  req GET /v1/status
  expect_eq "status code" "$CODE" 200
  expect_eq "status gpus" "$(jq_ 'len(d["gpus"])')" 2
  req GET /v1/gpus
  expect_eq "gpus code" "$CODE" 200
  expect_eq "gpu 0 state" "$(jq_ 'd["gpus"][0]["state"]')" llm_ready
  expect_eq "gpu 0 drained" "$(jq_ 'd["gpus"][0]["drained"]')" False
done
USE_SOCK=0
pass "status and gpus over TCP and the unix socket"

# --- submit, get, list
req POST /v1/tasks "$(body '{"task_id": "t-llm", "prompt": "hello", "priority": 5}')"
expect_eq "submit code" "$CODE" 201
expect_eq "submit status" "$(jq_ 'd["status"]')" queued
[[ -f $R/tasks/llm_queue/priority_5/t-llm.json ]] || fail "task file not in llm_queue/priority_5"
USE_SOCK=1 req POST /v1/tasks "$(body '{"task_id": "t-scr", "script": "whisper", "script_args": {"file": "a.wav"}}')"
expect_eq "submit script code" "$CODE" 201
[[ -f $R/tasks/script_queue/priority_3/t-scr.json ]] || fail "script task not in script_queue/priority_3"
req GET /v1/tasks/t-llm
expect_eq "get code" "$CODE" 200
expect_eq "get prompt" "$(jq_ 'd["prompt"]')" hello
req GET "/v1/tasks?class=script"
expect_eq "list class" "$(jq_ '[t["task_id"] for t in d["tasks"]]')" "['t-scr']"
req GET "/v1/tasks?status=queued&limit=1"
expect_eq "list limit" "$(jq_ '(d["count"], d["truncated"])')" "(1, True)"
req POST /v1/tasks "$(body '{"task_id": "t-llm", "prompt": "again"}')"
expect_eq "duplicate id" "$CODE" 409
pass "submit, get, list"

# --- finished tasks: list by status, DELETE answers 409; metrics count them
mkdir -p "$R/tasks/complete" "$R/tasks/failed" "$R/tasks/processing"
cat > "$R/tasks/complete/done-1.json" <<'JSON'
{"task_id": "done-1", "task_class": "llm", "prompt": "x", "status": "complete",
 "created_at": "2025-02-05T10:00:00Z", "started_at": "2025-02-05T10:00:04Z",
 "completed_at": "2025-02-05T10:01:04Z"}
JSON
cat > "$R/tasks/failed/bad-1.json" <<'JSON'
{"task_id": "bad-1", "task_class": "script", "script": "whisper", "status": "failed",
 "error": {"code": "exit", "message": "exit 1"}}
JSON
req GET "/v1/tasks?status=complete"
expect_eq "list complete" "$(jq_ '[t["task_id"] for t in d["tasks"]]')" "['done-1']"
req DELETE /v1/tasks/done-1
expect_eq "delete finished" "$CODE" 409
req DELETE /v1/tasks/nope
expect_eq "delete missing" "$CODE" 404

# --- cancel a queued task
req DELETE /v1/tasks/t-scr
expect_eq "cancel code" "$CODE" 200
[[ ! -e $R/tasks/script_queue/priority_3/t-scr.json ]] || fail "cancelled task still queued"
grep -q '"cancelled"' "$R/tasks/failed/t-scr.json" || fail "failed/t-scr.json has no cancelled error"
# a running task without a run folder: 409; with one that has finished: 202
echo '{"task_id": "run-1", "prompt": "x", "status": "running"}' > "$R/tasks/processing/run-1.json"
req DELETE /v1/tasks/run-1
expect_eq "cancel unstarted running" "$CODE" 409
pass "cancel: queued 200, finished 409, missing 404"

# --- drain / undrain
req POST /v1/gpus/1/drain
expect_eq "drain code" "$CODE" 200
[[ -f $R/control/drain.1 ]] || fail "no control/drain.1"
req GET /v1/gpus
expect_eq "gpu 1 drained" "$(jq_ 'd["gpus"][1]["drained"]')" True
USE_SOCK=1 req POST /v1/gpus/1/undrain
expect_eq "undrain code" "$CODE" 200
[[ ! -e $R/control/drain.1 ]] || fail "control/drain.1 still there"
req POST /v1/gpus/GPU-aaaa/drain
expect_eq "drain by uuid" "$CODE" 200
[[ -f $R/control/drain.GPU-aaaa ]] || fail "no control/drain.GPU-aaaa"
req POST /v1/gpus/7/drain
expect_eq "drain unknown gpu" "$CODE" 404
pass "drain and undrain write and remove control files"

# --- batches
req POST /v1/batches "$(body '{"batch_id": "b1", "script": "whisper", "gpu_mode": "exclusive", "items": [{"file": "1.wav"}, {"file": "2.wav"}, {"file": "3.wav"}]}')"
expect_eq "batch code" "$CODE" 201
expect_eq "batch total" "$(jq_ 'd["total_items"]')" 3
[[ -f $R/batches/b1.json ]] || fail "no batches/b1.json"
for i in 0 1 2; do
  grep -q '"batch_id": "b1"' "$R/tasks/script_queue/priority_3/b1-$i.json" || fail "task b1-$i missing or without batch_id"
done
mv "$R/tasks/script_queue/priority_3/b1-0.json" "$R/tasks/complete/b1-0.json"
req GET /v1/batches/b1
expect_eq "batch get" "$CODE" 200
expect_eq "batch progress" "$(jq_ '(d["completed"], d["items"][0]["status"], d["items"][1]["status"])')" "(1, 'complete', 'queued')"
req GET /v1/batches
expect_eq "batch list" "$CODE" 200
expect_eq "batch list entry" "$(jq_ '[(b["batch_id"], b["completed"], b["total_items"], "items" in b) for b in d["batches"]]')" "[('b1', 1, 3, False)]"
req GET "/v1/tasks?batch=b1"
expect_eq "list by batch" "$(jq_ 'd["count"]')" 3
req POST /v1/batches "$(body '{"batch_id": "b1", "script": "whisper", "items": [{"file": "x"}]}')"
expect_eq "batch exists" "$CODE" 409
req POST /v1/batches "$(body '{"batch_id": "b2", "script": "nosuch", "items": [{"file": "x"}]}')"
expect_eq "batch unknown script" "$CODE" 422
[[ ! -e $R/batches/b2.json ]] || fail "a rejected batch left a record"
pass "batches: record, tasks with batch_id, progress from the spool"

# --- metrics
req GET /metrics
expect_eq "metrics code" "$CODE" 200
grep -q '^gpumgr_gpu_state{gpu="0",state="llm_ready"} 1$' "$TEST_TMP/body" || fail "gpu state gauge"
grep -q '^gpumgr_gpu_temperature_celsius{gpu="0"} 61$' "$TEST_TMP/body" || fail "temperature"
grep -q '^gpumgr_queue_depth{class="llm",priority="5"} 1$' "$TEST_TMP/body" || fail "queue depth"
grep -q '^gpumgr_tasks_completed_total{class="script"} 1$' "$TEST_TMP/body" || fail "completed by class"
grep -q '^gpumgr_tasks_failed_total{class="script"} 2$' "$TEST_TMP/body" || fail "failed by class"
grep -q '^gpumgr_task_run_seconds_bucket{class="llm",le="60"} 1$' "$TEST_TMP/body" || fail "run-time histogram"
grep -q '^gpumgr_task_wait_seconds_sum{class="llm"} 4.000$' "$TEST_TMP/body" || fail "wait-time sum"
grep -q '^gpumgr_evictions_total 3$' "$TEST_TMP/body" || fail "evictions"
grep -q '^gpumgr_batch_items_completed{batch="b1"}' "$TEST_TMP/body" || fail "batch progress"
# The exposition format read by Prometheus' own Python parser (Debian's
# python3-prometheus-client, far lighter than the server that ships
# promtool): every line parses, every family has HELP and a TYPE.
prom_py=
for py in python3 /usr/bin/python3; do
  if "$py" -c 'import prometheus_client.parser' 2>/dev/null; then prom_py=$py; break; fi
done
if [[ -n $prom_py ]]; then
  "$prom_py" - "$TEST_TMP/body" <<'PY' || fail "the Prometheus parser rejects /metrics"
import sys
from prometheus_client.parser import text_string_to_metric_families
fams = list(text_string_to_metric_families(open(sys.argv[1]).read()))
assert len(fams) >= 10, "only %d metric families" % len(fams)
bad = [f.name for f in fams if not f.documentation or f.type == "unknown"]
assert not bad, "no HELP or TYPE: %s" % bad
print("parsed %d metric families" % len(fams))
PY
  pass "the Prometheus parser accepts /metrics"
elif command -v promtool >/dev/null; then
  promtool check metrics < "$TEST_TMP/body" || fail "promtool rejects /metrics"
  pass "promtool check metrics accepts /metrics"
else
  echo "python3-prometheus-client not installed: skipping the parser's check"
fi
pass "metrics"

# --- hostile and malformed requests: each a 4xx, the server still up
n=0
bad() {  # bad WANT METHOD PATH [DATA-FILE]
  local want=$1; shift
  req "$@"
  expect_eq "$* -> code" "$CODE" "$want"
  if [[ $want != 413 && $want != 400 ]] || [[ $BODY == '{"error"'* ]]; then
    [[ $BODY == '{"error"'* ]] || fail "$*: no JSON error: $BODY"
  fi
  LAST=$BODY
  alive
  n=$((n + 1))
}
bad 400 POST /v1/tasks "$(body '{"prompt": ')"
bad 400 POST /v1/tasks "$(body '[1, 2]')"
bad 400 POST /v1/tasks "$(body '')"
bad 422 POST /v1/tasks "$(body '{"prompt": 42}')"
bad 422 POST /v1/tasks "$(body '{"prompt": "x", "priority": 9}')"
BODY=$LAST; expect_eq "names the field" "$(jq_ 'd["error"]["field"]')" priority
bad 422 POST /v1/tasks "$(body '{"prompt": "x", "priority": "high"}')"
bad 422 POST /v1/tasks "$(body '{"script": "rm-rf", "script_args": {}}')"
bad 422 POST /v1/tasks "$(body '{"task_id": "../../etc/passwd", "prompt": "x"}')"
bad 422 POST /v1/tasks "$(body '{"task_class": "gpu", "prompt": "x"}')"
printf '{"prompt": "a\0b"}' > "$TEST_TMP/nul"
bad 400 POST /v1/tasks "$TEST_TMP/nul"
bad 400 POST /v1/tasks "$(body '{"prompt": "x", "prompt": "y"}')"
head -c $((1024 * 1024 + 10)) /dev/zero | tr '\0' 'a' > "$TEST_TMP/huge"
bad 413 POST /v1/tasks "$TEST_TMP/huge"
bad 400 GET /v1/tasks/..%2F..%2Fetc%2Fpasswd
bad 404 GET /v1/tasks/../../etc/passwd
bad 400 GET /v1/tasks/.hidden
bad 404 GET /v1/nothing
bad 404 GET /nothing     # (GET / is the front door's "Ollama is running")
bad 405 PUT /v1/tasks
bad 405 DELETE /v1/status
bad 405 DELETE /v1/batches
bad 405 GET /v1/gpus/0/drain
bad 400 GET "/v1/tasks?status=bogus"
bad 400 GET "/v1/tasks?limit=-1"
bad 400 GET "/v1/tasks?limit=abc"
bad 400 GET "/v1/tasks?color=red"
bad 400 GET "/v1/tasks?batch=../x"
bad 400 GET "/v1/status?x=1"
bad 400 POST /v1/gpus/..x/drain
bad 422 POST /v1/batches "$(body '{"script": "whisper", "items": []}')"
bad 422 POST /v1/batches "$(body '{"script": "whisper", "items": [1]}')"
bad 422 POST /v1/batches "$(body '{"script": "whisper", "items": [{}], "gpu_mode": "loud"}')"
bad 400 GET /v1/batches/.x
bad 404 GET /v1/batches/none
# a header flood: far past the header limit
hdrs=(); for i in $(seq 1 400); do hdrs+=(-H "X-Flood-$i: $(printf '%0200d' 0)"); done
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "${hdrs[@]}" "$B/v1/status" || true)
[[ $CODE == 4* || $CODE == 000 ]] || fail "header flood answered $CODE"
alive; n=$((n + 1))
# garbage that is not HTTP at all, and a half request then a close
python3 - "$PORT" <<'PY'
import socket, sys
for data in (b"\x00\x01\x02garbage\r\n\r\n", b"GET /v1/status HTTP/1.1\r\nHost: x\r\n"):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(data); s.settimeout(2)
    try: s.recv(100)
    except Exception: pass
    s.close()
PY
alive; n=$((n + 2))
(( n >= 20 )) || fail "only $n hostile requests"
pass "$n hostile requests answered, server alive"

# --- a clean stop: SIGTERM ends it with 0, removes the socket, and the
# sanitizers (in that build) found nothing
kill -TERM "$PID"
rc=0; wait "$PID" || rc=$?
STARTED_PIDS=()
expect_eq "exit status after SIGTERM" "$rc" 0
[[ ! -e $SOCK ]] || fail "socket left behind"
if grep -E 'runtime error|AddressSanitizer|LeakSanitizer' "$TEST_TMP/err"; then
  fail "sanitizer report in api-serve's stderr"
fi
pass "stopped cleanly"
