#!/usr/bin/env bash
# Descriptor exhaustion through the API (issue 11). Part 1: 1,100 idle TCP
# connections held against a daemon started with a soft limit of 1,024
# descriptors: tasks submitted by file, by `gpumgr submit` and over the
# unix socket all complete, the daemon uses under 10% of a core over the
# hold and its log grows by under 100 lines. Part 2: the hard limit is 1,024
# too and api.max_connections above it, so accept() and the reading of task
# files fail with EMFILE: no task is rejected (nothing in failed/), the
# daemon does not spin or flood its log, and every task completes once the
# connections go. GPUMGR_EXHAUST_CONNS (1100) and GPUMGR_EXHAUST_HOLD_SEC
# (8) size it.
. "$(dirname "$0")/lib.sh"

N=${GPUMGR_EXHAUST_CONNS:-1100}
HOLD_SEC=${GPUMGR_EXHAUST_HOLD_SEC:-8}
port=$(free_ports 1)
ledger=$TEST_TMP/ledger
config() {  # config API_EXTRA
  write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
    \"api\": {\"port\": $port $1},
    \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}}}"
}
config ""

clk=$(getconf CLK_TCK)
# utime + stime of PID in clock ticks (the name field has no spaces here)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
log_lines() { wc -l <"$TEST_TMP/daemon.log"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
nfds() { find "/proc/$DAEMON_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
fds_at_least() { (( $(nfds) >= $1 )); }
fds_below() { (( $(nfds) < $1 )); }

HOLDER=
hold() {  # hold N: starts the holder and waits until its connects are out
  rm -f "$TEST_TMP/ready"
  python3 "$SCRIPTS_DIR/hold.py" "$port" "$1" "$TEST_TMP/ready" &
  HOLDER=$!
  STARTED_PIDS+=("$HOLDER")
  wait_for 60 holder_ready
}
holder_ready() {
  kill -0 "$HOLDER" 2>/dev/null || fail "hold.py exited early (message above)"
  [[ -f $TEST_TMP/ready ]]
}
release() { kill -TERM "$HOLDER"; wait "$HOLDER" 2>/dev/null || true; HOLDER=; }

q=$GPUMGR_ROOT/tasks/script_queue/priority_3
task='{"script": "record", "script_args": {"ms": 1}}'
IDS=()
submit_file() {
  printf '%s' "$task" >"$q/.$1.json" && mv "$q/.$1.json" "$q/$1.json"
  IDS+=("$1")
}
submit_cli() {
  gpumgr submit --id "$1" --script record --arg ms=1 >/dev/null ||
    fail "gpumgr submit --id $1 did not queue it"
  IDS+=("$1")
}
submit_sock() {
  local code
  code=$(curl -s -o "$TEST_TMP/reply" -w '%{http_code}' --max-time 60 \
    --unix-socket "$GPUMGR_ROOT/api.sock" -H 'Content-Type: application/json' \
    -d "{\"task_id\": \"$1\", \"script\": \"record\", \"script_args\": {\"ms\": 1}}" \
    http://localhost/v1/tasks)
  [[ $code == 201 || $code == 202 ]] || fail "POST /v1/tasks over the socket: $code $(cat "$TEST_TMP/reply")"
  IDS+=("$1")
}
all_complete() {
  local id
  for id in "${IDS[@]}"; do
    [[ -f $GPUMGR_ROOT/tasks/complete/$id.json ]] || return 1
  done
}
none_failed() {
  local n
  n=$(find "$GPUMGR_ROOT/tasks/failed" -mindepth 1 | wc -l)
  (( n == 0 )) || { ls -l "$GPUMGR_ROOT/tasks/failed"; tail -30 "$TEST_TMP/daemon.log"; fail "$n file(s) in failed/"; }
}
# window_check WHAT T0 C0 L0: CPU and log growth since (T0, C0, L0).
window_check() {
  local t1 c1 l1 ms pct
  t1=$(now_ms) c1=$(cpu_ticks "$DAEMON_PID") l1=$(log_lines)
  ms=$(( t1 - $2 ))
  pct=$(( (c1 - $3) * 1000 * 100 / clk / ms ))
  echo "$1: ${ms} ms held, daemon CPU $(( (c1 - $3) * 1000 / clk )) ms (${pct}% of a core), log +$(( l1 - $4 )) lines"
  (( pct < 10 )) || { tail -30 "$TEST_TMP/daemon.log"; fail "$1: the daemon used ${pct}% of a core"; }
  (( l1 - $4 < 100 )) || { tail -30 "$TEST_TMP/daemon.log"; fail "$1: the log grew by $(( l1 - $4 )) lines"; }
}

# --- 1: soft limit 1,024, the default cap --------------------------------
ulimit -Sn 1024
start_daemon --sim 2x24GB
soft=$(awk '/Max open files/ { print $4 }' "/proc/$DAEMON_PID/limits")
hard=$(awk '/Max open files/ { print $5 }' "/proc/$DAEMON_PID/limits")
expect_eq "the daemon's soft descriptor limit (raised to the hard one)" "$soft" "$hard"
pass "soft descriptor limit raised to $hard"

hold "$N"
# The daemon holds its cap of connections (256), no more.
wait_for 60 fds_at_least 256
t0=$(now_ms) c0=$(cpu_ticks "$DAEMON_PID") l0=$(log_lines)
for i in 1 2 3; do submit_file "p1-file$i"; submit_cli "p1-cli$i"; done
submit_sock p1-sock1
wait_for 60 all_complete
none_failed
(( $(nfds) < 256 + 100 )) || fail "the daemon holds $(nfds) descriptors: over its cap of 256 connections"
while (( $(now_ms) - t0 < HOLD_SEC * 1000 )); do sleep 0.2; done
window_check "$N idle connections, cap 256" "$t0" "$c0" "$l0"
pass "tasks by file, CLI and socket completed with $N idle connections held"
release
wait_for 60 fds_below 100

# --- 2: hard limit 1,024, cap above it: EMFILE ------------------------------
config ", \"max_connections\": 4000, \"idle_timeout_sec\": 3600"
kill -HUP "$DAEMON_PID"
wait_for 20 grep -q "configuration reloaded" "$TEST_TMP/daemon.log"
prlimit --pid "$DAEMON_PID" --nofile=1024:1024
hold "$N"
# Descriptors run out: accept() fails (and pauses).
wait_for 90 grep -q "pausing new connections" "$TEST_TMP/daemon.log"
t0=$(now_ms) c0=$(cpu_ticks "$DAEMON_PID") l0=$(log_lines)
for i in 1 2 3; do submit_file "p2-file$i"; submit_cli "p2-cli$i"; done
# The daemon saw them and could not read them: kept, not rejected.
wait_for 60 grep -q "left in its queue, to be read again" "$TEST_TMP/daemon.log"
while (( $(now_ms) - t0 < HOLD_SEC * 1000 )); do sleep 0.2; done
none_failed
window_check "out of descriptors" "$t0" "$c0" "$l0"
release
wait_for 90 all_complete
none_failed
for id in p2-file1 p2-cli1; do
  gpumgr show "$id" >/dev/null || fail "gpumgr show $id"
done
kill -0 "$DAEMON_PID" || fail "the daemon died"
pass "out of descriptors: nothing rejected, everything completed after"
