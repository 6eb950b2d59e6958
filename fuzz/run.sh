#!/usr/bin/env bash
# Runs every built fuzz target for N seconds on its seed corpus
# (fuzz/corpus/<target>/, plus the test fixtures where they fit). Every
# target runs even when an earlier one failed; the exit status is non-zero
# and the last line names the failed targets if any did.
#   usage: fuzz/run.sh BUILD_DIR SECONDS
set -euo pipefail
build=$1 secs=$2
here=$(cd "$(dirname "$0")" && pwd)
failed=()
for bin in "$build"/fuzz_*; do
  [[ -x $bin ]] || continue
  name=$(basename "$bin")
  work=$(mktemp -d)
  seeds=("$work")
  [[ -d $here/corpus/$name ]] && seeds+=("$here/corpus/$name")
  echo "fuzz: $name for ${secs}s"
  "$bin" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
         -print_final_stats=1 "${seeds[@]}" 2>"$work/log" || {
    tail -50 "$work/log"; echo "fuzz: $name FAILED (kept $work)"; failed+=("$name"); continue; }
  grep -E 'stat::number_of_executed_units' "$work/log" || true
  rm -rf "$work"
done
if ((${#failed[@]})); then
  echo "fuzz: FAILED targets: ${failed[*]}"
  exit 1
fi
