#!/bin/sh
# A script task for test_slurm: appends one ledger line as it starts
# (task, Slurm job, CUDA_VISIBLE_DEVICES, and the job's GRES with its device
# index as `scontrol -d show job` reports it while the job runs), then
# sleeps SECS, or with SECS=hold waits until the file GATE exists.
# Usage: slurm-rec.sh LEDGER SECS GATE
ledger=$1 secs=$2 gate=$3
gres=$(scontrol -d show job "$SLURM_JOB_ID" 2>&1 | sed -n 's/.* GRES=\([^ ]*\).*/\1/p' | head -n 1)
echo "start $GPUMGR_TASK_ID $SLURM_JOB_ID ${CUDA_VISIBLE_DEVICES:-none} ${gres:-none}" >>"$ledger"
echo "ran as job $SLURM_JOB_ID on $SLURMD_NODENAME with GPU $CUDA_VISIBLE_DEVICES"
if [ "$secs" = hold ]; then
	while [ ! -e "$gate" ]; do sleep 0.1; done
else
	sleep "$secs"
fi
