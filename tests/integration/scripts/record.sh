#!/usr/bin/env bash
# A test script for the daemon's tests: appends "start" and "end" lines with
# its task id, its CUDA_VISIBLE_DEVICES, a nanosecond time stamp and its pid
# to a ledger, sleeping MS milliseconds in between. Appends are atomic
# (O_APPEND).
#   record.sh LEDGER MS [EXIT_CODE [watch]]
# With "watch" (test_daemon_crash.sh) it first looks for any other process
# of a run of its own task, or of any run on its GPU, still alive, and
# writes an "overlap" line for each; then it sleeps in a child process named
# "rchild LEDGER" (a script's child, for the test to kill) and records how
# that child ended:
#   start TASK GPU NS PID
#   overlap TASK GPU NS PID OTHER_PID OTHER_TASK OTHER_GPU
#   end TASK GPU NS PID RC
ledger=$1 ms=${2:-0} code=${3:-0} mode=${4:-}
gpu=${CUDA_VISIBLE_DEVICES:-none}
now_ns() { local t=${EPOCHREALTIME/./}; echo "${t}000"; }
# Bash builtins only, but for sleep: hundreds of these run in the suite,
# and every process spawned costs on a loaded 2-core machine.
if [[ $mode != watch ]]; then
  echo "start $GPUMGR_TASK_ID $gpu $(now_ns) $$" >>"$ledger"
  if [[ $ms -gt 0 ]]; then sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"; fi
  echo "end $GPUMGR_TASK_ID $gpu $(now_ns) $$ $code" >>"$ledger"
  echo "done $GPUMGR_TASK_ID"
  exit "$code"
fi

start=$(now_ns)
echo "start $GPUMGR_TASK_ID $gpu $start $$" >>"$ledger"
# Every process of every life of a run here has the ledger in its command
# line (this script's argv, or the child's name). The grep and the command
# substitution have ended (and been waited for) when the list is read.
found=$(grep -lF -- "$ledger" /proc/[0-9]*/cmdline 2>/dev/null)
for f in $found; do
  p=${f#/proc/}; p=${p%/cmdline}
  [[ $p == "$$" ]] && continue
  tid= dev=
  while IFS= read -r -d '' kv; do
    case $kv in
      GPUMGR_TASK_ID=*) tid=${kv#*=} ;;
      CUDA_VISIBLE_DEVICES=*) dev=${kv#*=} ;;
    esac
  done 2>/dev/null </proc/"$p"/environ || continue
  [[ -n $tid ]] || continue     # not a run's (or a zombie: no environment)
  dev=${dev:-none}
  if [[ $tid == "$GPUMGR_TASK_ID" || ( $gpu != none && $dev == "$gpu" ) ]]; then
    echo "overlap $GPUMGR_TASK_ID $gpu $(now_ns) $$ $p $tid $dev" >>"$ledger"
  fi
done
printf -v secs '%d.%03d' $((ms / 1000)) $((ms % 1000))
(exec -a "rchild $ledger" sleep "$secs") &
wait $!
rc=$?
(( rc == 0 )) && rc=$code
echo "end $GPUMGR_TASK_ID $gpu $(now_ns) $$ $rc" >>"$ledger"
echo "done $GPUMGR_TASK_ID"
exit "$rc"
