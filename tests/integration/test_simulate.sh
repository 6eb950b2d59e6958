#!/usr/bin/env bash
# `gpumgr simulate` on the design's own example (its 5 GPUs and roles): the
# `design` policy's makespan is within 10% of the design's arithmetic (125
# videos x 10 min at 14x realtime over GPUs 1, 2 and 4, plus unload, whisper
# loads and the Qwen reload: about 37 min), the brain GPUs 0 and 3 keep Qwen
# and answer the brain's requests during the batch, the three policies are
# reported side by side, the SVG timeline is written, and a bad workload is
# refused with exit code 4.
. "$(dirname "$0")/lib.sh"

SRC=${GPUMGR_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
SCEN="$SRC/bench/scenarios/design-example.json"

gpumgr simulate --json --svg "$TEST_TMP/t.svg" "$SCEN" > "$TEST_TMP/r.json"
expect_eq "policies" "$(jq -c '[.policies[].policy]' "$TEST_TMP/r.json")" \
    '["static","design","gpumgr"]'
expect_eq "tasks" "$(jq '.tasks.total' "$TEST_TMP/r.json")" 131

# The design's arithmetic, in seconds.
design_sec=$(( 37 * 60 ))
got=$(jq '.policies[] | select(.policy == "design") | .makespan_sec' "$TEST_TMP/r.json")
jq -e --argjson d "$design_sec" --argjson g "$got" -n \
    '(($g - $d) | fabs) / $d <= 0.10' >/dev/null ||
    fail "design makespan ${got}s is not within 10% of ${design_sec}s"
pass "design policy: ${got}s vs the design's ${design_sec}s"

# Every policy finished every task, none beats the lower bound, gpumgr
# does no worse than the design; the batch unloads Qwen from the three
# worker GPUs only, and the brain's requests are answered during the batch
# (not after its 35 minutes).
jq -e '.policies | all(.tasks.done == 131 and .tasks.unfinished == 0)' \
    "$TEST_TMP/r.json" >/dev/null || fail "unfinished tasks"
jq -e '.lower_bound_sec as $lb | .policies | all(.makespan_sec >= $lb)' \
    "$TEST_TMP/r.json" >/dev/null || fail "a makespan under the lower bound"
jq -e '[.policies[] | {(.policy): .makespan_sec}] | add |
    .gpumgr <= .design' "$TEST_TMP/r.json" >/dev/null ||
    fail "gpumgr slower than the design"
jq -e '.policies[] | select(.policy == "design") |
    .unloads == 3 and .gpu_time_sec.script > 0 and .gpu_time_sec.boot > 0' \
    "$TEST_TMP/r.json" >/dev/null || fail "design: unloads or GPU time split"
jq -e '[.policies[] | select(.policy != "static") | .wait_sec.llm.max] |
    all(. < 60)' "$TEST_TMP/r.json" >/dev/null ||
    fail "the brain's LLM requests waited for the batch"
pass "three policies side by side"

grep -q '<svg' "$TEST_TMP/t.svg" || fail "no SVG written"
for p in static design gpumgr; do
	grep -q ">$p: makespan" "$TEST_TMP/t.svg" || fail "SVG lacks $p"
done
pass "SVG timeline"

# Text report: the same numbers in a table; same seed, same report.
gpumgr simulate "$SCEN" > "$TEST_TMP/a.txt"
grep -q "makespan (s)" "$TEST_TMP/a.txt" || fail "text report"
head -5 "$TEST_TMP/a.txt" | grep -qE 'static +design +gpumgr' ||
    fail "text report lacks the policy columns"
gpumgr simulate --json "$SCEN" | cmp -s - "$TEST_TMP/r.json" ||
    fail "same seed, different report"
gpumgr simulate --json --seed 2 --policy design "$SCEN" > "$TEST_TMP/s2.json"
expect_eq "one policy" "$(jq '.policies | length' "$TEST_TMP/s2.json")" 1
expect_eq "seed" "$(jq '.seed' "$TEST_TMP/s2.json")" 2
pass "text report and determinism"

echo '{"gpus": [{"count": 1}], "tasks": [{"class": "script", "script": "x", "service_sec": 1}]}' \
    > "$TEST_TMP/bad.json"
rc=0
gpumgr simulate "$TEST_TMP/bad.json" 2> "$TEST_TMP/err" || rc=$?
expect_eq "exit code" "$rc" 4
grep -q 'tasks\[0\].script' "$TEST_TMP/err" || fail "error does not name the field"
rc=0
gpumgr simulate --policy fifo "$SCEN" 2>/dev/null || rc=$?
expect_eq "bad --policy" "$rc" 2
pass "bad input refused"
