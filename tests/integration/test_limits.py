#!/usr/bin/env python3
"""Bounded work per request: JSON beyond the decoder's limits is refused early with a 400
naming the limit, and one client's expensive request does not hold the others.

  - a POST whose JSON holds a 10^6-digit number (a 1 MiB body) is answered 400
    {error: body exceeds a limit: number longer than 1000 characters at offset N
    (maxNumberLength)}; before the limits its conversion stalled every other client for
    about 18 s. A background keep-alive client's requests, sent all along, are each
    answered within 2 s;
  - numbers of exactly 1000 characters, and nesting of exactly 512 levels, are accepted;
    513 levels are refused naming maxDepth;
  - a version number of 7000 digits in the path is answered 404 at once.

Usage: test_limits.py --espell PATH
"""
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
from hubtest import Connection, Hub, check, compact, error_body, expect, get, log, post, run, seed_version

MAX_STALL_S = 2.0
BACKGROUND_INTERVAL_S = 0.01


class Background(threading.Thread):
    """A keep-alive client that sends a request every 10 ms and records the slowest answer."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.slowest = 0.0
        self.ok = 0
        self.errors = []

    def run(self):
        try:
            with Connection(self.port) as c:
                while not self.stop.wait(BACKGROUND_INTERVAL_S):
                    sent = time.monotonic()
                    c.send(get("/repos/Zinc/versions/2"))
                    response = c.read_response(what="background request")
                    self.slowest = max(self.slowest, time.monotonic() - sent)
                    expect(response, 200, seed_version("Zinc", 2), "background request", close=False)
                    self.ok += 1
        except Exception as error:  # noqa: BLE001 - reported by the test thread
            self.errors.append(f"{type(error).__name__}: {error}")


def exchange(port, request, what):
    with Connection(port) as c:
        c.send(request)
        return c.read_response(what=what)


def version_document(extra):
    return b'{"package":"p","author":"a","source":"s","extra":' + extra + b"}"


def huge_number(port):
    background = Background(port)
    background.start()
    time.sleep(0.3)
    body = version_document(b"7" * 1000000)
    offset = body.index(b"7")
    started = time.monotonic()
    response = exchange(port, post("/repos/Numbers/versions", body), "POST of a 10^6-digit number")
    elapsed = time.monotonic() - started
    time.sleep(0.3)
    background.stop.set()
    background.join(10)
    expect(response, 400, error_body(f"body exceeds a limit: number longer than 1000 characters at offset {offset} "
                                     f"(maxNumberLength)"), "POST of a 10^6-digit number", close=False)
    check(not background.errors, f"background client: {background.errors[:1]}")
    check(background.ok >= 10, f"background client: only {background.ok} requests answered")
    check(background.slowest <= MAX_STALL_S, f"a background request waited {background.slowest:.2f} s while the "
                                             f"10^6-digit number was refused: one request held the others")
    log(f"ok  10^6-digit number: 400 naming maxNumberLength after {elapsed:.2f} s; background client: "
        f"{background.ok} requests, slowest {background.slowest * 1000:.0f} ms")


def at_the_limits(port):
    response = exchange(port, post("/repos/Numbers/versions", version_document(b"9" * 1000)), "1000-digit number")
    expect(response, 201, {"name": "Numbers", "number": 1}, "1000-digit number")
    response = exchange(port, post("/repos/Numbers/versions", version_document(b"-1." + b"5" * 997)),
                        "1000-character number with a fraction")
    expect(response, 201, {"name": "Numbers", "number": 2}, "1000-character number with a fraction")
    response = exchange(port, post("/repos/Numbers/versions", version_document(b"1" * 1001)), "1001-digit number")
    expect(response, 400, error_body("body exceeds a limit: number longer than 1000 characters at offset 49 "
                                     "(maxNumberLength)"), "1001-digit number")
    # The object itself is level 1: 511 more levels reach 512.
    response = exchange(port, post("/repos/Numbers/versions", version_document(b"[" * 511 + b"]" * 511)),
                        "512 levels of nesting")
    expect(response, 201, {"name": "Numbers", "number": 3}, "512 levels of nesting")
    response = exchange(port, post("/repos/Numbers/versions", version_document(b"[" * 512 + b"]" * 512)),
                        "513 levels of nesting")
    expect(response, 400, error_body("body exceeds a limit: nesting deeper than 512 levels at offset 560 "
                                     "(maxDepth)"), "513 levels of nesting")
    log("ok  numbers of 1000 characters and 512 levels of nesting accepted; 1001 and 513 refused naming the limit")


def long_version_number(port):
    digits = "1" + "0" * 6999
    started = time.monotonic()
    response = exchange(port, get(f"/repos/Zinc/versions/{digits}"), "version number of 7000 digits")
    elapsed = time.monotonic() - started
    expect(response, 404, error_body(f"no version {digits} of repository Zinc"), "version number of 7000 digits")
    check(elapsed < MAX_STALL_S, f"version number of 7000 digits: answered after {elapsed:.2f} s")
    log(f"ok  version number of 7000 digits: 404 after {elapsed * 1000:.0f} ms")


def test(args):
    with Hub(args.espell) as hub:
        huge_number(hub.port)
        at_the_limits(hub.port)
        long_version_number(hub.port)
        hub.check_alive("after the limits")


if __name__ == "__main__":
    sys.exit(run(test, __doc__))
