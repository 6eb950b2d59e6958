#!/usr/bin/env bash
# A daemon stopped (SIGTERM) while scripts run leaves them running, exits
# cleanly (no sanitizer report: its shutdown once unwatched the runs' folders
# through a freed inotify watcher), and the next daemon re-adopts and
# finishes them. The scripts wait for a flag file, so they are surely
# running across the stop, whatever the machine's speed.
. "$(dirname "$0")/lib.sh"

flag=$TEST_TMP/flag
ledger=$TEST_TMP/ledger
: >"$ledger"
# A free API port: another daemon on this machine holding the default one
# must not matter.
port=$(free_ports 1)
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0, \"api\": {\"port\": $port},
  \"scripts\": {\"hold\": {\"argv\": [\"bash\", \"-c\",
    \"echo start \$GPUMGR_TASK_ID >>$ledger; until [ -e $flag ]; do sleep 0.05; done; echo end \$GPUMGR_TASK_ID >>$ledger\"]}}}"

start_daemon --sim 2x24GB
for i in 1 2; do
  "$GPUMGR_BIN" submit --script hold --id "s$i" >/dev/null
done
started_both() { (( $(grep -c '^start ' "$ledger") == 2 )); }
wait_for 20 started_both
stop_daemon
grep -q 'stopped; 2 run(s) left running' "$TEST_TMP/daemon.log" ||
  fail "the daemon did not leave its 2 runs running: $(tail -5 "$TEST_TMP/daemon.log")"
! grep -E "runtime error|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$TEST_TMP/daemon.log" ||
  fail "sanitizer report in the stopped daemon's log"
expect_eq "nothing finished while no daemon ran" "$(grep -c '^end ' "$ledger" || true)" 0

start_daemon --sim 2x24GB
touch "$flag"
both_complete() { files_at_least complete 2; }
wait_for 20 both_complete
expect_eq "each script ran once" "$(sort "$ledger" | uniq -d | wc -l)" 0
expect_eq "ledger lines" "$(wc -l <"$ledger")" 4
stop_daemon
! grep -E "runtime error|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$TEST_TMP/daemon.log" ||
  fail "sanitizer report in the daemon log"
pass "a stopped daemon leaves its runs to the next one, cleanly"
