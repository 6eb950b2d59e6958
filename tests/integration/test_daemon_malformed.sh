#!/usr/bin/env bash
# Malformed task files dropped into the queues of a running daemon each end
# in failed/ with a precise error (and the original bytes kept where they
# could not be parsed), files that vanish or change while being read do no
# harm, and the daemon keeps working throughout.
. "$(dirname "$0")/lib.sh"

ledger=$TEST_TMP/ledger
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}}}"
start_daemon --sim 2x24GB

q=$GPUMGR_ROOT/tasks/script_queue/priority_3
lq=$GPUMGR_ROOT/tasks/llm_queue/priority_3
drop() {  # DIR NAME CONTENT: the submit recipe, dot-name then rename
  printf '%s' "$3" >"$1/.$2"
  mv "$1/.$2" "$1/$2"
}
# name | folder | content | text the error must contain
cases=(
  "bad-json|$q|{\"script\": \"record\",|line 1"
  "not-object|$q|[1, 2, 3]|object"
  "prio-range|$q|{\"script\": \"record\", \"script_args\": {\"ms\": 1}, \"priority\": 9}|priority"
  "prio-type|$q|{\"script\": \"record\", \"script_args\": {\"ms\": 1}, \"priority\": \"high\"}|priority"
  "no-script|$q|{\"script_args\": {}}|script"
  "unknown-script|$q|{\"script\": \"rm-rf\"}|rm-rf"
  "args-type|$q|{\"script\": \"record\", \"script_args\": [1]}|script_args"
  "id-mismatch|$q|{\"task_id\": \"other\", \"script\": \"record\", \"script_args\": {\"ms\": 1}}|task_id"
  "bad-class|$q|{\"task_class\": \"gpu\", \"script\": \"record\"}|task_class"
  "bad-gpu|$q|{\"script\": \"record\", \"script_args\": {\"ms\": 1}, \"gpu_requirement\": \"../0\"}|gpu_requirement"
  "bad-vram|$q|{\"script\": \"record\", \"script_args\": {\"ms\": 1}, \"requires\": {\"vram_mb\": -5}}|vram_mb"
  "no-prompt|$lq|{\"model\": \"qwen2.5:7b\"}|prompt"
  "prompt-type|$lq|{\"prompt\": 42}|prompt"
  "dup-key|$q|{\"script\": \"record\", \"script\": \"record\"}|duplicate"
  "missing-arg|$q|{\"script\": \"record\"}|ms"
  "empty|$q||"
)
for c in "${cases[@]}"; do
  IFS='|' read -r name dir content want <<<"$c"
  drop "$dir" "$name.json" "$content"
done
# NUL bytes and a huge file.
printf '{"script": "rec\0ord"}' >"$q/.nul" && mv "$q/.nul" "$q/nul.json"
head -c 3000000 /dev/zero | tr '\0' ' ' >"$q/.huge" && mv "$q/.huge" "$q/huge.json"
# Files that vanish or change while being read.
for i in $(seq 1 20); do
  drop "$q" "vanish$i.json" '{"script": "record", "script_args": {"ms": 1}}'
  rm -f "$q/vanish$i.json"
done
for i in $(seq 1 5); do
  printf '{"script": "record", "script_args": {"ms": 1}}' >"$q/changing$i.json"
  printf '{"script": "rec' >"$q/changing$i.json"
  printf '{"script": "record", "script_args": {"ms": 1}}' >"$q/changing$i.json"
done
# A good task after all of it still runs.
drop "$q" good.json '{"script": "record", "script_args": {"ms": 1}}'
wait_for 20 test -f "$GPUMGR_ROOT/tasks/complete/good.json"
kill -0 "$DAEMON_PID" || fail "the daemon died"

for c in "${cases[@]}" "nul|||NUL" "huge|||at most 1048576 bytes"; do
  IFS='|' read -r name dir content want <<<"$c"
  f=$GPUMGR_ROOT/tasks/failed/$name.json
  wait_for 10 test -f "$f"
  msg=$(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; print(e["code"], e["message"])' "$f")
  [[ -z $want || $msg == *"$want"* ]] || fail "$name: error '$msg' does not mention '$want'"
  pass "$name -> failed/: $msg"
done
[[ -f $GPUMGR_ROOT/tasks/failed/bad-json.json.orig ]] || fail "bad-json: original bytes not kept"
expect_eq "bad-json original" "$(cat "$GPUMGR_ROOT/tasks/failed/bad-json.json.orig")" '{"script": "record",'
# Changing files end either complete (read whole) or failed (read torn), never lost.
for i in $(seq 1 5); do
  wait_for 10 bash -c "[[ -f $GPUMGR_ROOT/tasks/complete/changing$i.json || -f $GPUMGR_ROOT/tasks/failed/changing$i.json ]]"
done
kill -0 "$DAEMON_PID" || fail "the daemon died"
pass "daemon alive after $(( ${#cases[@]} + 27 )) hostile files"
