# Helpers for the black-box tests: a private ROOT, polling with a deadline,
# the random seed printed and replayable, cleanup of what the test started.
# Source it: . "$(dirname "$0")/lib.sh"
set -euo pipefail

: "${GPUMGR_BIN:?GPUMGR_BIN must name the gpumgr binary (ctest sets it)}"
GPUMGR_FIXTURES=${GPUMGR_FIXTURES:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures" && pwd)}
SEED=${GPUMGR_TEST_SEED:-$(( (RANDOM << 15) | RANDOM ))}
RANDOM=$SEED
echo "seed: $SEED (replay with GPUMGR_TEST_SEED=$SEED)"

TEST_TMP=$(mktemp -d "${TMPDIR:-/tmp}/gpumgr-test.XXXXXX")
export GPUMGR_ROOT="$TEST_TMP/root"
mkdir -p "$GPUMGR_ROOT"
STARTED_PIDS=()

# Debian's python3 itself, when there is one: a version manager's shim
# (pyenv's is first in PATH on some machines) runs a chain of bash processes
# per call, which costs seconds per call on a loaded machine.
if [[ -x /usr/bin/python3 ]]; then
  mkdir -p "$TEST_TMP/bin"
  ln -sf /usr/bin/python3 "$TEST_TMP/bin/python3"
  PATH="$TEST_TMP/bin:$PATH"
fi

cleanup() {
  local rc=$? pid
  for pid in "${STARTED_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -eq 0 ]]; then rm -rf "$TEST_TMP"; else echo "kept $TEST_TMP for inspection"; fi
  exit $rc
}
trap cleanup EXIT

gpumgr() { "$GPUMGR_BIN" "$@"; }

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# wait_for SECONDS CMD...: polls CMD every 20 ms until it succeeds or the
# deadline passes (then fails the test). The deadline is at least
# GPUMGR_TEST_MIN_WAIT seconds (default 60): it only bounds how long a
# broken test hangs, and a loaded 2-core machine makes a 5 s wait a coin
# toss (python3 alone takes 2 s to start there). A test that asserts an
# upper bound on a delay measures it itself.
wait_for() {
  local secs=$1; shift
  (( secs >= ${GPUMGR_TEST_MIN_WAIT:-60} )) || secs=${GPUMGR_TEST_MIN_WAIT:-60}
  local deadline=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
  until "$@"; do
    (( $(date +%s%N) / 1000000 < deadline )) || fail "timed out after ${secs}s waiting for: $*"
    sleep 0.02
  done
}

# expect_eq WHAT GOT WANT
expect_eq() { [[ "$2" == "$3" ]] || fail "$1: got '$2', want '$3'"; }

SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/scripts" && pwd)

# write_config JSON: writes ROOT/config.json.
write_config() { printf '%s\n' "$1" >"$GPUMGR_ROOT/config.json"; }

# start_daemon [ARGS...]: starts `gpumgr daemon` in the background, logging
# to $TEST_TMP/daemon.log, and waits until it has written gpu_state.json.
DAEMON_PID=
start_daemon() {
  rm -f "$GPUMGR_ROOT/gpu_state.json.ready"
  "$GPUMGR_BIN" daemon "$@" >>"$TEST_TMP/daemon.log" 2>&1 &
  DAEMON_PID=$!
  STARTED_PIDS+=("$DAEMON_PID")
  wait_for 20 daemon_wrote_state "$DAEMON_PID"
}
daemon_wrote_state() {
  kill -0 "$1" 2>/dev/null || { cat "$TEST_TMP/daemon.log" >&2; fail "daemon $1 died"; }
  [[ -f $GPUMGR_ROOT/gpu_state.json ]] &&
    python3 - "$GPUMGR_ROOT/gpu_state.json" "$1" <<'PY'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
except Exception:
    sys.exit(1)
sys.exit(0 if s.get("daemon_pid") == int(sys.argv[2]) else 1)
PY
}
stop_daemon() {
  [[ -n $DAEMON_PID ]] || return 0
  kill -TERM "$DAEMON_PID" 2>/dev/null || true
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=
}

# api_auth: the header a TCP request needs (docs/security.md), from the
# token the daemon (or api-serve) made in ROOT/api.token at its start.
api_auth() { printf 'Authorization: Bearer %s' "$(cat "$GPUMGR_ROOT/api.token")"; }

# count_files STAGE: visible task files in tasks/STAGE.
count_files() { find "$GPUMGR_ROOT/tasks/$1" -maxdepth 3 -name '*.json' ! -name '.*' 2>/dev/null | wc -l; }
files_at_least() { (( $(count_files "$1") >= $2 )); }

# live_supervisors: pids of supervisors still holding a run folder's lock.
no_live_runs() {
  local d
  for d in "$GPUMGR_ROOT"/run/tasks/*/; do
    [[ -d $d ]] || continue
    flock -n "$d/lock" true 2>/dev/null || return 1
  done
  return 0
}

# LLM tests: the servers the daemon started outlive it (by design), so a test
# stops them itself, by the pids the state files list.
stop_llm_servers() {
  local f pid
  for f in "$GPUMGR_ROOT"/run/llm/llm-*.json; do
    [[ -f $f ]] || continue
    pid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$f" 2>/dev/null) || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
}
# stop_llm_servers_on_exit: on exit, stop the daemon, then its LLM servers.
stop_llm_servers_on_exit() {
  trap 'rc=$?; set +e; stop_daemon; stop_llm_servers; (exit "$rc"); cleanup' EXIT
}
# state_field KEY | state_field GPU FIELD: from gpu_state.json.
state_field() {
  python3 - "$GPUMGR_ROOT/gpu_state.json" "$@" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(s.get(sys.argv[2]) if len(sys.argv) == 3 else s["gpus"][sys.argv[2]].get(sys.argv[3]))
PY
}
# state_is KEY VALUE | state_is GPU FIELD VALUE
state_is() { [[ $(state_field "${@:1:$#-1}") == "${!#}" ]]; }
# free_ports N: a base port B such that B..B+N-1 are free now, below the
# kernel's ephemeral range (32768+), where outgoing connections would
# collide with a server's port.
free_ports() {
  python3 - "$1" "$SEED" <<'PY'
import random, socket, sys
n, rng = int(sys.argv[1]), random.Random(int(sys.argv[2]))
for _ in range(200):
    base = rng.randrange(20000, 32000 - n)
    try:
        socks = []
        for p in range(base, base + n):
            s = socket.socket(); socks.append(s)
            s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        for s in socks: s.close()
    print(base); sys.exit(0)
sys.exit("no free ports")
PY
}
