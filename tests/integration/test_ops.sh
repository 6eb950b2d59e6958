#!/usr/bin/env bash
# Operating the daemon as a service: systemd's readiness and watchdog
# messages (NOTIFY_SOCKET), the journal's line format (JOURNAL_STREAM),
# SIGHUP reopening a moved log file, a simulated box that shows distinct
# UUIDs and the VRAM of gpumgr's own model and script as used (not
# foreign), and `gpumgr shutdown` stopping the daemon, the running script
# and the LLM server, where SIGTERM stops only the daemon.
. "$(dirname "$0")/lib.sh"

port=$(free_ports 4)	# 3 LLM servers' ports, then the API's
api=$((port + 3))
flag=$TEST_TMP/flag
ledger=$TEST_TMP/ledger
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0, \"api\": {\"port\": $api},
  \"resource_manager\": {\"gpu_roles\": {\"0\": \"brain_primary\", \"1\": \"worker\", \"2\": \"worker\"}},
  \"scripts\": {\"hold\": {\"argv\": [\"bash\", \"-c\",
    \"echo start >>$ledger; until [ -e $flag ]; do sleep 0.05; done\"], \"vram_mb\": 3000}},
  \"llm\": {\"default_model\": \"m14\", \"models\": {\"m14\": {\"vram_mb\": 10240}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.1\",
                          \"--load-sec\", \"0.1\", \"--tokens-per-sec\", \"0\", \"--models\", \"m14\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}},
    \"base_port\": $port}}"
stop_llm_servers_on_exit
# running PID: alive and not a zombie (the servers are no one's children
# here, and a container's init may not reap them)
running() { [[ -r /proc/$1/stat ]] && ! grep -q '^[0-9]* (.*) Z ' "/proc/$1/stat"; }

# --- readiness and watchdog, when built with libsystemd -------------------
sock=$TEST_TMP/notify.sock
notes=$TEST_TMP/notes
python3 - "$sock" "$notes" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
with open(sys.argv[2], "a", buffering=1) as out:
    try:
        while True:
            out.write(s.recv(4096).decode().replace("\n", " ") + "\n")
    except socket.timeout:
        pass
PY
STARTED_PIDS+=($!)
wait_for 30 test -S "$sock"

# stderr as the journal: a file whose device and inode JOURNAL_STREAM names
: >"$TEST_TMP/journal"
exec 3>>"$TEST_TMP/journal"
journal_stream=$(stat -c '%d:%i' "$TEST_TMP/journal")
NOTIFY_SOCKET=$sock WATCHDOG_USEC=400000 JOURNAL_STREAM=$journal_stream \
  "$GPUMGR_BIN" daemon --sim 3x24GB 2>&3 &
DAEMON_PID=$!
STARTED_PIDS+=("$DAEMON_PID")
exec 3>&-
wait_for 30 daemon_wrote_state "$DAEMON_PID"

journal_has() { grep -q "$1" "$TEST_TMP/journal"; }
wait_for 30 journal_has '^<6>gpumgr .* started on '
! grep -qE '^[0-9]{4}-[0-9]{2}-' "$TEST_TMP/journal" ||
  fail "a time stamp in the journal's lines: $(head -3 "$TEST_TMP/journal")"
pass "journal lines carry a syslog priority and no time stamp"

if ldd "$GPUMGR_BIN" | grep -q libsystemd; then
  notified() { grep -q "READY=1" "$notes"; }
  wait_for 30 notified
  grep "READY=1" "$notes" | grep -q "STATUS=3 GPU(s) (sim)" ||
    fail "READY without the status: $(cat "$notes")"
  # Three keep-alives at half the watchdog's 0.4 s: the loop sends them.
  watchdogs() { (( $(grep -c "WATCHDOG=1" "$notes") >= 3 )); }
  wait_for 30 watchdogs
  pass "READY=1 after the first scan, WATCHDOG=1 from the loop"
else
  echo "built without libsystemd: readiness not checked"
fi

# --- distinct UUIDs on screen ---------------------------------------------
shown=$("$GPUMGR_BIN" gpus 2>/dev/null | grep -o 'GPU-[0-9a-f]*' | sort -u | wc -l)
expect_eq "distinct UUIDs shown by gpumgr gpus" "$shown" 3

# --- own model and script show as used VRAM, not foreign ------------------
"$GPUMGR_BIN" submit --id q1 "hello" >/dev/null
wait_for 30 files_at_least complete 1
wait_for 30 state_is 0 state llm_ready
"$GPUMGR_BIN" submit --script hold --id s1 >/dev/null
started() { [[ -s $ledger ]]; }
wait_for 30 started
gpu_of_s1() {
  python3 - "$GPUMGR_ROOT/gpu_state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for k, g in s["gpus"].items():
    if g.get("task_id") == "s1" or g.get("current_task") == "s1":
        print(k)
PY
}
vram_is() { [[ $(state_field "$1" vram_free_mb) == "$2" ]]; }
wait_for 30 vram_is 0 $((24576 - 10240))	# GPU 0 is the brain
s1_gpu=
s1_seen() { s1_gpu=$(gpu_of_s1); [[ -n $s1_gpu ]]; }
wait_for 30 s1_seen
wait_for 30 vram_is "$s1_gpu" $((24576 - 3000))
expect_eq "model's VRAM is not foreign" "$(state_field 0 foreign_vram_mb)" 0
expect_eq "script's VRAM is not foreign" "$(state_field "$s1_gpu" foreign_vram_mb)" 0
pass "a loaded model and a running script show as used VRAM of gpumgr's own"

# --- SIGHUP reopens a moved log file --------------------------------------
# (a second daemon cannot run on this ROOT: this one's log goes to the
# journal file; the reopen is checked on a log file after the restart)
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
running "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' \
  "$GPUMGR_ROOT"/run/llm/llm-*.json)" || fail "SIGTERM stopped the LLM server"
[[ ! -e $flag ]] && (( $(grep -c start "$ledger") == 1 )) || fail "s1 did not keep running"
pass "SIGTERM stops the daemon only: the script and the LLM server run on"

"$GPUMGR_BIN" daemon --sim 3x24GB --log "$TEST_TMP/d.log" &
DAEMON_PID=$!
STARTED_PIDS+=("$DAEMON_PID")
wait_for 30 daemon_wrote_state "$DAEMON_PID"
mv "$TEST_TMP/d.log" "$TEST_TMP/d.log.1"
kill -HUP "$DAEMON_PID"
reopened() { grep -q "configuration reloaded" "$TEST_TMP/d.log" 2>/dev/null; }
wait_for 30 reopened
grep -q "re-adopted" "$TEST_TMP/d.log.1" || fail "the moved log lost its lines"
pass "SIGHUP reopens the log file"

# --- gpumgr shutdown stops everything -------------------------------------
server_pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' \
  "$GPUMGR_ROOT"/run/llm/llm-*.json)
out=$("$GPUMGR_BIN" shutdown --timeout 60) || fail "shutdown failed: $out"
echo "$out"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
grep -q "daemon: stopped" <<<"$out" || fail "shutdown did not stop the daemon"
grep -q "script s1: cancelled" <<<"$out" || fail "shutdown did not cancel s1"
! running "$server_pid" || fail "the LLM server (pid $server_pid) still runs"
no_live_runs || fail "a script still runs after shutdown"
! ls "$GPUMGR_ROOT"/run/llm/llm-*.json 2>/dev/null || fail "LLM server state left behind"
out=$("$GPUMGR_BIN" shutdown) || fail "a second shutdown failed: $out"
grep -q "daemon: not running" <<<"$out" || fail "second shutdown: $out"
"$GPUMGR_BIN" shutdown extra >/dev/null 2>&1 && fail "shutdown took an extra argument"
pass "gpumgr shutdown stops the daemon, the script and the LLM server"
