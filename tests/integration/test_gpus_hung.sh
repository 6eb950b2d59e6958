#!/usr/bin/env bash
# GPUs as they really fail. `gpumgr gpus --from-file` on the hung-GPU
# captures (NVIDIA/open-gpu-kernel-modules#446: an ERR! row in the table)
# and the matching CSV and XML forms gives that GPU a fault and no ERR!
# name; a form gpumgr does not read (`nvidia-smi -q` text) is refused with
# the forms it reads. Then the daemon, on the nvidia-smi backend through a
# stand-in that prints the CSV capture once GPU 3 hangs: GPU 3 goes
# offline with the cause and keeps its name, gets no work (a task pinned to
# it waits), the others run every task, and once it reads healthy again
# (and its probation is over) the pinned task runs there. Duplicate UUIDs
# are warned about.
. "$(dirname "$0")/lib.sh"

FIX=$GPUMGR_FIXTURES/nvidia-smi
BIN=$TEST_TMP/bin
mkdir -p "$BIN"
jget() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
ERR="error: nvidia-smi shows ERR! (the GPU needs a reset)"
RESET="error: GPU requires reset"

# --- captures ---------------------------------------------------------------
check_capture() {  # FILE INDEX HEALTH
  local out
  out=$(gpumgr gpus --from-file "$FIX/$1" --json)
  expect_eq "$1: health" "$(jget "d['gpus'][$2]['health']" <<<"$out")" "$3"
  expect_eq "$1: name" "$(jget "d['gpus'][$2]['name']" <<<"$out")" "None"
  expect_eq "$1: the others" \
    "$(jget "sorted({g['health'] for i, g in enumerate(d['gpus']) if i != $2})" <<<"$out")" "['ok']"
  gpumgr gpus --from-file "$FIX/$1" | grep -q "ERR!  " && fail "$1: ERR! shown as a name"
  return 0
}
check_capture table_8gpu_a40_gpu4-ERR-gsp-timeout_drv525.txt 4 "$ERR"
check_capture table_8gpu_a30_gpu3-ERR-gsp-timeout_drv525.txt 3 "$ERR"
check_capture query-gpu_csv-noheader-nounits_8gpu_a30_gpu3-requires-reset_CONSTRUCTED.csv 3 "$RESET"
out=$(gpumgr gpus --from-file "$FIX/q-x-xml_1gpu_tesla-t4_requires-reset_CONSTRUCTED-from-drv515.xml" --json)
expect_eq "xml health" "$(jget "d['gpus'][0]['health']" <<<"$out")" "$RESET"
pass "--from-file: hung GPUs in table, CSV and XML are faults, not named ERR!"

printf '\n==============NVSMI LOG==============\n\nTimestamp                                 : Fri Mar  3 14:41:55 2023\nDriver Version                            : 525.85.12\nCUDA Version                              : 12.0\n\nAttached GPUs                             : 8\n' \
  >"$TEST_TMP/q.txt"
rc=0; err=$(gpumgr gpus --from-file "$TEST_TMP/q.txt" 2>&1) || rc=$?
expect_eq "-q rc" "$rc" "4"
[[ $err == *"this is \`nvidia-smi -q\` text, which gpumgr does not read; capture \`nvidia-smi --query-gpu=... --format=csv\`"*"\`nvidia-smi -q -x\` (XML) or \`nvidia-smi -L\`"* ]] \
  || fail "-q text: $err"
pass "--from-file: nvidia-smi -q text refused, naming the forms read"

# --- the daemon through a stand-in nvidia-smi --------------------------------
csv=$FIX/query-gpu_csv-noheader-nounits_8gpu_a30_gpu3-requires-reset_CONSTRUCTED.csv
# healthy: GPU 3 as it read before it hung
sed 's/^3, \(GPU-[^,]*\), \[GPU requires reset\], \([^,]*\), 24576, 23025, 1551, 8.0, .*/3, \1, NVIDIA A30, \2, 24576, 0, 24576, 8.0, 0, 30, Disabled/' \
  "$csv" >"$TEST_TMP/healthy.csv"
grep -q "requires reset" "$TEST_TMP/healthy.csv" && fail "healthy.csv still hung"
cat >"$BIN/nvidia-smi" <<EOF
#!/bin/sh
case "\$1" in
--query-compute-apps=*) echo 'No running processes found'; exit 0;;
esac
if [ -f "$TEST_TMP/dup" ]; then
  cat "$TEST_TMP/healthy.csv"
  echo "8, GPU-00000000-0000-0000-0000-000000000000, NVIDIA A30, 00000000:F1:00.0, 24576, 0, 24576, 8.0, 0, 24, Disabled"
elif [ -f "$TEST_TMP/hung" ]; then
  cat "$csv"
else
  cat "$TEST_TMP/healthy.csv"
fi
EOF
chmod +x "$BIN/nvidia-smi"
export GPUMGR_NVIDIA_SMI=$BIN/nvidia-smi
ledger=$TEST_TMP/ledger
write_config "{\"gpu_backend\": \"nvidia-smi\", \"cooling_sec\": 0, \"rescan_interval_ms\": 100,
  \"health\": {\"probation_ms\": 500},
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}}}"
start_daemon
wait_for 30 state_is 3 name "NVIDIA A30"
touch "$TEST_TMP/hung"
wait_for 30 state_is 3 state offline
why=$(state_field 3 offline_reason)
[[ $why == "health: $RESET; back in service once it reads healthy for 0.5 s (reset the GPU or reboot)" ]] \
  || fail "GPU 3's reason: $why"
expect_eq "name kept" "$(state_field 3 name)" "NVIDIA A30"
gpumgr gpus | grep -q "^3 .*$RESET" || fail "gpumgr gpus: $(gpumgr gpus)"
gpumgr gpus | grep -qF "GPU 3 is offline in the daemon: health: $RESET" || fail "gpumgr gpus lacks the daemon's view"
gpumgr submit --id pinned -g 3 --script record --arg ms=0 >/dev/null
for i in 1 2 3 4 5 6 7 8; do
  gpumgr submit --id "s$i" --script record --arg ms=50 >/dev/null
done
wait_for 60 files_at_least complete 8
[[ -f $GPUMGR_ROOT/tasks/complete/pinned.json ]] && fail "a task ran on the hung GPU"
grep -q "GPU-e59ce3f9" "$ledger" && fail "a task ran on the hung GPU: $(grep GPU-e59ce3f9 "$ledger")"
pass "daemon: the hung GPU is offline with its cause and gets no work"

rm "$TEST_TMP/hung"
wait_for 60 files_at_least complete 9
grep -q "^start pinned GPU-e59ce3f9-af53-a0dd-1d2c-8beaa74aa635 " "$ledger" || fail "pinned ran elsewhere"
pass "healthy again: GPU 3 takes work"

touch "$TEST_TMP/dup"
dupwarn() { grep -q "GPUs 0 and 8 report the same UUID GPU-00000000-0000-0000-0000-000000000000: gpumgr uses the first and ignores the other" "$TEST_TMP/daemon.log"; }
wait_for 30 dupwarn
gpumgr gpus 2>&1 >/dev/null | grep -q "warning: GPUs 0 and 8 report the same UUID" || fail "gpumgr gpus: no warning"
expect_eq "warned once" "$(grep -c "report the same UUID" "$TEST_TMP/daemon.log")" 1
expect_eq "GPU 0 kept" "$(state_field 0 state)" "idle"
pass "duplicate UUIDs warned about"
stop_daemon

# --- NVML: a GPU lost (GPU_IS_LOST, 15) or failing with UNKNOWN (999) -------
if [[ -n "${GPUMGR_FAKE_NVML:-}" ]]; then
  export GPUMGR_NVML_LIB=$GPUMGR_FAKE_NVML
  export GPUMGR_FAKE_NVML_SCRIPT=$TEST_TMP/nvml.json
  cat >"$GPUMGR_FAKE_NVML_SCRIPT" <<'JSON'
{"gpus": [
  {"uuid": "GPU-n0000000-0000-0000-0000-000000000000", "name": "Fake A",
   "total_mb": 24576, "used_mb": 0, "free_mb": 24576, "cc": [8, 6]},
  {"uuid": "GPU-n1111111-0000-0000-0000-000000000000", "name": "Fake B",
   "total_mb": 24576, "used_mb": 0, "free_mb": 24576, "cc": [8, 6],
   "rc": {"GetUtilizationRates": 999, "GetTemperature": 999}},
  {"uuid": "GPU-n2222222-0000-0000-0000-000000000000", "name": "Fake C",
   "total_mb": 24576, "used_mb": 0, "free_mb": 24576, "cc": [8, 6],
   "rc": {"GetMemoryInfo": 15}}]}
JSON
  rm -rf "$GPUMGR_ROOT"
  mkdir -p "$GPUMGR_ROOT"
  : >"$ledger"
  write_config "{\"gpu_backend\": \"nvml\", \"cooling_sec\": 0, \"rescan_interval_ms\": 100,
    \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}}}"
  start_daemon
  wait_for 30 state_is 1 state offline
  wait_for 30 state_is 2 state offline
  expect_eq "unknown error" "$(state_field 1 health)" "error: Unknown Error"
  expect_eq "lost" "$(state_field 2 health)" "lost"
  for i in 1 2 3 4; do
    gpumgr submit --id "n$i" --script record --arg ms=20 >/dev/null
  done
  wait_for 60 files_at_least complete 4
  expect_eq "GPUs used" "$(awk '$1 == "start" { print $3 }' "$ledger" | sort -u)" \
    "GPU-n0000000-0000-0000-0000-000000000000"
  pass "NVML: a lost GPU and one answering Unknown Error get no work"
fi
