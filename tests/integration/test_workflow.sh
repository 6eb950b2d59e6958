#!/usr/bin/env bash
# The original design's example workflow, durations scaled down: 5 simulated
# GPUs, GPUs 0 and 3 brain (their LLM served by gpumgr fake-llm), a
# 125-item transcription batch while LLM tasks keep arriving. Exclusive
# mode is entered; as in the design's worked example, the brain GPUs keep
# their LLM and answer the LLM tasks while the batch runs on GPUs 1, 2 and
# 4; `gpumgr top --once` is checked before, during and after the batch.
. "$(dirname "$0")/lib.sh"

port=$(free_ports 8)
echo "base_port: $port"
ledger=$TEST_TMP/ledger
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"resource_manager\": {\"gpu_roles\": {\"0\": \"brain_primary\", \"3\": \"brain_secondary\",
      \"1\": \"worker\", \"2\": \"worker\", \"4\": \"worker\"}},
  \"scripts\": {\"whisper_transcribe\": {\"argv\": [\"$TEST_TMP/gated.sh\", \"$ledger\", \"{ms}\"],
      \"vram_mb\": 2048}},
  \"llm\": {\"default_model\": \"qwen2.5:14b\", \"models\": {\"qwen2.5:14b\": {\"vram_mb\": 10240}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.2\",
                          \"--load-sec\", \"0.3\", \"--tokens-per-sec\", \"400\", \"--models\", \"qwen2.5:14b\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}},
    \"base_port\": $port}}"

stop_llm_servers_on_exit
# The batch's items wait for a gate before they "transcribe": the frame
# during the batch is taken while exclusive mode cannot have ended yet,
# however slow the machine (no window to catch).
cat >"$TEST_TMP/gated.sh" <<EOF
#!/usr/bin/env bash
until [[ -e $TEST_TMP/gate ]]; do sleep 0.05; done
exec "$SCRIPTS_DIR/record.sh" "\$@"
EOF
chmod +x "$TEST_TMP/gated.sh"
frame_has() { local f; f=$(gpumgr top --once); grep -q -- "$1" <<<"$f"; }

start_daemon --sim 5x24GB
wait_for 30 state_is 0 state llm_ready
wait_for 30 state_is 3 state llm_ready
# Moment 1: the brains serve, the workers idle, normal mode.
f1=$(gpumgr top --once)
echo "$f1"
grep -q "mode normal" <<<"$f1" || fail "frame 1: not in normal mode"
[[ $(grep -c "llm_ready.*qwen2.5" <<<"$f1") -eq 2 ]] || fail "frame 1: two brain GPUs should show llm_ready qwen2.5"
pass "frame before the batch"

mkdir -p "$TEST_TMP/videos"
for i in $(seq -w 1 125); do : >"$TEST_TMP/videos/talk$i.mp4"; done
# The items' paths are the script's {input}; each "transcription" takes
# 150 ms here (ms from --arg).
write_config "$(python3 - "$GPUMGR_ROOT/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["scripts"]["whisper_transcribe"]["argv"] += ["0", "{input}"]
print(json.dumps(c))
PY
)"
kill -HUP "$DAEMON_PID"
gpumgr batch submit --type transcribe --script whisper_transcribe --input "$TEST_TMP/videos" \
  --arg ms=150 --batch-id vids >/dev/null
# LLM tasks keep arriving during the batch.
( for i in $(seq 1 10); do "$GPUMGR_BIN" submit --id "ask$i" "question $i" >/dev/null; sleep 0.1; done ) &
asker=$!
wait_for 20 state_is mode exclusive
# Moment 2: exclusive mode, the batch on every GPU, its progress shown.
# The items hold their GPUs until the gate opens: wait for the batch to
# run on all three worker GPUs (the brains keep their LLM: docs/scheduling.md).
during() { local f; f=$(gpumgr top --once); [[ $(grep -Ec "^ +[124] script_busy" <<<"$f") -eq 3 ]]; }
wait_for 60 during
f2=$(gpumgr top --once)
echo "$f2"
grep -q "exclusive" <<<"$f2" || fail "frame 2: exclusive mode not shown"
grep -q "vids" <<<"$f2" || fail "frame 2: the batch is not shown"
grep -Eq "^ +[124] (llm_ready|llm_busy|booting_llm)" <<<"$f2" &&
  fail "frame 2: a worker GPU still holds an LLM in exclusive mode"
grep -Eq "^ +0 llm_(ready|busy) +brain1 +qwen2.5" <<<"$f2" &&
  grep -Eq "^ +3 llm_(ready|busy) +brain2 +qwen2.5" <<<"$f2" ||
  fail "frame 2: the brain GPUs lost their LLM during the batch"
grep -q "^Progress: [0-9]*/125 " <<<"$f2" || fail "frame 2: no Progress line"
pass "frame during the batch"
touch "$TEST_TMP/gate"
wait "$asker"
wait_for 120 files_at_least complete 125
wait_for 30 state_is mode normal
wait_for 30 state_is 0 state llm_ready
wait_for 30 state_is 3 state llm_ready
wait_for 60 files_at_least complete 135
# Moment 3: normal mode again, the brains reloaded, the batch complete.
f3=$(gpumgr top --once)
echo "$f3"
grep -q "mode normal" <<<"$f3" || fail "frame 3: not back in normal mode"
grep -Eq "^ +0 llm_ready +brain1 +qwen2.5" <<<"$f3" &&
  grep -Eq "^ +3 llm_ready +brain2 +qwen2.5" <<<"$f3" || fail "frame 3: the brain LLMs were not reloaded"
pass "frame after the batch"

expect_eq "failed tasks" "$(count_files failed)" 0
python3 - "$GPUMGR_ROOT" <<'PY'
import glob, json, os, sys
root = sys.argv[1]
vids = [json.load(open(p)) for p in glob.glob(os.path.join(root, "tasks", "complete", "vids-*.json"))]
asks = [json.load(open(p)) for p in glob.glob(os.path.join(root, "tasks", "complete", "ask*.json"))]
assert len(vids) == 125 and len(asks) == 10, (len(vids), len(asks))
assert {t["assigned_gpu"] for t in vids} == {1, 2, 4}, "the batch ran on %s, not 1, 2, 4" % {t["assigned_gpu"] for t in vids}
assert {a["assigned_gpu"] for a in asks} <= {0, 3}, "an LLM task ran off the brain GPUs"
last_end = max(t["completed_at"] for t in vids)
during = [a["task_id"] for a in asks if a["completed_at"] < last_end]
assert during, "no LLM task was answered during the batch"
assert all(a["output"] for a in asks)
print("ok: 125 videos on GPUs 1, 2, 4 in exclusive mode; %d of 10 LLM tasks answered by the brains during it" % len(during))
PY
