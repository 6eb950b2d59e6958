#!/usr/bin/env python3
"""A self-configuring LLM worker for gpumgr (docs/workers.md), stdlib only.

It asks gpumgr for a GPU (POST /v1/leases), pins itself to the UUID it is
granted (CUDA_VISIBLE_DEVICES), starts an Ollama-compatible answer loop on
a loopback port, registers it (POST /v1/workers), and sends heartbeats until
it is stopped; then it deregisters and releases its lease. gpumgr sends it
the LLM tasks for its model. Replace `answer()` with a call into your own
model to make it a real worker.

  python3 worker.py --api http://127.0.0.1:7878 --model qwen2.5:7b \\
      --token-file /var/lib/gpumgr/api.token

Registering a worker needs an admin (docs/security.md): the API's token,
read from --token-file (default: $GPUMGR_ROOT/api.token when set).
"""
import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


TOKEN = None


def call(api, method, path, body=None):
    """One API request: (status, JSON reply)."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if TOKEN:
        headers["Authorization"] = "Bearer " + TOKEN
    req = urllib.request.Request(api + path, data=data, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)
    except OSError as e:             # gpumgr restarting: try again later
        return 0, {"error": str(e)}


def answer(model, prompt, name):
    """The model's answer. Here: a canned one that names the worker."""
    return "%s (%s) answers: %s" % (name, model, prompt[::-1])


def make_handler(args):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            pass

        def reply(self, code, obj):
            body = json.dumps(obj).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # health check
            self.reply(200, {"status": "ok", "model": args.model})

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            try:
                req = json.loads(self.rfile.read(n) or b"{}")
            except ValueError:
                return self.reply(400, {"error": "invalid JSON"})
            if self.path != "/api/generate":
                return self.reply(404, {"error": "not found"})
            if req.get("model") != args.model:
                return self.reply(404, {"error": "model '%s' not found" %
                                        req.get("model")})
            start = time.monotonic_ns()
            if args.delay > 0:
                time.sleep(args.delay)
            text = answer(args.model, req.get("prompt", ""), args.name)
            took = time.monotonic_ns() - start
            self.reply(200, {"model": args.model, "response": text,
                             "done": True, "done_reason": "stop",
                             "prompt_eval_count": len(req.get("prompt", "").split()),
                             "eval_count": len(text.split()),
                             "total_duration": took, "eval_duration": took})
    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--api", default="http://127.0.0.1:7878")
    p.add_argument("--model", required=True)
    p.add_argument("--vram-mb", type=int, default=0)
    p.add_argument("--name", default="example-worker")
    p.add_argument("--delay", type=float, default=0, help="seconds per answer")
    p.add_argument("--ready-file", help="write the worker's ids here once live")
    root = os.environ.get("GPUMGR_ROOT")
    p.add_argument("--token-file",
                   default=os.path.join(root, "api.token") if root else None,
                   help="the API token (default $GPUMGR_ROOT/api.token)")
    args = p.parse_args()
    global TOKEN
    if args.token_file:
        with open(args.token_file) as f:
            TOKEN = f.readline().strip()

    # 1. A GPU: the lease ends with this process (gpumgr checks the pid).
    code, lease = call(args.api, "POST", "/v1/leases",
                       {"requires": {"vram_mb": args.vram_mb},
                        "pid": os.getpid(), "holder": args.name})
    if code != 202:
        sys.exit("lease refused: %s" % lease)
    while lease.get("state") == "queued":
        time.sleep(0.1)
        code, lease = call(args.api, "GET", "/v1/leases/" + lease["lease_id"])
    if lease.get("state") != "granted":
        sys.exit("no GPU: %s" % lease)
    os.environ["CUDA_VISIBLE_DEVICES"] = lease["cuda_visible_devices"]
    os.environ["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"

    # 2. The answer loop, on a free loopback port.
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = "http://127.0.0.1:%d" % server.server_address[1]

    # 3. Register it, and wait until the daemon has attached it.
    code, w = call(args.api, "POST", "/v1/workers",
                   {"lease": lease["lease_id"], "kind": "llm",
                    "model": args.model, "endpoint": endpoint,
                    "pid": os.getpid(), "name": args.name})
    if code != 201:
        sys.exit("registration refused: %s" % w)
    wid = w["worker_id"]
    period = w["heartbeat_timeout_ms"] / 3000.0   # three beats per timeout
    while w.get("state") == "registered":
        time.sleep(0.05)
        code, w = call(args.api, "GET", "/v1/workers/" + wid)
    if w.get("state") != "live":
        sys.exit("worker not attached: %s" % w)
    print("worker %s live on GPU %s at %s" % (wid, lease["gpu_uuid"], endpoint),
          flush=True)
    if args.ready_file:
        with open(args.ready_file + ".tmp", "w") as f:
            json.dump({"worker_id": wid, "lease_id": lease["lease_id"],
                       "endpoint": endpoint, "gpu_uuid": lease["gpu_uuid"],
                       "pid": os.getpid()}, f)
        os.rename(args.ready_file + ".tmp", args.ready_file)

    # 4. Heartbeats until stopped; then leave cleanly.
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(period):
        code, beat = call(args.api, "POST", "/v1/workers/%s/heartbeat" % wid)
        if code not in (0, 200):     # 410: declared dead; register again
            print("heartbeat refused: %s" % beat, file=sys.stderr)
            break
    call(args.api, "DELETE", "/v1/workers/" + wid)
    call(args.api, "DELETE", "/v1/leases/" + lease["lease_id"])
    server.shutdown()


if __name__ == "__main__":
    main()
