#!/usr/bin/env python3
"""Holds N idle TCP connections to 127.0.0.1:PORT, as a hostile local user
would: connects them all (non-blocking: past the server's backlog a connect
only waits), writes how many were started to READY, then sends nothing and
keeps them open until killed (SIGTERM closes them all at once).
   hold.py PORT N READY"""
import errno, resource, signal, socket, sys, time

port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if hard != resource.RLIM_INFINITY and hard < n + 64:
    sys.exit(f"hold.py: the hard descriptor limit {hard} is below {n + 64}")
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    rc = s.connect_ex(("127.0.0.1", port))
    if rc not in (0, errno.EINPROGRESS):
        sys.exit(f"hold.py: connect: {errno.errorcode.get(rc, rc)}")
    socks.append(s)
with open(ready + ".tmp", "w") as f:
    f.write(f"{len(socks)}\n")
import os
os.rename(ready + ".tmp", ready)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    time.sleep(3600)
