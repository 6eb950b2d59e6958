#!/usr/bin/env bash
# A test script for the daemon's tests: appends "start" and "end" lines with
# its task id, its CUDA_VISIBLE_DEVICES and a nanosecond time stamp to a
# ledger, sleeping MS milliseconds in between. Appends are atomic (O_APPEND).
#   record.sh LEDGER MS [EXIT_CODE]
ledger=$1 ms=${2:-0} code=${3:-0}
echo "start $GPUMGR_TASK_ID ${CUDA_VISIBLE_DEVICES:-none} $(date +%s%N)" >>"$ledger"
if [[ $ms -gt 0 ]]; then sleep "$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')"; fi
echo "end $GPUMGR_TASK_ID ${CUDA_VISIBLE_DEVICES:-none} $(date +%s%N)" >>"$ledger"
echo "done $GPUMGR_TASK_ID"
exit "$code"
