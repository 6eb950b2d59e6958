#!/usr/bin/env bash
# The API's own HTTP handling (docs/api.md, "Connections"): malformed
# requests, sizes, methods, chunked bodies and Expect are answered with the
# JSON error shape, never libevent's HTML; pipelining and 100-continue work;
# slow requests get 408 after api.request_timeout_sec and idle connections
# are closed after api.idle_timeout_sec (both 2 s here).
. "$(dirname "$0")/lib.sh"

port=$(free_ports 1)
write_config "{\"gpu_backend\": \"sim\",
  \"api\": {\"port\": $port, \"idle_timeout_sec\": 2, \"request_timeout_sec\": 2}}"
start_daemon --sim 1x24GB
python3 "$SCRIPTS_DIR/http_edge.py" "$port" 2 "$(cat "$GPUMGR_ROOT/api.token")" || fail "HTTP edge cases (above)"
kill -0 "$DAEMON_PID" || fail "the daemon died"
grep -qi "<html" "$TEST_TMP/daemon.log" && fail "HTML in the log"
pass "HTTP edge cases answered in JSON"
