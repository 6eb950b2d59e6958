"""A client for gpumgr's HTTP API, standard library only.

It talks to the daemon over the unix socket ROOT/api.sock (the default),
or over TCP with the bearer token from ROOT/api.token. Waiting uses the
API's long poll (GET /v1/tasks/{id}?wait=S): no polling loop.

    import gpumgr
    g = gpumgr.Client()                       # $GPUMGR_ROOT, else the default ROOT
    print(g.answer("Summarise: ..."))         # submit, wait, the LLM's answer
    t = g.submit(script="whisper_transcribe", args={"file": "/data/a.wav"})
    t = g.wait(t["task_id"], timeout=600)     # the task once it has ended
"""

import http.client
import json
import os
import socket
import time
import urllib.parse

__all__ = ["Client", "ApiError", "TaskFailed", "WaitTimeout", "default_root"]

_ENDED = ("complete", "failed")
_WAIT_MAX = 300  # the API's longest ?wait=


def default_root():
    """$GPUMGR_ROOT, else /var/lib/gpumgr for root, else ~/.gpumgr."""
    env = os.environ.get("GPUMGR_ROOT")
    if env:
        return env
    if os.geteuid() == 0:
        return "/var/lib/gpumgr"
    return os.path.join(os.path.expanduser("~"), ".gpumgr")


class ApiError(Exception):
    """The API answered with an error: .status (HTTP), .code, .message."""

    def __init__(self, status, code, message, field=None):
        super().__init__("%s %s: %s" % (status, code, message))
        self.status, self.code, self.message, self.field = status, code, message, field


class TaskFailed(Exception):
    """A task ended in failed/: .task is its record, .code and .message its error."""

    def __init__(self, task):
        err = task.get("error") or {}
        self.task = task
        self.code = err.get("code")
        self.message = err.get("message")
        super().__init__("task %s failed (%s): %s" % (task.get("task_id"), self.code, self.message))


class WaitTimeout(TimeoutError):
    """The task had not ended when the time given to wait() ran out: .task as it was."""

    def __init__(self, task):
        super().__init__("task %s still %s" % (task.get("task_id"), task.get("status")))
        self.task = task


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self._path)
        self.sock = s


class Client:
    """One gpumgr API. With url=None it uses the unix socket ROOT/api.sock;
    with url="http://127.0.0.1:7878" TCP, sending the token (given, else read
    from ROOT/api.token when that file exists)."""

    def __init__(self, root=None, url=None, token=None, timeout=30.0):
        self.root = root or default_root()
        self.url = url
        self.timeout = timeout
        self.token = token
        if url is not None:
            u = urllib.parse.urlsplit(url)
            if u.scheme != "http" or not u.hostname:
                raise ValueError("url: expected http://HOST:PORT, got %r" % url)
            self._host, self._port = u.hostname, u.port or 80
            if token is None:
                try:
                    with open(os.path.join(self.root, "api.token")) as f:
                        self.token = f.read().strip() or None
                except FileNotFoundError:
                    pass

    # -- transport ---------------------------------------------------------
    def _conn(self, timeout):
        if self.url is None:
            return _UnixConnection(os.path.join(self.root, "api.sock"), timeout)
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def _request(self, method, path, body=None, timeout=None):
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        conn = self._conn(timeout if timeout is not None else self.timeout)
        try:
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
        finally:
            conn.close()
        try:
            doc = json.loads(raw) if raw else None
        except ValueError:
            doc = raw.decode("utf-8", "replace")
        if resp.status >= 400:
            err = doc.get("error", {}) if isinstance(doc, dict) else {}
            raise ApiError(resp.status, err.get("code", "http_%d" % resp.status),
                           err.get("message", str(doc)), err.get("field"))
        return doc

    @staticmethod
    def _id(task_id):
        return urllib.parse.quote(str(task_id), safe="")

    # -- tasks -------------------------------------------------------------
    def submit(self, prompt=None, *, script=None, args=None, **fields):
        """Queues a task and returns it as stored (task_id, defaults filled).
        An LLM task: submit("prompt", model=..., priority=...). A script task:
        submit(script="name", args={...}). Other task fields as keywords."""
        task = dict(fields)
        if prompt is not None:
            task["prompt"] = prompt
        if script is not None:
            task["script"] = script
            task["script_args"] = dict(args or {})
        elif args is not None:
            raise ValueError("args is for script tasks (script=NAME)")
        if prompt is None and script is None and "prompt" not in task and "script" not in task:
            raise ValueError("a prompt or a script is needed")
        return self._request("POST", "/v1/tasks", task)

    def show(self, task_id):
        """The task as stored, wherever it is."""
        return self._request("GET", "/v1/tasks/" + self._id(task_id))

    def tasks(self, status=None, cls=None, batch=None, limit=None):
        """Listing: {"tasks": [...], "count", "truncated"}."""
        q = {k: v for k, v in (("status", status), ("class", cls), ("batch", batch),
                                ("limit", limit)) if v is not None}
        return self._request("GET", "/v1/tasks" + ("?" + urllib.parse.urlencode(q) if q else ""))

    def cancel(self, task_id):
        return self._request("DELETE", "/v1/tasks/" + self._id(task_id))

    def wait(self, task_id, timeout=None):
        """Returns the task once it has ended (complete or failed) -- check
        its "status" -- or raises WaitTimeout after TIMEOUT seconds (None:
        no limit). Each request is a long poll that the daemon answers as
        the task ends; a daemon that restarts meanwhile is asked again."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = _WAIT_MAX if deadline is None else deadline - time.monotonic()
            if left <= 0:
                task = self.show(task_id)
                if task.get("status") in _ENDED:
                    return task
                raise WaitTimeout(task)
            w = min(left, _WAIT_MAX)
            try:
                task = self._request("GET", "/v1/tasks/%s?wait=%.3f" % (self._id(task_id), w),
                                     timeout=w + self.timeout)
            except ApiError as e:
                if e.status != 503:   # too many waiters: try again shortly
                    raise
                time.sleep(0.2)
                continue
            except (ConnectionError, http.client.HTTPException, FileNotFoundError):
                # The daemon stopped or restarts: its socket comes back.
                if deadline is not None and time.monotonic() + 0.5 >= deadline:
                    raise
                time.sleep(0.5)
                continue
            if task.get("status") in _ENDED:
                return task
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(task)

    def result(self, task_id, timeout=None):
        """Waits, then returns the task's output, or raises TaskFailed."""
        task = self.wait(task_id, timeout)
        if task.get("status") != "complete":
            raise TaskFailed(task)
        return task.get("output", "")

    def answer(self, prompt, timeout=None, **fields):
        """Submits an LLM task and returns its answer (raises TaskFailed)."""
        return self.result(self.submit(prompt, **fields)["task_id"], timeout)

    # -- the machine -------------------------------------------------------
    def gpus(self):
        """The GPUs: a list of dicts (index, state, model, VRAM, drained...)."""
        return self._request("GET", "/v1/gpus")["gpus"]

    def status(self):
        """The dashboard's model, as `gpumgr status --json`."""
        return self._request("GET", "/v1/status")

    # -- batches -----------------------------------------------------------
    def submit_batch(self, items, *, script=None, batch_id=None, **fields):
        """Submits a batch: ITEMS are script_args objects (with script=NAME)
        or prompts. Returns the batch record."""
        body = dict(fields)
        body["items"] = list(items)
        if script is not None:
            body["script"] = script
            body.setdefault("task_class", "script")
        if batch_id is not None:
            body["batch_id"] = batch_id
        return self._request("POST", "/v1/batches", body)

    def batch(self, batch_id):
        """One batch's record, item statuses counted from the spool."""
        return self._request("GET", "/v1/batches/" + self._id(batch_id))

    def batches(self):
        """Every batch record (without items), with live counts and status."""
        return self._request("GET", "/v1/batches")["batches"]
