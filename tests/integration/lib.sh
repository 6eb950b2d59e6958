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
# deadline passes (then fails the test).
wait_for() {
  local secs=$1; shift
  local deadline=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
  until "$@"; do
    (( $(date +%s%N) / 1000000 < deadline )) || fail "timed out after ${secs}s waiting for: $*"
    sleep 0.02
  done
}

# expect_eq WHAT GOT WANT
expect_eq() { [[ "$2" == "$3" ]] || fail "$1: got '$2', want '$3'"; }
