#!/usr/bin/env bash
# The README's first command: installs what is missing, builds gpumgr, and
# starts its daemon in the background on ROOT ($GPUMGR_ROOT, else the
# default: /var/lib/gpumgr as root, ~/.gpumgr otherwise). On a machine
# without a usable NVIDIA GPU it starts on a simulated box shaped like the
# original design's (5 x 24 GB, GPUs 0 and 3 brain), and says so loudly.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
bin=$src/build/gpumgr
# gpumgr's own default ROOT (cli_default_root): $GPUMGR_ROOT, else
# /var/lib/gpumgr as root, else ~/.gpumgr.
root=${GPUMGR_ROOT:-$( [[ $(id -u) -eq 0 ]] && echo /var/lib/gpumgr || echo "$HOME/.gpumgr")}
export GPUMGR_ROOT=$root
mkdir -p "$root"

if [[ -f $root/daemon.lock ]] && ! flock -n "$root/daemon.lock" true; then
  echo "gpumgr: a daemon already runs on $root (pid $(cat "$root/daemon.lock"))"
  "$bin" gpus || true
  exit 0
fi

sim=()
if "$bin" gpus --backend auto >/dev/null 2>&1; then
  echo "gpumgr: real GPUs found:"
  "$bin" gpus --backend auto
  [[ -f $root/config.json ]] || echo '{}' >"$root/config.json"
else
  echo "================================================================"
  echo " gpumgr: NO usable NVIDIA GPU here: starting on SIMULATED GPUs"
  echo " (5 x 24 GB, GPUs 0 and 3 brain with qwen2.5:14b served by"
  echo "  gpumgr fake-llm; edit $root/sim_gpus.json to add, remove, fail"
  echo "  or heal a GPU)"
  echo "================================================================"
  if [[ ! -f $root/config.json ]]; then
    sed "s#@ROOT@#$root#g; s#@SRC@#$src#g; s#@BIN@#$bin#g" contrib/config.sim.json >"$root/config.json"
  fi
  sim=(--sim 5x24GB)
fi

"$bin" config check "$root/config.json"
nohup "$bin" daemon "${sim[@]}" --log "$root/daemon.log" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 200); do
  [[ -f $root/gpu_state.json ]] && grep -q "\"daemon_pid\": $pid" "$root/gpu_state.json" && break
  kill -0 "$pid" 2>/dev/null || { tail -20 "$root/daemon.log"; exit 1; }
  sleep 0.05
done
echo
echo "gpumgr daemon started (pid $pid) on ROOT=$root; log: $root/daemon.log"
echo "  export GPUMGR_ROOT=$root PATH=$src/build:\$PATH"
echo "  gpumgr status | gpumgr ls | gpumgr submit --script NAME --arg k=v"
echo "  kill $pid stops the daemon (work keeps running); gpumgr shutdown stops everything"
"$bin" gpus
