#!/usr/bin/env python3
"""The storm of test_daemon_crash.sh, and the check of what record.sh (watch
mode) wrote in its ledger: one life per task, one script per GPU.

  lives.py storm ROOT BIN LEDGER TARGETS LOG SEED TASKS DK SK CK
  lives.py check ROOT LEDGER TARGETS NTASKS

The storm submits TASKS tasks, starts the daemon (BIN, 5 sim GPUs) and
kills it with SIGKILL DK times at a random moment 0-300 ms into its life,
restarting it each time; meanwhile it kills SK supervisors of running
scripts and CK scripts' children, spread over the rounds (and, for what is
still owed, while the last daemon runs: a quarter of the tasks is held back
until then, so that there is always something to kill). It ends once every
task is complete, stopping its daemon (SIGTERM) however it ends.

A victim is pinned with a pidfd, then checked (a supervisor: a session
leader running BIN whose run folder's lock names it; a child: named
"rchild LEDGER"), then killed through the pidfd: a recycled pid is never
hit. Its task id is appended to TARGETS (it may run again)."""
import collections
import glob
import json
import os
import random
import signal
import subprocess
import sys
import time


def stat_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[3])          # state, session


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().split(b"\0")


def environ(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        return dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)


def kill_pinned(pid, check):
    """Kills PID if CHECK(pid) holds for the process a pidfd pins."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return False
    try:
        if not check(pid):
            return False
        signal.pidfd_send_signal(fd, signal.SIGKILL)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def targeted(targets):
    try:
        return {l.split()[0] for l in open(targets)}
    except OSError:
        return set()


def is_long(tid):
    return int(tid[1:]) % 10 == 3


def children(ledger):
    """The scripts' children alive: {pid: task id}."""
    name = ("rchild " + ledger).encode()
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if cmdline(int(d))[0] == name:
                    kids[int(d)] = environ(int(d)).get(
                        b"GPUMGR_TASK_ID", b"?").decode()
            except OSError:
                pass
    return kids


def kill_supervisor(root, binary, ledger, targets, seed, again):
    """Kills the supervisor of a running script of a long task whose child
    runs (the child then outlives its supervisor by far and must be
    cleaned up; a script left running would overlap its next life), the
    youngest; one aimed at before only if AGAIN."""
    rng = random.Random(seed)
    done = targeted(targets)
    busy = set(children(ledger).values())
    runs = []
    for lock in glob.glob(os.path.join(root, "run", "tasks", "*", "lock")):
        try:
            with open(lock) as f:
                rec = json.loads(f.readline())
        except (OSError, ValueError):
            continue
        pid, tid = rec.get("supervisor_pid"), rec.get("task_id")
        if pid and tid and tid in busy and is_long(tid) and \
                (again or tid not in done):
            runs.append((tid in done,
                         -rec.get("started_ms", 0), rng.random(), pid, tid))
    for *_, pid, tid in sorted(runs):

        def is_supervisor(p):
            state, sid = stat_of(p)
            return state not in "ZX" and sid == p and \
                cmdline(p)[0] == binary.encode()
        if kill_pinned(pid, is_supervisor):
            with open(targets, "a") as f:
                f.write("%s supervisor %d\n" % (tid, pid))
            print("killed the supervisor of %s (pid %d)" % (tid, pid))
            return 0
    return 1


def kill_child(ledger, targets, seed, again):
    """Kills a script's child; of a task aimed at before only if AGAIN."""
    rng = random.Random(seed)
    done = targeted(targets)
    name = ("rchild " + ledger).encode()
    kids = [(tid in done, rng.random(), pid)
            for pid, tid in children(ledger).items()
            if again or tid not in done]
    for *_, pid in sorted(kids):
        tid = []

        def is_child(p):
            state, _ = stat_of(p)
            if state in "ZX" or cmdline(p)[0] != name:
                return False
            tid.append(environ(p).get(b"GPUMGR_TASK_ID", b"?").decode())
            return True
        if kill_pinned(pid, is_child):
            with open(targets, "a") as f:
                f.write("%s child %d\n" % (tid[0], pid))
            print("killed a child of %s (pid %d)" % (tid[0], pid))
            return 0
    return 1


def submit(root, first, count, seed):
    """Raw submissions c<first>..c<first+count-1>."""
    rng = random.Random(seed + first)
    for i in range(first, first + count):
        d = os.path.join(root, "tasks", "script_queue",
                         "priority_%d" % rng.randint(1, 5))
        os.makedirs(d, exist_ok=True)
        tid = "c%04d" % i
        # A kill aimed at a task makes it run again: retries enough for all.
        # One in ten runs long: supervisor kills aim at those, so that a
        # script left running would outlive its loss by far (and a run
        # started twice would overlap).
        ms = rng.randint(1200, 2400) if is_long(tid) else rng.randint(30, 200)
        body = {"script": "record", "max_retries": 50,
                "script_args": {"ms": ms}}
        if i % 5 == 0:
            body["gpu_requirement"] = "none"
        tmp = os.path.join(d, "." + tid)
        with open(tmp, "w") as f:
            json.dump(body, f)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(d, tid + ".json"))


def complete(root):
    return len(glob.glob(os.path.join(root, "tasks", "complete", "*.json")))


def storm(root, binary, ledger, targets, log, seed, tasks, dk, sk, ck):
    rng = random.Random(seed)
    logf = open(log, "ab")
    daemon = [None]

    def start():
        daemon[0] = subprocess.Popen([binary, "daemon", "--sim", "5x24GB"],
                                     stdout=logf, stderr=subprocess.STDOUT)

    def stop(sig):
        p, daemon[0] = daemon[0], None
        if p is not None:
            p.send_signal(sig)
            p.wait()

    done = {"sup": 0, "child": 0}
    want = {"sup": sk, "child": ck}
    kill = {"sup": lambda again: kill_supervisor(root, binary, ledger,
                                                 targets, rng.random(), again),
            "child": lambda again: kill_child(ledger, targets, rng.random(),
                                              again)}
    # A task aimed at again only when none other came for a while: kills
    # spread over as many tasks as the run allows.
    last = {"sup": time.monotonic(), "child": time.monotonic()}

    def try_kills(share, patience):
        """The kills owed by SHARE (0..1) of the run, waiting up to
        PATIENCE seconds for a victim."""
        for k in ("sup", "child"):
            end = time.monotonic() + patience
            while done[k] < want[k] and done[k] < want[k] * share:
                if kill[k](time.monotonic() - last[k] > 2) == 0:
                    done[k] += 1
                    last[k] = time.monotonic()
                elif time.monotonic() >= end:
                    break
                else:
                    time.sleep(0.01)

    t0 = time.monotonic()
    first, held = tasks // 2, tasks // 4
    rest = tasks - first - held
    submit(root, 0, first, seed)
    nxt = first
    try:
        for r in range(1, dk + 1):
            start()
            if rest > 0:
                n = min(-(-rest // dk), first + rest - nxt)
                submit(root, nxt, n, seed)
                nxt += n
            time.sleep(rng.randrange(300) / 1000.0)
            try_kills(r / dk, 0.3)
            stop(signal.SIGKILL)
        print("killed the daemon %d times in %.1f s; %d supervisor and %d "
              "child kills so far; finishing the run" % (dk,
              time.monotonic() - t0, done["sup"], done["child"]))
        start()
        submit(root, nxt, tasks - nxt, seed)
        # Generous: a loaded box runs a script in a second or more.
        limit = 300 + tasks
        deadline = time.monotonic() + limit
        while complete(root) < tasks:
            if time.monotonic() > deadline:
                print("FAIL: %d of %d tasks complete after %d s"
                      % (complete(root), tasks, limit))
                return 1
            try_kills(1.0, 0.05)
            time.sleep(0.02)
        stop(signal.SIGTERM)
    finally:
        stop(signal.SIGTERM)
    print("killed %d supervisors and %d scripts' children; all %d tasks "
          "complete after %.1f s" % (done["sup"], done["child"], tasks,
                                     time.monotonic() - t0))
    if done["sup"] < sk or done["child"] < ck:
        print("FAIL: the run ended before every kill was made")
        return 1
    return 0


def check(root, ledger, targets, ntasks):
    bad = []
    ids = sorted(os.path.basename(p)[:-5] for p in
                 glob.glob(os.path.join(root, "tasks", "complete", "*.json")))
    if len(ids) != ntasks or len(set(ids)) != ntasks:
        bad.append("%d tasks complete, want %d" % (len(ids), ntasks))
    for i in ids:
        t = json.load(open(os.path.join(root, "tasks", "complete", i + ".json")))
        if t.get("status") != "complete":
            bad.append("%s: status %s" % (i, t.get("status")))
    targeted = set()
    if os.path.exists(targets):
        targeted = {l.split()[0] for l in open(targets)}
    starts = collections.defaultdict(list)      # task -> [(ns, pid, gpu)]
    ends = {}                                    # (task, pid) -> (ns, rc)
    overlaps = []
    for line in open(ledger):
        w = line.split()
        if w[0] == "start":
            starts[w[1]].append((int(w[3]), w[4], w[2]))
        elif w[0] == "end":
            ends[(w[1], w[4])] = (int(w[3]), int(w[5]))
        elif w[0] == "overlap":
            overlaps.append(line.strip())
    if overlaps:
        bad.append("%d overlapping lives seen as they started, e.g. %s"
                   % (len(overlaps), overlaps[:3]))
    lives = []          # (start, end, task, gpu, pid) of lives that ended
    for tid, ss in starts.items():
        for ns, pid, gpu in ss:
            if (tid, pid) in ends:
                lives.append((ns, ends[(tid, pid)][0], tid, gpu, pid))
    for key in ("task", "gpu"):
        by = collections.defaultdict(list)
        for l in lives:
            k = l[2] if key == "task" else l[3]
            if k != "none":
                by[k].append(l)
        for k, ls in by.items():
            ls.sort()
            for a, b in zip(ls, ls[1:]):
                if b[0] < a[1]:
                    bad.append("two lives overlap on %s %s: %s and %s"
                               % (key, k, a, b))
    for i in ids:
        ok = [p for ns, p, g in starts.get(i, []) if ends.get((i, p), (0, 1))[1] == 0]
        if not ok:
            bad.append("%s: complete, but no life of it ended well" % i)
        if i not in targeted and len(starts.get(i, [])) != 1:
            bad.append("%s: never targeted, yet started %d times"
                       % (i, len(starts.get(i, []))))
    nlives = sum(len(v) for v in starts.values())
    print("ledger: %d lives of %d tasks (%d targeted by kills), %d ended, "
          "%d overlaps" % (nlives, len(starts), len(targeted), len(lives),
                           len(overlaps)))
    for b in bad[:20]:
        print("FAIL:", b)
    return 1 if bad else 0


def main():
    cmd = sys.argv[1]
    if cmd == "storm":
        a = sys.argv[2:]
        return storm(a[0], a[1], a[2], a[3], a[4], *map(int, a[5:10]))
    if cmd == "check":
        return check(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    sys.exit("usage: see the top of " + sys.argv[0])


if __name__ == "__main__":
    sys.exit(main())
