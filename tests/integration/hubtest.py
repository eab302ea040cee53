"""Shared helpers of the hub integration tests: a real hub process on a free port, raw
HTTP/1.1 over sockets, curl, exact expectations and failure reporting (Python 3 stdlib).

Each test script calls run(test) with a function taking the parsed arguments:

    --espell PATH       the VM (meson passes build/espell); the hub runs as
                        PATH run -cp ROOT/lib/Json:ROOT/lib/Http:ROOT/apps/hub Hub --port 0 ...
    --server-cmd CMD    run another server instead (for checking the expectations against
                        the Node reference: --server-cmd "node scripts/bench/node-hub.js");
                        CMD gets "--port 0" and the test's options appended

ROOT is found from this file's location, so the tests run from any directory (meson runs
them from the build directory). A failed check raises Failure; run() prints it with the
tail of each hub's standard error and exits with status 1. Every hub process is killed
when the test ends, also on failure, on SIGTERM (meson's timeout) and, through
PR_SET_PDEATHSIG, when the test process dies.
"""
import argparse
import ctypes
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLASS_PATH = ":".join(os.path.join(ROOT, d) for d in ("lib/Json", "lib/Http", "apps/hub"))
STARTUP_TIMEOUT_S = 60.0   # sanitizer builds on a loaded machine start slowly
IO_TIMEOUT_S = 15.0        # any single socket read or write; generous for loaded machines
LISTENING_RE = re.compile(r"listening on (?:127\.0\.0\.1:)?([0-9]+)")
DATE_RE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
                     r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT")
SEED = {"Seaside": "Web framework", "Zinc": "HTTP components", "Roassal": "Visualization engine"}

_server_cmd = None
_hubs = []


class Failure(Exception):
    """A check failed; the message says what was expected and what happened."""


def check(condition, message):
    if not condition:
        raise Failure(message)


def check_equal(actual, expected, what):
    if actual != expected:
        raise Failure(f"{what}: expected {expected!r}, got {actual!r}")


def log(message):
    print(message, flush=True)


# ---------------------------------------------------------------------------------------
# Expected bodies: compact JSON as the Node reference's JSON.stringify writes it.

def compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def error_body(text):
    return compact({"error": text})


def seed_version(name, n):
    return {"name": name, "number": n, "package": f"{name}-Core", "author": "hub", "source": f"version {n} of {name}"}


def seed_repository(name):
    return {"name": name, "description": SEED[name],
            "versions": [{"number": n, "package": f"{name}-Core", "author": "hub"} for n in (1, 2)]}


# ---------------------------------------------------------------------------------------
# The hub process

try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up now, not in the forked child
except (OSError, AttributeError):
    _prctl = None


def _die_with_parent():
    # In the child before exec: SIGKILL it when the thread that started it (always the
    # test's main thread) dies (PR_SET_PDEATHSIG = 1).
    if _prctl is not None:
        _prctl(1, signal.SIGKILL, 0, 0, 0)


class Hub:
    """A hub process listening on a free port of 127.0.0.1; use it in a with statement."""

    def __init__(self, espell, *options, command=None, env=None):
        """command: a server command to run instead (given "--port 0" and the options);
        env: variables to set for it, beside this process's."""
        self.options = list(options)
        if command:
            self.argv = list(command) + ["--port", "0"] + self.options
        elif _server_cmd:
            self.argv = shlex.split(_server_cmd) + ["--port", "0"] + self.options
        else:
            self.argv = [espell, "run", "-cp", CLASS_PATH, "Hub", "--port", "0"] + self.options
        self.dir = tempfile.TemporaryDirectory(prefix="hub-integration-")
        self.stdout_path = os.path.join(self.dir.name, "stdout")
        self.stderr_path = os.path.join(self.dir.name, "stderr")
        self.final_stderr = None
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.process = subprocess.Popen(self.argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                            preexec_fn=_die_with_parent,
                                            env={**os.environ, **env} if env else None)
        _hubs.append(self)
        self.pid = self.process.pid
        self.port = self._wait_listening()

    def _wait_listening(self):
        """Polls the hub's standard output for the listening line."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            with open(self.stdout_path, "rb") as f:
                match = LISTENING_RE.search(f.read().decode("utf-8", "replace"))
            if match:
                return int(match.group(1))
            if self.process.poll() is not None:
                raise Failure(f"the hub exited with status {self.process.returncode} before printing its "
                              f"listening line ({shlex.join(self.argv)})")
            if time.monotonic() > deadline:
                raise Failure(f"the hub printed no listening line within {STARTUP_TIMEOUT_S:g} s "
                              f"({shlex.join(self.argv)})")
            time.sleep(0.02)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()

    def alive(self):
        return self.process.poll() is None

    def check_alive(self, when):
        check(self.alive(), f"{when}: the hub exited with status {self.process.returncode}")

    def stderr_text(self):
        if self.final_stderr is not None:
            return self.final_stderr
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stdout_text(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def fd_targets(self):
        """The hub's open descriptors: {fd: what it refers to} (from /proc/PID/fd)."""
        fd_dir = f"/proc/{self.pid}/fd"
        targets = {}
        for name in os.listdir(fd_dir):
            try:
                targets[int(name)] = os.readlink(os.path.join(fd_dir, name))
            except OSError:
                pass  # closed while listing
        return targets

    def signal(self, sig):
        self.process.send_signal(sig)

    def wait_exit(self, timeout):
        """The exit status, or None if the hub is still running after timeout seconds."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if self.final_stderr is None:
            self.final_stderr = self.stderr_text()
            self.dir.cleanup()


# ---------------------------------------------------------------------------------------
# Raw HTTP over a socket

class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # lower-case name -> value (repeated headers joined with ", ")
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"Response({self.status} {self.reason}, {self.headers}, {self.body[:200]!r})"


def parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    match = re.fullmatch(r"HTTP/1\.1 ([0-9]{3}) (.*)", lines[0])
    if not match:
        raise Failure(f"malformed status line {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip():
            raise Failure(f"malformed response header line {line!r}")
        name = name.lower()
        value = value.strip()
        headers[name] = headers[name] + ", " + value if name in headers else value
    return int(match.group(1)), match.group(2), headers


def parse_responses(data, head_only=()):
    """All the responses in data (e.g. curl -i output), skipping interim 1xx responses.
    head_only: indexes of responses without a body (answers to HEAD)."""
    responses = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n\r\n", pos)
        check(end >= 0, f"incomplete response head in {data[pos:pos + 200]!r}")
        status, reason, headers = parse_head(data[pos:end])
        pos = end + 4
        if 100 <= status < 200:
            continue
        length = headers.get("content-length")
        check(length is not None and length.isdigit(), f"response without a valid Content-Length: {headers}")
        n = 0 if len(responses) in head_only else int(length)
        check(pos + n <= len(data), f"response body shorter than its Content-Length {length}")
        responses.append(Response(status, reason, headers, data[pos:pos + n]))
        pos += n
    return responses


class Connection:
    """A client connection to the hub with a read buffer; every wait is bounded."""

    def __init__(self, port, timeout=IO_TIMEOUT_S, nodelay=False):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buffer = bytearray()
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def _fill(self, deadline, what):
        """Reads more bytes into the buffer; sets eof at end of stream."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Failure(f"no {what} within {self.timeout:g} s (received so far: {bytes(self.buffer[:300])!r})")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Failure(f"no {what} within {self.timeout:g} s (received so far: {bytes(self.buffer[:300])!r})") from None
        if not data:
            self.eof = True
        self.buffer += data

    def read_response(self, head_request=False, what="response"):
        """The next complete response; Failure on timeout, end of stream or reset before it."""
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                end = self.buffer.find(b"\r\n\r\n")
                if end >= 0:
                    status, reason, headers = parse_head(bytes(self.buffer[:end]))
                    if 100 <= status < 200:
                        del self.buffer[:end + 4]
                        continue
                    length = headers.get("content-length")
                    check(length is not None and length.isdigit(),
                          f"{what}: no valid Content-Length in {headers}")
                    n = 0 if head_request else int(length)
                    if len(self.buffer) >= end + 4 + n:
                        body = bytes(self.buffer[end + 4:end + 4 + n])
                        del self.buffer[:end + 4 + n]
                        return Response(status, reason, headers, body)
                if self.eof:
                    raise Failure(f"{what}: the connection was closed by the hub "
                                  f"{'before the response' if not self.buffer else 'in the middle of it'} "
                                  f"(received {bytes(self.buffer[:300])!r})")
                self._fill(deadline, what)
        except ConnectionResetError:
            raise Failure(f"{what}: the connection was reset by the hub (received {bytes(self.buffer[:300])!r})") from None

    def read_to_eof(self, timeout=None, what="end of stream"):
        """Everything until the hub closes the connection (a reset counts as a close);
        Failure if it stays open for timeout seconds."""
        saved = self.timeout
        self.timeout = timeout or self.timeout
        deadline = time.monotonic() + self.timeout
        try:
            while not self.eof:
                self._fill(deadline, what)
        except ConnectionResetError:
            self.eof = True
        finally:
            self.timeout = saved
        data = bytes(self.buffer)
        self.buffer.clear()
        return data

    def reset(self):
        """Closes with SO_LINGER 0: the kernel sends RST instead of FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        self.sock.close()

    def close(self):
        self.sock.close()


def get(path, host="hub", extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


def post(path, body, extra=""):
    body = body if isinstance(body, bytes) else body.encode()
    return (f"POST {path} HTTP/1.1\r\nHost: hub\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def expect(response, status, body, what, close=None, allow=None, head_request=False):
    """Checks status, framing and headers, and the exact body (bytes, or a value encoded as
    compact JSON). close=True: Connection: close is required; False: it must be absent."""
    expected_body = body if isinstance(body, bytes) else compact(body)
    check(response is not None, f"{what}: no response")
    check_equal(response.status, status, f"{what}: status (body {response.body[:200]!r})")
    check_equal(response.header("content-type"), "application/json", f"{what}: Content-Type")
    check_equal(response.header("content-length"), str(len(expected_body)), f"{what}: Content-Length")
    date = response.header("date")
    check(date is not None and DATE_RE.fullmatch(date), f"{what}: Date header missing or malformed: {date!r}")
    if not head_request:
        check_equal(response.body, expected_body, f"{what}: body")
    connection = (response.header("connection") or "").lower()
    if close is True:
        check_equal(connection, "close", f"{what}: Connection header")
    elif close is False:
        check(connection != "close", f"{what}: unexpected Connection: close")
    if allow is not None:
        check_equal(response.header("allow"), allow, f"{what}: Allow header")
    elif status != 405:
        check(response.header("allow") is None, f"{what}: unexpected Allow header {response.header('allow')!r}")


def exchange(port, request, what, head_request=False):
    """One request on a new connection; answers the response."""
    with Connection(port) as c:
        c.send(request)
        return c.read_response(head_request=head_request, what=what)


def check_serving(port, after):
    """A good request on a new connection answers exactly as it should."""
    try:
        response = exchange(port, get("/repos/Zinc/versions/1"), f"good request after {after}")
    except OSError as error:
        raise Failure(f"good request after {after}: {error}") from None
    expect(response, 200, seed_version("Zinc", 1), f"good request after {after}")


# ---------------------------------------------------------------------------------------
# curl

def curl(*args, timeout=30.0):
    """Runs curl (ignoring ~/.curlrc and proxies); answers (exit status, stdout bytes, stderr text)."""
    argv = ["curl", "-q", "--silent", "--show-error", "--noproxy", "*", "--max-time", str(int(timeout)), *args]
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        raise Failure(f"curl did not finish within {timeout + 10:g} s: {shlex.join(argv)}") from None
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


# ---------------------------------------------------------------------------------------
# Running a test

def _terminate(signum, frame):
    raise SystemExit(f"interrupted by signal {signum}")


def run(test, description):
    """Parses the arguments, runs test(args) and reports; always kills the hubs."""
    global _server_cmd
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--espell", required=True, help="the espell executable")
    parser.add_argument("--server-cmd", help="run this server command instead of the hub (see hubtest.py)")
    args = parser.parse_args()
    args.espell = os.path.abspath(args.espell)
    _server_cmd = args.server_cmd
    if not _server_cmd and not os.access(args.espell, os.X_OK):
        print(f"FAIL: --espell {args.espell} is not an executable file", flush=True)
        return 1
    signal.signal(signal.SIGTERM, _terminate)
    name = os.path.basename(sys.argv[0])
    started = time.monotonic()
    status = 0
    try:
        test(args)
    except Failure as failure:
        status = 1
        print(f"FAIL: {name}: {failure}", flush=True)
    except BaseException as error:  # noqa: BLE001 - any crash of the test is a failure too
        status = 1
        print(f"FAIL: {name}: unexpected {type(error).__name__}: {error}", flush=True)
        traceback.print_exc(file=sys.stdout)
    finally:
        for hub in _hubs:
            hub.kill()
    if status:
        for hub in _hubs:
            err = hub.stderr_text().strip()
            if err:
                tail = "\n".join(err.splitlines()[-20:])
                print(f"--- standard error of the hub ({shlex.join(hub.argv[-4:])}), last lines:\n{tail}", flush=True)
    else:
        print(f"PASS: {name} ({time.monotonic() - started:.1f} s)", flush=True)
    return status
