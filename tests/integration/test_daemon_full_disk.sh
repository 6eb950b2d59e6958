#!/usr/bin/env bash
# A full disk at finalisation never empties a task's output: ROOT is a
# small tmpfs, filled up after the script wrote its output and before it
# ends. The daemon cannot move the task to complete/, says so, keeps the
# task in processing/ with its run folder whole, and once space is back
# finalises it with the output the script wrote. Needs root (mount).
. "$(dirname "$0")/lib.sh"

mnt=$TEST_TMP/mnt
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=4m tmpfs "$mnt" 2>/dev/null; then
  echo "skip: cannot mount a tmpfs here (needs root)"
  exit 0
fi
trap 'rc=$?; set +e; stop_daemon; umount "$mnt"; (exit "$rc"); cleanup' EXIT
export GPUMGR_ROOT=$mnt/root
mkdir -p "$GPUMGR_ROOT"
go=$TEST_TMP/go
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0, \"rescan_interval_ms\": 200,
  \"scripts\": {\"say\": {\"argv\": [\"/bin/sh\", \"-c\",
    \"echo output of \$GPUMGR_TASK_ID; while [ ! -e $go ]; do sleep 0.05; done\"]}}}"

start_daemon --sim 1x24GB
gpumgr submit --script say --id full1 >/dev/null
wait_for 20 grep -q "output of full1" "$GPUMGR_ROOT/run/tasks/full1/stdout"
# Fill the disk, then let the script end.
dd if=/dev/zero of="$mnt/filler" bs=64k 2>/dev/null || true
touch "$go"
wait_for 30 grep -q "task full1: could not finalise" "$TEST_TMP/daemon.log"
expect_eq "full1 still in processing" "$(count_files processing)" 1
grep -q "output of full1" "$GPUMGR_ROOT/run/tasks/full1/stdout" || fail "the run folder lost its output"
kill -0 "$DAEMON_PID" || fail "the daemon died on a full disk"
pass "a full disk at finalisation leaves the task in processing/, its output whole"

rm -f "$mnt/filler"
wait_for 30 test -f "$GPUMGR_ROOT/tasks/complete/full1.json"
python3 - "$GPUMGR_ROOT/tasks/complete" <<'PY' || fail "full1's record"
import json, os, sys
t = json.load(open(os.path.join(sys.argv[1], "full1.json")))
assert t["status"] == "complete" and t["output"] == "output of full1\n", t
assert open(os.path.join(sys.argv[1], "full1.stdout")).read() == "output of full1\n"
PY
wait_for 20 test ! -e "$GPUMGR_ROOT/run/tasks/full1"
pass "with space back it is finalised with its output, kept beside it too"
