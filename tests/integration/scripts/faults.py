#!/usr/bin/env python3
"""Drives test_faults.sh: a stream of script and LLM tasks on a simulated
GPU box while twelve kinds of fault are injected, some by editing the sim
GPUs file, some through the API (/v1/sim/gpus). Then checks that every task
completed and that no task started on a GPU while it was offline.

How "started on an offline GPU" is checked without luck: for each fault the
test records a window that is surely inside the daemon's offline interval:
from the moment the test SAW the GPU offline in gpu_state.json (the daemon
took it offline before writing that) to the moment the test healed it plus
the probation (the daemon cannot be back earlier; this is asserted too).
A start is the ledger's process start (every attempt of a script) or an LLM
task's started_at (the daemon's own clock); a start in a window on that GPU
is a failure. Starts are allowed a START_SLACK_MS grace after the window
opens: a process forked just before the fault writes its ledger line a few
milliseconds later.

usage: faults.py ROOT LEDGER SEED PROBATION_MS
"""
import datetime
import glob
import http.client
import json
import os
import random
import signal
import socket
import sys
import threading
import time

ROOT, LEDGER, SEED, PROBATION_MS = (sys.argv[1], sys.argv[2], int(sys.argv[3]),
                                    int(sys.argv[4]))
START_SLACK_MS = 300
SIM = os.path.join(ROOT, "sim_gpus.json")
UUID = "GPU-5151d%03x-0000-4000-8000-%012d"
U = [UUID % (i, i) for i in range(5)]
HOT_ADDED = "GPU-5151d000-0000-4000-8000-0000000000aa"
rng = random.Random(SEED)
windows = []        # (uuid, from_ms, to_ms, what, only_6gb)
submitted = []
lock = threading.Lock()


def now_ms():
    return time.time() * 1000.0


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def ok(msg):
    print("ok: " + msg, flush=True)


class UnixHTTP(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(os.path.join(ROOT, "api.sock"))


def api(method, path, body=None):
    c = UnixHTTP("localhost", timeout=10)
    c.request(method, path, None if body is None else json.dumps(body),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data else None


def api_ok(method, path, body=None, want=200):
    code, reply = api(method, path, body)
    if code != want:
        fail("%s %s -> %d %s" % (method, path, code, reply))
    return reply


def state():
    while True:
        try:
            with open(os.path.join(ROOT, "gpu_state.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            time.sleep(0.005)


def gpu(uuid, s=None):
    for g in (s or state())["gpus"].values():
        if g.get("uuid") == uuid:
            return g
    return None


def wait_for(what, pred, timeout=30):
    # at least GPUMGR_TEST_MIN_WAIT seconds, as lib.sh's wait_for
    timeout = max(timeout, int(os.environ.get("GPUMGR_TEST_MIN_WAIT", "60")))
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.01)
    fail("timed out waiting for " + what)


def sim_edit(fn):
    """Edits the sim GPUs file as an operator would: write a copy, rename."""
    with open(SIM) as f:
        doc = json.load(f)
    fn(doc["gpus"])
    tmp = SIM + ".edit"
    with open(tmp, "w") as f:
        f.write('{"gpus": [\n' + ",\n".join(
            "  " + json.dumps(g, separators=(",", ":")) for g in doc["gpus"]) + "\n]}\n")
    os.rename(tmp, SIM)


def sim_set(uuid, **kv):
    def fn(gpus):
        for g in gpus:
            if g["uuid"] == uuid:
                g.update(kv)
    sim_edit(fn)


def offline(uuid):
    g = gpu(uuid)
    return g is not None and g["state"] == "offline" and g


def usable(uuid):
    g = gpu(uuid)
    return g is not None and g["state"] != "offline" and g


def fault_and_heal(what, uuid, inject, heal, reason_has):
    """Injects, waits for offline, heals, checks probation, waits for idle."""
    inject()
    g = wait_for(what + ": offline", lambda: offline(uuid))
    t_off = now_ms()
    if reason_has not in (g.get("offline_reason") or ""):
        fail("%s: offline_reason %r lacks %r" % (what, g.get("offline_reason"), reason_has))
    # Let work flow on the other GPUs a little: wait until two more tasks
    # completed.
    n = count("complete")
    wait_for(what + ": work goes on", lambda: count("complete") >= n + 2)
    t_heal = now_ms()
    heal()
    g = wait_for(what + ": probation", lambda: (lambda x: x and (
        x["state"] != "offline" or "probation" in (x.get("offline_reason") or "")) and x)(gpu(uuid)))
    if g["state"] != "offline" and PROBATION_MS > 0:
        fail("%s: back without a probation: %s" % (what, g))
    wait_for(what + ": idle again", lambda: usable(uuid), timeout=PROBATION_MS / 1000 + 30)
    t_back = now_ms()
    if t_back < t_heal + PROBATION_MS:
        fail("%s: back %.0f ms after the heal, before the %d ms probation"
             % (what, t_back - t_heal, PROBATION_MS))
    windows.append((uuid, t_off, t_heal + PROBATION_MS, what, False))
    ok("%s: offline (%s), probation, back %.0f ms after the heal"
       % (what, g.get("offline_reason") or reason_has, t_back - t_heal))


def count(stage):
    return len(glob.glob(os.path.join(ROOT, "tasks", stage, "*.json")))


def put(cls, prio, tid, body):
    d = os.path.join(ROOT, "tasks", cls + "_queue", "priority_%d" % prio)
    os.makedirs(d, exist_ok=True)
    tmp = os.path.join(d, "." + tid)
    with open(tmp, "w") as f:
        json.dump(body, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(d, tid + ".json"))
    with lock:
        submitted.append(tid)


stop_feeding = threading.Event()


def feeder():
    i = 0
    while not stop_feeding.is_set():
        tid = "t%04d" % i
        if i % 3 == 2:
            put("llm", rng.randint(1, 5), tid, {"prompt": "question %d" % i})
        elif i % 5 == 0:
            put("script", rng.randint(1, 5), tid, {
                "script": "record", "script_args": {"ms": rng.randint(50, 200)},
                "requires": {"vram_mb": 6144}})
        else:
            put("script", rng.randint(1, 5), tid, {
                "script": "record", "script_args": {"ms": rng.randint(50, 250)}})
        i += 1
        # Keep a few tasks queued, not hundreds: the faults must meet work.
        while not stop_feeding.is_set() and i - count("complete") - count("failed") > 12:
            time.sleep(0.01)


def main():
    t = threading.Thread(target=feeder, daemon=True)
    t.start()
    wait_for("first completions", lambda: count("complete") >= 5)

    # 1-4: health failures, by file and by API.
    fault_and_heal("lost (file)", U[1], lambda: sim_set(U[1], health="lost"),
                   lambda: sim_set(U[1], health="ok"), "lost")
    fault_and_heal("xid:79 (API)", U[2],
                   lambda: api_ok("POST", "/v1/sim/gpus/" + U[2], {"health": "xid:79"}),
                   lambda: api_ok("POST", "/v1/sim/gpus/" + U[2], {"health": "ok"}), "xid:79")
    fault_and_heal("xid:48 (file)", U[3], lambda: sim_set(U[3], health="xid:48"),
                   lambda: sim_set(U[3], health="ok"), "xid:48")
    fault_and_heal("ecc (API)", U[4],
                   lambda: api_ok("POST", "/v1/sim/gpus/" + U[4], {"health": "ecc"}),
                   lambda: api_ok("POST", "/v1/sim/gpus/4", {"health": "ok"}), "ecc")

    # 4b: an application's Xid (13: graphics engine exception) is not the
    # GPU's fault: it stays in service and keeps taking work.
    api_ok("POST", "/v1/sim/gpus/" + U[4], {"health": "xid:13"})
    wait_for("xid:13 read", lambda: gpu(U[4]).get("health") == "xid:13")
    t_from = now_ms()

    def took_work_since():
        with open(LEDGER) as f:
            return any(l.split()[0] == "start" and l.split()[2] == U[4] and
                       int(l.split()[3]) / 1e6 > t_from for l in f)
    wait_for("GPU 4 takes work with xid:13", took_work_since)
    if gpu(U[4])["state"] == "offline":
        fail("an ignored Xid took GPU 4 offline: %s" % gpu(U[4]))
    api_ok("POST", "/v1/sim/gpus/" + U[4], {"health": "ok"})
    ok("ignored Xid 13: GPU 4 stays in service and takes work")

    # 5: too hot, with hysteresis: 88 C is under the limit (90) but over
    # the resume point (85), so the GPU stays out.
    def cool():
        api_ok("POST", "/v1/sim/gpus/" + U[1], {"temp_c": 88})
        wait_for("88 C read", lambda: gpu(U[1]).get("temp_c") == 88)
        g = gpu(U[1])
        if g["state"] != "offline" or "hot" not in g.get("offline_reason", ""):
            fail("hot GPU back at 88 C (resume at 85): %s" % g)
        api_ok("POST", "/v1/sim/gpus/" + U[1], {"temp_c": 80})
    fault_and_heal("hot (API temp_c 95)", U[1],
                   lambda: api_ok("POST", "/v1/sim/gpus/" + U[1], {"temp_c": 95}), cool, "hot")

    # 6: removed from the machine, then back (the same UUID: probation).
    removed = {}

    def remove():
        removed.update(api_ok("DELETE", "/v1/sim/gpus/" + U[2])["removed"])

    fault_and_heal("removed (API DELETE)", U[2], remove,
                   lambda: api_ok("POST", "/v1/sim/gpus", removed, want=201),
                   "no longer discovered")

    # 7: a foreign process fills most of GPU 3's VRAM: 4576 MB free, so the
    # 6 GB tasks must not start there while it lasts.
    api_ok("POST", "/v1/sim/gpus/" + U[3], {"vram_used_mb": 20000})
    wait_for("foreign VRAM read", lambda: gpu(U[3]).get("vram_free_mb") == 4576)
    t_from = now_ms()
    n = count("complete")
    wait_for("work while GPU 3 is full", lambda: count("complete") >= n + 8)
    t_to = now_ms()
    api_ok("POST", "/v1/sim/gpus/" + U[3], {"vram_used_mb": 0})
    windows.append((U[3], t_from, t_to, "foreign VRAM", True))
    ok("foreign VRAM: GPU 3 reads 4576 MB free, stays in service")

    # 8: the GPUs file does not parse for a while: the daemon keeps every
    # GPU as it was (none goes offline) and says so in its log.
    with open(SIM) as f:
        good = f.read()
    before = {g["uuid"]: g["state"] == "offline" for g in state()["gpus"].values()}
    with open(SIM + ".bad", "w") as f:
        f.write('{"gpus": [ {"uuid": ')
    os.rename(SIM + ".bad", SIM)
    log = os.path.join(os.path.dirname(ROOT), "daemon.log")
    wait_for("rescan failure logged", lambda: "GPU rescan failed" in open(log).read())
    n = count("complete")
    wait_for("work while the file is bad", lambda: count("complete") >= n + 3)
    after = {g["uuid"]: g["state"] == "offline" for g in state()["gpus"].values()}
    if any(after.get(u) and not was for u, was in before.items()):
        fail("a GPU went offline because the GPUs file did not parse: %s" % after)
    with open(SIM + ".good", "w") as f:
        f.write(good)
    os.rename(SIM + ".good", SIM)
    wait_for("rescan works again", lambda: "GPU rescan works again" in open(log).read())
    ok("unparsable GPUs file: rescans fail, no GPU flaps")

    # 9: a hot-added GPU is idle at its first scan (no probation) and takes
    # work.
    t_add = now_ms()
    api_ok("POST", "/v1/sim/gpus", {"uuid": HOT_ADDED, "name": "Hot-added GPU",
                                    "vram_total_mb": 24576, "compute_capability": "8.6"}, want=201)
    first = wait_for("hot-added GPU seen", lambda: gpu(HOT_ADDED))
    if first["state"] == "offline":
        fail("a hot-added GPU starts offline: %s" % first)

    def took_work():
        with open(LEDGER) as f:
            return any(l.split()[0] == "start" and l.split()[2] == HOT_ADDED for l in f)
    wait_for("hot-added GPU takes a task", took_work)
    ok("hot-added GPU: %s at its first scan, took a task %.0f ms after it was added"
       % (first["state"], now_ms() - t_add))

    # 10: an LLM server killed by pid under (or between) requests.
    def server():
        for g in state()["gpus"].values():
            if g.get("state") in ("llm_busy", "llm_ready") and g.get("pid"):
                return g
    g = wait_for("an LLM server", server)
    os.kill(g["pid"], signal.SIGKILL)
    ok("killed the LLM server of GPU %s (pid %d, %s)" % (g["uuid"], g["pid"], g["state"]))

    # 11: a script's process killed by a signal: the task is retried.
    def running_child():
        # The supervisor's record: in the run folder's lock (older layout:
        # supervisor.json); status.json and exit.json repeat the child pid.
        for p in glob.glob(os.path.join(ROOT, "run", "tasks", "t*", "lock")) + \
                glob.glob(os.path.join(ROOT, "run", "tasks", "t*", "*.json")):
            try:
                with open(p) as f:
                    pid = json.load(f).get("child_pid")
            except (OSError, ValueError):
                continue
            if pid:
                try:
                    os.kill(pid, 0)
                except OSError:
                    continue
                return os.path.basename(os.path.dirname(p)), pid
    tid, pid = wait_for("a running script", running_child)
    os.kill(pid, signal.SIGKILL)
    ok("killed the process of %s (pid %d)" % (tid, pid))

    n = count("complete")
    wait_for("work after the kills", lambda: count("complete") >= n + 5)
    stop_feeding.set()
    t.join()
    total = len(submitted)
    wait_for("all %d tasks done" % total,
             lambda: count("complete") + count("failed") >= total, timeout=120)
    if count("failed"):
        fail("%d tasks failed: %s" % (count("failed"), os.listdir(os.path.join(ROOT, "tasks", "failed"))))
    with open(os.path.join(ROOT, "tasks", "complete", tid + ".json")) as f:
        killed = json.load(f)
    if killed["attempts"] < 2:
        fail("the killed script's task was not retried: %s" % killed)
    ok("all %d tasks completed; the killed script's task on attempt %d"
       % (total, killed["attempts"]))

    # No start inside an offline window.
    starts = []     # (uuid, ms, task)
    with open(LEDGER) as f:
        for line in f:
            w = line.split()
            if w[0] == "start":
                starts.append((w[2], int(w[3]) / 1e6, w[1]))
    six = set()
    for p in glob.glob(os.path.join(ROOT, "tasks", "complete", "*.json")):
        with open(p) as f:
            task = json.load(f)
        if task.get("requires", {}).get("vram_mb") == 6144:
            six.add(task["task_id"])
        if task["task_class"] == "llm" and task.get("assigned_gpu_uuid"):
            at = datetime.datetime.fromisoformat(task["started_at"].replace("Z", "+00:00"))
            ms = at.timestamp() * 1000
            starts.append((task["assigned_gpu_uuid"], ms, task["task_id"]))
    for uuid, t0, t1, what, only6 in windows:
        for u, ms, tid in starts:
            if u == uuid and t0 + START_SLACK_MS <= ms <= t1 and (not only6 or tid in six):
                fail("%s started on %s during '%s' (%.0f ms into it)" % (tid, u, what, ms - t0))
    ok("no task started on a GPU while it was offline (%d windows, %d starts checked)"
       % (len(windows), len(starts)))


main()
