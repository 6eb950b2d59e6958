#!/usr/bin/env bash
# `gpumgr slurm-job` (the slurm executor's job side, docs/slurm.md) runs a
# task's script at most once, without a cluster: it runs nothing outside a
# job, in a run folder that names another job (a submission the daemon never
# recorded), in one that already holds a run (a job Slurm requeued) or one
# cancelled before it started; in its own folder it runs the script under
# the supervisor, records where, and exits with the script's status.
. "$(dirname "$0")/lib.sh"

run=$TEST_TMP/run/tasks/t1 out=$TEST_TMP/ran
mkdir -p "$run"
job() { SLURM_JOB_ID=$1 SLURMD_NODENAME=n7 CUDA_VISIBLE_DEVICES=2 gpumgr slurm-job \
  --run-dir="$run" --task-id=t1 --timeout=60 -- sh -c "echo \"\$CUDA_VISIBLE_DEVICES \$GPUMGR_TASK_ID\" >>$out; exit 3"; }

rc=0; env -u SLURM_JOB_ID "$GPUMGR_BIN" slurm-job --run-dir="$run" -- true 2>"$TEST_TMP/err" || rc=$?
expect_eq "outside a job" "$rc" 75
grep -q "SLURM_JOB_ID is not set" "$TEST_TMP/err" || fail "no reason given: $(cat "$TEST_TMP/err")"

echo '{"job_id": "41", "task_id": "t1"}' >"$run/slurm.json"
rc=0; job 40 2>"$TEST_TMP/err" || rc=$?
expect_eq "another job's folder" "$rc" 75
grep -q "does not name job 40" "$TEST_TMP/err" || fail "no reason given: $(cat "$TEST_TMP/err")"
[[ ! -e $out ]] || fail "the script ran in another job's folder"
pass "nothing runs outside a job or in another job's run folder"

touch "$run/cancel"
rc=0; job 41 2>"$TEST_TMP/err" || rc=$?
expect_eq "cancelled before it started" "$rc" 75
[[ ! -e $out ]] || fail "a cancelled run ran"
rm "$run/cancel"

rc=0; job 41 || rc=$?
expect_eq "the script's status" "$rc" 3
expect_eq "what the script saw" "$(cat "$out")" "2 t1"
python3 - "$run/slurm-run.json" <<'PY' || fail "slurm-run.json is wrong"
import json, sys
r = json.load(open(sys.argv[1]))
assert r == {"job_id": "41", "node": "n7", "gpus": "2"}, r
PY
pass "its own folder: ran once with the job's GPU, exit 3 passed on, node recorded"

rc=0; job 41 2>"$TEST_TMP/err" || rc=$?
expect_eq "requeued job" "$rc" 75
grep -q "already holds a run" "$TEST_TMP/err" || fail "no reason given: $(cat "$TEST_TMP/err")"
expect_eq "lives" "$(wc -l <"$out")" 1
pass "a requeued job does not run the script a second time"
