#!/usr/bin/env python3
"""Holds N idle TCP connections to 127.0.0.1:PORT, as a hostile local user
would: connects them in rounds of 64 (non-blocking, each round given a
moment to complete, so that the server's backlog is not simply overrun;
past a server's cap a connect only waits), writes how many were started
to READY, then sends nothing and keeps them open until killed (SIGTERM
closes them all at once).
   hold.py PORT N READY"""
import errno, resource, select, signal, socket, sys, time

port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < n + 64:
    sys.exit(f"hold.py: the hard descriptor limit {hard} is below {n + 64}")
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
while len(socks) < n:
    round_ = []
    for _ in range(min(64, n - len(socks))):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex(("127.0.0.1", port))
        if rc not in (0, errno.EINPROGRESS):
            sys.exit(f"hold.py: connect: {errno.errorcode.get(rc, rc)}")
        round_.append(s)
    socks += round_
    deadline = time.monotonic() + 0.5
    poll = select.poll()
    pending = {s.fileno() for s in round_}
    for fd in pending:
        poll.register(fd, select.POLLOUT)
    while pending and time.monotonic() < deadline:
        for fd, _ in poll.poll(max(1, int((deadline - time.monotonic()) * 1000))):
            poll.unregister(fd)
            pending.discard(fd)
with open(ready + ".tmp", "w") as f:
    f.write(f"{len(socks)}\n")
import os
os.rename(ready + ".tmp", ready)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(3600)
