"""Shared helpers of the console's integration tests: the hub as the guest of a hypervisor
that serves its console (espell run --virtualized --console 0), the console's URL and token
as printed at start, requests to it, and a client that keeps asking the hub's own service
while a test runs (Python 3 stdlib only; see hubtest.py for the hub process itself)."""
import http.client
import json
import re
import threading
import time

import hubtest
from hubtest import Failure, check

CONSOLE_RE = re.compile(r"console listening on http://127\.0\.0\.1:([0-9]+)/\?token=([0-9a-f]{32})")


class ConsoleHub(hubtest.Hub):
    """The hub as a guest, its hypervisor serving the console; .console_port, .token.
    snapshot_dir: the console's --snapshot-dir."""

    def __init__(self, espell, *options, snapshot_dir=None):
        command = [espell, "run", "--virtualized", "--console", "0"]
        if snapshot_dir:
            command += ["--snapshot-dir", snapshot_dir]
        command += ["-cp", hubtest.CLASS_PATH, "Hub"]
        super().__init__(espell, *options, command=command)
        deadline = time.monotonic() + hubtest.STARTUP_TIMEOUT_S
        while True:
            match = CONSOLE_RE.search(self.stderr_text())
            if match:
                self.console_port, self.token = int(match.group(1)), match.group(2)
                break
            check(self.alive(), "the VM exited before its console listened")
            check(time.monotonic() < deadline, "the console printed no URL within the start-up time")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.console_port}"

    def request(self, method, path, body=None, headers=None, timeout=hubtest.IO_TIMEOUT_S):
        """One request to the console on a fresh connection; answers (status, headers, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.console_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def get(self, path, **kw):
        """GET with the token's cookie."""
        return self.request("GET", path, headers={"Cookie": f"espell_console={self.token}"}, **kw)

    def get_json(self, path):
        status, _, body = self.get(path)
        check(status == 200, f"GET {path}: expected 200, got {status}: {body[:300]!r}")
        return json.loads(body)

    def post_json(self, path, value, **headers):
        h = {"X-Console-Token": self.token, "Content-Type": "application/json"}
        h.update(headers)
        status, _, body = self.request("POST", path, body=json.dumps(value), headers=h, timeout=60)
        return status, json.loads(body) if body else None


def churn(port):
    """Makes the guest allocate some 20 MB (a version of 200 KB, answered 100 times): a
    scavenge or more for the chart."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=hubtest.IO_TIMEOUT_S)
    try:
        body = json.dumps({"package": "Churn-Core", "author": "test", "source": "x" * 200_000})
        conn.request("POST", "/repos/Seaside/versions", body=body, headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        number = json.loads(r.read())["number"]
        for _ in range(100):
            conn.request("GET", f"/repos/Seaside/versions/{number}")
            r = conn.getresponse()
            check(r.status == 200 and len(r.read()) > 200_000, "the churning version")
    finally:
        conn.close()


class ServiceProbe:
    """Asks the hub's own service (GET /health, keep-alive) again and again on a thread while
    a test drives the console: every answer must be 200 {"status":"ok"}. stop() answers how
    many were answered and the slowest (ms); a wrong answer or an error fails the test."""

    def __init__(self, port):
        self.port = port
        self.count = 0
        self.slowest_ms = 0.0
        self.error = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=hubtest.IO_TIMEOUT_S)
            while not self._stop.is_set():
                started = time.monotonic()
                conn.request("GET", "/health")
                r = conn.getresponse()
                body = r.read()
                if r.status != 200 or body != b'{"status":"ok"}':
                    raise Failure(f"the hub answered /health with {r.status} {body[:200]!r}")
                self.slowest_ms = max(self.slowest_ms, (time.monotonic() - started) * 1000)
                self.count += 1
                time.sleep(0.002)  # a steady trickle, not a flood: the console is under test
        except BaseException as e:  # noqa: BLE001 - reported by stop()
            self.error = e

    def stop(self):
        self._stop.set()
        self._thread.join(hubtest.IO_TIMEOUT_S)
        if self.error:
            raise Failure(f"the guest's service failed while the console was used: {self.error}")
        check(self.count > 0, "the guest's service answered nothing while the console was used")
        return self.count, self.slowest_ms
