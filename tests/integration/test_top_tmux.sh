#!/usr/bin/env bash
# The live dashboard in a real terminal: `gpumgr top` in an 80x24 tmux pane
# (a private tmux server). Checks the frame, that a rename of
# gpu_state.json redraws it (the clock tick is set to an hour, so only
# inotify can), that a resize widens it, and that `q` quits cleanly.
. "$(dirname "$0")/lib.sh"

if ! command -v tmux > /dev/null; then
  echo "skip: tmux is not installed (scripts/install-deps.sh installs it)"
  exit 0
fi

R=$GPUMGR_ROOT
now=$(date -u +%s)
iso() { date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ; }
write_state() {
  printf '%s\n' "$1" > "$R/.gpumgr-state.tmp"
  mv -f "$R/.gpumgr-state.tmp" "$R/gpu_state.json"
}

for c in llm script; do
  for p in 1 2 3 4 5; do mkdir -p "$R/tasks/${c}_queue/priority_$p"; done
done
mkdir -p "$R/tasks/processing" "$R/tasks/complete" "$R/tasks/failed"
echo '{}' > "$R/tasks/script_queue/priority_4/s1.json"
write_state "$(cat <<EOF
{"gpus": {
  "0": {"state": "llm_ready", "model": "qwen2.5:14b", "since": "$(iso $((now - 30)))",
        "tasks_completed": 9, "role": "brain_primary", "vram_total_mb": 24576, "vram_free_mb": 4096},
  "1": {"state": "script_busy", "script": "embed", "since": "$(iso $((now - 10)))",
        "progress": 0.45, "tasks_completed": 2, "role": "worker"}},
 "mode": "normal", "batch_id": null, "updated_at": "$(iso "$now")", "daemon_pid": $$}
EOF
)"

SOCK=$TEST_TMP/tmux.sock
cat > "$TEST_TMP/tmux.conf" <<'EOF'
set -g status off
set -g remain-on-exit on
set -g default-terminal screen
EOF
tmx() { tmux -S "$SOCK" -f "$TEST_TMP/tmux.conf" "$@"; }

# The pane's shell records top's exit status (tmux itself may reap late).
tmx new-session -d -s dash -x 80 -y 24 \
  "env GPUMGR_ROOT='$R' TERM=screen '$GPUMGR_BIN' top --interval 3600000; echo \$? > '$TEST_TMP/top.rc'"
STARTED_PIDS+=("$(tmx display-message -p -t dash '#{pid}')")

capture() { tmx capture-pane -p -t dash > "$TEST_TMP/pane"; }
pane_has() { capture; grep -Eq -- "$1" "$TEST_TMP/pane"; }
top_exited() { [[ -s $TEST_TMP/top.rc ]]; }

wait_for 10 pane_has '^  1 script_busy'
cat "$TEST_TMP/pane"
expect_eq "pane size" "$(tmx display-message -p -t dash '#{pane_width}x#{pane_height}')" "80x24"
pane_has '^gpumgr  mode normal  daemon up' || fail "title"
pane_has '^GPU STATE          ROLE   MODEL/SCRIPT' || fail "GPU header"
pane_has '^  0 llm_ready      brain1 qwen2\.5:14b     idle [0-9]+s +9   4\.0/24G' || fail "GPU 0"
pane_has '^  1 script_busy    worker embed           \[##\.\.\.\]  45% eta' || fail "GPU 1"
pane_has '^script     0     1     0     0     0        1' || fail "script queue"
expect_eq "footer on the last row" "$(sed -n 24p "$TEST_TMP/pane" | sed 's/ *$//')" " q quit  r redraw"
pass "frame in an 80x24 pane"

# The daemon renames a new gpu_state.json into place: redrawn by inotify.
write_state "$(cat <<EOF
{"gpus": {
  "0": {"state": "llm_busy", "model": "qwen2.5:14b", "since": "$(iso "$now")", "role": "brain_primary"},
  "1": {"state": "cooling", "since": "$(iso "$now")", "role": "worker"}},
 "mode": "exclusive", "batch_id": null, "updated_at": "$(iso "$now")", "daemon_pid": $$}
EOF
)"
wait_for 10 pane_has '^  1 cooling'
pane_has '^  0 llm_busy' || fail "GPU 0 not redrawn"
pane_has '^gpumgr  mode EXCLUSIVE' || fail "mode not redrawn"
# A task file arriving in a queue folder redraws too.
echo '{}' > "$R/tasks/.new.json"
mv "$R/tasks/.new.json" "$R/tasks/llm_queue/priority_2/l1.json"
wait_for 10 pane_has '^llm        0     0     0     1     0        1'
pass "redrawn on file changes"

# Wider terminal: more room for names and bars.
tmx resize-window -t dash -x 120 -y 30
wait_for 10 pane_has '^GPU STATE          ROLE   MODEL/SCRIPT                     IDLE OR PROGRESS'
pass "resize"

tmx send-keys -t dash q
wait_for 10 top_exited
expect_eq "exit status after q" "$(cat "$TEST_TMP/top.rc")" 0
pass "q quits"
tmx kill-server
