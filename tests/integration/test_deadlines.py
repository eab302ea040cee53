#!/usr/bin/env python3
"""Deadlines for receiving a request, separate from the idle timeout (which counts silence
only, so a client trickling one byte at a time was never cut off).

With --idle-timeout-ms 5000 --head-timeout-ms 800 --body-timeout-ms 800:
  - a head sent one byte every 100 ms (never silent for long) gets 408
    {error: request head timeout} with Connection: close, 0.8 to 5 s after its first
    byte, and the connection closes;
  - a body trickled the same way after a complete head gets 408 {error: request body
    timeout} 0.8 to 5 s after the head;
  - a request trickled slowly but complete within the deadlines is answered (200);
  - on a keep-alive connection the head's clock starts at the request's first byte: a
    second request sent at once after 1.5 s of silence (longer than the head timeout,
    shorter than the idle timeout) is answered;
  - meanwhile a background keep-alive client's requests are all answered.
With --idle-timeout-ms 300 --head-timeout-ms 5000: a half-sent head then silence gets
408 {error: request timeout} from the idle timeout, well before the head deadline.

Usage: test_deadlines.py --espell PATH
"""
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
from hubtest import (Connection, Hub, check, check_equal, error_body, expect, get, log, post, run, seed_repository,
                     seed_version)

DEADLINE_MS = 800
DEADLINE_MIN_S = 0.75      # not earlier than the deadline ...
DEADLINE_MAX_S = 5.0       # ... nor much later (loaded machines, sanitizer builds)
TRICKLE_INTERVAL_S = 0.1


def trickle(connection, data, stop_after_s=None):
    """Sends data one byte every TRICKLE_INTERVAL_S; stops early (answers False) when the
    hub closes the connection or stop_after_s passes."""
    started = time.monotonic()
    for byte in data:
        if stop_after_s is not None and time.monotonic() - started > stop_after_s:
            return False
        try:
            connection.send(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            return False
        time.sleep(TRICKLE_INTERVAL_S)
    return True


def expect_timeout_response(connection, text, started, what):
    response = connection.read_response(what=what)
    elapsed = time.monotonic() - started
    expect(response, 408, error_body(text), what, close=True)
    check(DEADLINE_MIN_S <= elapsed <= DEADLINE_MAX_S,
          f"{what}: 408 after {elapsed:.2f} s, expected about {DEADLINE_MS / 1000:g} s")
    connection.read_to_eof(what=f"{what}: the close after the 408")
    log(f"ok  {what}: 408 {text} after {elapsed:.2f} s")


def slow_head(port):
    with Connection(port) as c:
        request = get("/repos/Zinc", extra="X-Padding: " + "p" * 100 + "\r\n")  # 150 bytes: 15 s at this pace
        started = time.monotonic()
        sender = threading.Thread(target=trickle, args=(c, request, DEADLINE_MAX_S + 1), daemon=True)
        sender.start()
        expect_timeout_response(c, "request head timeout", started, "head trickled one byte per 100 ms")
        sender.join(DEADLINE_MAX_S + 2)


def slow_body(port):
    with Connection(port) as c:
        body = b'{"package":"p","author":"a","source":"' + b"s" * 100 + b'"}'
        request = post("/repos/Slow/versions", body)
        head, rest = request[:request.index(b"\r\n\r\n") + 4], request[request.index(b"\r\n\r\n") + 4:]
        c.send(head)
        started = time.monotonic()
        sender = threading.Thread(target=trickle, args=(c, rest, DEADLINE_MAX_S + 1), daemon=True)
        sender.start()
        expect_timeout_response(c, "request body timeout", started, "body trickled one byte per 100 ms")
        sender.join(DEADLINE_MAX_S + 2)


def slow_but_in_time(port):
    with Connection(port) as c:
        request = b"GET /health HTTP/1.1\r\nHost: h\r\n\r\n"  # 34 bytes: 0.34 s at 10 ms
        for byte in request:
            c.send(bytes([byte]))
            time.sleep(0.01)
        expect(c.read_response(what="slow request within the deadline"), 200, {"status": "ok"},
               "slow request within the deadline", close=False)
    log("ok  a request trickled within the head deadline is answered")


def clock_starts_at_first_byte(port):
    with Connection(port) as c:
        c.send(get("/repos/Zinc/versions/1"))
        expect(c.read_response(what="first keep-alive request"), 200, seed_version("Zinc", 1), "first request")
        time.sleep(1.5)
        c.send(get("/repos/Zinc/versions/2"))
        expect(c.read_response(what="request after 1.5 s of silence"), 200, seed_version("Zinc", 2),
               "request after 1.5 s of silence (longer than the head timeout)", close=False)
    log("ok  the head deadline starts at a request's first byte, not at the connection's")


class Background(threading.Thread):
    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.ok = 0
        self.errors = []

    def run(self):
        try:
            with Connection(self.port) as c:
                while not self.stop.wait(0.02):
                    c.send(get("/repos/Roassal"))
                    expect(c.read_response(what="background request"), 200, seed_repository("Roassal"),
                           "background request", close=False)
                    self.ok += 1
        except Exception as error:  # noqa: BLE001 - reported by the test thread
            self.errors.append(f"{type(error).__name__}: {error}")


def idle_before_head_deadline(espell):
    with Hub(espell, "--idle-timeout-ms", "300", "--head-timeout-ms", "5000") as hub:
        with Connection(hub.port) as c:
            c.send(b"GET /repos/Zinc HTTP/1.1\r\nHo")
            started = time.monotonic()
            response = c.read_response(what="half a head, then silence")
            elapsed = time.monotonic() - started
            expect(response, 408, error_body("request timeout"), "half a head, then silence", close=True)
            check(0.25 <= elapsed <= 4.0, f"half a head then silence: 408 after {elapsed:.2f} s, expected 0.3 s")
        log(f"ok  half a head then silence: 408 request timeout after {elapsed:.2f} s (the idle timeout)")


def test(args):
    with Hub(args.espell, "--idle-timeout-ms", "5000", "--head-timeout-ms", str(DEADLINE_MS),
             "--body-timeout-ms", str(DEADLINE_MS)) as hub:
        background = Background(hub.port)
        background.start()
        slow_head(hub.port)
        slow_body(hub.port)
        slow_but_in_time(hub.port)
        clock_starts_at_first_byte(hub.port)
        background.stop.set()
        background.join(10)
        check(not background.errors, f"background client: {background.errors[:1]}")
        check(background.ok >= 20, f"background client: only {background.ok} requests answered")
        log(f"ok  background keep-alive client: {background.ok} requests answered meanwhile")
    idle_before_head_deadline(args.espell)


if __name__ == "__main__":
    sys.exit(run(test, __doc__))
