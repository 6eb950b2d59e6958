#!/usr/bin/env bash
# The slurm executor (docs/slurm.md) on a one-node Slurm cluster with 4
# fake GPUs (tests/slurm/start.sh, its own SLURM_RUN and ports, stopped by
# its pid files at exit): N script tasks all complete exactly once, each as
# a Slurm job holding one GPU (CUDA_VISIBLE_DEVICES is the GRES index
# `scontrol -d show job` gives while it runs); a job cancelled by hand with
# scancel is retried by gpumgr's rules; gpumgr killed with SIGKILL and
# restarted while jobs run re-adopts them (never runs them twice); the
# cluster's GPUs are listed by `gpumgr gpus` and gpu_state.json as node
# plus index, a drained node's GPUs offline.
#
# CI: 12 tasks. The issue's size: GPUMGR_TEST_BIG=1 (100), or
# GPUMGR_SLURM_TASKS=N. SKIPs only where Slurm is not installed or this
# is not root (scripts/install-deps.sh installs slurm-wlm and munge).
. "$(dirname "$0")/lib.sh"

for c in slurmctld slurmd munged mungekey sbatch squeue scancel scontrol sinfo runuser; do
  if ! command -v "$c" >/dev/null; then
    echo "SKIP: $c not found: Slurm is not installed (scripts/install-deps.sh installs slurm-wlm and munge)"
    exit 0
  fi
done
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: a Slurm cluster of tests/slurm/start.sh runs as root only"
  exit 0
fi

if [[ ${GPUMGR_TEST_BIG:-0} == 1 ]]; then TASKS=100; else TASKS=12; fi
TASKS=${GPUMGR_SLURM_TASKS:-$TASKS}
HOLD=4
(( TASKS > HOLD )) || fail "GPUMGR_SLURM_TASKS must be more than $HOLD"
echo "size: $TASKS tasks ($HOLD held across the daemon's kill)"
t0=$(date +%s%N)

# The cluster's state outside TEST_TMP (mode 700): munge's own user must
# reach its socket folder.
export SLURM_RUN
SLURM_RUN=$(mktemp -d /var/tmp/gpumgr-slurm-test.XXXXXX)
chmod 755 "$SLURM_RUN"
ports=$(free_ports 2)
export SLURM_CTLD_PORT=$ports SLURM_D_PORT=$((ports + 1)) SLURM_GPUS=4
SLURM_DIR=$(cd "$(dirname "$0")/../slurm" && pwd)
slurm_stop() {
  # This cluster's jobs first (SLURM_CONF names it): a job's slurmstepd and
  # script outlive slurmd when the test ends early (a failure, a timeout).
  if [[ -n ${SLURM_CONF:-} ]]; then
    scancel --full --signal=KILL --user="$(id -un)" >/dev/null 2>&1 || true
    for _ in $(seq 50); do
      [[ -z $(squeue -h -t running,completing 2>/dev/null) ]] && break
      sleep 0.2
    done
  fi
  "$SLURM_DIR/stop.sh" || true
  [[ -n ${SLURM_RUN:-} && -d $SLURM_RUN ]] && rm -rf "$SLURM_RUN"
}
trap 'rc=$?; set +e; stop_daemon; slurm_stop; (exit "$rc"); cleanup' EXIT
"$SLURM_DIR/start.sh" >"$TEST_TMP/slurm-start.log" 2>&1 ||
  { cat "$TEST_TMP/slurm-start.log" >&2; fail "the Slurm cluster did not start"; }
export SLURM_CONF=$SLURM_RUN/etc/slurm.conf
echo "cluster up after $(( ($(date +%s%N) - t0) / 1000000 )) ms: $(sinfo -h -o 'node %N gres=%G')"

ledger=$TEST_TMP/ledger gate=$TEST_TMP/gate
: >"$ledger"
write_config "{\"gpu_backend\": \"slurm\", \"executor\": \"slurm\", \"cooling_sec\": 0,
  \"slurm\": {\"mem_mb\": 256, \"poll_ms\": 300},
  \"scripts\": {\"rec\": {\"argv\": [\"$SCRIPTS_DIR/slurm-rec.sh\", \"$ledger\", \"{secs}\", \"$gate\"]}}}"

# The cluster's GPUs: node plus index, from sinfo.
gpumgr gpus --json >"$TEST_TMP/gpus.json" || fail "gpumgr gpus failed"
python3 - "$TEST_TMP/gpus.json" <<'PY' || fail "gpumgr gpus does not list the cluster's 4 GPUs"
import json, sys
g = json.load(open(sys.argv[1]))
assert g["source"] == "slurm", g["source"]
u = sorted(x["uuid"] for x in g["gpus"])
assert u == ["slurm:localhost:%d" % i for i in range(4)], u
assert all(x["health"] == "ok" for x in g["gpus"]), g
PY
pass "gpumgr gpus lists the node's 4 GRES GPUs as slurm:localhost:0-3"

start_daemon
top=$(gpumgr top --once)
expect_eq "GPU rows in gpumgr top" "$(grep -cE '^ +[0-3] idle' <<<"$top")" 4
python3 - "$GPUMGR_ROOT/gpu_state.json" <<'PY' || fail "gpu_state.json does not hold the cluster's GPUs"
import json, sys
g = json.load(open(sys.argv[1]))["gpus"]
assert sorted(x["uuid"] for x in g.values()) == ["slurm:localhost:%d" % i for i in range(4)], g
PY
ids=()
for ((i = 0; i < HOLD; i++)); do
  ids+=("$(gpumgr submit --script rec --arg secs=hold --priority 5)")
done
for ((i = HOLD; i < TASKS - 1; i++)); do
  ids+=("$(gpumgr submit --script rec --arg "secs=0.$((RANDOM % 5))")")
done
# One with no GPU: a job without --gres.
cpu_id=$(gpumgr submit --script rec --arg secs=0 --gpu none)
ids+=("$cpu_id")

# The held tasks run as jobs (4 GPUs, 4 jobs running).
started() { (( $(grep -c '^start' "$ledger") >= $1 )); }
# Jobs holding a GPU (the gpu-none task may be running beside them).
running_jobs() { squeue -h -t RUNNING -o "%i %b" | grep -c "gpu" || true; }
hold_running() { (( $(running_jobs) == HOLD )) && started "$HOLD"; }
wait_for 60 hold_running
pass "$HOLD held tasks run as $HOLD Slurm jobs"

# scancel by hand: gpumgr's retry rules run the task again (once more).
victim=${ids[0]}
vjob=$(awk -v t="$victim" '$1 == "start" && $2 == t { print $3; exit }' "$ledger")
[[ -n $vjob ]] || fail "no job id recorded for $victim"
scancel "$vjob"
lives() { grep -c "^start $1 " "$ledger" || true; }
retried() { (( $(lives "$victim") >= 2 )); }
wait_for 60 retried
# Slurm's SIGTERM reaches the supervisor (recorded: killed by signal 15),
# or the job ends first ("was lost: Slurm job N ended"): retried either way.
grep -qE "task $victim failed, requeued .*(killed by signal 15|was lost: Slurm job $vjob ended)" "$TEST_TMP/daemon.log" ||
  fail "the scancel'ed task was not requeued by gpumgr's rules"
pass "job $vjob cancelled by hand: task requeued and run again as job $(awk -v t="$victim" '$2 == t { j = $3 } END { print j }' "$ledger")"

# SIGKILL the daemon while the held jobs run; they keep running in Slurm.
wait_for 60 started $((HOLD + 1))
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
held_jobs=$(running_jobs)
(( held_jobs >= 3 )) || fail "only $held_jobs job(s) running after the daemon's kill"
start_daemon
readopted() { (( $(grep -c "re-adopted task" "$TEST_TMP/daemon.log") >= held_jobs )); }
wait_for 60 readopted
pass "daemon SIGKILLed with $held_jobs jobs running: restarted, re-adopted them"

: >"$gate"
all_done() { (( $(count_files complete) + $(count_files failed) >= TASKS )); }
wait_for 120 all_done
wait_for 60 no_live_runs

# gpumgr's own cancel of a running job: scancel'ed, failed "cancelled",
# never retried.
cid=$(gpumgr submit --script rec --arg secs=600)
wait_for 60 grep -q "^start $cid " "$ledger"
cjob=$(awk -v t="$cid" '$2 == t { print $3 }' "$ledger")
gpumgr cancel "$cid" >/dev/null || fail "gpumgr cancel $cid failed"
wait_for 60 test -f "$GPUMGR_ROOT/tasks/failed/$cid.json"
python3 - "$GPUMGR_ROOT/tasks/failed/$cid.json" <<'PY' || fail "the cancelled task's record is wrong"
import json, sys
t = json.load(open(sys.argv[1]))
assert t["error"]["code"] == "cancelled" and t["attempts"] == 1, t
PY
job_gone() { [[ -z $(squeue -h -j "$cjob" -t PENDING,RUNNING,COMPLETING -o %i 2>/dev/null) ]]; }
wait_for 60 job_gone
expect_eq "lives of the cancelled task" "$(lives "$cid")" 1
pass "gpumgr cancel: job $cjob ended, the task failed \"cancelled\" without a retry"
stop_daemon
mv "$GPUMGR_ROOT/tasks/failed/$cid.json" "$TEST_TMP/"

expect_eq "failed tasks" "$(count_files failed)" 0
expect_eq "complete tasks" "$(count_files complete)" "$TASKS"
expect_eq "tasks left" "$(count_files processing) $(count_files script_queue)" "0 0"

python3 - "$GPUMGR_ROOT" "$ledger" "$victim" "$cpu_id" "${ids[@]}" <<'PY' || fail "the ledger or the task records are wrong (above)"
import collections, json, os, sys
root, ledger, victim, cpu, ids = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
lives = collections.defaultdict(list)
for line in open(ledger):
    f = line.split()
    assert f[0] == "start" and len(f) == 5, line
    task, job, cvd, gres = f[1:]
    if task == cpu:
        # gpu "none": no GRES, no device.
        assert cvd == "none" and gres == "none", line
    else:
        # One GPU, the one Slurm's GRES names.
        assert cvd in ("0", "1", "2", "3"), line
        assert gres == "gpu:1(IDX:%s)" % cvd, line
    lives[task].append(job)
bad = []
for t in ids:
    want = 2 if t == victim else 1
    if len(lives[t]) != want:
        bad.append("%s ran %d time(s), want %d" % (t, len(lives[t]), want))
    rec = json.load(open(os.path.join(root, "tasks/complete", t + ".json")))
    if rec.get("slurm", {}).get("job_id") != lives[t][-1]:
        bad.append("%s: record's job %s, ledger's %s" % (t, rec.get("slurm"), lives[t]))
    if rec.get("exit_code") != 0 or rec.get("attempts") != want:
        bad.append("%s: exit %s, attempts %s" % (t, rec.get("exit_code"), rec.get("attempts")))
jobs = [j for js in lives.values() for j in js]
if len(set(jobs)) != len(jobs):
    bad.append("a job id ran two tasks")
if bad:
    sys.exit("\n".join(bad[:20]))
PY
pass "$TASKS tasks complete exactly once, each a Slurm job with one GPU (CUDA_VISIBLE_DEVICES = its GRES index; none for the gpu-none task), job ids recorded"
grep -q "Slurm job .* submitted" "$TEST_TMP/daemon.log" || fail "no job submitted?"
! grep -E "BUG|ERROR: AddressSanitizer|runtime error" "$TEST_TMP/daemon.log" || fail "the daemon logged a bug"

# A drained node's GPUs are offline.
scontrol update nodename=localhost state=drain reason=gpumgr-test
gpumgr gpus --json >"$TEST_TMP/gpus.json"
python3 - "$TEST_TMP/gpus.json" <<'PY' || fail "a drained node's GPUs are not offline"
import json, sys
g = json.load(open(sys.argv[1]))["gpus"]
assert len(g) == 4 and all(x["health"] != "ok" for x in g), g
PY
pass "a drained node's GPUs are not healthy in gpumgr gpus"
echo "took $(( ($(date +%s%N) - t0) / 1000000 )) ms"
