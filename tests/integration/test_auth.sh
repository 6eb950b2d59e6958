#!/usr/bin/env bash
# Identity and permissions (docs/security.md) as an unprivileged local user
# made for the test (useradd/groupadd; removed by exact name at exit): over
# TCP without the token every request but /v1/health gets 401 in the API's
# JSON error shape; in the submit group the user submits and cancels their
# own task (CLI and unix socket) and sees only their own tasks; another
# user's task, drain, simulated-GPU edits, leases and worker registration
# get "permission denied" (exit 6 in the CLI, 403 in the API); a user
# outside the group cannot submit; files and folders carry the modes that
# enforce it; a token file others can read makes the API refuse TCP.
. "$(dirname "$0")/lib.sh"

if [[ $(id -u) != 0 ]]; then
  echo "skip: this test creates a user and a group, which needs root (CI runs as root)"
  exit 0
fi
PATH=$PATH:/usr/sbin:/sbin
for c in useradd userdel groupadd groupdel setpriv; do
  command -v "$c" >/dev/null || { echo "skip: $c is not installed"; exit 0; }
done

# Names unique to this run; removed by exactly these names at exit.
tag=$(printf '%05d' $(( SEED % 100000 )))
G=gmsub$tag          # the submit group
U=gmusr$tag          # a user in it
N=gmout$tag          # a user outside it
made_group= made_users=()
remove_made() {
  local u
  for u in "${made_users[@]}"; do userdel "$u" 2>/dev/null || true; done
  [[ -n $made_group ]] && groupdel "$made_group" 2>/dev/null || true
}
# On any exit: the long tasks are cancelled (their supervisors stop them
# whether or not the daemon runs), the daemon stopped, the users removed.
cancel_left() { local id; for id in mine-1 mine-2 roots-1; do "$GPUMGR_BIN" cancel "$id" >/dev/null 2>&1; done; }
trap 'rc=$?; set +e; cancel_left; stop_daemon; remove_made; (exit "$rc"); cleanup' EXIT
groupadd "$G" && made_group=$G
useradd -M -N -g "$G" -s /usr/sbin/nologin "$U" && made_users+=("$U")
useradd -M -N -g nogroup -s /usr/sbin/nologin "$N" && made_users+=("$N")
echo "made group $G, users $U (in it) and $N (not)"

# The user must reach ROOT and the binary.
chmod 0755 "$TEST_TMP"
mkdir -p "$TEST_TMP/bin"
cp "$GPUMGR_BIN" "$TEST_TMP/bin/gpumgr"
chmod 0755 "$TEST_TMP/bin" "$TEST_TMP/bin/gpumgr"
BIN=$TEST_TMP/bin/gpumgr
mkdir -p "$TEST_TMP/out" && chmod 1777 "$TEST_TMP/out"   # replies, by user
as() { local who=$1; shift; setpriv --reuid="$who" --regid="$(id -g "$who")" --init-groups -- "$@"; }
# gm_as USER ARGS...: gpumgr as USER; sets RC and OUT (stdout+stderr).
gm_as() { local who=$1; shift; OUT=$(as "$who" "$BIN" --root "$GPUMGR_ROOT" "$@" 2>&1) && RC=0 || RC=$?; }

port=$(free_ports 1)
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0, \"rescan_interval_ms\": 200,
  \"api\": {\"port\": $port}, \"access\": {\"submit_group\": \"$G\"},
  \"scripts\": {\"nap\": {\"argv\": [\"/bin/sleep\", \"{s}\"]},
                \"say\": {\"argv\": [\"/bin/echo\", \"{w}\"]}}}"
start_daemon --sim 3x24GB
B=http://127.0.0.1:$port
SOCK=$GPUMGR_ROOT/api.sock

# http USER METHOD URL [BODY] [curl args...]: sets CODE and BODY, as USER.
http() {
  local who=$1 m=$2 url=$3 data=${4:-}; shift 4 2>/dev/null || shift $#
  local args=(-s -o "$TEST_TMP/out/body.$who" -w '%{http_code}' -X "$m")
  [[ -n $data ]] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
  CODE=$(as "$who" curl "${args[@]}" "$@" "$url") || CODE=000
  BODY=$(cat "$TEST_TMP/out/body.$who" 2>/dev/null || true)
}
# Replies to check in one go (python starts slowly on a busy machine):
# shapes_are CODE FILE: every line of FILE ("what<TAB>body") is an error in
# the documented shape (docs/api.md) with that error code and a message.
shapes_are() {
  python3 - "$1" "$2" <<'PY'
import json, sys
for line in open(sys.argv[2]):
    what, body = line.rstrip("\n").split("\t", 1)
    try:
        e = json.loads(body)["error"]
        assert e["code"] == sys.argv[1] and e["message"], e
    except Exception as x:
        sys.exit("%s: not a %s error in the JSON shape: %r (%s)" % (what, sys.argv[1], body, x))
PY
}
err_code() { python3 -c 'import json,sys; e=json.loads(sys.argv[1])["error"]; assert e["message"]; print(e["code"])' "$BODY"; }

# --- the token file and the modes
expect_eq "token mode" "$(stat -c '%a %U' "$GPUMGR_ROOT/api.token")" "600 root"
as "$U" cat "$GPUMGR_ROOT/api.token" >/dev/null 2>&1 && fail "$U read the token"
expect_eq "queue folder" "$(stat -c '%a %G' "$GPUMGR_ROOT/tasks/script_queue/priority_3")" "1770 $G"
expect_eq "socket mode" "$(stat -c %a "$SOCK")" "666"
pass "api.token is 0600 and root's; queues are 1770 with the submit group"

# --- TCP without the token: 401 everywhere but /v1/health
for req in "GET /v1/status" "GET /v1/gpus" "GET /v1/tasks" "GET /metrics" \
    "POST /v1/tasks" "DELETE /v1/tasks/x" "POST /v1/gpus/0/drain" \
    "POST /v1/sim/gpus/0" "POST /v1/workers" "POST /v1/leases" \
    "GET /v1/leases" "GET /v1/no-such-thing"; do
  read -r m p <<<"$req"
  body=; [[ $m == POST ]] && body='{"prompt": "x"}'
  http "$U" "$m" "$B$p" "$body"
  expect_eq "$req without token" "$CODE" 401
  printf '%s\t%s\n' "$req" "$BODY" >>"$TEST_TMP/401s"
done
shapes_are unauthorized "$TEST_TMP/401s"
http "$U" GET "$B/v1/status" "" -H "Authorization: Bearer not-the-token-at-all"
expect_eq "wrong token" "$CODE" 401
hdr=$(as "$U" curl -s -D - -o /dev/null "$B/v1/status")
[[ $hdr == *"WWW-Authenticate: Bearer"* ]] || fail "401 without WWW-Authenticate: $hdr"
http "$U" GET "$B/v1/health" ""
expect_eq "health without token" "$CODE" 200
http root GET "$B/v1/status" "" -H "$(api_auth)"
expect_eq "status with the token" "$CODE" 200
pass "TCP: 401 in the JSON shape without the token (health open), 200 with it"

# --- the user in the submit group: submit, see and cancel their own
gm_as "$U" submit --id mine-1 --script nap --arg s=300
expect_eq "submit as $U: $OUT" "$RC" 0
expect_eq "queued file's owner" "$(stat -c %U "$GPUMGR_ROOT"/tasks/script_queue/priority_3/mine-1.json 2>/dev/null ||
  stat -c %U "$GPUMGR_ROOT"/tasks/processing/mine-1.json)" "$U"
running() { grep -q '"status": "running"' "$GPUMGR_ROOT/tasks/processing/$1.json" 2>/dev/null; }
wait_for 20 running mine-1
owner=$(python3 -c 'import json,sys; o=json.load(open(sys.argv[1]))["owner"]; print(o["uid"], o["user"])' \
  "$GPUMGR_ROOT/tasks/processing/mine-1.json")
expect_eq "owner recorded" "$owner" "$(id -u "$U") $U"
gm_as "$U" show mine-1
expect_eq "show own task: $OUT" "$RC" 0
gm_as "$U" cancel mine-1
expect_eq "cancel own running task: $OUT" "$RC" 0
failed_as() { grep -q "\"code\": \"$2\"" "$GPUMGR_ROOT/tasks/failed/$1.json" 2>/dev/null; }
wait_for 30 failed_as mine-1 cancelled
pass "$U submits, sees and cancels their own running task (CLI, through the socket)"

# the same over the unix socket: submit, read, list, cancel
http "$U" POST "http://gpumgr/v1/tasks" '{"task_id": "mine-2", "script": "nap", "script_args": {"s": "300"}}' --unix-socket "$SOCK"
expect_eq "socket submit: $BODY" "$CODE" 201
wait_for 20 running mine-2
http "$U" GET "http://gpumgr/v1/tasks/mine-2" "" --unix-socket "$SOCK"
expect_eq "socket get own" "$CODE" 200
[[ $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["owner"]["user"])' "$BODY") == "$U" ]] ||
  fail "socket-submitted task's owner: $BODY"

# --- another user's task (root's)
"$GPUMGR_BIN" submit --id roots-1 --script nap --arg s=300 >/dev/null
"$GPUMGR_BIN" submit --id roots-2 --script say --arg w=secret-output >/dev/null
wait_for 20 running roots-1
wait_for 20 test -f "$GPUMGR_ROOT/tasks/complete/roots-2.json"
gm_as "$U" cancel roots-1
expect_eq "cancel root's task: $OUT" "$RC" 6
[[ $OUT == *"permission denied"* ]] || fail "cancel says: $OUT"
gm_as "$U" show roots-2
expect_eq "show root's finished task: $OUT" "$RC" 6
[[ $OUT == *"permission denied"* ]] || fail "show says: $OUT"
as "$U" cat "$GPUMGR_ROOT/tasks/complete/roots-2.json" >/dev/null 2>&1 &&
  fail "$U read root's output file"
http "$U" DELETE "http://gpumgr/v1/tasks/roots-1" "" --unix-socket "$SOCK"
expect_eq "socket cancel root's task" "$CODE" 403
expect_eq "403 error code" "$(err_code)" forbidden
http "$U" GET "http://gpumgr/v1/tasks/roots-2" "" --unix-socket "$SOCK"
expect_eq "socket get root's task" "$CODE" 403
http "$U" GET "http://gpumgr/v1/tasks/roots-1?wait=60" "" --unix-socket "$SOCK" --max-time 30
expect_eq "long poll on root's task: refused at once, never parked" "$CODE" 403
http "$U" GET "http://gpumgr/v1/tasks" "" --unix-socket "$SOCK"
ids=$(python3 -c 'import json,sys; print(" ".join(sorted(t["task_id"] for t in json.loads(sys.argv[1])["tasks"])))' "$BODY")
expect_eq "socket list shows only $U's tasks" "$ids" "mine-1 mine-2"
gm_as "$U" ls
[[ $OUT == *mine-1* && $OUT != *roots-* ]] || fail "ls as $U: $OUT"
grep -q '"status": "running"' "$GPUMGR_ROOT/tasks/processing/roots-1.json" || fail "root's task stopped"
pass "another user's task: exit 6 / 403, output unreadable, not listed"

http "$U" DELETE "http://gpumgr/v1/tasks/mine-2" "" --unix-socket "$SOCK"
expect_eq "socket cancel own" "$CODE" 202
wait_for 30 failed_as mine-2 cancelled

# --- admin-only operations
gm_as "$U" drain 0
expect_eq "drain: $OUT" "$RC" 6
[[ $OUT == *"permission denied"* ]] || fail "drain says: $OUT"
gm_as "$U" undrain 0
expect_eq "undrain" "$RC" 6
gm_as "$U" exec -- true
expect_eq "exec (a lease): $OUT" "$RC" 6
[[ ! -e $GPUMGR_ROOT/control/drain.0 ]] || fail "a drain file appeared"
for req in "POST /v1/gpus/0/drain" "POST /v1/gpus/0/undrain" "POST /v1/sim/gpus/0" \
    "DELETE /v1/sim/gpus/1" "POST /v1/sim/gpus" "POST /v1/workers" "GET /v1/workers" \
    "POST /v1/leases" "GET /v1/leases"; do
  read -r m p <<<"$req"
  body=; [[ $m == POST ]] && body='{"temp_c": 95, "model": "m", "endpoint": "http://127.0.0.1:9", "requires": {}}'
  http "$U" "$m" "http://gpumgr$p" "$body" --unix-socket "$SOCK"
  expect_eq "$req as $U" "$CODE" 403
  [[ $BODY == *"permission denied"* ]] || fail "$req: $BODY"
  printf '%s\t%s\n' "$req" "$BODY" >>"$TEST_TMP/403s"
done
shapes_are forbidden "$TEST_TMP/403s"
expect_eq "sim GPU untouched" "$(state_field 0 temp_c)" "$(state_field 1 temp_c)"
http root POST "http://gpumgr/v1/gpus/0/drain" "" --unix-socket "$SOCK"
expect_eq "root drains over the socket" "$CODE" 200
http root POST "http://gpumgr/v1/gpus/0/undrain" "" --unix-socket "$SOCK"
pass "drain, undrain, sim edits, leases, workers: exit 6 / 403 for $U; root may"

# --- a user outside the submit group
gm_as "$N" submit --script say --arg w=x
expect_eq "submit outside the group: $OUT" "$RC" 6
[[ $OUT == *"permission denied"* ]] || fail "submit says: $OUT"
http "$N" GET "http://gpumgr/v1/status" "" --unix-socket "$SOCK"
expect_eq "status outside the group" "$CODE" 403
http "$N" POST "http://gpumgr/v1/tasks" '{"prompt": "x"}' --unix-socket "$SOCK"
expect_eq "socket submit outside the group" "$CODE" 403
pass "$N (not in $G) cannot submit: exit 6 / 403"

# --- outputs: the owner's and the admins', nobody else's
gm_as "$U" submit --id mine-3 --script say --arg w=hello-mine
expect_eq "submit mine-3" "$RC" 0
wait_for 20 test -f "$GPUMGR_ROOT/tasks/complete/mine-3.json"
expect_eq "own output file" "$(stat -c '%a %U' "$GPUMGR_ROOT/tasks/complete/mine-3.json")" "640 $U"
as "$U" cat "$GPUMGR_ROOT/tasks/complete/mine-3.json" | grep -q hello-mine || fail "$U cannot read their output"
as "$N" cat "$GPUMGR_ROOT/tasks/complete/mine-3.json" >/dev/null 2>&1 && fail "$N read $U's output"
if [[ -f $GPUMGR_ROOT/tasks/complete/mine-3.stdout ]]; then
  expect_eq "stdout file" "$(stat -c '%a %U' "$GPUMGR_ROOT/tasks/complete/mine-3.stdout")" "640 $U"
fi
pass "outputs are 0640 and the owner's"
# nothing of the test outlives it: root cancels its own task
"$GPUMGR_BIN" cancel roots-1 >/dev/null
wait_for 60 failed_as roots-1 cancelled
stop_daemon

# --- a token file others can read: the API refuses TCP, beyond loopback too
R2=$TEST_TMP/root2; mkdir -p "$R2"
printf '{"api": {"listen": "0.0.0.0", "port": %d}}\n' "$port" >"$R2/config.json"
printf '%s\n' 0123456789abcdef0123456789abcdef >"$R2/api.token"
chmod 0644 "$R2/api.token"
timeout 20 "$GPUMGR_BIN" --root "$R2" api-serve >"$TEST_TMP/serve.out" 2>&1 && rc=0 || rc=$?
[[ $rc != 0 ]] || fail "api-serve listened with a readable token"
grep -q "refusing to listen on 0.0.0.0:$port without a token" "$TEST_TMP/serve.out" ||
  fail "api-serve says: $(cat "$TEST_TMP/serve.out")"
pass "a token others can read: api-serve refuses to listen ($(head -c 160 "$TEST_TMP/serve.out"))"
