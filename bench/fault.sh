#!/usr/bin/env bash
# Fault to offline: the time from a fault injected on a simulated GPU to
# that GPU showing `offline` in gpu_state.json, with DEFAULT settings (the
# configuration gives only the sim backend). Faults alternate between an
# edit of the sim GPUs file and the API (POST /v1/sim/gpus/<uuid>), and
# between kinds (lost, xid:79, ecc, too hot); each GPU takes one fault, so
# no probation is in the way. The baseline printed beside it is the rescan
# interval, which bounds the detection of a polled fault.
#   bench/fault.sh [N]      (default 16 GPUs, one fault each; needs build/gpumgr)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${GPUMGR_BIN:-$here/../build/gpumgr}
n=${1:-16}
work=$(mktemp -d /tmp/gpumgr-bench.XXXXXX)
dpid=
trap '[[ -n $dpid ]] && kill $dpid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"
echo '{"gpu_backend": "sim"}' >"$root/config.json"
"$bin" --root "$root" daemon --sim "${n}x24GB" --log "$work/daemon.log" &
dpid=$!
python3 - "$root" "$n" "$("$bin" --root "$root" config show --json 2>/dev/null |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["rescan_interval_ms"])')" <<'PY'
import http.client, json, os, socket, statistics, sys, time
root, n, interval = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sim = os.path.join(root, "sim_gpus.json")

def state():
    while True:
        try:
            return json.load(open(os.path.join(root, "gpu_state.json")))
        except (OSError, ValueError):
            time.sleep(0.001)

class Unix(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.path.join(root, "api.sock"))

end = time.time() + 30
while not (os.path.exists(os.path.join(root, "api.sock")) and
           state().get("daemon_pid") and len(state()["gpus"]) == n):
    assert time.time() < end, "daemon did not start: %s" % os.listdir(root)
    time.sleep(0.01)
uuids = [g["uuid"] for g in sorted(json.load(open(sim))["gpus"], key=lambda g: g["uuid"])]
kinds = [{"health": "lost"}, {"health": "xid:79"}, {"health": "ecc"}, {"temp_c": 97}]
lat = {"file": [], "api": []}
for i, u in enumerate(uuids):
    change = kinds[i % len(kinds)]
    how = "file" if i % 2 == 0 else "api"
    # Start at a random point of the rescan cycle, as a real fault would.
    time.sleep((i * 0.37 % 1.0) * interval / 1000)
    t0 = time.monotonic()
    if how == "file":
        doc = json.load(open(sim))
        for g in doc["gpus"]:
            if g["uuid"] == u:
                g.update(change)
        with open(sim + ".new", "w") as f:
            json.dump(doc, f)
        os.rename(sim + ".new", sim)
    else:
        c = Unix("localhost", timeout=10)
        c.request("POST", "/v1/sim/gpus/" + u, json.dumps(change))
        r = c.getresponse(); r.read(); c.close()
        assert r.status == 200, r.status
    while True:
        g = [x for x in state()["gpus"].values() if x["uuid"] == u]
        if g and g[0]["state"] == "offline":
            break
        assert time.monotonic() - t0 < 30, "GPU %s never went offline" % u
        time.sleep(0.002)
    lat[how].append((time.monotonic() - t0) * 1000)

every = sorted(lat["file"] + lat["api"])
def p(v, q):
    return v[min(len(v) - 1, int(q * len(v)))]
print("fault -> offline in gpu_state.json, %d faults at default settings "
      "(rescan_interval_ms %d):" % (len(every), interval))
for how in ("file", "api"):
    v = sorted(lat[how])
    print("  %-4s edit: median %6.0f ms  max %6.0f ms  (%d faults)"
          % (how, statistics.median(v), v[-1], len(v)))
print("  all      : median %6.0f ms  p90 %6.0f ms  max %6.0f ms" %
      (statistics.median(every), p(every, 0.9), every[-1]))
print("  ratio to the rescan interval: median %.2f, max %.2f; goal: max < 2000 ms: %s" %
      (statistics.median(every) / interval, every[-1] / interval,
       "met" if every[-1] < 2000 else "NOT met"))
PY
