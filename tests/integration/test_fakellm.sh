#!/usr/bin/env bash
# `gpumgr fake-llm` from the outside, with curl: each endpoint's shape
# against the keys of the real captures in tests/fixtures/ollama, streamed
# and not, boot (refused, then up), load/unload seen in /api/ps, the
# failure switches (die, hang, 500), and malformed requests that must get
# a 4xx and leave the server alive.
. "$(dirname "$0")/lib.sh"
FIX=$GPUMGR_FIXTURES/ollama

# start_fake VAR ARGS...: fake-llm on a random free port (retried when
# taken); sets VAR_PORT, VAR_PID, VAR_URL.
start_fake() {
  local var=$1 port pid try; shift
  for try in $(seq 1 20); do
    port=$(( 20000 + RANDOM % 40000 ))
    "$GPUMGR_BIN" fake-llm --port "$port" "$@" >"$TEST_TMP/$var.out" 2>"$TEST_TMP/$var.err" &
    pid=$!
    STARTED_PIDS+=("$pid")
    # up when it says so on stdout; gone when the port was taken
    local deadline=$(( $(date +%s) + 15 ))
    while ! grep -q "listening on 127.0.0.1:$port" "$TEST_TMP/$var.out"; do
      kill -0 "$pid" 2>/dev/null || break
      (( $(date +%s) < deadline )) || fail "fake-llm did not start"
      sleep 0.02
    done
    if grep -q "listening on 127.0.0.1:$port" "$TEST_TMP/$var.out"; then
      printf -v "${var}_PORT" %s "$port"
      printf -v "${var}_PID" %s "$pid"
      printf -v "${var}_URL" %s "http://127.0.0.1:$port"
      return 0
    fi
    wait "$pid" 2>/dev/null || true
  done
  fail "no free port after 20 tries"
}

alive() { kill -0 "$1" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }
gone() { ! alive "$1"; }
# keys KIND FILE: the sorted top-level keys of a JSON object
keys() { jq -c 'keys' "$1"; }
post() { curl -s -o "$TEST_TMP/body" -w '%{http_code}' -H 'Content-Type: application/json' -d "$2" "$1"; }

# ---- boot: refused before --boot-sec, then up -------------------------
start_fake B --boot-sec 0 --load-sec 0.3 --tokens-per-sec 200
URL=$B_URL PID=$B_PID

expect_eq "GET /" "$(curl -s "$URL/")" "$(cat "$FIX/get-root_health_response_body.txt")"
expect_eq "HEAD /" "$(curl -s -o /dev/null -w '%{http_code}' -I "$URL/")" 200
curl -s "$URL/api/version" | jq -e '.version | type == "string"' >/dev/null || fail "/api/version"
pass "health and version"

curl -s "$URL/api/tags" >"$TEST_TMP/tags.json"
expect_eq "tags entry keys" "$(jq -c '.models[0] | keys' "$TEST_TMP/tags.json")" \
  "$(jq -c '.models[0] | keys' "$FIX/api-tags_response_2-models_DOCS-EXAMPLE.json")"
expect_eq "tags details keys" "$(jq -c '.models[0].details | keys' "$TEST_TMP/tags.json")" \
  "$(jq -c '.models[0].details | keys' "$FIX/api-tags_response_2-models_DOCS-EXAMPLE.json")"
expect_eq "tags names" "$(jq -c '[.models[].name]' "$TEST_TMP/tags.json")" \
  '["qwen2.5:14b","gemma3:1b","nomic-embed-text:latest"]'
expect_eq "ps before any load" "$(curl -s "$URL/api/ps")" '{"models":[]}'
pass "tags and empty ps"

# ---- load, non-streamed generate, ps, unload -----------------------------
expect_eq "load" "$(post "$URL/api/generate" '{"model":"gemma3:1b","keep_alive":-1}')" 200
expect_eq "load reason" "$(jq -r .done_reason "$TEST_TMP/body")" load
expect_eq "load response" "$(jq -r .response "$TEST_TMP/body")" ""
curl -s "$URL/api/ps" >"$TEST_TMP/ps.json"
expect_eq "ps names" "$(jq -c '[.models[].name]' "$TEST_TMP/ps.json")" '["gemma3:1b"]'
# the fixture's keys, plus context_length (newer servers)
expect_eq "ps keys" "$(jq -c '.models[0] | keys - ["context_length"]' "$TEST_TMP/ps.json")" \
  "$(jq -c '.models[0] | keys' "$FIX/api-ps_response_1-model-fully-in-vram_jq-pretty.json")"
jq -e '.models[0] | .size_vram == .size and (.expires_at | startswith("2"))' "$TEST_TMP/ps.json" >/dev/null \
  || fail "ps: size_vram/expires_at"
pass "load shows in /api/ps"

expect_eq "generate" "$(post "$URL/api/generate" '{"model":"gemma3:1b","prompt":"Hello, how are you?","stream":false}')" 200
cp "$TEST_TMP/body" "$TEST_TMP/gen1.json"
expect_eq "generate keys" "$(keys "$TEST_TMP/gen1.json")" "$(keys "$FIX/api-generate_nonstream_response_gemma3-1b.json")"
jq -e '.done == true and .done_reason == "stop" and (.response | startswith("Fake"))
       and .prompt_eval_count == 5 and .eval_count > 0 and .eval_duration > 0
       and .total_duration >= .eval_duration' "$TEST_TMP/gen1.json" >/dev/null || fail "generate values: $(cat "$TEST_TMP/gen1.json")"
post "$URL/api/generate" '{"model":"gemma3:1b","prompt":"Hello, how are you?","stream":false}' >/dev/null
expect_eq "same prompt, same answer" "$(jq -r .response "$TEST_TMP/body")" "$(jq -r .response "$TEST_TMP/gen1.json")"
post "$URL/api/generate" '{"model":"gemma3:1b","prompt":"Hello","stream":false,"options":{"num_predict":2}}' >/dev/null
jq -e '.done_reason == "length" and .eval_count == 2' "$TEST_TMP/body" >/dev/null || fail "num_predict"
pass "non-streamed generate"

# ---- streamed generate and chat -------------------------------------------
expect_eq "stream" "$(post "$URL/api/generate" '{"model":"gemma3:1b","prompt":"Hello, how are you?"}')" 200
mv "$TEST_TMP/body" "$TEST_TMP/stream.ndjson"
n=$(wc -l <"$TEST_TMP/stream.ndjson")
(( n >= 3 )) || fail "stream has $n lines"
expect_eq "stream line keys" "$(head -1 "$TEST_TMP/stream.ndjson" | jq -c keys)" \
  "$(head -1 "$FIX/api-generate_stream_response_gemma3-1b.ndjson" | jq -c keys)"
expect_eq "stream final keys" "$(tail -1 "$TEST_TMP/stream.ndjson" | jq -c keys)" \
  "$(tail -1 "$FIX/api-generate_stream_response_gemma3-1b.ndjson" | jq -c keys)"
expect_eq "stream text = non-streamed text" "$(jq -rj 'select(.done == false) | .response' "$TEST_TMP/stream.ndjson")" \
  "$(jq -r .response "$TEST_TMP/gen1.json")"
expect_eq "only the last line is done" "$(jq -c .done "$TEST_TMP/stream.ndjson" | sort | uniq -c | awk '{print $1 $2}' | tr '\n' ' ')" "$(( n - 1 ))false 1true "
ctype=$(curl -s -o /dev/null -w '%{content_type}' -d '{"model":"gemma3:1b","prompt":"x"}' "$URL/api/generate")
expect_eq "stream content type" "$ctype" "application/x-ndjson"
pass "streamed generate"

expect_eq "chat" "$(post "$URL/api/chat" '{"model":"gemma3:1b","messages":[{"role":"user","content":"Hello, how are you?"}]}')" 200
mv "$TEST_TMP/body" "$TEST_TMP/chat.ndjson"
expect_eq "chat line keys" "$(head -1 "$TEST_TMP/chat.ndjson" | jq -c keys)" \
  "$(head -1 "$FIX/api-chat_stream_done-reason-length_gemma3-1b.ndjson" | jq -c keys)"
expect_eq "chat final keys" "$(tail -1 "$TEST_TMP/chat.ndjson" | jq -c keys)" \
  "$(tail -1 "$FIX/api-chat_stream_done-reason-length_gemma3-1b.ndjson" | jq -c keys)"
expect_eq "chat non-stream" "$(post "$URL/api/chat" '{"model":"gemma3:1b","stream":false,"messages":[{"role":"user","content":"hi"}]}')" 200
jq -e '.done and .message.role == "assistant" and (.message.content | length > 0)' "$TEST_TMP/body" >/dev/null || fail "chat non-stream"
pass "chat"

expect_eq "embed" "$(post "$URL/api/embed" '{"model":"nomic-embed-text","input":"Hello, world!"}')" 200
expect_eq "embed keys" "$(keys "$TEST_TMP/body")" "$(keys "$FIX/api-embed_response_nomic-embed-text.json")"
expect_eq "embed dims" "$(jq -c '[.embeddings | length, (.[0] | length)]' "$TEST_TMP/body")" \
  "$(jq -c '[.embeddings | length, (.[0] | length)]' "$FIX/api-embed_response_nomic-embed-text.json")"
post "$URL/api/embed" '{"model":"nomic-embed-text","input":["a","b"]}' >/dev/null
expect_eq "embed two" "$(jq '.embeddings | length' "$TEST_TMP/body")" 2
pass "embed"

expect_eq "openai" "$(post "$URL/v1/chat/completions" '{"model":"gemma3:1b","messages":[{"role":"user","content":"hi"}]}')" 200
jq -e '.object == "chat.completion" and .choices[0].message.role == "assistant" and .choices[0].finish_reason == "stop"
       and .usage.completion_tokens > 0 and .usage.total_tokens == .usage.prompt_tokens + .usage.completion_tokens' \
  "$TEST_TMP/body" >/dev/null || fail "openai shape: $(cat "$TEST_TMP/body")"
curl -s -d '{"model":"gemma3:1b","stream":true,"messages":[{"role":"user","content":"hi"}]}' "$URL/v1/chat/completions" >"$TEST_TMP/sse"
expect_eq "sse end" "$(grep -v '^$' "$TEST_TMP/sse" | tail -1)" "data: [DONE]"
grep '^data: {' "$TEST_TMP/sse" | head -1 | sed 's/^data: //' | jq -e '.object == "chat.completion.chunk"' >/dev/null || fail "sse chunk"
pass "openai chat completions"

expect_eq "unload" "$(post "$URL/api/generate" '{"model":"gemma3:1b","keep_alive":0}')" 200
expect_eq "unload reason" "$(jq -r .done_reason "$TEST_TMP/body")" unload
expect_eq "ps after unload" "$(curl -s "$URL/api/ps" | jq -c '[.models[].name]')" '["nomic-embed-text:latest"]'
# keep_alive as a short duration: the model leaves /api/ps on its own
post "$URL/api/generate" '{"model":"gemma3:1b","keep_alive":"1s"}' >/dev/null
ps_has_not() { ! curl -s "$URL/api/ps" | jq -e '.models[] | select(.name == "gemma3:1b")' >/dev/null; }
wait_for 10 ps_has_not
pass "unload and keep_alive expiry"

# ---- the load wait does not block other connections --------------------
post "$URL/api/generate" '{"model":"qwen2.5:14b","keep_alive":0}' >/dev/null
curl -s -d '{"model":"qwen2.5:14b","stream":false,"prompt":"slow"}' "$URL/api/generate" >"$TEST_TMP/slow" &
slow=$!
expect_eq "health during a load" "$(curl -s --max-time 5 "$URL/")" "Ollama is running"
wait "$slow"
jq -e '.load_duration >= 250000000' "$TEST_TMP/slow" >/dev/null || fail "load_duration: $(cat "$TEST_TMP/slow")"
pass "a load waits --load-sec without blocking the server"

# ---- malformed requests: 4xx each, the server lives on ------------------
big="$TEST_TMP/big.json"
{ printf '{"model":"gemma3:1b","prompt":"'; head -c $(( 9 * 1024 * 1024 )) /dev/zero | tr '\0' a; printf '"}'; } >"$big"
bad=(
  "POST /api/generate {bad"
  "POST /api/generate []"
  "POST /api/generate {}"
  'POST /api/generate {"model":5}'
  'POST /api/generate {"model":"gemma3:1b","prompt":["x"]}'
  'POST /api/generate {"model":"gemma3:1b","stream":"yes"}'
  'POST /api/generate {"model":"gemma3:1b","keep_alive":"forever"}'
  'POST /api/generate {"model":"nope:1b","prompt":"x"}'
  'POST /api/chat {"model":"gemma3:1b","messages":"hi"}'
  'POST /api/chat {"model":"gemma3:1b","messages":[{"role":"user","content":7}]}'
  'POST /api/embed {"model":"nomic-embed-text","input":5}'
  'POST /v1/chat/completions {"model":"gemma3:1b","messages":[]}'
  'GET /api/generate -'
  'DELETE /api/tags -'
  'POST /api/ps {}'
  'GET /no/such/path -'
)
for b in "${bad[@]}"; do
  read -r method path body <<<"$b"
  if [[ $body == - ]]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' -X "$method" "$URL$path")
  else
    code=$(curl -s -o "$TEST_TMP/body" -w '%{http_code}' -X "$method" -d "$body" "$URL$path")
  fi
  [[ $code == 4* ]] || fail "$b: HTTP $code"
  alive "$PID" || fail "died on: $b"
done
expect_eq "404 body" "$(post "$URL/api/generate" '{"model":"nope:1b","prompt":"x"}'; cat "$TEST_TMP/body")" \
  "404$(sed 's/custom-phi3-32k-Q4_K_M/nope:1b/' "$FIX/error_404_model-not-found_body.json")"
expect_eq "400 is JSON" "$(post "$URL/api/generate" '{bad' ; jq -r '.error | type' "$TEST_TMP/body")" 400string
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$big" "$URL/api/generate")
expect_eq "huge body" "$code" 413
printf 'GARBAGE\r\n\r\n' | timeout 5 bash -c "cat >/dev/tcp/127.0.0.1/$B_PORT" || true
expect_eq "alive after malformed requests" "$(curl -s "$URL/")" "Ollama is running"
pass "${#bad[@]} malformed requests got a 4xx, plus a huge body and garbage"

# ---- OLLAMA_HOST, like ollama serve; refused during --boot-sec ---------
up() { [[ $(curl -s "http://127.0.0.1:$port/") == "Ollama is running" ]]; }
up_or_gone() { up || ! alive "$hpid"; }
for try in $(seq 1 20); do
  port=$(( 20000 + RANDOM % 40000 ))
  # a port something else listens on is no test of ours
  [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true) == 000 ]] || continue
  OLLAMA_HOST=127.0.0.1:$port "$GPUMGR_BIN" fake-llm --boot-sec 1 >"$TEST_TMP/h.out" 2>&1 &
  hpid=$!; STARTED_PIDS+=("$hpid")
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)
  # during --boot-sec the port refuses (000); 200 only if a slow machine
  # let the second pass first
  [[ $code == 000 || $code == 200 ]] || fail "during boot: $code"
  wait_for 15 up_or_gone
  alive "$hpid" && up && break
  grep -q "Address already in use" "$TEST_TMP/h.out" || fail "OLLAMA_HOST: $(cat "$TEST_TMP/h.out")"
done
up || fail "OLLAMA_HOST: no free port"
pass "OLLAMA_HOST=127.0.0.1:$port, refused while booting, then up"
OLLAMA_HOST=0.0.0.0:$port "$GPUMGR_BIN" fake-llm >/dev/null 2>&1 && fail "bound to 0.0.0.0"
"$GPUMGR_BIN" fake-llm --listen 10.1.2.3 >/dev/null 2>&1 && fail "--listen non-loopback"
pass "non-loopback refused"

# ---- failure switches ------------------------------------------------------
start_fake D --load-sec 0 --tokens-per-sec 0 --fail-after 2
post "$D_URL/api/generate" '{"model":"gemma3:1b","keep_alive":-1}' >/dev/null   # a load does not count
expect_eq "die 1" "$(post "$D_URL/api/generate" '{"model":"gemma3:1b","prompt":"a","stream":false}')" 200
expect_eq "die 2" "$(post "$D_URL/api/chat" '{"model":"gemma3:1b","stream":false,"messages":[{"role":"user","content":"b"}]}')" 200
code=$(post "$D_URL/api/generate" '{"model":"gemma3:1b","prompt":"c","stream":false}' || true)
expect_eq "die 3 gets no answer" "$code" 000
wait_for 10 gone "$D_PID"
wait "$D_PID" && fail "fail-after exit status 0" || expect_eq "exit status" "$?" 1
pass "--fail-after 2: the pid is gone after request 3"

start_fake H --load-sec 0 --tokens-per-sec 0 --hang-after 1
expect_eq "hang 1" "$(post "$H_URL/api/generate" '{"model":"gemma3:1b","prompt":"a","stream":false}')" 200
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 -d '{"model":"gemma3:1b","prompt":"b"}' "$H_URL/api/generate" || true)
expect_eq "hang 2 never answers" "$code" 000
alive "$H_PID" || fail "hang: died"
expect_eq "hang: health still answers" "$(curl -s --max-time 5 "$H_URL/")" "Ollama is running"
pass "--hang-after 1"

start_fake E --load-sec 0 --tokens-per-sec 0 --error-500-after 1
expect_eq "500 1" "$(post "$E_URL/api/generate" '{"model":"gemma3:1b","prompt":"a","stream":false}')" 200
expect_eq "500 2" "$(post "$E_URL/api/generate" '{"model":"gemma3:1b","prompt":"b","stream":false}')" 500
jq -e '.error | test("injected")' "$TEST_TMP/body" >/dev/null || fail "500 body"
expect_eq "500 openai shape" "$(post "$E_URL/v1/chat/completions" '{"model":"gemma3:1b","messages":[{"role":"user","content":"x"}]}'; jq -r .error.type "$TEST_TMP/body")" 500api_error
pass "--error-500-after 1"

# clean stop on TERM
kill -TERM "$B_PID"
rc=0; wait "$B_PID" || rc=$?
[[ $rc == 0 ]] || { cat "$TEST_TMP/B.err" >&2; fail "TERM exit status $rc"; }
pass "TERM stops it cleanly"
