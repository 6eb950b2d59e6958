#!/usr/bin/env bash
# Waiting without polling, on 2 simulated GPUs with a fake LLM server:
# `submit --wait` prints an LLM's answer and a script's output (and fails
# with the task's error), `gpumgr wait` exits 0/1/3/124 as documented, and
# the long poll GET /v1/tasks/{id}?wait= answers when the task ends, when its
# time is up, with 400 on a bad wait. How long after the recorded end
# (completed_at) `wait` and the long poll return is measured and printed.
. "$(dirname "$0")/lib.sh"
pids=()

port=$(free_ports 5)
echo "base_port: $port"
ledger=$TEST_TMP/ledger
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0, \"api\": {\"port\": $((port + 4))},
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\", \"{code}\"]}},
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.1\",
                          \"--load-sec\", \"0.1\", \"--tokens-per-sec\", \"200\", \"--models\", \"m1\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}},
    \"base_port\": $port}, \"rescan_interval_ms\": 200}"
stop_llm_servers_on_exit
start_daemon --sim 2x24GB
SOCK=$GPUMGR_ROOT/api.sock
wait_for 20 test -S "$SOCK"

# 1. submit --wait: the LLM's answer on stdout, the id on stderr.
set +e
answer=$(gpumgr submit --wait=60 "what is the answer" 2>"$TEST_TMP/id")
rc=$?
set -e
expect_eq "submit --wait (llm) exit" "$rc" "0"
id=$(cat "$TEST_TMP/id")
stored=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["output"])' \
  "$GPUMGR_ROOT/tasks/complete/$id.json")
[[ -n $answer ]] || fail "submit --wait printed no answer"
expect_eq "submit --wait prints the stored answer" "$answer" "$stored"
pass "submit --wait printed the LLM's answer (${#answer} bytes)"

# 2. A script's stdout; a failing script's error and exit 1.
out=$(gpumgr submit --wait=60 --script record --arg ms=0 --arg code=0 2>/dev/null)
[[ $out == done\ * ]] || fail "submit --wait (script) printed '$out'"
set +e
gpumgr submit --wait=60 --script record --arg ms=0 --arg code=3 >"$TEST_TMP/out" 2>"$TEST_TMP/err"
rc=$?
set -e
expect_eq "submit --wait on a failing script" "$rc" "1"
grep -q "failed (script_failed)" "$TEST_TMP/err" || { cat "$TEST_TMP/err"; fail "no error shown"; }
pass "submit --wait prints a script's output, and its error when it fails"

# 3. gpumgr wait: 124 on timeout, 0 when all complete, 1 when one failed,
# 3 for an unknown task.
long=$(gpumgr submit --script record --arg ms=2500 --arg code=0)
set +e
gpumgr wait --timeout 0.3 "$long" >/dev/null 2>&1; rc=$?
set -e
expect_eq "wait --timeout on a running task" "$rc" "124"
ok1=$(gpumgr submit --script record --arg ms=200 --arg code=0)
bad=$(gpumgr submit --script record --arg ms=200 --arg code=2)
set +e
gpumgr wait --timeout 60 "$ok1" "$bad" >"$TEST_TMP/out" 2>&1; rc=$?
set -e
expect_eq "wait on a complete and a failed task" "$rc" "1"
grep -q "^$ok1: complete" "$TEST_TMP/out" || fail "no complete line: $(cat "$TEST_TMP/out")"
grep -q "^$bad: failed (script_failed)" "$TEST_TMP/out" || fail "no failed line: $(cat "$TEST_TMP/out")"
gpumgr wait --timeout 60 "$ok1" >/dev/null || fail "wait on a complete task"
set +e
gpumgr wait --timeout 1 no-such-task >/dev/null 2>&1; rc=$?
set -e
expect_eq "wait on an unknown task" "$rc" "3"
pass "wait: exit 0, 1, 3 and 124 as documented"

# 4. The long poll: a bad wait is refused; a wait shorter than the task
# answers with the task still running; a longer one with its end.
long=$(gpumgr submit --script record --arg ms=4000 --arg code=0)
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" \
  "http://localhost/v1/tasks/$long?wait=abc")
expect_eq "?wait=abc" "$code" "400"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" \
  "http://localhost/v1/tasks/$long?wait=9999")
expect_eq "?wait=9999" "$code" "400"
st=$(curl -s --unix-socket "$SOCK" "http://localhost/v1/tasks/$long?wait=0.2" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
[[ $st == queued || $st == assigned || $st == running ]] || fail "short long poll: status $st"
st=$(curl -s --max-time 60 --unix-socket "$SOCK" "http://localhost/v1/tasks/$long?wait=60" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
expect_eq "long poll until the end" "$st" "complete"
pass "long poll: 400 on a bad wait, the task as it is when the time is up, the end otherwise"

# Clients that give up free their places at once (the gauge of waiting
# requests goes back to 0 long before their 60 s would have passed).
long2=$(gpumgr submit --script record --arg ms=20000 --arg code=0)
waiting() {
  curl -s --unix-socket "$SOCK" http://localhost/metrics |
    awk '$1 == "gpumgr_api_waiting_requests" { print $2 }'
}
for i in 1 2 3 4 5; do
  curl -s --max-time 60 --unix-socket "$SOCK" "http://localhost/v1/tasks/$long2?wait=60" >/dev/null &
  pids+=($!)
done
waiting_is() { [[ $(waiting) == "$1" ]]; }
wait_for 20 waiting_is 5
kill "${pids[@]}"
wait "${pids[@]}" 2>/dev/null || true
wait_for 20 waiting_is 0
curl -s -X DELETE --unix-socket "$SOCK" "http://localhost/v1/tasks/$long2" >/dev/null
pass "long polls: counted while they wait, freed when their clients go"

# 5. Latency: `gpumgr wait` and three long polls start while a 1.5 s task
# runs; each return is compared with the task's completed_at.
lat=$(gpumgr submit --script record --arg ms=1500 --arg code=0)
python3 - "$GPUMGR_BIN" "$GPUMGR_ROOT" "$lat" <<'PY'
import datetime, json, os, socket, subprocess, sys, threading, time
binary, root, tid = sys.argv[1:4]
ends = {}
def cli():
    subprocess.run([binary, "--root", root, "wait", "--quiet", tid], check=True)
    ends["wait"] = time.time()
def poll(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.path.join(root, "api.sock"))
    s.sendall(("GET /v1/tasks/%s?wait=60 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % tid).encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    ends["poll%d" % n] = time.time()
    assert b" 200 " in data.split(b"\r\n")[0], data[:200]
    body = json.loads(data.split(b"\r\n\r\n", 1)[1])
    assert body["status"] == "complete", body["status"]
ts = [threading.Thread(target=cli)] + [threading.Thread(target=poll, args=(i,)) for i in range(3)]
for t in ts: t.start()
for t in ts: t.join(60)
path = os.path.join(root, "tasks", "complete", tid + ".json")
landed = os.stat(path).st_ctime	# the rename into complete/
task = json.load(open(path))
done = datetime.datetime.strptime(task["completed_at"].replace("Z", "+0000"),
                                  "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
for k in sorted(ends):
    ms = (ends[k] - done) * 1000
    print("latency %s: %.1f ms after completed_at, %.1f ms after the file "
          "landed in complete/" % (k, ms, (ends[k] - landed) * 1000))
    # Not before the end (completed_at has ms precision), and not a poll's
    # period after it: generous, the CI box is busy.
    assert ms > -2, (k, ms)
    assert ms < 3000, (k, ms)
assert len(ends) == 4, ends
PY
pass "wait and long polls returned at the task's end"
