#!/usr/bin/env bash
# Only gpumgr's own LLM server counts. A foreign server (a `gpumgr
# fake-llm` this test starts by hand, as an installed ollama.service would
# be) already listens on the base port: gpumgr boots its own server for
# GPU 0 on another port, and that server (the pid gpu_state.json lists, the
# process holding the listening socket) answers every task; the foreign one
# serves no model a task names, so a task sent to it would fail. The
# placeholders {model} and {gpu_index} reach the server's argv and env.
# Then a restart re-adopts the server on its fallback port, and refuses a
# state file whose pid does not hold its port.
. "$(dirname "$0")/lib.sh"

base=$(free_ports 8)
echo "base_port: $base"
stop_llm_servers_on_exit

# the foreign server, on the base port, serving another model
"$GPUMGR_BIN" fake-llm --port "$base" --models not-ours >"$TEST_TMP/foreign.log" 2>&1 &
foreign=$!
STARTED_PIDS+=("$foreign")
listens() { curl -s -o /dev/null "http://127.0.0.1:$1/"; }
wait_for 30 listens "$base"

write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.1\",
                          \"--load-sec\", \"0.1\", \"--tokens-per-sec\", \"0\",
                          \"--models\", \"{model}\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\",
                          \"GPUMGR_TEST_GPU\": \"gpu{gpu_index}-{model}\"}},
    \"base_port\": $base}}"
start_daemon --sim 2x24GB
# GPU 1 takes nothing: every task goes to GPU 0, whose port is taken
gpumgr drain 1 >/dev/null
for i in 1 2 3 4 5 6; do
  gpumgr submit --id "t$i" "question $i" >/dev/null
done
wait_for 60 files_at_least complete 6
expect_eq "failed tasks" "$(count_files failed)" 0

# gpu_state.json: GPU 0's live server, on a port that is not the base one,
# and that pid (or its descendant) holds the socket listening there
python3 - "$GPUMGR_ROOT" "$base" "$foreign" <<'PY'
import glob, json, os, sys
root, base, foreign = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
g = json.load(open(os.path.join(root, "gpu_state.json")))["gpus"]["0"]
pid, port = g["pid"], g["port"]
assert port != base, "GPU 0's server is on the foreign server's port %d" % port
assert pid != foreign
os.kill(pid, 0)
def listeners(port):
    inodes = set()
    for t in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in open(t).readlines()[1:]:
            f = line.split()
            if int(f[1].split(":")[1], 16) == port and f[3] == "0A":
                inodes.add(f[9])
    holders = set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            for fd in os.listdir("/proc/%s/fd" % p):
                l = os.readlink("/proc/%s/fd/%s" % (p, fd))
                if l.startswith("socket:[") and l[8:-1] in inodes:
                    holders.add(int(p))
        except OSError:
            pass
    return holders
assert listeners(port) == {pid}, (listeners(port), pid)
assert listeners(base) == {foreign}, (listeners(base), foreign)
env = open("/proc/%d/environ" % pid, "rb").read().split(b"\0")
assert b"GPUMGR_TEST_GPU=gpu0-m1" in env, [e for e in env if e.startswith(b"GPUMGR_TEST")]
assert b"OLLAMA_HOST=127.0.0.1:%d" % port in env
argv = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")
assert b"m1" in argv and b"{model}" not in argv, argv
for p in glob.glob(os.path.join(root, "tasks", "complete", "*.json")):
    t = json.load(open(p))
    assert t["output"] and t["assigned_gpu"] in (0, "0"), t
print("ok: GPU 0's server pid %d on port %d (base %d is pid %d's) answered 6 tasks; "
      "{model} and {gpu_index} filled" % (pid, port, base, foreign))
PY
grep -q "port $base is taken by pid $foreign, not a server of gpumgr's" "$TEST_TMP/daemon.log" \
  || fail "the daemon log does not say why GPU 0 moved"
kill -0 "$foreign" || fail "the foreign server died"
pass "a foreign server on the base port: gpumgr's own on the next one"

# A restart re-adopts the server on its fallback port (same pid).
ours=$(state_field 0 pid)
ourport=$(state_field 0 port)
stop_daemon
log_from=$(wc -l <"$TEST_TMP/daemon.log")
start_daemon
readopted() {
  tail -n +"$((log_from + 1))" "$TEST_TMP/daemon.log" |
    grep -q "GPU 0: re-adopted its LLM server (pid $ours, port $ourport, m1)"
}
wait_for 30 readopted
gpumgr submit --id after-restart "one more" >/dev/null
wait_for 60 files_at_least complete 7
expect_eq "same server" "$(state_field 0 pid)" "$ours"
pass "restart: the server on port $ourport re-adopted"

# A state file whose pid lives but does not hold its port (the server died,
# its pid was reused, another server took the port) is not adopted.
stop_daemon
kill -TERM "$ours"
wait_for 30 bash -c "! kill -0 $ours 2>/dev/null"
"$GPUMGR_BIN" fake-llm --port "$ourport" --models m1 >"$TEST_TMP/foreign2.log" 2>&1 &
foreign2=$!
STARTED_PIDS+=("$foreign2")
wait_for 30 listens "$ourport"
sleep 600 &
impostor=$!
STARTED_PIDS+=("$impostor")
python3 - "$GPUMGR_ROOT/run/llm/llm-$ourport.json" "$impostor" <<'PY'
import json, sys
p, pid = sys.argv[1], int(sys.argv[2])
st = json.load(open(p))
st["pid"] = pid
json.dump(st, open(p, "w"))
PY
log_from=$(wc -l <"$TEST_TMP/daemon.log")
start_daemon
forgot() {
  tail -n +"$((log_from + 1))" "$TEST_TMP/daemon.log" |
    grep -q "forgot the LLM server (pid $impostor, port $ourport) an earlier daemon left: another process holds its port"
}
wait_for 30 forgot
gpumgr submit --id after-impostor "and one more" >/dev/null
wait_for 60 files_at_least complete 8
newpid=$(state_field 0 pid)
newport=$(state_field 0 port)
[[ $newpid != "$impostor" && $newpid != "$foreign2" ]] || fail "adopted pid $newpid"
[[ $newport != "$ourport" && $newport != "$base" ]] || fail "port $newport is a foreign server's"
pass "re-adoption refused a pid that does not hold its port; booted pid $newpid on port $newport"
