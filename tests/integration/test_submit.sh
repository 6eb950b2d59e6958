#!/usr/bin/env bash
# The spool-side commands as a user runs them: submit (LLM, script, --file,
# --json), every kind of malformed task file refused by `submit --file` with
# exit 4 and the exact message, a broken config refused with exit 4, ids
# unique, ls with filters, show, cancel and their exit codes.
. "$(dirname "$0")/lib.sh"

# run CMD...: sets OUT, ERR and RC without tripping `set -e`.
run() {
  RC=0
  "$@" >"$TEST_TMP/out" 2>"$TEST_TMP/err" || RC=$?
  OUT=$(cat "$TEST_TMP/out")
  ERR=$(cat "$TEST_TMP/err")
}

# Before anything is submitted there is no ROOT layout: ls is empty,
# show and cancel find nothing.
rmdir "$GPUMGR_ROOT"
run gpumgr ls --json
expect_eq "ls on a missing ROOT" "$RC $OUT" "0 []"
run gpumgr show nothing
expect_eq "show on a missing ROOT" "$RC" 3

mkdir -p "$GPUMGR_ROOT"
cat >"$GPUMGR_ROOT/config.json" <<'EOF'
{
  "llm": {"default_model": "qwen2.5:7b"},
  "tasks": {"default_timeout_sec": 900, "default_max_retries": 1},
  "scripts": {
    "whisper_transcribe": {"argv": ["/bin/echo", "{input}"], "timeout_sec": 300},
    "embed": {"argv": ["/bin/echo", "{text}"]}
  }
}
EOF

# An LLM task: the id is printed, the file is in its queue, defaults filled.
run gpumgr submit --priority 4 --vram 6G --cc 8.0 --type generate \
  Summarise the report
expect_eq "submit exit" "$RC" 0
id=$OUT
[[ $id =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] ||
  fail "submit printed '$id', not a UUID"
f="$GPUMGR_ROOT/tasks/llm_queue/priority_4/$id.json"
[[ -f $f ]] || fail "no $f"
got=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))
print(t["task_class"], t["prompt"], t["model"], t["priority"], t["status"],
      t["requires"]["vram_mb"], t["requires"]["compute_capability"],
      t["task_type"], t["timeout_sec"], t["max_retries"], t["gpu_requirement"],
      t["attempts"], t["created_at"][-1])' "$f")
expect_eq "stored LLM task" "$got" \
  "llm Summarise the report qwen2.5:7b 4 queued 6144 8.0 generate 900 1 any 0 Z"
pass "LLM submit"

# A script task, with --json printing the stored task.
run gpumgr submit --script whisper_transcribe --arg input=/data/a.wav \
  --arg lang=en --gpu none --id job-7 --json
expect_eq "script submit exit" "$RC" 0
got=$(python3 -c 'import json,sys; t=json.load(sys.stdin)
print(t["task_id"], t["task_class"], t["script"], t["script_args"]["input"],
      t["script_args"]["lang"], t["gpu_requirement"], t["timeout_sec"], t["priority"])' <<<"$OUT")
expect_eq "stored script task" "$got" "job-7 script whisper_transcribe /data/a.wav en none 300 3"
[[ -f $GPUMGR_ROOT/tasks/script_queue/priority_3/job-7.json ]] || fail "job-7 not queued"
pass "script submit"

# The same id again: refused, exit 5, nothing written.
run gpumgr submit --id job-7 --priority 5 "again"
expect_eq "duplicate id" "$RC $ERR" \
  "5 gpumgr submit: task job-7 already exists (in tasks/script_queue/priority_3)"
[[ ! -e $GPUMGR_ROOT/tasks/llm_queue/priority_5/job-7.json ]] || fail "duplicate written"

# Options checked by the schema, and usage errors.
run gpumgr submit --script rm_rf --arg x=1
expect_eq "unknown script" "$RC $ERR" "4 gpumgr submit: script: \
expected a script registered in config.json (whisper_transcribe, embed), got \"rm_rf\""
run gpumgr submit --script whisper_transcribe --arg lang=en
expect_eq "missing script argument" "$RC $ERR" "4 gpumgr submit: script_args: \
expected the arguments the script's argv uses (script whisper_transcribe: \
argv[1] \"{input}\": missing argument \"input\" in script_args), got an object"
run gpumgr submit --priority 9 "x"
expect_eq "priority 9" "$RC $ERR" \
  "4 gpumgr submit: priority: expected an integer 1-5, got 9"
run gpumgr submit --priority high "x"
expect_eq "priority not a number" "$RC" 2
run gpumgr submit
expect_eq "no prompt" "$RC" 2
run gpumgr submit --file /nonexistent/task.json
expect_eq "missing file" "$RC" 1
pass "submit option errors"

# Every kind of malformed file: exit 4 and the exact message.
cases=(
  'trailing comma|{\n  "prompt": "hi",\n}|task file (line 3, column 1): expected valid JSON, got an error: string or '"'}'"' expected near '"'}'"''
  'array|[{"prompt": "hi"}]|task file (line 1, column 1): expected a JSON object, got an array'
  'empty||task file (line 1, column 0): expected valid JSON, got an error: '"'['"' or '"'{'"' expected near end of file'
  'NUL byte|{"prompt": "a\0b"}|task file (line 1, column 14): expected text, got a NUL byte'
  'invalid UTF-8|{\n "prompt": "caf\xe9"\n}|task file (line 2, column 16): expected UTF-8 text, got the byte 0xe9'
  'duplicate key|{\n  "prompt": "a",\n  "prompt": "b"\n}|prompt (line 3, column 3): expected each key once, got a duplicate'
  'task_id ../|{"task_id": "../etc", "prompt": "x"}|task_id (line 1, column 13): expected a string of 1-128 characters from A-Z a-z 0-9 . _ - not starting with '"'.'"', got "../etc"'
  'task_id /|{"task_id": "a/b", "prompt": "x"}|task_id (line 1, column 13): expected a string of 1-128 characters from A-Z a-z 0-9 . _ - not starting with '"'.'"', got "a/b"'
  'unknown class|{"task_class": "gpu", "prompt": "x"}|task_class (line 1, column 16): expected "llm" or "script", got "gpu"'
  'wrong type|{"prompt": "x", "task_type": "transcribe"}|task_type (line 1, column 30): expected one of parse, transform, generate, execute, decide (llm tasks), got "transcribe"'
  'priority 9|{\n  "prompt": "hi",\n  "priority": 9\n}|priority (line 3, column 15): expected an integer 1-5, got 9'
  'priority string|{"prompt": "hi", "priority": "3"}|priority (line 1, column 30): expected an integer 1-5, got "3"'
  'no prompt|{\n  "model": "m"\n}|prompt (line 1, column 1): expected a non-empty string (the LLM task'"'"'s prompt), got nothing'
  'unknown script|{"script": "rm_rf"}|script (line 1, column 12): expected a script registered in config.json (whisper_transcribe, embed), got "rm_rf"'
  'missing argument|{"script": "embed",\n "script_args": {}}|script_args (line 2, column 17): expected the arguments the script'"'"'s argv uses (script embed: argv[1] "{text}": missing argument "text" in script_args), got an object'
  'script_args array|{"script": "embed", "script_args": [1]}|script_args (line 1, column 36): expected an object of argument names to values, got an array'
  'gpu_requirement|{"prompt": "x", "gpu_requirement": "fast"}|gpu_requirement (line 1, column 36): expected "any", "none", a GPU index or a GPU UUID ("GPU-..."), got "fast"'
  'requires|{"prompt": "x", "requires": 6144}|requires (line 1, column 29): expected an object such as {"vram_mb": 6144, "compute_capability": "8.0"}, got 6144'
  'vram_mb|{"prompt": "x", "requires": {"vram_mb": -1}}|requires.vram_mb (line 1, column 41): expected a positive integer (MiB), got -1'
  'compute_capability|{"prompt": "x", "requires": {"compute_capability": "8"}}|requires.compute_capability (line 1, column 52): expected a string "X.Y" such as "8.0", got "8"'
  'timeout|{"prompt": "x", "timeout_sec": -5}|timeout_sec (line 1, column 32): expected a positive integer (seconds), got -5'
  'retries|{"prompt": "x", "max_retries": "2"}|max_retries (line 1, column 32): expected an integer 0-1000, got "2"'
  'status|{"prompt": "x", "status": "done"}|status (line 1, column 27): expected one of queued, assigned, running, complete, failed, got "done"'
  'created_at|{"prompt": "x", "created_at": "yesterday"}|created_at (line 1, column 31): expected an ISO 8601 UTC time such as "2025-02-05T10:30:00Z", got "yesterday"'
)
n=0
for c in "${cases[@]}"; do
  IFS='|' read -r what text want <<<"$c"
  printf "$text" >"$TEST_TMP/bad.json"
  run gpumgr submit --file "$TEST_TMP/bad.json"
  expect_eq "$what" "$RC $ERR" "4 gpumgr submit: $TEST_TMP/bad.json: $want"
  n=$((n + 1))
done
# Too large.
python3 -c 'import sys; sys.stdout.write("{\"prompt\": \"" + "x" * 1048576 + "\"}")' >"$TEST_TMP/big.json"
run gpumgr submit --file "$TEST_TMP/big.json"
expect_eq "too large" "$RC $ERR" \
  "4 gpumgr submit: $TEST_TMP/big.json: task file: expected at most 1048576 bytes, got 1048577"
pass "$((n + 1)) kinds of malformed file refused with exit 4 and the exact message"
left=$(find "$GPUMGR_ROOT/tasks" -name '*.json' | wc -l)
expect_eq "files after the refusals" "$left" 2

# --file as it is: unknown fields kept, written durably under its id.
printf '{"task_id": "from-file", "prompt": "p", "priority": 2, "my_field": {"k": [1]}}' >"$TEST_TMP/ok.json"
run gpumgr submit --file "$TEST_TMP/ok.json"
expect_eq "--file" "$RC $OUT" "0 from-file"
run gpumgr show from-file
expect_eq "show exit" "$RC" 0
got=$(python3 -c 'import json,sys; t=json.load(sys.stdin); print(t["my_field"], t["priority"], t["model"])' <<<"$OUT")
expect_eq "show from-file" "$got" "{'k': [1]} 2 qwen2.5:7b"
pass "--file and show"

# ls: table and JSON, filters.
run gpumgr ls
expect_eq "ls exit" "$RC" 0
expect_eq "ls rows" "$(wc -l <<<"$OUT")" 4
grep -Eq "^job-7 +script +queued +3 +none +[0-9T:-]+Z +whisper_transcribe$" <<<"$OUT" || fail "ls row for job-7: $OUT"
grep -Eq "^$id +llm +queued +4 +any +[0-9T:-]+Z +Summarise the report$" <<<"$OUT" || fail "ls row for $id: $OUT"
run gpumgr ls --class script --json
expect_eq "ls --class script" "$(python3 -c 'import json,sys; print([t["task_id"] for t in json.load(sys.stdin)])' <<<"$OUT")" "['job-7']"
run gpumgr ls --status running
expect_eq "ls --status running" "$(wc -l <<<"$OUT")" 1
run gpumgr ls --status bogus
expect_eq "ls --status bogus" "$RC" 2

# cancel: a queued task goes to failed/ with code "cancelled".
run gpumgr cancel job-7
expect_eq "cancel" "$RC $OUT" "0 cancelled job-7"
[[ ! -e $GPUMGR_ROOT/tasks/script_queue/priority_3/job-7.json ]] || fail "job-7 still queued"
got=$(python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); print(t["status"], t["error"]["code"], t["completed_at"][-1])' \
  "$GPUMGR_ROOT/tasks/failed/job-7.json")
expect_eq "cancelled task" "$got" "failed cancelled Z"
run gpumgr ls --status failed --json
expect_eq "ls --status failed" "$(python3 -c 'import json,sys; print([t["task_id"] for t in json.load(sys.stdin)])' <<<"$OUT")" "['job-7']"
run gpumgr cancel job-7
expect_eq "cancel a finished task" "$RC $ERR" "5 gpumgr cancel: job-7: task already finished (failed)"
mv "$f" "$GPUMGR_ROOT/tasks/processing/"
run gpumgr cancel "$id"
expect_eq "cancel a claimed task not yet started" "$RC $ERR" \
  "5 gpumgr cancel: $id: task is in processing/ but has no run folder yet (just claimed, or an LLM request): try again"
run gpumgr cancel nope
expect_eq "cancel unknown" "$RC" 3
run gpumgr show nope
expect_eq "show unknown" "$RC $ERR" "3 gpumgr show: no task 'nope'"
run gpumgr show ../etc
expect_eq "show bad id" "$RC" 3
pass "ls, show, cancel"

# A broken config: exit 4 with the config's message, nothing written.
echo '{"tasks": {"default_timeout_sec": "soon"}}' >"$GPUMGR_ROOT/config.json"
run gpumgr submit "x"
expect_eq "config error exit" "$RC" 4
[[ $ERR == "gpumgr submit: "*default_timeout_sec* ]] || fail "config error message: $ERR"
expect_eq "files after the config error" "$(find "$GPUMGR_ROOT/tasks" -name '*.json' | wc -l)" 3
pass "config error"
