#!/usr/bin/env bash
# A failed boot shows its cause. The server's argv forces the port another
# server holds, so every boot dies on bind, as Ollama does beside an
# installed ollama.service: the daemon log quotes the server's own last line
# once, the GPU goes offline at fail_offline_after with that line and how to
# bring it back in its reason (gpu_state.json, `gpumgr gpus`, `top`), and
# it comes back by `gpumgr reset`, by `gpumgr undrain` and by SIGHUP (with
# the configuration fixed, its task is then answered).
. "$(dirname "$0")/lib.sh"

base=$(free_ports 4)
echo "base_port: $base"
stop_llm_servers_on_exit

"$GPUMGR_BIN" fake-llm --port "$base" --models other >"$TEST_TMP/foreign.log" 2>&1 &
STARTED_PIDS+=("$!")
listens() { curl -s -o /dev/null "http://127.0.0.1:$1/"; }
wait_for 30 listens "$base"

config() {  # EXTRA-ARGV (a JSON list's inner part)
  write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.1\",
                          \"--load-sec\", \"0.1\", \"--tokens-per-sec\", \"0\",
                          \"--models\", \"m1\"$1],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"},
                \"fail_offline_after\": 3},
    \"base_port\": $base}}"
}
config ", \"--port\", \"$base\""
start_daemon --sim 1x24GB
gpumgr submit --id q1 "a question" >/dev/null

offline() { state_is 0 state offline; }
cause="bind 127.0.0.1:$base: Address already in use"
check_offline() {  # the reason, everywhere it shows
  wait_for 60 offline
  local why
  why=$(state_field 0 offline_reason)
  [[ $why == *"3 failures in a row: the LLM server exited while booting: gpumgr fake-llm: $cause"* ]] \
    || fail "offline reason: $why"
  [[ $why == *"back in service with \`gpumgr reset 0\`, \`gpumgr undrain 0\` or SIGHUP"* ]] \
    || fail "the reason does not say how it comes back: $why"
  gpumgr gpus | grep -qF "GPU 0 is offline in the daemon: 3 failures in a row: the LLM server exited while booting: gpumgr fake-llm: $cause" \
    || fail "gpumgr gpus: $(gpumgr gpus)"
  [[ $(gpumgr gpus --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["gpus"][0]["offline_reason"])') == "$why" ]] \
    || fail "gpumgr gpus --json"
  gpumgr top --once | grep -qF "Address already in use" || fail "top: $(gpumgr top --once)"
}
check_offline
expect_eq "cause quoted in the log" "$(grep -c "$cause" "$TEST_TMP/daemon.log")" 1
grep -q "GPU 0: the LLM server exited while booting: gpumgr fake-llm: $cause (its log: " \
  "$TEST_TMP/daemon.log" || fail "the daemon log lacks the cause"
[[ -f $GPUMGR_ROOT/tasks/complete/q1.json || -f $GPUMGR_ROOT/tasks/failed/q1.json ]] &&
  fail "the task ended while its GPU was out"
pass "failed boots: the server's own line in the log (once), gpu_state.json, gpus and top"

# gpumgr reset brings it back: it boots again (and fails again, 3 times)
backs() { (( $(grep -c "GPU 0 (.*) back in service ($1)" "$TEST_TMP/daemon.log") >= $2 )); }
out=$(gpumgr reset 0)
[[ $out == "GPU 0 is back in service"* || $out == "GPU 0 stays offline"* ]] || fail "reset: $out"
wait_for 30 backs "gpumgr reset" 1
check_offline
pass "gpumgr reset: back in service"

# so does undrain
gpumgr undrain 0 >/dev/null
wait_for 30 backs "gpumgr reset" 2
check_offline
pass "gpumgr undrain: back in service"

# and SIGHUP, here with the configuration fixed: the task is answered
config ""
kill -HUP "$DAEMON_PID"
wait_for 30 backs "SIGHUP" 1
wait_for 60 files_at_least complete 1
[[ -f $GPUMGR_ROOT/tasks/complete/q1.json ]] || fail "q1 did not complete"
[[ $(state_field 0 port) != "$base" ]] || fail "GPU 0's server on the foreign port"
expect_eq "cause quoted in the log" "$(grep -c "$cause" "$TEST_TMP/daemon.log")" 1
pass "SIGHUP with the configuration fixed: back, and its task answered"
