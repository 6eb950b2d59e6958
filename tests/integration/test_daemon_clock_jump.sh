#!/usr/bin/env bash
# The wall clock jumps while the daemon runs (an LD_PRELOAD shim moves
# CLOCK_REALTIME): cooling still lasts cooling_sec on the monotonic clock.
# A jump forward does not cut it short (the next task starts no sooner
# than cooling_sec after the last one, by the scripts' own monotonic
# stamps); a jump back does not stretch it (the next task runs within the
# deadline, not an hour later).
. "$(dirname "$0")/lib.sh"

[[ -n ${GPUMGR_FAKECLOCK_LIB:-} && -f $GPUMGR_FAKECLOCK_LIB ]] ||
  fail "GPUMGR_FAKECLOCK_LIB (tests/fakeclock, built by cmake) is missing"
R=$GPUMGR_ROOT
COOL=4
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": $COOL, \"api\": {\"port\": $(free_ports 1)},
 \"scripts\": {\"mono\": {\"argv\": [\"python3\", \"-c\",
   \"import sys, time; open(sys.argv[1], 'w').write(repr(time.monotonic()))\", \"{out}\"]}}}"
export GPUMGR_FAKECLOCK=$TEST_TMP/wall_offset_ms
echo 0 >"$GPUMGR_FAKECLOCK"
LD_PRELOAD=$GPUMGR_FAKECLOCK_LIB start_daemon --sim 1x24GB

submit() {
  local q=$R/tasks/script_queue/priority_3
  printf '{"script": "mono", "script_args": {"out": "%s"}}' "$TEST_TMP/$1.mono" >"$q/.$1"
  mv "$q/.$1" "$q/$1.json"
}
done_() { [[ -f $R/tasks/complete/$1.json ]]; }
# gap A B: prints B's start - A's start (s) by the scripts' monotonic
# stamps; fails unless it is at least the cooling time (less 0.5 s).
gap() {
  python3 - "$TEST_TMP/$1.mono" "$TEST_TMP/$2.mono" "$COOL" <<'PY'
import sys
g = float(open(sys.argv[2]).read()) - float(open(sys.argv[1]).read())
print("%.2f" % g)
sys.exit(0 if g >= float(sys.argv[3]) - 0.5 else 1)
PY
}

submit a
wait_for 30 done_ a
echo 3600000 >"$GPUMGR_FAKECLOCK"	# an hour forward, while GPU 0 cools
submit b
wait_for 60 done_ b
g=$(gap a b) ||
  fail "a wall jump forward cut cooling short: b started ${g}s after a (cooling ${COOL}s)"
pass "a jump forward: b started ${g}s after a"

echo -3600000 >"$GPUMGR_FAKECLOCK"	# two hours back, while GPU 0 cools
submit c
wait_for 60 done_ c
g=$(gap b c) ||
  fail "c started ${g}s after b (cooling ${COOL}s)"
pass "a jump back: c ran ${g}s after b, not an hour later"

kill -0 "$DAEMON_PID" || fail "the daemon died"
stop_daemon
! grep -E "runtime error|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$TEST_TMP/daemon.log" ||
  fail "sanitizer report in the daemon log"
