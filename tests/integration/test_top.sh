#!/usr/bin/env bash
# `gpumgr top --once` and `gpumgr status --json` on a ROOT whose files are
# written the way the daemon writes them (gpu_state.json renamed into
# place, task files in the queue folders, a batch record): every GPU line,
# the states, queue depths, mode and batch numbers; then the files change
# and the next frame shows it.
. "$(dirname "$0")/lib.sh"

R=$GPUMGR_ROOT
now=$(date -u +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }

# The daemon's way: a .gpumgr- temporary, then rename.
write_state() {
  printf '%s\n' "$1" > "$R/.gpumgr-state.tmp"
  mv -f "$R/.gpumgr-state.tmp" "$R/gpu_state.json"
}

# json_get FILE PYTHON-EXPR: evaluates EXPR with j bound to the JSON.
json_get() {
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# --- an empty ROOT is refused, and says why ---------------------------------
rc=0; gpumgr top --once > "$TEST_TMP/out" 2> "$TEST_TMP/err" || rc=$?
expect_eq "top --once on an empty ROOT: exit" "$rc" 1
grep -q "no gpu_state.json and no tasks folder" "$TEST_TMP/err" || fail "no reason given: $(cat "$TEST_TMP/err")"
rc=0; gpumgr status > /dev/null 2>&1 || rc=$?
expect_eq "status on an empty ROOT: exit" "$rc" 1
rc=0; gpumgr --root "$TEST_TMP/missing" status > /dev/null 2>&1 || rc=$?
expect_eq "status on a missing ROOT: exit" "$rc" 1
rc=0; gpumgr top --interval 5 > /dev/null 2>&1 || rc=$?
expect_eq "top --interval 5: exit" "$rc" 2
pass "empty and missing ROOT"

# --- the daemon's files --------------------------------------------------------
for c in llm script; do
  for p in 1 2 3 4 5; do mkdir -p "$R/tasks/${c}_queue/priority_$p"; done
done
mkdir -p "$R/tasks/processing" "$R/tasks/complete" "$R/tasks/failed" "$R/batches"
for i in 1 2 3; do echo '{"prompt": "hi"}' > "$R/tasks/llm_queue/priority_3/l$i.json"; done
echo '{"prompt": "now"}' > "$R/tasks/llm_queue/priority_5/urgent.json"
for i in $(seq 1 12); do echo '{}' > "$R/tasks/script_queue/priority_1/s$i.json"; done
echo '{' > "$R/tasks/script_queue/priority_1/.half-written.json"
echo '{}' > "$R/tasks/processing/abc-123.json"
for i in 1 2 3 4 5; do echo '{}' > "$R/tasks/complete/c$i.json"; done
echo '{}' > "$R/tasks/failed/bad.json"
echo 'garbage' > "$R/tasks/failed/bad.json.orig"

cat > "$R/batches/b-001.json" <<EOF
{"batch_id": "b-001", "task_class": "script", "script": "whisper_transcribe",
 "total_items": 500, "completed": 117, "failed": 3, "gpu_mode": "exclusive",
 "created_at": "$(iso $((now - 600)))",
 "items": [{"item": "a.wav", "task_id": "t1", "status": "complete"}]}
EOF

write_state "$(cat <<EOF
{"gpus": {
  "0": {"state": "llm_ready", "model": "qwen2.5:14b", "pid": 12345, "port": 11434,
        "since": "$(iso $((now - 723)))", "tasks_completed": 47, "role": "brain_primary",
        "uuid": "GPU-aaaa", "name": "NVIDIA GeForce RTX 3090", "vram_total_mb": 24576,
        "vram_free_mb": 6144, "compute_capability": "8.6", "health": "ok"},
  "1": {"state": "script_busy", "script": "whisper_transcribe", "pid": 12400,
        "task_id": "abc-123", "since": "$(iso $((now - 60)))", "progress": 0.5,
        "tasks_completed": 3, "role": "worker", "vram_total_mb": 24576, "vram_free_mb": 20480,
        "health": "ok"},
  "2": {"state": "offline", "offline_reason": "xid:79", "health": "xid:79"}},
 "boot_times": {"qwen2.5:14b": 160},
 "mode": "exclusive", "batch_id": "b-001",
 "updated_at": "$(iso "$now")", "daemon_pid": $$}
EOF
)"

gpumgr top --once > "$TEST_TMP/frame1"
cat "$TEST_TMP/frame1"
frame=$(cat "$TEST_TMP/frame1")
longest=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$TEST_TMP/frame1")
(( longest <= 80 )) || fail "a line is $longest columns wide"
grep -q '\x1b' "$TEST_TMP/frame1" && fail "escape codes in --once output"

grep -q "^gpumgr  mode EXCLUSIVE  daemon up (pid $$)" <<<"$frame" || fail "title line"
grep -Eq '^  0 llm_ready      brain1 qwen2\.5:14b     idle 12m[0-9]{2}s +47   6\.0/24G$' <<<"$frame" \
  || fail "GPU 0 line"
grep -Eq '^  1 script_busy    worker whisper_transc~ \[##\.\.\.\]  50% eta 1m[0-9]{2}s +3  20\.0/24G$' <<<"$frame" \
  || fail "GPU 1 line"
# The clock moved on since the files were written, by as much as this test
# has lived (seconds on a loaded machine): idle 723 s then, eta 60 s.
secs_of() { local m=${1%%m*} s=${1#*m}; s=${s%s}; echo $(( 10#$m * 60 + 10#$s )); }
late=$(( $(date -u +%s) - now + 1 ))
within() { (( $2 >= $3 && $2 <= $4 )) || fail "$1: $2 s, want $3..$4 s"; }
within "GPU 0 idle" "$(secs_of "$(grep -Eo 'idle [0-9]+m[0-9]+s' <<<"$frame" | cut -d' ' -f2)")" 723 $(( 723 + late ))
within "GPU 1 eta" "$(secs_of "$(grep -Eo '50% eta [0-9]+m[0-9]+s' <<<"$frame" | cut -d' ' -f3)")" 58 $(( 61 + late ))
grep -Eq '^  2 offline        -      -               xid:79 +- +-$' <<<"$frame" || fail "GPU 2 line"
grep -Eq '^llm        1     0     3     0     0        4            1         5       1$' <<<"$frame" \
  || fail "llm queue line"
grep -Eq '^script     0     0     0     0    12       12$' <<<"$frame" || fail "script queue line"
grep -q '^BATCH b-001  script whisper_transcribe  exclusive$' <<<"$frame" || fail "batch title"
# (the rate's value is checked in status --json below, allowing for the clock)
grep -Eq '^\[#+\.+\] 120/500  24%  3 failed  [0-9]+\.[0-9]/min  eta [0-9]+m[0-9]{2}s$' <<<"$frame" \
  || fail "batch progress line"
pass "top --once frame"

# Not on a terminal, plain `top` prints the same frame and exits.
gpumgr top < /dev/null > "$TEST_TMP/frame-pipe"
# Whatever depends on the clock (idle time, eta, the batch's rate per
# minute) may move between the two frames on a busy machine.
unclock() { grep -v '^gpumgr' "$1" | sed -E 's/idle [0-9ms]*//; s/eta [0-9ms]*//; s/[0-9.]+\/min//'; }
diff <(unclock "$TEST_TMP/frame1") <(unclock "$TEST_TMP/frame-pipe") \
  || fail "top without a terminal differs from --once"
pass "top without a terminal"

# --- status --json ---------------------------------------------------------------
gpumgr status --json > "$TEST_TMP/s1.json"
J=$TEST_TMP/s1.json
expect_eq "mode" "$(json_get "$J" 'j["mode"]')" exclusive
expect_eq "gpus" "$(json_get "$J" '[g["index"] for g in j["gpus"]]')" "[0, 1, 2]"
expect_eq "states" "$(json_get "$J" '[g["state"] for g in j["gpus"]]')" \
  "['llm_ready', 'script_busy', 'offline']"
expect_eq "gpu0 model" "$(json_get "$J" 'j["gpus"][0]["model"]')" "qwen2.5:14b"
expect_eq "gpu0 role" "$(json_get "$J" 'j["gpus"][0]["role"]')" brain_primary
late=$(( $(date -u +%s) - now + 1 ))
within "gpu0 idle" "$(json_get "$J" 'int(j["gpus"][0]["elapsed_sec"])')" 722 $(( 724 + late ))
expect_eq "gpu1 progress" "$(json_get "$J" 'j["gpus"][1]["progress"]')" 0.5
within "gpu1 eta" "$(json_get "$J" 'int(j["gpus"][1]["eta_sec"])')" 58 $(( 61 + late ))
expect_eq "gpu2 health" "$(json_get "$J" 'j["gpus"][2]["health"]')" "xid:79"
expect_eq "gpu2 vram" "$(json_get "$J" 'j["gpus"][2]["vram_total_mb"]')" None
expect_eq "llm queue" "$(json_get "$J" 'j["queues"]["llm"]')" \
  "{'priority_1': 0, 'priority_2': 0, 'priority_3': 3, 'priority_4': 0, 'priority_5': 1, 'total': 4}"
expect_eq "script queue" "$(json_get "$J" 'j["queues"]["script"]["priority_1"]')" 12
expect_eq "stages" "$(json_get "$J" '[j["queues"][k] for k in ("processing", "complete", "failed")]')" "[1, 5, 1]"
expect_eq "daemon" "$(json_get "$J" '(j["daemon"]["pid"], j["daemon"]["running"])')" "($$, True)"
expect_eq "batch" "$(json_get "$J" '[j["batch"][k] for k in ("batch_id", "total_items", "completed", "failed", "done")]')" \
  "['b-001', 500, 117, 3, 120]"
# 120 done in 600 s, or in 600 s plus the time this test has lived.
expect_eq "batch rate" "$(json_get "$J" "$(( 120 * 60 * 10 / (600 + late) ))/10 - 0.05 <= j['batch']['rate_per_min'] <= 12.1")" True
pass "status --json"

gpumgr status > "$TEST_TMP/status.txt"
grep -q '^  1 script_busy' "$TEST_TMP/status.txt" || fail "status text lacks GPU 1"
pass "status text"

# --- the files change: the next frame shows it ----------------------------------
mv "$R/tasks/llm_queue/priority_5/urgent.json" "$R/tasks/processing/urgent.json"
mv "$R/tasks/processing/abc-123.json" "$R/tasks/complete/abc-123.json"
sed -i 's/"completed": 117/"completed": 118/' "$R/batches/b-001.json"
now=$(date -u +%s)   # minutes may have passed on a loaded machine
write_state "$(cat <<EOF
{"gpus": {
  "0": {"state": "llm_busy", "model": "qwen2.5:14b", "since": "$(iso "$now")",
        "tasks_completed": 47, "role": "brain_primary"},
  "1": {"state": "cooling", "since": "$(iso "$now")", "tasks_completed": 4, "role": "worker"},
  "2": {"state": "idle", "since": "$(iso "$now")", "health": "ok"},
  "3": {"state": "booting_script", "script": "embed", "since": "$(iso "$now")"}},
 "mode": "normal", "batch_id": "b-001",
 "updated_at": "$(iso "$now")", "daemon_pid": $$}
EOF
)"
frame=$(gpumgr top --once)
echo "$frame"
grep -q '^gpumgr  mode normal  daemon up' <<<"$frame" || fail "mode back to normal"
grep -Eq '^  0 llm_busy       brain1 qwen2\.5:14b     busy [0-9ms]+ +47 +-$' <<<"$frame" || fail "GPU 0 now busy"
grep -Eq '^  1 cooling        worker -               cool [0-9ms]+ +4 +-$' <<<"$frame" || fail "GPU 1 now cooling"
grep -Eq '^  2 idle ' <<<"$frame" || fail "GPU 2 back"
grep -Eq '^  3 booting_script -      embed           boot [0-9ms]+' <<<"$frame" || fail "GPU 3 appeared"
grep -Eq '^llm        0     0     3     0     0        3            1         6       1$' <<<"$frame" \
  || fail "queue depths after the moves"
grep -Eq '^\[#+\.+\] 121/500  24%  3 failed' <<<"$frame" || fail "batch progressed"
pass "next frame follows the files"

# A daemon that is gone, and a gpu_state.json that cannot be read.
sleep 0 & gone=$!; wait "$gone"
write_state "{\"gpus\": {}, \"mode\": \"normal\", \"daemon_pid\": $gone}"
gpumgr top --once | grep -q "daemon DOWN (pid $gone gone)" || fail "dead daemon not shown"
write_state '{"gpus": {'
frame=$(gpumgr top --once)
grep -q '^gpu_state.json: line 2 column 0' <<<"$frame" || fail "unreadable gpu_state.json not said: $frame"
pass "daemon gone, unreadable state"
