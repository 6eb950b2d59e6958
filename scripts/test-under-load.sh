#!/usr/bin/env bash
# The suite under load, as issue 15 checks it: two CPU hogs (`yes >
# /dev/null`) run beside the tests, started here and stopped by their pids
# on exit. Runs the command N times in a row and stops at the first failure.
#   usage: scripts/test-under-load.sh [N] [CMD...]
#   default: 5 runs of `bash scripts/test.sh`
# Each run's time and the load average before and after it are printed.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
shift || true
(($#)) || set -- bash scripts/test.sh

hogs=()
stop_hogs() { local p; for p in "${hogs[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; }
trap stop_hogs EXIT
trap "exit 143" INT TERM
for _ in 1 2; do
  yes >/dev/null &
  hogs+=($!)
done
echo "hogs: ${hogs[*]}"

for ((i = 1; i <= runs; i++)); do
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  t0=$(date +%s)
  "$@"
  rc=$?
  echo "run $i/$runs: exit $rc in $(( $(date +%s) - t0 )) s (load average before: $load0, after: $(cut -d' ' -f1-3 /proc/loadavg))"
  ((rc == 0)) || exit "$rc"
done
