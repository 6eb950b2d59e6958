#!/usr/bin/env bash
# `gpumgr config check` and `config show`: the documented example passes
# with no warning, a typo warns, a wrong type fails with exit 4 naming the
# key, an unreadable file exits 1, and show fills in the defaults.
. "$(dirname "$0")/lib.sh"
src=${GPUMGR_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

out=$(gpumgr config check "$src/contrib/config.example.json")
expect_eq "example check" "$out" "$src/contrib/config.example.json: OK"
pass "the example passes with no warning"

cfg=$GPUMGR_ROOT/config.json
printf '{"resource_manager": {"evction_policy": {}}, "api": {"port": 7979}}\n' >"$cfg"
out=$(gpumgr config check)
grep -q "^warning: $cfg: resource_manager.evction_policy (line 1, column 23): unknown key, ignored$" <<<"$out" ||
  fail "no warning for the typo: $out"
grep -q "^$cfg: OK$" <<<"$out" || fail "not OK: $out"
pass "an unknown key warns and passes"

# jget JSON KEY.PATH: one value of a JSON document, as compact JSON.
jget() {
  python3 -c 'import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    v = v[k]
print(json.dumps(v, separators=(",", ":")))' "$1" "$2"
}
show=$(gpumgr config show --json 2>/dev/null)
expect_eq "api.port" "$(jget "$show" api.port)" 7979
expect_eq "default eviction" "$(jget "$show" resource_manager.eviction_policy.min_script_queue_for_evict)" 5
expect_eq "default server argv" "$(jget "$show" llm.server.argv)" '["ollama","serve"]'
gpumgr config show | grep -qx 'api.port = 7979' || fail "flat show lacks api.port"
pass "show fills in the defaults"

printf '{\n  "tasks": {\n    "default_max_retries": "two"\n  }\n}\n' >"$cfg"
rc=0; err=$(gpumgr config check 2>&1) || rc=$?
expect_eq "exit code for a wrong type" "$rc" 4
expect_eq "message" "$err" "$cfg: tasks.default_max_retries (line 3, column 28): expected an integer from 0 to 100, got \"two\""
rc=0; gpumgr config show >/dev/null 2>&1 || rc=$?
expect_eq "show of an invalid config" "$rc" 4
pass "a wrong type is refused with its path and position"

rc=0; gpumgr config check "$TEST_TMP/none.json" 2>/dev/null || rc=$?
expect_eq "exit code for a missing file" "$rc" 1
rm -f "$cfg"
expect_eq "no file: default port" "$(jget "$(gpumgr config show --json)" api.port)" 7878
# The default file is optional (a fresh install has none: the unit's
# ExecStartPre checks it), a named one is not.
out=$(gpumgr config check) || fail "check without FILE and without config.json failed: $out"
expect_eq "no default file" "$out" "$cfg: none, every key takes its default: OK"
pass "a missing file: check of a named one fails, of the default passes; show gives the defaults"
