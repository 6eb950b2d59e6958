#!/usr/bin/env bash
# What gpumgr's front door adds to an LLM request (docs/frontdoor.md):
# N requests one after another through gpumgr (1 simulated GPU, its model
# loaded) and N straight to a fake-llm server like the one gpumgr runs,
# both answering at once (--tokens-per-sec 0). Prints p50 and p99 of the
# whole answer (/api/generate, not streamed) and of the first streamed
# chunk (/api/chat), each way, and what gpumgr adds. Every request is a
# durable task (a submit and two moves, each fsynced before it counts), so
# the figures depend on the disk's fsync time: DIR (default /tmp) holds
# ROOT; a tmpfs DIR (/dev/shm) shows the cost without the disk's.
#   bench/frontdoor.sh [N] [DIR]        (defaults 200 /tmp)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${GPUMGR_BIN:-$here/../build/gpumgr}
n=${1:-200}
work=$(mktemp -d "${2:-/tmp}/gpumgr-bench.XXXXXX")
export GPUMGR_ROOT=$work/root
mkdir -p "$GPUMGR_ROOT"
pids=()
cleanup() {
  local p f
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  for f in "$GPUMGR_ROOT"/run/llm/llm-*.json; do
    [[ -f $f ]] && kill "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pid"])' "$f")" 2>/dev/null
  done
  rm -rf "$work"
}
trap cleanup EXIT
base=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1] % 10000 + 20000)')
api=$((base + 5)) direct=$((base + 6))
fake=("$bin" fake-llm --boot-sec 0 --load-sec 0 --tokens-per-sec 0 --models m1)
cat >"$GPUMGR_ROOT/config.json" <<JSON
{"gpu_backend": "sim", "cooling_sec": 0, "api": {"port": $api},
 "llm": {"default_model": "m1", "models": {"m1": {"vram_mb": 4096}},
   "server": {"argv": ["${fake[0]}", "fake-llm", "--boot-sec", "0", "--load-sec", "0",
                       "--tokens-per-sec", "0", "--models", "m1"],
              "env": {"OLLAMA_HOST": "127.0.0.1:{port}"}},
   "base_port": $base}}
JSON
"$bin" daemon --sim 1x24GB >"$work/daemon.log" 2>&1 &
pids+=($!)
"${fake[@]}" --port "$direct" >"$work/fake.log" 2>&1 &
pids+=($!)
for _ in $(seq 200); do [[ -s $GPUMGR_ROOT/api.token ]] && break; sleep 0.05; done
python3 - "$api" "$direct" "$(cat "$GPUMGR_ROOT/api.token")" "$n" "$GPUMGR_ROOT ($(stat -f -c %T "$work"))" <<'PY'
import http.client, json, sys, time
api, direct, token, n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])

def conn(port):
    for _ in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=60); c.connect(); return c
        except OSError:
            time.sleep(0.05)
    raise SystemExit("no server on %d" % port)

def one(c, hdr, path, body, first_only):
    t0 = time.perf_counter()
    c.request("POST", path, json.dumps(body), hdr)
    r = c.getresponse()
    if first_only:
        r.readline()               # the first event
        t = time.perf_counter() - t0
        r.read()
    else:
        r.read(); t = time.perf_counter() - t0
    assert r.status == 200, r.status
    return t * 1000

def run(port, auth):
    hdr = {"Content-Type": "application/json"}
    if auth: hdr["Authorization"] = "Bearer " + token
    c = conn(port)
    # warm up: the model loads (gpumgr boots its server first)
    for _ in range(3):
        one(c, hdr, "/api/generate", {"model": "m1", "prompt": "warm", "stream": False}, False)
    whole = sorted(one(c, hdr, "/api/generate", {"model": "m1", "prompt": "q %d" % i, "stream": False}, False) for i in range(n))
    first = sorted(one(c, hdr, "/api/chat", {"model": "m1", "messages": [{"role": "user", "content": "q %d" % i}]}, True) for i in range(n))
    return whole, first

def pct(v, p): return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]
d_whole, d_first = run(direct, False)
g_whole, g_first = run(api, True)
print("%d requests each way, one at a time; ms; ROOT %s" % (n, sys.argv[5]))
print("%-28s %8s %8s" % ("", "p50", "p99"))
for name, d, g in (("whole answer", d_whole, g_whole), ("first streamed chunk", d_first, g_first)):
    print("%-28s %8.2f %8.2f" % (name + ", direct", pct(d, 50), pct(d, 99)))
    print("%-28s %8.2f %8.2f" % (name + ", via gpumgr", pct(g, 50), pct(g, 99)))
    print("%-28s %8.2f %8.2f" % (name + ", gpumgr adds", pct(g, 50) - pct(d, 50), pct(g, 99) - pct(d, 99)))
PY
