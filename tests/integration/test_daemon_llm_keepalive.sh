#!/usr/bin/env bash
# Models stay loaded while gpumgr says so. fake-llm with a short default
# keep-alive (--keep-alive 1s, as OLLAMA_KEEP_ALIVE would set it) unloads
# an idle model whose requests carry no keep_alive, as real Ollama does;
# gpumgr's requests carry keep_alive -1, so a model that idles past the
# server's default is still loaded at the next request: its answer's
# load_duration is near zero, not another load.
. "$(dirname "$0")/lib.sh"

LOAD=2	# seconds a cold load takes in fake-llm

# fake-llm alone first: the option does what real Ollama's default does.
port=$(free_ports 2)
"$GPUMGR_BIN" fake-llm --port "$port" --load-sec "$LOAD" --keep-alive 1s \
  --tokens-per-sec 0 --models m1 >"$TEST_TMP/fake.log" 2>&1 &
fake=$!
STARTED_PIDS+=("$fake")
url=http://127.0.0.1:$port
up() { curl -sf "$url/" >/dev/null; }
wait_for 30 up
load_s() {  # BODY: the answer's load_duration in seconds
  curl -sf "$url/api/generate" -d "$1" |
    python3 -c 'import json,sys; print("%.3f" % (json.load(sys.stdin)["load_duration"] / 1e9))'
}
first=$(load_s '{"model":"m1","prompt":"a","stream":false}')
loaded_at=$(date +%s%N)
ps_empty() { [[ $(curl -sf "$url/api/ps") == '{"models":[]}' ]]; }
wait_for 30 ps_empty
idle_ms=$(( ($(date +%s%N) - loaded_at) / 1000000 ))
again=$(load_s '{"model":"m1","prompt":"a","stream":false}')
echo "no keep_alive: load ${first} s, unloaded after ${idle_ms} ms idle, load again ${again} s"
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if a >= $LOAD - 0.1 and b >= $LOAD - 0.1 else 1)" "$first" "$again" ||
  fail "fake-llm did not reload after its default keep-alive"
kill -TERM "$fake"; wait "$fake" || true

# The daemon: the same server, its requests carry keep_alive -1.
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--load-sec\", \"$LOAD\",
                          \"--keep-alive\", \"1s\", \"--tokens-per-sec\", \"0\",
                          \"--models\", \"m1\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}, \"ps_poll_ms\": 200},
    \"base_port\": $port}}"
stop_llm_servers_on_exit
start_daemon --sim 1x24GB
gpumgr submit -i k1 "first question" >/dev/null
wait_for 60 files_at_least complete 1
done_at=$(date +%s%N)
# Idle well past the server's default keep-alive (1 s): a wait on the
# clock, not on a window; /api/ps is polled every 200 ms meanwhile.
idle_past() { (( $(date +%s%N) - done_at > 2500000000 )); }
wait_for 30 idle_past
expect_eq "GPU 0 still ready" "$(state_field 0 state)" llm_ready
gpumgr submit -i k2 "second question" >/dev/null
wait_for 60 files_at_least complete 2
python3 - "$GPUMGR_ROOT" "$LOAD" <<'PY'
import json, os, sys
root, load = sys.argv[1], float(sys.argv[2])
t = json.load(open(os.path.join(root, "tasks", "complete", "k2.json")))
ld = t["llm"]["load_duration_ns"] / 1e9
print("after %.1f s idle, the next answer's load_duration: %.3f s" % (2.5, ld))
assert ld < 0.5, t["llm"]
PY
grep -q "model_lost\|behind gpumgr's back" "$TEST_TMP/daemon.log" &&
  fail "the model was lost: $(grep "behind" "$TEST_TMP/daemon.log")"
[[ $(state_field 0 model_lost) == None ]] || fail "gpu_state.json shows a lost model"
grep -c "booting m1" "$TEST_TMP/daemon.log" | grep -qx 1 || fail "m1 was booted again"
pass "a model idle past the server's keep-alive is still loaded"
