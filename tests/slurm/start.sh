#!/bin/bash
# start.sh - a one-node Slurm cluster on this machine, from scratch, as root
# (Debian 12: slurm-wlm 22.05, munge). Private munged, slurmctld and slurmd;
# N fake GPUs as GRES. Nothing under /etc is touched: all state lives in RUN.
#   SLURM_RUN=/var/tmp/gpumgr-slurm SLURM_GPUS=4 tests/slurm/start.sh
#   export SLURM_CONF=$SLURM_RUN/etc/slurm.conf   # then sbatch, squeue, sinfo
# Stop with stop.sh (by the pid files only).
# Facts learned the hard way:
# - GRES gpu needs File= devices in 22.05 (Count= alone registers 0 GPUs and
#   the node goes INVAL); char devices made with mknod (c 1 3) do.
# - The default scheduler waits up to 60 s between passes; the settings below
#   start a job within about 0.5 s.
set -euo pipefail
RUN=${SLURM_RUN:-/var/tmp/gpumgr-slurm}
GPUS=${SLURM_GPUS:-4}
CPUS=${SLURM_CPUS:-8}

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge
fi
for p in "$RUN"/slurmd.pid "$RUN"/slurmctld.pid "$RUN"/munge/munged.pid; do
	if [ -s "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null; then
		echo "already running ($p); run stop.sh first" >&2; exit 1
	fi
done

rm -rf "$RUN"
mkdir -p "$RUN"/etc "$RUN"/state "$RUN"/spool "$RUN"/log "$RUN"/munge "$RUN"/dev
for ((i = 0; i < GPUS; i++)); do mknod "$RUN/dev/gpu$i" c 1 3; done
chmod 755 "$RUN"
cat >"$RUN/etc/slurm.conf" <<CONF
ClusterName=gpumgr
SlurmctldHost=localhost
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$RUN/munge/munge.socket
SlurmUser=root
SlurmdUser=root
SlurmctldPort=${SLURM_CTLD_PORT:-6817}
SlurmdPort=${SLURM_D_PORT:-6818}
StateSaveLocation=$RUN/state
SlurmdSpoolDir=$RUN/spool
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$RUN/log/slurmctld.log
SlurmdLogFile=$RUN/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
GresTypes=gpu
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SlurmdParameters=config_overrides
SlurmctldDebug=error
SlurmdDebug=error
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,sched_interval=1,default_queue_depth=1000
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=4000 Gres=gpu:$GPUS State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
echo "Name=gpu File=$RUN/dev/gpu[0-$((GPUS - 1))]" >"$RUN/etc/gres.conf"
export SLURM_CONF=$RUN/etc/slurm.conf

chown munge:munge "$RUN/munge"; chmod 711 "$RUN/munge"
runuser -u munge -- mungekey --create --keyfile="$RUN/munge/munge.key"
runuser -u munge -- munged --key-file="$RUN/munge/munge.key" \
	--socket="$RUN/munge/munge.socket" --pid-file="$RUN/munge/munged.pid" \
	--log-file="$RUN/munge/munged.log" --seed-file="$RUN/munge/munged.seed"
for i in $(seq 50); do [ -S "$RUN/munge/munge.socket" ] && break; sleep 0.1; done

slurmctld -f "$SLURM_CONF"
for i in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.1; done
slurmd -f "$SLURM_CONF" -N localhost
st=
for i in $(seq 150); do
	st=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
	[ "$st" = idle ] && break
	sleep 0.2
done
[ "$st" = idle ] || { echo "node not idle ($st); see $RUN/log" >&2; exit 1; }
echo "slurm up: SLURM_CONF=$SLURM_CONF; $(sinfo -h -o 'node %N cpus=%c gres=%G')"
