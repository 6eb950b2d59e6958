#!/usr/bin/env bash
# gpumgr's own names never collide with task ids: script tasks named after
# every file and folder gpumgr keeps under ROOT (llm, tasks, run, control,
# daemon.lock, gpu_state.json, ...) run and complete beside a live LLM
# server, a drained GPU and a batch, and touch none of them: the server's
# state is intact and re-adopted after a restart, the drain holds.
. "$(dirname "$0")/lib.sh"

port=$(free_ports 4)
ledger=$TEST_TMP/ledger
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"resource_manager\": {\"gpu_roles\": {\"0\": \"brain_primary\"}},
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}},
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.1\",
                          \"--load-sec\", \"0.1\", \"--tokens-per-sec\", \"200\", \"--models\", \"m1\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}},
    \"base_port\": $port}, \"rescan_interval_ms\": 100}"
stop_llm_servers_on_exit

start_daemon --sim 3x24GB
gpumgr drain 1 >/dev/null
gpumgr submit --id q1 "a question" >/dev/null
wait_for 30 files_at_least complete 1
echo '[{"ms": 10}]' >"$TEST_TMP/b.json"
gpumgr batch submit --type process --script record --input "$TEST_TMP/b.json" \
  --batch-id b1 --shared >/dev/null
wait_for 30 files_at_least complete 2

# What gpumgr keeps under ROOT, before the named tasks run.
snapshot() {
  python3 - "$GPUMGR_ROOT" <<'PY'
import hashlib, json, os, stat, sys
root = sys.argv[1]
for rel in ("run/llm", "control", "batches", "leases", "workers"):
    d = os.path.join(root, rel)
    for n in sorted(os.listdir(d)) if os.path.isdir(d) else ["(none)"]:
        p = os.path.join(d, n)
        if n.endswith(".log") or not os.path.isfile(p):
            print(rel, n)
        else:
            print(rel, n, hashlib.sha1(open(p, "rb").read()).hexdigest())
for n in ("daemon.lock", "config.json", "sim_gpus.json"):
    print(n, hashlib.sha1(open(os.path.join(root, n), "rb").read()).hexdigest())
print("api.sock", stat.S_ISSOCK(os.lstat(os.path.join(root, "api.sock")).st_mode))
s = json.load(open(os.path.join(root, "gpu_state.json")))
print("gpu0", s["gpus"]["0"]["state"], s["gpus"]["0"].get("pid"))
print("gpu1 drained", s["gpus"]["1"].get("drained"))
PY
}
before=$(snapshot)
echo "$before"
[[ $before == *"run/llm llm-$port.json"* ]] || fail "no LLM server state to protect"
[[ $before == *"gpu0 llm_"* ]] || fail "GPU 0 serves no LLM"

names="llm tasks run control leases workers batches daemon.lock api.sock
  api.token gpu_state.json sim_gpus.json config.json lock status.json stdout
  stderr cancel supervisor.json exit.json processing complete failed
  llm_queue script_queue priority_1 llm-$port.json llm-$port.log b1 q1.stdout"
n=0
for id in $names; do
  gpumgr submit --script record --arg ms=0 --gpu none --id "$id" >/dev/null
  n=$((n + 1))
done
wait_for 60 files_at_least complete $((n + 2))
expect_eq "failed tasks" "$(count_files failed)" 0
python3 - "$GPUMGR_ROOT/tasks/complete" $names <<'PY' || fail "a named task did not complete as itself"
import json, os, sys
for i in sys.argv[2:]:
    t = json.load(open(os.path.join(sys.argv[1], i + ".json")))
    assert t["status"] == "complete" and t["output"] == "done %s\n" % i, t
PY
after=$(snapshot)
[[ $after == "$before" ]] || fail "gpumgr's own state changed:
$(diff <(echo "$before") <(echo "$after"))"
[[ -z $(ls -A "$GPUMGR_ROOT/run/tasks") ]] || fail "run folders left: $(ls -A "$GPUMGR_ROOT/run/tasks")"
pass "$n tasks named after gpumgr's own files complete; its state is untouched"

# The LLM server is still re-adopted by a new daemon, the drain holds.
server=$(state_field 0 pid)
stop_daemon
start_daemon --sim 3x24GB
expect_eq "server after restart" "$(state_field 0 pid)" "$server"
expect_eq "GPU 1 drained" "$(state_field 1 drained)" "True"
grep -q "re-adopted" "$TEST_TMP/daemon.log" || fail "the server was not re-adopted"
gpumgr submit --id q2 "another question" >/dev/null
wait_for 30 test -f "$GPUMGR_ROOT/tasks/complete/q2.json"
pass "the LLM server (pid $server) was re-adopted and answers"

# An older ROOT (run/<id>, task llm's run among the servers' files in
# run/llm) is migrated by the next daemon: its live runs are re-adopted
# where they move and complete, the servers' state stays.
rm "$GPUMGR_ROOT"/tasks/complete/llm.*     # its id again, for a second run
gpumgr submit --script record --arg ms=2500 --gpu none --id llm >/dev/null
gpumgr submit --script record --arg ms=2500 --gpu none --id old1 >/dev/null
wait_for 30 grep -q "start old1" "$ledger"
wait_for 30 test -s "$GPUMGR_ROOT/run/tasks/llm/lock"
stop_daemon
runs=$GPUMGR_ROOT/run
mv "$runs/tasks/old1" "$runs/old1"
for f in lock stdout stderr status.json; do
  [[ ! -e $runs/tasks/llm/$f ]] || mv "$runs/tasks/llm/$f" "$runs/llm/$f"
done
rmdir "$runs/tasks/llm" "$runs/tasks"
flock -n "$runs/old1/lock" true && fail "old1's supervisor is not running"
start_daemon --sim 3x24GB
grep -q "run folders: 2 moved" "$TEST_TMP/daemon.log" || fail "no migration logged"
wait_for 30 test -f "$GPUMGR_ROOT/tasks/complete/old1.json"
wait_for 30 test -f "$GPUMGR_ROOT/tasks/complete/llm.json"
python3 - "$GPUMGR_ROOT/tasks/complete" <<'PY' || fail "the migrated runs did not complete as they started"
import json, os, sys
for i in ("old1", "llm"):
    t = json.load(open(os.path.join(sys.argv[1], i + ".json")))
    assert t["status"] == "complete" and t["attempts"] == 1, t
    assert t["output"] == "done %s\n" % i, t
PY
expect_eq "starts of old1 and llm (twice: two tasks)" \
  "$(grep -c '^start \(old1\|llm\) ' "$ledger")" 3
[[ -f $runs/llm/llm-$port.json ]] || fail "the LLM server's state file is gone"
[[ ! -e $runs/llm/lock && ! -e $runs/old1 ]] || fail "old layout left: $(ls "$runs" "$runs/llm")"
expect_eq "server after migration" "$(state_field 0 pid)" "$server"
pass "an older ROOT migrated: its live runs (llm, old1) re-adopted and complete once"
