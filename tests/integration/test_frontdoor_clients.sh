#!/usr/bin/env bash
# The official `ollama` and `openai` JavaScript clients (npm, pinned by
# tests/clients/package-lock.json, installed here with `npm ci`) run
# tests/clients/frontdoor.mjs against gpumgr on 2 simulated GPUs, then,
# with only the base URL changed, against `gpumgr fake-llm` directly: the
# same answers, model lists and errors; streams whose first chunk comes
# well before the last; each inference request a task in the spool.
# Skips (passes with a message) only when node/npm are missing or npm's
# registry cannot be reached.
. "$(dirname "$0")/lib.sh"

clients_src=$(cd "$(dirname "$0")/../clients" && pwd)
command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "skip: node and npm are not installed (scripts/install-deps.sh installs them)"; exit 0; }
if ! timeout 60 npm ping >/dev/null 2>&1; then
  echo "skip: npm's registry cannot be reached (npm ping failed): the official clients cannot be installed"
  exit 0
fi
clients=$TEST_TMP/clients
mkdir -p "$clients"
cp "$clients_src/package.json" "$clients_src/package-lock.json" "$clients_src/frontdoor.mjs" "$clients/"
(cd "$clients" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) || fail "npm ci failed in $clients"

port=$(free_ports 6)
api=$((port + 3)); direct=$((port + 4))
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0, \"api\": {\"port\": $api},
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.1\",
                          \"--load-sec\", \"0.1\", \"--tokens-per-sec\", \"25\", \"--models\", \"m1\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}},
    \"base_port\": $port}, \"rescan_interval_ms\": 100}"
stop_llm_servers_on_exit
start_daemon --sim 2x24GB
"$GPUMGR_BIN" fake-llm --port "$direct" --load-sec 0.1 --tokens-per-sec 25 --models m1 \
  >"$TEST_TMP/fake.log" 2>&1 &
STARTED_PIDS+=("$!")

node "$clients/frontdoor.mjs" "http://127.0.0.1:$api" "$(cat "$GPUMGR_ROOT/api.token")" m1 \
  >"$TEST_TMP/gpumgr.json" || fail "the clients against gpumgr failed"
node "$clients/frontdoor.mjs" "http://127.0.0.1:$direct" "" m1 \
  >"$TEST_TMP/direct.json" || fail "the clients against fake-llm failed"

python3 - "$TEST_TMP/gpumgr.json" "$TEST_TMP/direct.json" "$GPUMGR_ROOT" <<'PY'
import glob, json, os, sys
g, d = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
root = sys.argv[3]
for k in ("chat_stream", "openai_stream"):
    for who, o in (("gpumgr", g), ("fake-llm", d)):
        s = o[k]
        assert s["chunks"] >= 6, (who, k, s)
        assert s["last_ms"] - s["first_ms"] >= 150, ("first chunk not well before the last", who, k, s)
    print("ok: %s: %d chunks, first at %.0f ms, last at %.0f ms through gpumgr (direct: %.0f, %.0f)" % (
        k, g[k]["chunks"], g[k]["first_ms"], g[k]["last_ms"], d[k]["first_ms"], d[k]["last_ms"]))
    g[k] = g[k]["text"]; d[k] = d[k]["text"]
assert g["ollama_error"]["status"] == 404 and g["openai_error"]["status"] == 404, g
assert g == d, "gpumgr and fake-llm differ:\n%s\n%s" % (
    {k: g[k] for k in g if g[k] != d.get(k)}, {k: d.get(k) for k in g if g[k] != d.get(k)})
print("ok: the same answers, lists, embeddings and errors through gpumgr as from fake-llm directly")
tasks = [json.load(open(p)) for p in glob.glob(os.path.join(root, "tasks", "complete", "*.json"))]
front = [t for t in tasks if "llm_request" in t]
assert len(front) == g["requests"], (len(front), g["requests"])
paths = sorted(t["llm_request"]["path"] for t in front)
print("ok: each of the %d inference requests is a completed task: %s" % (len(front), paths))
PY
