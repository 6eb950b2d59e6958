#!/usr/bin/env python3
"""Raw HTTP edge cases against the API on 127.0.0.1:PORT: every error the
server makes itself (bad request line or headers, sizes, methods, chunked
bodies, Expect, slow requests) comes back as the JSON error of docs/api.md,
never HTML; keep-alive and 100-continue still work; an idle connection is
closed after the idle deadline, a slow one answered 408 after the request
deadline (both set to SECS seconds by the test's config).
   http_edge.py PORT SECS [TOKEN]
Requests that pass the gate carry the API token (docs/security.md) where
one is given, so that they reach the router instead of stopping at 401."""
import json, socket, sys, time

port, secs = int(sys.argv[1]), int(sys.argv[2])
token = sys.argv[3] if len(sys.argv) > 3 else None
failed = 0

def auth(raw, eol=b"\r\n"):
    """RAW with an Authorization header after its request line."""
    if token is None:
        return raw
    line, rest = raw.split(eol, 1)
    return line + eol + b"Authorization: Bearer " + token.encode() + eol + rest

def conn():
    s = socket.create_connection(("127.0.0.1", port), timeout=secs * 6 + 30)
    return s

LEFT = {}

def read_reply(s):
    """Reads one reply: (code, headers dict, body bytes); None at EOF.
    Bytes past it stay for the next call on the same socket."""
    buf = LEFT.pop(s.fileno(), b"")
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            return None if not buf else (0, {}, buf)
        buf += b
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin1").split("\r\n")
    code = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, v = l.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    if "content-length" not in hdrs and code >= 200:
        while True:  # the body runs to the end of the connection
            b = s.recv(65536)
            if not b:
                return code, hdrs, rest
            rest += b
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        b = s.recv(65536)
        if not b:
            break
        rest += b
    LEFT[s.fileno()] = rest[n:]
    return code, hdrs, rest[:n]

def check(name, raw, want_code, want_ecode=None, half_close=True):
    global failed
    s = conn()
    s.sendall(raw)
    if half_close:
        s.shutdown(socket.SHUT_WR)
    r = read_reply(s)
    s.close()
    ok = r is not None and r[0] == want_code
    why = ""
    if ok:
        ctype = r[1].get("content-type", "")
        try:
            j = json.loads(r[2])
        except ValueError:
            j = None
        if not ctype.startswith("application/json") or j is None:
            ok, why = False, f"not JSON: {ctype} {r[2][:80]!r}"
        elif want_code >= 400 and (not isinstance(j.get("error"), dict) or
                                   not isinstance(j["error"].get("message"), str) or
                                   (want_ecode and j["error"].get("code") != want_ecode)):
            ok, why = False, f"not the error shape: {r[2][:200]!r}"
    print(("ok   " if ok else "FAIL ") + name + (f": got {r[0] if r else 'EOF'} {why}" if not ok else ""))
    failed += not ok

big = b"x" * (70 * 1024)
check("unknown method", b"BREW /v1/status HTTP/1.1\r\n\r\n", 501, "not_implemented")
check("TRACE", b"TRACE /v1/status HTTP/1.1\r\n\r\n", 501, "not_implemented")
check("PUT is 405", auth(b"PUT /v1/status HTTP/1.1\r\nConnection: close\r\n\r\n"), 405, "method_not_allowed")
check("HTTP/2.0", b"GET /v1/status HTTP/2.0\r\n\r\n", 505)
check("HTTP/0.9 style", b"GET /v1/status\r\n\r\n", 400, "bad_request")
check("no target", b"GET  HTTP/1.1\r\n\r\n", 400, "bad_request")
check("absolute URI", b"GET http://x/v1/status HTTP/1.1\r\n\r\n", 400, "bad_request")
check("authority target", b"GET //x/v1/status HTTP/1.1\r\n\r\n", 400, "bad_request")
check("blank line first", b"\r\nGET /v1/status HTTP/1.1\r\n\r\n", 400, "bad_request")
check("garbage", b"\x00\xff\xfe garbage\r\n\r\n", 400, "bad_request")
check("header without colon", b"GET /v1/status HTTP/1.1\r\nNoColon\r\n\r\n", 400, "bad_request")
check("folded header", b"GET /v1/status HTTP/1.1\r\nX: a\r\n b\r\n\r\n", 400, "bad_request")
check("control char in header", b"GET /v1/status HTTP/1.1\r\nX: a\x01b\r\n\r\n", 400, "bad_request")
check("NUL in header name", b"GET /v1/status HTTP/1.1\r\nX\x00Y: 1\r\n\r\n", 400, "bad_request")
check("bad Content-Length", b"POST /v1/tasks HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400, "bad_request")
check("two Content-Lengths", b"POST /v1/tasks HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n{", 400, "bad_request")
check("huge Content-Length", b"POST /v1/tasks HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "bad_request")
check("body too large", b"POST /v1/tasks HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", 413, "too_large")
check("headers too large", b"GET /v1/status HTTP/1.1\r\nX: " + big + b"\r\n\r\n", 431, "headers_too_large")
check("request line too large", b"GET /" + big + b" HTTP/1.1\r\n\r\n", 431, "headers_too_large")
check("chunked", b"POST /v1/tasks HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411, "length_required")
check("Expect other", b"POST /v1/tasks HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}", 417, "expectation_failed")
check("HEAD with a body", b"HEAD /v1/status HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 400, "bad_request")
check("GET with a body", auth(b"GET /v1/status HTTP/1.1\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"), 400, "bad_request")
check("invalid JSON quoting bytes that are not UTF-8",
      auth(b'POST /v1/tasks HTTP/1.1\r\nConnection: close\r\nContent-Length: 8\r\n\r\n"\\\xe2\x82\xac\xa9u}'), 400, "invalid_json")
check("bare LF line ends", auth(b"GET /v1/status HTTP/1.0\n\n", b"\n"), 200)

# keep-alive: two requests in one write, two replies
s = conn()
s.sendall(auth(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n") + auth(b"GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n"))
r1, r2 = read_reply(s), read_reply(s)
s.close()
ok = r1 and r1[0] == 200 and r2 and r2[0] == 404 and json.loads(r2[2])["error"]["code"] == "not_found"
print(("ok   " if ok else "FAIL ") + "two pipelined requests on one connection")
failed += not ok

# 100-continue: the body is sent after the interim reply
s = conn()
body = b'{"prompt": "hi"}'
s.sendall(auth(b"POST /v1/nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)))
r = read_reply(s)
ok = r is not None and r[0] == 100
if ok:
    s.sendall(body)
    r = read_reply(s)
    ok = r is not None and r[0] == 404
print(("ok   " if ok else "FAIL ") + "Expect: 100-continue")
failed += not ok
s.close()

# a slow request: head sent in part, then nothing: 408 after the deadline
t0 = time.monotonic()
s = conn()
s.sendall(b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\n")
r = read_reply(s)
dt = time.monotonic() - t0
ok = r is not None and r[0] == 408 and json.loads(r[2])["error"]["code"] == "request_timeout" and dt >= secs * 0.9
print(("ok   " if ok else "FAIL ") + f"slow head answered 408 after {dt:.1f} s")
failed += not ok
s.close()
# a slow body: same
t0 = time.monotonic()
s = conn()
s.sendall(b"POST /v1/tasks HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
r = read_reply(s)
dt = time.monotonic() - t0
ok = r is not None and r[0] == 408 and dt >= secs * 0.9
print(("ok   " if ok else "FAIL ") + f"slow body answered 408 after {dt:.1f} s")
failed += not ok
s.close()
# an idle connection: closed without a word after the idle deadline
t0 = time.monotonic()
s = conn()
r = read_reply(s)
dt = time.monotonic() - t0
ok = r is None and dt >= secs * 0.9
print(("ok   " if ok else "FAIL ") + f"idle connection closed after {dt:.1f} s")
failed += not ok
s.close()
sys.exit(1 if failed else 0)
