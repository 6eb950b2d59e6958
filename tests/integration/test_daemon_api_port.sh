#!/usr/bin/env bash
# A daemon whose TCP API port is taken (by another daemon on the machine,
# say) still serves its local socket, which the CLI and the tests use, and
# says loudly that TCP is not served.
. "$(dirname "$0")/lib.sh"

port=$(free_ports 1)
python3 - "$port" "$TEST_TMP/held" <<'PY' &
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
open(sys.argv[2], "w").close()
time.sleep(120)
PY
STARTED_PIDS+=("$!")
held() { [[ -e $TEST_TMP/held ]]; }
wait_for 10 held

write_config "{\"gpu_backend\": \"sim\", \"api\": {\"port\": $port}}"
start_daemon --sim 2x24GB
grep -q "HTTP API not served over TCP: .*$port.*the local socket only" "$TEST_TMP/daemon.log" ||
  fail "no warning about the taken port: $(head -5 "$TEST_TMP/daemon.log")"
body=$(curl -sS --max-time 10 --unix-socket "$GPUMGR_ROOT/api.sock" http://localhost/v1/gpus)
count=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(len(d["gpus"] if isinstance(d, dict) else d))' <<<"$body")
expect_eq "GPUs over the local socket" "$count" 2
stop_daemon
! grep -E "runtime error|ERROR: AddressSanitizer|ERROR: LeakSanitizer" "$TEST_TMP/daemon.log" ||
  fail "sanitizer report in the daemon log"
pass "a taken TCP port leaves the local API socket served"
