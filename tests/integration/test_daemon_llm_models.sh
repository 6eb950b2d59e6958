#!/usr/bin/env bash
# A missing model fails its task, not the GPU. With llm.allow_unlisted_models
# a mistyped model reaches the daemon: its server answers 404 "model not
# found", the task fails at once with model_missing, no GPU is blamed and
# every GPU goes on serving. With llm.pull_missing the model is pulled once
# (progress in gpu_state.json) and then serves; one no server can pull
# fails with model_missing.
. "$(dirname "$0")/lib.sh"

port=$(free_ports 4)
echo "base_port: $port"
config() {  # ALLOW_UNLISTED PULL_MISSING
  write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096},
      \"p1:7b\": {\"vram_mb\": 4096}, \"m9\": {\"vram_mb\": 4096}},
    \"allow_unlisted_models\": $1, \"pull_missing\": $2,
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--load-sec\", \"0.1\",
                          \"--tokens-per-sec\", \"0\", \"--models\", \"m1\",
                          \"--pullable\", \"p1:7b\", \"--pull-sec\", \"3\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}},
    \"base_port\": $port}}"
}
stop_llm_servers_on_exit
no_gpu_offline() {
  local g
  for g in 0 1 2; do
    [[ $(state_field "$g" state) != offline ]] || fail "GPU $g offline: $(state_field "$g" offline_reason)"
  done
}
task_field() {  # STAGE ID KEY...
  python3 - "$GPUMGR_ROOT/tasks/$1/$2.json" "${@:3}" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[k]
print(v)
PY
}

config true false
start_daemon --sim 3x24GB
# Warm the GPUs up with m1 so that every one has served.
for i in 1 2 3; do gpumgr submit -i "w$i" "warm $i" >/dev/null; done
wait_for 60 files_at_least complete 3
t0=$(date +%s%N)
gpumgr submit -i typo -m llama3:70b "hi" >/dev/null
wait_for 60 files_at_least failed 1
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "the mistyped model's task failed after $ms ms (server boot included)"
expect_eq "error code" "$(task_field failed typo error code)" model_missing
[[ $(task_field failed typo error message) == *"llama3:70b"* ]] || fail "the error does not name the model"
no_gpu_offline
# No GPU took the blame: each still serves.
for i in 4 5 6; do gpumgr submit -i "a$i" "after $i" >/dev/null; done
wait_for 60 files_at_least complete 6
expect_eq "failed tasks" "$(count_files failed)" 1
no_gpu_offline
grep -q "taken offline" "$TEST_TMP/daemon.log" && fail "a GPU was taken offline"
pass "a mistyped model fails its task with model_missing; every GPU stays in service"

# llm.pull_missing: p1:7b is pulled (3 s of progress), then answers.
stop_daemon
config false true
start_daemon --sim 3x24GB
gpumgr submit -i p1 -m p1:7b "pulled question" >/dev/null
pull_shown() {
  python3 - "$GPUMGR_ROOT/gpu_state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for g in s["gpus"].values():
    p = g.get("pull")
    if p and p["model"] == "p1:7b" and (p.get("completed") or 0) > 0 and p["total"] > 0:
        sys.exit(0)
sys.exit(1)
PY
}
wait_for 60 pull_shown
wait_for 60 files_at_least complete 7
grep -q "pulled p1:7b" "$TEST_TMP/daemon.log" || fail "no pull in the log"
expect_eq "p1 output non-empty" "$( [[ -n $(task_field complete p1 output) ]] && echo yes)" yes
# m9 is listed but no server has it: one pull that fails, then model_missing.
gpumgr submit -i m9 -m m9 "nobody has it" >/dev/null
wait_for 60 files_at_least failed 2
expect_eq "m9 error code" "$(task_field failed m9 error code)" model_missing
[[ $(task_field failed m9 error message) == *"could not be pulled"* ]] || fail "m9's error does not say the pull failed"
no_gpu_offline
pass "pull_missing pulls once, shows progress, then serves"
