#!/usr/bin/env python3
"""Bad and unusual clients, each on its own connection, while good requests keep being
answered: garbage, random binary, a truncated request then end of stream, an oversized
head (431) and body (413), a slow valid request (one byte every 20 ms: 200), an idle
connection (closed after the idle timeout) and a half-sent head (408 after it), resets
(SO_LINGER 0) in the middle of a request and of a response, and pipelined requests.

After each case a good request on a new connection must be answered exactly, and all
along a background client sends a good request every 10 ms on a keep-alive connection
and checks every response. The hub runs with --idle-timeout-ms 500.

Usage: test_bad_requests.py --espell PATH
"""
import random
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
from hubtest import (Connection, Failure, Hub, check, check_equal, check_serving, compact, error_body, expect, get,
                     log, post, run, seed_repository, seed_version)

IDLE_TIMEOUT_MS = 500
IDLE_MIN_S = 0.45         # the hub must not close earlier than its idle timeout ...
IDLE_MAX_S = 5.0          # ... nor much later (generous: loaded machines, sanitizer builds)
SLOW_BYTE_INTERVAL_S = 0.02
BAD_REQUEST = error_body("bad request")


class GoodTraffic(threading.Thread):
    """A keep-alive client sending a good request every 10 ms and checking each response.
    The hub may close the connection only between requests after the idle timeout (a
    stalled machine); the client then reconnects. Anything else is recorded as an error."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop_event = threading.Event()
        self.ok = 0
        self.reconnects = 0
        self.errors = []

    def run(self):
        connection = None
        last_answer = time.monotonic()
        while not self.stop_event.wait(0.01) and len(self.errors) < 5:
            try:
                if connection is None:
                    connection = Connection(self.port)
                sent = time.monotonic()
                connection.send(get("/repos/Seaside/versions/2"))
                response = connection.read_response(what="background keep-alive request")
                expect(response, 200, seed_version("Seaside", 2), "background keep-alive request", close=False)
                self.ok += 1
                last_answer = time.monotonic()
            except (Failure, OSError) as error:
                silent = sent - last_answer if connection is not None else 0.0
                closed_early = connection is not None and not connection.buffer and (
                    connection.eof or isinstance(error, (ConnectionResetError, BrokenPipeError)))
                if closed_early and silent >= IDLE_TIMEOUT_MS / 1000 * 0.9:
                    self.reconnects += 1  # the hub closed an idle connection, as it should
                else:
                    self.errors.append(f"{type(error).__name__}: {error}")
                if connection is not None:
                    connection.close()
                connection = None
                last_answer = time.monotonic()
        if connection is not None:
            connection.close()

    def finish(self):
        self.stop_event.set()
        self.join(30)
        check(not self.is_alive(), "the background client did not stop")
        check(not self.errors, f"background keep-alive client: {len(self.errors)} failed requests, "
                               f"the first: {self.errors[0] if self.errors else ''}")
        check(self.ok >= 20, f"background keep-alive client: only {self.ok} requests answered")
        log(f"ok  background keep-alive client: {self.ok} requests answered, {self.reconnects} idle reconnects")


def expect_refused(connection, status, body, what):
    """The hub answers status with Connection: close, then closes the connection."""
    response = connection.read_response(what=what)
    expect(response, status, body, what, close=True)
    rest = connection.read_to_eof(what=f"{what}: the close after the response")
    check_equal(rest, b"", f"{what}: bytes after the error response")


def case_garbage(port):
    with Connection(port) as c:
        c.send(b"this is not HTTP at all\r\n\r\n")
        expect_refused(c, 400, BAD_REQUEST, "garbage line")
    with Connection(port) as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: hub\r\nBroken header line\r\n\r\n")
        expect_refused(c, 400, BAD_REQUEST, "header line without a colon")
    with Connection(port) as c:
        c.send(b"GET /health HTTP/1.1\nHost: hub\n\n")
        expect_refused(c, 400, BAD_REQUEST, "bare LF line ends")
    with Connection(port) as c:
        c.send(b"GET /health HTTP/1.1\r\nHost: hub\r\nX-Nul: a\x00b\r\n\r\n")
        expect_refused(c, 400, BAD_REQUEST, "NUL in a header value")
    with Connection(port) as c:
        c.send(b"POST /repos/Zinc/versions HTTP/1.1\r\nHost: hub\r\nContent-Length: 12x\r\n\r\n")
        expect_refused(c, 400, BAD_REQUEST, "malformed Content-Length")


def case_random_binary(port):
    generator = random.Random(20240229)  # fixed: the same bytes every run
    for i in range(5):
        blob = bytes(generator.randrange(256) for _ in range(512))
        with Connection(port) as c:
            c.send(blob)
            expect_refused(c, 400, BAD_REQUEST, f"random binary #{i + 1}")


def case_truncated(port):
    with Connection(port) as c:
        c.send(b"GET /repos/Zinc HTTP/1.1\r\nHost: hub\r\n")
        c.shutdown_write()
        expect_refused(c, 400, BAD_REQUEST, "truncated head then end of stream")
    with Connection(port) as c:
        c.send(post("/repos/Zinc/versions", b'{"package":"p","author":"a","source":"s"}')[:-10])
        c.shutdown_write()
        expect_refused(c, 400, BAD_REQUEST, "truncated body then end of stream")
    with Connection(port) as c:
        c.send(b"GET /he")
        c.shutdown_write()
        expect_refused(c, 400, BAD_REQUEST, "truncated request line then end of stream")


def case_oversized(port):
    too_large = error_body("request header fields too large")
    with Connection(port) as c:
        c.send(get("/health", extra="X-Padding: " + "p" * 9000 + "\r\n"))
        expect_refused(c, 431, too_large, "9 KB header")
    with Connection(port) as c:
        # No end of the head in sight: refused once 8 KiB have arrived.
        c.send(b"GET /health HTTP/1.1\r\nHost: hub\r\n" + b"X-Many: headers\r\n" * 600)
        expect_refused(c, 431, too_large, "endless head")
    with Connection(port) as c:
        c.send(b"POST /repos/Zinc/versions HTTP/1.1\r\nHost: hub\r\nContent-Length: 1048577\r\n\r\n" + b"x" * 65536)
        expect_refused(c, 413, error_body("request body too large"), "body of 1 MiB + 1")
    # Exactly at the limit is fine (and not valid JSON here).
    with Connection(port) as c:
        c.send(post("/repos/Zinc/versions", b"x" * 1048576))
        expect(c.read_response(what="body of exactly 1 MiB"), 400, error_body("body is not valid JSON"),
               "body of exactly 1 MiB", close=False)


def case_slow_client(port):
    request = get("/repos/Roassal")
    with Connection(port, nodelay=True) as c:
        started = time.monotonic()
        for i in range(len(request)):
            c.send(request[i:i + 1])
            time.sleep(SLOW_BYTE_INTERVAL_S)
        elapsed = time.monotonic() - started
        expect(c.read_response(what="slow client"), 200, seed_repository("Roassal"), "slow client", close=False)
        log(f"ok  slow client: {len(request)} bytes one at a time over {elapsed:.2f} s, answered")


def timed_close(connection, what):
    started = time.monotonic()
    data = connection.read_to_eof(timeout=IDLE_MAX_S + 5, what=what)
    return data, time.monotonic() - started


def case_idle(port):
    with Connection(port) as c:
        data, elapsed = timed_close(c, "idle connection closed")
        check_equal(data, b"", "idle connection: bytes sent by the hub")
        check(IDLE_MIN_S <= elapsed <= IDLE_MAX_S,
              f"idle connection: closed after {elapsed:.2f} s, expected about {IDLE_TIMEOUT_MS / 1000:g} s")
        log(f"ok  idle connection closed after {elapsed:.2f} s")
    with Connection(port) as c:
        c.send(b"GET /repos/Zinc HTTP/1.1\r\nHost: h")
        started = time.monotonic()
        response = c.read_response(what="half-sent head")
        elapsed = time.monotonic() - started
        expect(response, 408, error_body("request timeout"), "half-sent head", close=True)
        check(IDLE_MIN_S <= elapsed <= IDLE_MAX_S,
              f"half-sent head: 408 after {elapsed:.2f} s, expected about {IDLE_TIMEOUT_MS / 1000:g} s")
        check_equal(c.read_to_eof(what="close after 408"), b"", "half-sent head: bytes after the 408")
        log(f"ok  half-sent head: 408 after {elapsed:.2f} s")
    with Connection(port) as c:
        # Idle after a complete keep-alive request: closed quietly.
        c.send(get("/health"))
        expect(c.read_response(what="request before idling"), 200, {"status": "ok"}, "request before idling")
        data, elapsed = timed_close(c, "idle keep-alive connection closed")
        check_equal(data, b"", "idle keep-alive connection: bytes sent by the hub")
        check(IDLE_MIN_S <= elapsed <= IDLE_MAX_S,
              f"idle keep-alive connection: closed after {elapsed:.2f} s, expected about {IDLE_TIMEOUT_MS / 1000:g} s")
        log(f"ok  idle keep-alive connection closed after {elapsed:.2f} s")


def case_reset_mid_request(port):
    for partial in (b"GET /repos/Zinc HTTP/1.1\r\nHo",
                    post("/repos/Reset/versions", b'{"package":"p","author":"a","source":"' + b"s" * 5000 + b'"}')[:3000]):
        c = Connection(port)
        c.send(partial)
        time.sleep(0.05)  # let the hub read it
        c.reset()
    # The truncated POST added nothing.
    with Connection(port) as c:
        c.send(get("/repos/Reset"))
        expect(c.read_response(what="repository of the reset POST"), 404,
               error_body("no repository named Reset"), "repository of the reset POST")


def case_reset_mid_response(port):
    """Pipelines many requests without reading, reads the start of the answers, resets."""
    count = 2000
    c = Connection(port)
    c.send(get("/repos/Seaside") * count)
    c.sock.settimeout(15)
    received = c.sock.recv(1000)
    check(received.startswith(b"HTTP/1.1 200 OK"), f"reset mid-response: start of the answers {received[:100]!r}")
    c.reset()
    # A response interrupted while the hub writes it.
    with Connection(port) as c:
        c.send(get("/repos") * 200)
        c.sock.recv(10)
        c.reset()


def case_pipelined(port):
    body = compact({"package": "Pipe-Core", "author": "pipeline", "source": "x"})
    requests = (get("/health") + get("/repos/Zinc/versions/1") + post("/repos/Pipe/versions", body)
                + get("/repos/Pipe/versions/1") + get("/nope") + get("/repos/Zinc", extra="Connection: close\r\n"))
    with Connection(port) as c:
        c.send(requests)
        expect(c.read_response(what="pipelined 1"), 200, {"status": "ok"}, "pipelined 1", close=False)
        expect(c.read_response(what="pipelined 2"), 200, seed_version("Zinc", 1), "pipelined 2", close=False)
        expect(c.read_response(what="pipelined 3"), 201, {"name": "Pipe", "number": 1}, "pipelined 3", close=False)
        expect(c.read_response(what="pipelined 4"), 200,
               {"name": "Pipe", "number": 1, "package": "Pipe-Core", "author": "pipeline", "source": "x"},
               "pipelined 4 (the version posted by 3)", close=False)
        expect(c.read_response(what="pipelined 5"), 404, error_body("not found"), "pipelined 5", close=False)
        expect(c.read_response(what="pipelined 6"), 200, seed_repository("Zinc"), "pipelined 6", close=True)
        check_equal(c.read_to_eof(what="close after Connection: close"), b"", "bytes after the last pipelined response")
    # Many at once, answered in order.
    paths = ["/health", "/repos/Zinc/versions/2", "/repos/Roassal", "/repos/Nope"]
    with Connection(port) as c:
        c.send(b"".join(get(paths[i % 4]) for i in range(200)))
        for i in range(200):
            what = f"pipelined burst #{i + 1} ({paths[i % 4]})"
            response = c.read_response(what=what)
            if i % 4 == 0:
                expect(response, 200, {"status": "ok"}, what, close=False)
            elif i % 4 == 1:
                expect(response, 200, seed_version("Zinc", 2), what, close=False)
            elif i % 4 == 2:
                expect(response, 200, seed_repository("Roassal"), what, close=False)
            else:
                expect(response, 404, error_body("no repository named Nope"), what, close=False)
    # A good request followed by garbage in the same packet: answered, then 400 and close.
    with Connection(port) as c:
        c.send(get("/health") + b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03")
        expect(c.read_response(what="good request before garbage"), 200, {"status": "ok"},
               "good request before garbage", close=False)
        expect_refused(c, 400, BAD_REQUEST, "garbage after a good request")


CASES = [
    ("garbage bytes", case_garbage),
    ("random binary", case_random_binary),
    ("truncated request then end of stream", case_truncated),
    ("oversized head and body", case_oversized),
    ("slow client", case_slow_client),
    ("idle clients", case_idle),
    ("reset in the middle of a request", case_reset_mid_request),
    ("reset in the middle of a response", case_reset_mid_response),
    ("pipelined requests", case_pipelined),
]


def test(args):
    with Hub(args.espell, "--idle-timeout-ms", str(IDLE_TIMEOUT_MS)) as hub:
        check_serving(hub.port, "startup")
        traffic = GoodTraffic(hub.port)
        traffic.start()
        try:
            for name, case in CASES:
                case(hub.port)
                hub.check_alive(f"after {name}")
                check_serving(hub.port, name)
                check(not traffic.errors, f"after {name}: background keep-alive client failed: {traffic.errors[:1]}")
                log(f"ok  {name}; good requests still answered")
        finally:
            traffic.stop_event.set()
        traffic.finish()
        hub.check_alive("at the end")


if __name__ == "__main__":
    sys.exit(run(test, __doc__))
