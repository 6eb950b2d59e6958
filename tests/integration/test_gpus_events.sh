#!/usr/bin/env bash
# NVML events in the daemon, through the fake library: a critical Xid (79)
# takes its GPU offline with health "xid:79", a double-bit ECC event with
# "ecc"; application-error Xids (13, 31, 43) leave their GPU idle, and work
# runs there only. NVML's process list makes foreign_vram_mb.
. "$(dirname "$0")/lib.sh"

[[ -n "${GPUMGR_FAKE_NVML:-}" ]] || { echo "skip: no fake NVML library"; exit 0; }
export GPUMGR_NVML_LIB=$GPUMGR_FAKE_NVML
export GPUMGR_FAKE_NVML_SCRIPT=$TEST_TMP/nvml.json
cat >"$GPUMGR_FAKE_NVML_SCRIPT" <<'EOF2'
{"gpus": [
  {"uuid": "GPU-e0000000-0000-0000-0000-000000000000", "name": "Fake A",
   "total_mb": 24576, "used_mb": 3000, "free_mb": 21576, "cc": [8, 6],
   "processes": [{"pid": 4242, "used_mb": 3000}]},
  {"uuid": "GPU-e1111111-0000-0000-0000-000000000000", "name": "Fake B",
   "total_mb": 24576, "used_mb": 0, "free_mb": 24576, "cc": [8, 6]},
  {"uuid": "GPU-e2222222-0000-0000-0000-000000000000", "name": "Fake C",
   "total_mb": 24576, "used_mb": 0, "free_mb": 24576, "cc": [8, 6]}],
 "events": [{"gpu": 0, "type": "xid", "data": 13},
            {"gpu": 0, "type": "xid", "data": 31},
            {"gpu": 0, "type": "xid", "data": 43},
            {"gpu": 1, "type": "xid", "data": 79},
            {"gpu": 2, "type": "ecc"}]}
EOF2
ledger=$TEST_TMP/ledger
api_port=$(free_ports 1)	# not the default port other tests may use
write_config "{\"gpu_backend\": \"nvml\", \"cooling_sec\": 0, \"rescan_interval_ms\": 200,
  \"api\": {\"port\": $api_port},
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$ledger\", \"{ms}\"]}}}"

start_daemon
events_seen() { state_is 1 health "xid:79" && state_is 2 health ecc; }
wait_for 10 events_seen
expect_eq "gpu1 state" "$(state_field 1 state)" "offline"
expect_eq "gpu2 state" "$(state_field 2 state)" "offline"
expect_eq "gpu0 health" "$(state_field 0 health)" "ok"
expect_eq "gpu0 state" "$(state_field 0 state)" "idle"
pass "critical Xid and ECC events take their GPUs offline; application Xids do not"

expect_eq "gpu0 foreign" "$(state_field 0 foreign_vram_mb)" "3000"
expect_eq "gpu0 foreign pids" "$(state_field 0 foreign_pids)" "[4242]"
expect_eq "gpu1 foreign" "$(state_field 1 foreign_vram_mb)" "0"
pass "NVML's process list gives foreign VRAM"

for i in 1 2 3; do gpumgr submit --script record --arg ms=20 --id "t$i" >/dev/null; done
wait_for 30 files_at_least complete 3
# still offline a few rescans later: the event's health sticks
expect_eq "gpu1 health later" "$(state_field 1 health)" "xid:79"
stop_daemon
while read -r kind tid dev t; do
  expect_eq "$tid ran on" "$dev" "GPU-e0000000-0000-0000-0000-000000000000"
done <"$ledger"
pass "work runs on the healthy GPU only"
