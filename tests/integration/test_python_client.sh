#!/usr/bin/env bash
# The Python client (python/gpumgr.py): installed with pip into a venv (no
# network: --no-index, the system's setuptools), then its unittest suite
# runs against a real daemon on 2 simulated GPUs with a fake LLM server,
# over the unix socket and over TCP.
. "$(dirname "$0")/lib.sh"

SRC=${GPUMGR_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}
port=$(free_ports 3)
echo "base_port: $port"
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0, \"api\": {\"port\": $((port + 2))},
  \"scripts\": {\"record\": {\"argv\": [\"$SCRIPTS_DIR/record.sh\", \"$TEST_TMP/ledger\", \"{ms}\", \"{code}\"]}},
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.1\",
                          \"--load-sec\", \"0.1\", \"--tokens-per-sec\", \"200\", \"--models\", \"m1\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}},
    \"base_port\": $port}, \"rescan_interval_ms\": 200}"
stop_llm_servers_on_exit
start_daemon --sim 2x24GB
wait_for 20 test -S "$GPUMGR_ROOT/api.sock"

# pip install from the repository, offline (a copy: pip builds in place),
# with Debian's python3 (its setuptools and wheel; scripts/install-deps.sh).
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
cp -r "$SRC/python" "$TEST_TMP/python"
rm -rf "$TEST_TMP/python/build" "$TEST_TMP/python/"*.egg-info
"$PY" -m venv --system-site-packages "$TEST_TMP/venv"
"$TEST_TMP/venv/bin/python" -m pip install -q --no-index --no-build-isolation \
  "$TEST_TMP/python" >"$TEST_TMP/pip.log" 2>&1 || { cat "$TEST_TMP/pip.log"; fail "pip install ./python"; }
where=$(cd "$TEST_TMP" && "$TEST_TMP/venv/bin/python" -c 'import gpumgr; print(gpumgr.__file__)')
[[ $where == "$TEST_TMP/venv/"* ]] || fail "gpumgr imported from $where, not the venv"
pass "pip installed the client into a venv ($where)"

# The TCP port is used when the daemon got it (another test may hold it).
if grep -q "listening on 127.0.0.1:$((port + 2))" "$TEST_TMP/daemon.log"; then
  export GPUMGR_API_PORT=$((port + 2))
fi
(cd "$TEST_TMP" && "$TEST_TMP/venv/bin/python" -m unittest discover -v -s "$SRC/python/tests" -t "$SRC/python/tests") ||
  fail "the Python client's tests"
pass "Python client tests passed"
