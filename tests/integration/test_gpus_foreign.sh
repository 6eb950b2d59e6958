#!/usr/bin/env bash
# Foreign processes on a simulated GPU: 20000 MB used by a process gpumgr
# did not start shows as foreign_vram_mb (with its pid) in gpu_state.json,
# `gpumgr status --json` and `gpumgr top --once`; tasks needing 6 GB never
# go to that GPU (4.5 GB left) but run on the free one; freeing the VRAM
# (an edit of the GPUs file) clears it at the next rescan.
. "$(dirname "$0")/lib.sh"

ledger=$TEST_TMP/ledger
mkdir -p "$GPUMGR_ROOT"
write_sim() {
  printf '%s\n' "{\"gpus\": [
  {\"uuid\": \"GPU-f0000000-0000-0000-0000-000000000000\", \"index\": 0,
   \"vram_total_mb\": 24576, \"vram_used_mb\": $1,
   \"processes\": [$2]},
  {\"uuid\": \"GPU-f1111111-0000-0000-0000-000000000000\", \"index\": 1,
   \"vram_total_mb\": 24576}]}" >"$GPUMGR_ROOT/.sim_gpus.json"
  mv "$GPUMGR_ROOT/.sim_gpus.json" "$GPUMGR_ROOT/sim_gpus.json"
}
write_sim 20000 '{"pid": 4242, "used_mb": 20000}'
# "hold" runs until $TEST_TMP/release exists (60 s at most), its pid in
# $TEST_TMP/hold.pid: a process of gpumgr's own on the GPU.
api_port=$(free_ports 1)	# not the default port other tests may use
python3 - "$GPUMGR_ROOT/config.json" "$SCRIPTS_DIR" "$ledger" "$TEST_TMP" "$api_port" <<'PY'
import json, sys
path, scripts, ledger, tmp, port = sys.argv[1:]
hold = ("echo $$ >%s/hold.pid.tmp && mv %s/hold.pid.tmp %s/hold.pid; "
        "for i in $(seq 1200); do [ -e %s/release ] && exit 0; sleep 0.05; done; exit 1"
        % (tmp, tmp, tmp, tmp))
json.dump({"gpu_backend": "sim", "cooling_sec": 0, "rescan_interval_ms": 200,
           "api": {"port": int(port)},
           "scripts": {"record": {"argv": [scripts + "/record.sh", ledger, "{ms}"]},
                       "hold": {"argv": ["bash", "-c", hold]}}},
          open(path, "w"))
PY

start_daemon
expect_eq "gpu0 foreign" "$(state_field 0 foreign_vram_mb)" "20000"
expect_eq "gpu0 foreign pids" "$(state_field 0 foreign_pids)" "[4242]"
expect_eq "gpu0 free" "$(state_field 0 vram_free_mb)" "4576"
expect_eq "gpu1 foreign" "$(state_field 1 foreign_vram_mb)" "0"
expect_eq "gpu1 foreign pids" "$(state_field 1 foreign_pids)" "[]"
pass "gpu_state.json: foreign_vram_mb and foreign_pids"

out=$(gpumgr status --json)
expect_eq "status foreign" "$(python3 -c 'import json,sys; d=json.load(sys.stdin); print([g["foreign_vram_mb"] for g in d["gpus"]], d["gpus"][0]["foreign_pids"])' <<<"$out")" \
  "[20000, 0] [4242]"
top=$(gpumgr top --once)
grep -qF "GPU 0: foreign 19.5G (pids 4242)" <<<"$top" || fail "top --once lacks GPU 0's foreign VRAM: $top"
grep -qF "GPU 1: foreign" <<<"$top" && fail "top --once shows foreign VRAM on GPU 1: $top"
pass "status --json and top --once show it"

# 6 GB tasks: only GPU 1 has room
for i in 1 2 3; do
  gpumgr submit --script record --arg ms=30 --vram 6G --id "big$i" >/dev/null
done
wait_for 30 files_at_least complete 3
python3 - "$GPUMGR_ROOT" "$ledger" <<'PY'
import glob, json, os, sys
root, ledger = sys.argv[1], sys.argv[2]
for p in glob.glob(os.path.join(root, "tasks", "complete", "*.json")):
    t = json.load(open(p))
    assert t["status"] == "complete", t
    assert t["assigned_gpu_uuid"] == "GPU-f1111111-0000-0000-0000-000000000000", t
for line in open(ledger):
    assert line.split()[2] == "GPU-f1111111-0000-0000-0000-000000000000", line
PY
pass "6 GB tasks avoid the GPU with 4.5 GB left"

# gpumgr's own process (a child of a run's supervisor) is not foreign
gpumgr submit --script hold --vram 6G --id hold >/dev/null
wait_for 20 test -s "$TEST_TMP/hold.pid"
hold_pid=$(cat "$TEST_TMP/hold.pid")
python3 - "$GPUMGR_ROOT/sim_gpus.json" "$hold_pid" <<'PY'
import json, os, sys
path, pid = sys.argv[1], int(sys.argv[2])
d = json.load(open(path))
d["gpus"][1]["vram_used_mb"] = 7000
d["gpus"][1]["processes"] = [{"pid": pid, "used_mb": 6000}, {"pid": 4343, "used_mb": 1000}]
open(path + ".tmp", "w").write(json.dumps(d))
os.rename(path + ".tmp", path)
PY
own_skipped() { state_is 1 foreign_vram_mb 1000 && state_is 1 foreign_pids "[4343]"; }
wait_for 10 own_skipped
expect_eq "gpu0 foreign still" "$(state_field 0 foreign_vram_mb)" "20000"
touch "$TEST_TMP/release"
wait_for 20 files_at_least complete 4
pass "a run's own process is not foreign; another process on its GPU is"

# the foreign process goes away
write_sim 0 ''
foreign_gone() { state_is 0 foreign_vram_mb 0 && state_is 0 foreign_pids "[]"; }
wait_for 10 foreign_gone
grep -qF "foreign" <<<"$(gpumgr top --once)" && fail "top --once still shows foreign VRAM"
stop_daemon
pass "freed VRAM is no longer foreign"
