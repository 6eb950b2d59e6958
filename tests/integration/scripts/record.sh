#!/usr/bin/env bash
# A test script for the daemon's tests: appends "start" and "end" lines with
# its task id, its CUDA_VISIBLE_DEVICES and a nanosecond time stamp to a
# ledger, sleeping MS milliseconds in between. Appends are atomic (O_APPEND).
#   record.sh LEDGER MS [EXIT_CODE]
# Bash builtins only, but for sleep: hundreds of these run in the suite,
# and every process spawned costs on a loaded 2-core machine.
ledger=$1 ms=${2:-0} code=${3:-0}
t=$EPOCHREALTIME   # seconds.microseconds; the ledger has nanoseconds
echo "start $GPUMGR_TASK_ID ${CUDA_VISIBLE_DEVICES:-none} ${t/./}000" >>"$ledger"
if [[ $ms -gt 0 ]]; then sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"; fi
t=$EPOCHREALTIME
echo "end $GPUMGR_TASK_ID ${CUDA_VISIBLE_DEVICES:-none} ${t/./}000" >>"$ledger"
echo "done $GPUMGR_TASK_ID"
exit "$code"
