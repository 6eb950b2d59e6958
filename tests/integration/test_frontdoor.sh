#!/usr/bin/env bash
# The front door (docs/frontdoor.md) on 2 simulated GPUs with fake-llm
# servers: every curl example of docs/api.md's front-door section answers
# 200; generate/chat/embed in both dialects give the server's answers, each
# request a task in the spool (its body kept, its priority from
# X-Gpumgr-Priority); a streamed chat's first event arrives well before its
# last; errors come in each dialect's shape; a task file with messages,
# options and format passes them through; 50 concurrent chats of mixed
# priorities are all answered, the higher priorities started first; a client
# that leaves mid-answer leaves its task cancelled and its GPU free; with
# api.loopback_needs_token false a loopback client needs no token for the
# front door (and still does for gpumgr's own API).
. "$(dirname "$0")/lib.sh"

port=$(free_ports 4)
api=$((port + 3))
N=${GPUMGR_FRONT_N:-50}
config() {
write_config "{\"gpu_backend\": \"sim\", \"cooling_sec\": 0,
  \"api\": {\"port\": $api $1},
  \"llm\": {\"default_model\": \"m1\", \"models\": {\"m1\": {\"vram_mb\": 4096}},
    \"server\": {\"argv\": [\"$GPUMGR_BIN\", \"fake-llm\", \"--boot-sec\", \"0.1\",
                          \"--load-sec\", \"0.1\", \"--tokens-per-sec\", \"25\", \"--models\", \"m1\"],
                \"env\": {\"OLLAMA_HOST\": \"127.0.0.1:{port}\"}},
    \"base_port\": $port}, \"rescan_interval_ms\": 100}"
}
config ""
stop_llm_servers_on_exit
start_daemon --sim 2x24GB
A="http://127.0.0.1:$api"
TOKEN=$(cat "$GPUMGR_ROOT/api.token")

# Every example of docs/api.md's front-door section, as written there.
docs=$(dirname "$0")/../../docs/api.md
# curl as docs/api.md's examples assume it: with the token (and the status
# code appended, for the check)
curl_token() { command curl -H "Authorization: Bearer $TOKEN" -w '\n%{http_code}' "$@"; }
n=0
while IFS= read -r line; do
  cmd=${line#    }
  [[ $cmd == curl* ]] || continue
  out=$(eval "curl_token ${cmd#curl }") || fail "docs example failed: $line"
  code=${out##*$'\n'}
  [[ $code == 200 ]] || fail "docs example answered $code: $line: $out"
  n=$((n + 1))
done < <(sed -n '/<!-- frontdoor-examples -->/,/<!-- \/frontdoor-examples -->/p' "$docs")
(( n >= 16 )) || fail "only $n examples found in docs/api.md"
pass "$n curl examples of docs/api.md answered 200"

# A task file with messages, options and format: passed through.
mkdir -p "$GPUMGR_ROOT/tasks/llm_queue/priority_3"
printf '%s' '{"task_id": "tf1", "messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "name three colours"}], "options": {"num_predict": 3}, "format": "json"}' \
  >"$GPUMGR_ROOT/tasks/llm_queue/priority_3/.tf1" &&
  mv "$GPUMGR_ROOT/tasks/llm_queue/priority_3/.tf1" "$GPUMGR_ROOT/tasks/llm_queue/priority_3/tf1.json"

python3 - "$A" "$TOKEN" "$GPUMGR_ROOT" "$N" "$SEED" <<'PY'
import http.client, json, os, random, socket, sys, threading, time
base, token, root, N, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
host, port = base[7:].split(":"); port = int(port)
rng = random.Random(seed)

def req(method, path, body=None, headers=None, auth=True):
    h = {"Content-Type": "application/json"}
    if auth: h["Authorization"] = "Bearer " + token
    h.update(headers or {})
    c = http.client.HTTPConnection(host, port, timeout=120)
    c.request(method, path, json.dumps(body) if body is not None else None, h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r.getheader("X-Gpumgr-Task"), r.getheader("Content-Type"), data

def record(tid, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        for st in ("complete", "failed"):
            p = os.path.join(root, "tasks", st, tid + ".json")
            if os.path.exists(p):
                try: return st, json.load(open(p))
                except ValueError: pass
        time.sleep(0.02)
    raise SystemExit("task %s never ended" % tid)

# Ollama generate, not streamed: the server's answer, and a task for it.
st, tid, ct, data = req("POST", "/api/generate", {"model": "m1", "prompt": "hello there", "stream": False, "keep_alive": 0, "options": {"num_predict": 4}})
a = json.loads(data)
assert st == 200 and a["done"] and a["response"], (st, data)
assert len(a["response"].split()) == 4 and a["eval_count"] == 4, a   # options reached the server
stage, t = record(tid)
assert stage == "complete" and t["output"] == a["response"], t
assert t["llm_request"]["path"] == "/api/generate" and "keep_alive" not in t["llm_request"]["body"], t
assert t["llm_request"]["body"]["options"] == {"num_predict": 4}, t
ans = json.load(open(os.path.join(root, "tasks", "complete", tid + ".answer")))
assert ans["response"] == a["response"], ans
print("ok: generate: the server's answer, options passed, a task with its body and answer")

# Ollama chat, streamed: NDJSON events as they come.
def stream(path, body, sse):
    c = http.client.HTTPConnection(host, port, timeout=120)
    c.request("POST", path, json.dumps(body), {"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = c.getresponse()
    events, stamps = [], []
    while True:
        line = r.readline()
        if not line: break
        line = line.strip()
        if not line: continue
        if sse:
            assert line.startswith(b"data: "), line
            line = line[6:]
            stamps.append(time.monotonic())
            if line == b"[DONE]":
                events.append("[DONE]"); break
        else:
            stamps.append(time.monotonic())
        events.append(json.loads(line))
    tid = r.getheader("X-Gpumgr-Task"); ct = r.getheader("Content-Type")
    c.close()
    return tid, ct, events, stamps

tid, ct, ev, ts = stream("/api/chat", {"model": "m1", "messages": [{"role": "user", "content": "tell me a story"}]}, False)
assert ct.startswith("application/x-ndjson"), ct
assert len(ev) >= 7 and ev[-1]["done"] is True and not any(e["done"] for e in ev[:-1]), ev
text = "".join(e["message"]["content"] for e in ev)
# 6+ tokens at 25/s: the last event comes >= 0.2 s after the first
assert ts[-1] - ts[0] >= 0.15, ts
stage, t = record(tid)
assert stage == "complete" and t["output"] == text, (t, text)
print("ok: chat streamed: %d NDJSON events over %.2f s" % (len(ev), ts[-1] - ts[0]))

tid, ct, ev, ts = stream("/v1/chat/completions", {"model": "m1", "stream": True, "messages": [{"role": "user", "content": "hi"}]}, True)
assert ct.startswith("text/event-stream") and ev[-1] == "[DONE]", (ct, ev)
text = "".join(e["choices"][0]["delta"].get("content", "") for e in ev[:-1])
assert ts[-2] - ts[0] >= 0.15, ts
stage, t = record(tid)
assert stage == "complete" and t["output"] == text, t
ans = json.load(open(os.path.join(root, "tasks", "complete", tid + ".answer")))
assert ans["object"] == "chat.completion" and ans["choices"][0]["message"]["content"] == text, ans
print("ok: OpenAI chat streamed as SSE ending in [DONE]; the joined answer kept")

# Embeddings in both dialects.
st, tid, ct, data = req("POST", "/api/embed", {"model": "m1", "input": ["a", "b"]})
e = json.loads(data); assert st == 200 and len(e["embeddings"]) == 2, data
st, tid, ct, data = req("POST", "/v1/embeddings", {"model": "m1", "input": "a"})
e2 = json.loads(data); assert st == 200 and e2["data"][0]["embedding"] == e["embeddings"][0], data
print("ok: embeddings, the same vector in both dialects")

# Errors in each dialect's shape.
st, _, _, data = req("POST", "/api/chat", {"model": "nope", "messages": [{"role": "user", "content": "x"}]})
assert st == 404 and isinstance(json.loads(data)["error"], str), (st, data)
st, _, _, data = req("POST", "/v1/chat/completions", {"model": "nope", "messages": [{"role": "user", "content": "x"}]})
assert st == 404 and json.loads(data)["error"]["type"] == "not_found_error", (st, data)
st, _, _, data = req("GET", "/v1/models", auth=False)
assert st == 401 and "message" in json.loads(data)["error"], (st, data)
st, _, _, data = req("GET", "/api/tags", auth=False)
assert st == 401 and isinstance(json.loads(data)["error"], str), (st, data)
st, _, _, data = req("POST", "/api/generate", {"model": "m1", "prompt": "x"}, {"X-Gpumgr-Priority": "9"})
assert st == 400, (st, data)
print("ok: errors in Ollama's and OpenAI's shapes (404, 401, 400)")

# The task file with messages, options and format.
stage, t = record("tf1")
assert stage == "complete" and len(t["output"].split()) == 3, t
ans = json.load(open(os.path.join(root, "tasks", "complete", "tf1.answer")))
assert ans["message"]["content"] == t["output"], ans
print("ok: task file: messages, options (num_predict 3) passed; answer kept beside it")

# N concurrent chats of mixed priorities on 2 GPUs.
results = {}
def one(i, pri):
    st, tid, ct, data = req("POST", "/api/chat", {"model": "m1", "stream": False, "messages": [{"role": "user", "content": "q%d" % i}]}, {"X-Gpumgr-Priority": str(pri)})
    results[i] = (pri, st, tid, data)
pris = [rng.randint(1, 5) for _ in range(N)]
threads = [threading.Thread(target=one, args=(i, pris[i])) for i in range(N)]
for th in threads: th.start()
for th in threads: th.join()
assert len(results) == N and all(r[1] == 200 for r in results.values()), [r for r in results.values() if r[1] != 200][:3]
recs = []
for i, (pri, st, tid, data) in results.items():
    stage, t = record(tid)
    assert stage == "complete" and t["priority"] == pri, t
    assert json.loads(data)["message"]["content"] == t["output"], (data, t)
    recs.append((t["created_at"], t["started_at"], pri, tid))
def ms(s):
    import datetime
    # gpumgr leaves out a zero fraction: "...T21:59:09Z"
    s = s.replace("Z", "+0000")
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%f%z" if "." in s else "%Y-%m-%dT%H:%M:%S%z").timestamp()
bad = []
for ca, sa, pa, ida in recs:
    for cb, sb, pb, idb in recs:
        # a more urgent request that waited while b started, started after b
        if pa > pb and ms(ca) < ms(sb) - 0.05 and ms(sa) > ms(sb) + 0.05:
            bad.append((ida, pa, sa, idb, pb, sb))
assert not bad, bad[:3]
print("ok: %d concurrent chats (priorities %s) all answered; none started before a more urgent one that waited" % (N, sorted(set(pris))))

# A client that leaves mid-answer: its task is cancelled, its GPU freed.
s = socket.create_connection((host, port))
# 100000 tokens at 25/s: the answer outlasts any wait here
body = json.dumps({"model": "m1", "messages": [{"role": "user", "content": "a long answer please"}], "options": {"fake_tokens": 100000}})
s.sendall(("POST /api/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (token, len(body), body)).encode())
buf = b""
while b"\"content\"" not in buf:
    d = s.recv(4096)
    assert d, buf
    buf += d
tid = [l.split(b":", 1)[1].strip().decode() for l in buf.split(b"\r\n") if l.lower().startswith(b"x-gpumgr-task:")][0]
# the tokens so far show in gpu_state.json while it streams
end = time.time() + 60
while time.time() < end:
    s.recv(65536)
    g = json.load(open(os.path.join(root, "gpu_state.json")))["gpus"]
    if any(x.get("tokens_so_far", 0) > 0 for x in g.values()): break
    time.sleep(0.05)
else:
    raise SystemExit("no tokens_so_far in gpu_state.json: %s" % g)
s.close()
stage, t = record(tid)
assert stage == "failed" and t["error"]["code"] == "cancelled", t
end = time.time() + 60
while time.time() < end:
    g = json.load(open(os.path.join(root, "gpu_state.json")))["gpus"]
    if not any(x["state"] == "llm_busy" for x in g.values()): break
    time.sleep(0.05)
else:
    raise SystemExit("a GPU stayed busy after its client left: %s" % g)
st, tid2, _, data = req("POST", "/api/generate", {"model": "m1", "prompt": "after", "stream": False})
assert st == 200, data
print("ok: a client that left mid-answer: task %s cancelled, GPUs free, the next request answered" % tid)
PY

# ls shows the front door's tasks like any other.
gpumgr ls --status complete 2>/dev/null | grep -q "tf1" || fail "ls does not list tf1"

# api.loopback_needs_token false: no token needed for the front door; and
# api.ollama_listen: a second listener with only the front door's paths.
stop_daemon
config ", \"loopback_needs_token\": false, \"ollama_listen\": \"127.0.0.1:$((port + 2))\""
start_daemon --sim 2x24GB
code=$(curl -s -o /dev/null -w '%{http_code}' "$A/api/tags")
expect_eq "front door without a token" "$code" 200
code=$(curl -s -o /dev/null -w '%{http_code}' "$A/v1/tasks")
expect_eq "gpumgr's own API without a token" "$code" 401
pass "loopback_needs_token false: the front door opens to loopback, /v1/tasks does not"
O="http://127.0.0.1:$((port + 2))"
expect_eq "GET / on ollama_listen" "$(curl -s "$O/")" "Ollama is running"
out=$(curl -s "$O/api/generate" -d '{"model": "m1", "prompt": "hi", "stream": false}')
[[ $out == *'"done":true'* ]] || fail "generate on ollama_listen: $out"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$(api_auth)" "$O/v1/tasks")
expect_eq "gpumgr's own API on ollama_listen" "$code" 404
pass "api.ollama_listen serves the front door only"

# ollama_listen on a taken address: said so, the rest served.
stop_daemon
config ", \"ollama_listen\": \"127.0.0.1:$api\""
start_daemon --sim 2x24GB
grep -q "api.ollama_listen 127.0.0.1:$api: .*the address is taken" "$TEST_TMP/daemon.log" ||
  fail "no clear error for a taken ollama_listen: $(grep ollama_listen "$TEST_TMP/daemon.log")"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "$(api_auth)" "$A/api/tags")
expect_eq "front door with ollama_listen taken" "$code" 200
pass "a taken api.ollama_listen: $(grep -o 'api.ollama_listen.*taken' "$TEST_TMP/daemon.log" | head -1)"
