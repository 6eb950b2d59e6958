#!/usr/bin/env bash
# The simulator's benchmarks: each scenario in bench/scenarios/ under the
# three policies (makespan, its ratio to design, LLM p95 wait), then the
# scale check, 100,000 tasks on 64 GPUs, timed (target: under 10 s for the
# three policies together). Usage: bench/simulate.sh [path/to/gpumgr]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-${GPUMGR_BIN:-$here/../build/gpumgr}}
[[ -x $bin ]] || { echo "no gpumgr binary at $bin (build first)" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is needed" >&2; exit 1; }

now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

printf '%-16s %-8s %12s %10s %12s %10s %8s %9s\n' scenario policy \
    makespan_s vs_design llm_p95_s vs_design boots evictions
for f in "$here"/scenarios/*.json; do
	name=$(basename "$f" .json)
	[[ $name == large-* ]] && continue
	"$bin" simulate --json "$f" | jq -r --arg n "$name" '
	    (.policies[] | select(.policy == "design")) as $d |
	    .policies[] | [$n, .policy, (.makespan_sec * 10 | round / 10),
	      (if $d.makespan_sec > 0 then .makespan_sec / $d.makespan_sec
	       else 0 end * 1000 | round / 1000),
	      (.wait_sec.llm.p95 * 10 | round / 10),
	      (if $d.wait_sec.llm.p95 > 0 then .wait_sec.llm.p95 /
	       $d.wait_sec.llm.p95 else 0 end * 1000 | round / 1000),
	      .boots, .evictions] | @tsv' |
	    while IFS=$'\t' read -r a b c d e g h i; do
		printf '%-16s %-8s %12s %10s %12s %10s %8s %9s\n' \
		    "$a" "$b" "$c" "$d" "$e" "$g" "$h" "$i"
	    done
done

echo
for f in "$here"/scenarios/large-*.json; do
	t0=$(now_ms)
	out=$("$bin" simulate --json "$f")
	t1=$(now_ms)
	echo "$out" | jq -r '"\(.workload): \(.tasks.total) tasks on \(.gpus) GPUs, " +
	    "\(.policies | length) policies, \([.policies[].decisions] | add) decisions"'
	awk -v ms=$(( t1 - t0 )) 'BEGIN { printf "time: %.2f s (target < 10 s)\n", ms / 1000 }'
done
