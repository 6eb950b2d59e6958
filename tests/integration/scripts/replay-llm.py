#!/usr/bin/env python3
"""A replay LLM server for tests: answers with captured (and documented)
Ollama and llama-server bodies from tests/fixtures, chosen by the model a
request names, so that one daemon meets every case. Loopback only; the
address comes from OLLAMA_HOST as for `ollama serve`.

    replay-llm.py FIXTURES_DIR LOG [--llama-server]

Every request is appended to LOG (shared by all servers of a test, under
flock): "port method path model prompt", one line each, so a test counts
what each server really received. The case of a generate request depends
on how many of that model's generate requests LOG already holds (across
servers: a retry on another GPU sees the earlier attempts):

  old:*      load and answer without done_reason (Ollama before 0.1.35)
  new:*      load with done_reason "load", the recorded gemma3 answer
  missing:*  404 model not found to the load and to every request
  busy:*     503 server busy to the first 2 generates, then answered
  err500:*   500 (runner terminated) to the first generate, then answered
  drop:*     the first generate read, then the connection closed before
             any byte; then answered
  slow:*     the first byte of each answer after 3 s
  gone:*     /api/ps never lists it (the server "unloaded" it)
--llama-server: GET /health 503 "Loading model" for the first 1.5 s, then
200; POST /v1/chat/completions answered with the captured completion.
"""
import fcntl
import http.server
import json
import os
import sys
import time

FIX, LOG = sys.argv[1], sys.argv[2]
LLAMA = "--llama-server" in sys.argv[3:]
host = os.environ.get("OLLAMA_HOST", "127.0.0.1:11434")
ADDR, PORT = host.rsplit(":", 1)[0], int(host.rsplit(":", 1)[1])
if ADDR not in ("127.0.0.1", "localhost"):
    sys.exit("replay-llm: loopback only")
STARTED = time.monotonic()


def fixture(name):
    with open(os.path.join(FIX, name), "rb") as f:
        return f.read()


def note(port, method, path, model, prompt):
    """Appends one line to LOG; returns how many generate requests of
    MODEL it held before."""
    with open(LOG, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        before = sum(1 for line in f
                     if line.split(" ")[1:4] == ["POST", "/api/generate", model]
                     and len(line.split(" ")) > 4 and line.split(" ", 4)[4] != "-\n")
        f.write("%d %s %s %s %s\n" % (port, method, path, model or "-",
                                      json.dumps(prompt) if prompt else "-"))
        fcntl.flock(f, fcntl.LOCK_UN)
    return before


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, body, ctype="application/json; charset=utf-8",
             delay=0.0):
        if delay:
            time.sleep(delay)
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        note(PORT, "GET", self.path, None, None)
        if LLAMA:
            if self.path == "/health":
                if time.monotonic() - STARTED < 1.5:
                    self.send(503, fixture("llama-server/health_503_loading_DOCS-EXAMPLE.json"))
                else:
                    self.send(200, fixture("llama-server/health_200_DOCS-EXAMPLE.json"))
            else:
                self.send(404, b'{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}')
            return
        if self.path == "/":
            self.send(200, fixture("ollama/get-root_health_response_body.txt"),
                      "text/plain; charset=utf-8")
        elif self.path == "/api/ps":
            self.send(200, json.dumps({"models": [
                {"name": m, "model": m} for m in self.server.loaded
                if not m.startswith("gone:")]}).encode())
        else:
            self.send(404, b"404 page not found", "text/plain")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        try:
            req = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            self.send(400, b'{"error":"invalid JSON"}')
            return
        model = req.get("model", "")
        prompt = req.get("prompt")
        if LLAMA:
            msgs = req.get("messages") or [{}]
            note(PORT, "POST", self.path, model, msgs[-1].get("content"))
            if self.path == "/v1/chat/completions":
                self.send(200, fixture("llama-server/v1-chat-completions_nonstream_gpt-oss-20b.json"))
            else:
                self.send(404, b'{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}')
            return
        before = note(PORT, "POST", self.path, model, prompt)
        kind = model.split(":")[0]
        if self.path != "/api/generate":
            self.send(404, b"404 page not found", "text/plain")
        elif kind == "missing":
            self.send(404, fixture("ollama/error_404_model-not-found_body.json"))
        elif not prompt:
            if req.get("keep_alive") == 0:
                self.server.loaded.discard(model)
                self.send(200, fixture("ollama/api-generate_unload_response_DOCS-EXAMPLE.json"))
                return
            self.server.loaded.add(model)
            self.send(200, fixture(
                "ollama/api-generate_load_response_no-done-reason_DOCS-EXAMPLE.json"
                if kind == "old" else
                "ollama/api-chat_load_response_done-reason-load_DOCS-EXAMPLE.json"))
        elif kind == "busy" and before < 2:
            self.send(503, fixture("ollama/error_503_server-busy_body_SOURCE-TEXT.json"))
        elif kind == "err500" and before < 1:
            self.send(500, fixture("ollama/error_500_runner-terminated_body_ISSUE-TEXT.json"))
        elif kind == "drop" and before < 1:
            self.close_connection = True
            self.connection.shutdown(2)
        elif kind == "old":
            self.send(200, fixture("ollama/api-generate_nonstream_response_no-done-reason_DOCS-EXAMPLE.json"))
        else:
            self.send(200, fixture("ollama/api-generate_nonstream_response_gemma3-1b.json"),
                      delay=3.0 if kind == "slow" else 0.0)


class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


srv = S((ADDR, PORT), H)
srv.loaded = set()
print("replay-llm listening on %s:%d" % (ADDR, PORT), flush=True)
try:
    srv.serve_forever()
except KeyboardInterrupt:
    pass
