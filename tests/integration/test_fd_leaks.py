#!/usr/bin/env python3
"""No descriptor leaks: the hub's open descriptors (/proc/PID/fd) after ~200 finished
connections of every kind are the ones it had after startup. The kinds, interleaved and
run by a few client threads at a time:

    normal     two keep-alive requests, then the client closes
    reset      half a request, then SO_LINGER 0 close (RST)
    reset-out  many pipelined requests, a few bytes of the answers read, then RST
    truncated  half a request then end of stream: 400, the hub closes
    refused    garbage: 400, the hub closes
    idle       nothing sent: the hub closes it after the idle timeout (300 ms here)

Each connection's own outcome is checked too. The count may lag behind the clients by a
moment (the hub closes after its last read), so it is polled for up to 2 s.

Usage: test_fd_leaks.py --espell PATH
"""
import concurrent.futures
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
from hubtest import (Connection, Hub, check, check_equal, check_serving, error_body, expect, get, log, run,
                     seed_version)

IDLE_TIMEOUT_MS = 300
ROUNDS = 34            # of the 6 kinds: 204 connections
CLIENT_THREADS = 6
SETTLE_S = 2.0


def normal(port):
    with Connection(port) as c:
        for n in (1, 2):
            c.send(get(f"/repos/Zinc/versions/{n}"))
            expect(c.read_response(what="normal connection"), 200, seed_version("Zinc", n), "normal connection")


def reset(port):
    c = Connection(port)
    c.send(b"GET /repos/Zinc HTTP/1.1\r\nHost: h")
    time.sleep(0.02)
    c.reset()


def reset_out(port):
    c = Connection(port)
    c.send(get("/repos/Seaside") * 300)
    c.sock.recv(100)
    c.reset()


def truncated(port):
    with Connection(port) as c:
        c.send(b"GET /repos/Zinc HTTP/1.1\r\nHost: h")
        c.shutdown_write()
        expect(c.read_response(what="truncated request"), 400, error_body("bad request"), "truncated request",
               close=True)
        check_equal(c.read_to_eof(what="close after 400"), b"", "truncated request: bytes after the 400")


def refused(port):
    with Connection(port) as c:
        c.send(b"\x00\x01garbage\r\n\r\n")
        expect(c.read_response(what="garbage"), 400, error_body("bad request"), "garbage", close=True)
    # closed by the client right after the answer, while the hub drains


def idle(port):
    with Connection(port) as c:
        check_equal(c.read_to_eof(timeout=15, what="close of an idle connection"), b"", "idle connection: bytes sent")


KINDS = [normal, reset, reset_out, truncated, refused, idle]


def describe(targets, limit=20):
    items = [f"{fd}->{target}" for fd, target in sorted(targets.items())]
    return ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def test(args):
    with Hub(args.espell, "--idle-timeout-ms", str(IDLE_TIMEOUT_MS)) as hub:
        before = hub.fd_targets()
        log(f"after startup: {len(before)} descriptors: {describe(before)}")
        jobs = [kind for _ in range(ROUNDS) for kind in KINDS]
        with concurrent.futures.ThreadPoolExecutor(CLIENT_THREADS) as pool:
            futures = [pool.submit(kind, hub.port) for kind in jobs]
            for future, kind in zip(futures, jobs):
                future.result()  # re-raises the first failure of a client
        log(f"ok  {len(jobs)} connections finished ({ROUNDS} of each of {', '.join(k.__name__ for k in KINDS)})")
        hub.check_alive("after the connections")
        check_serving(hub.port, "the connections")
        deadline = time.monotonic() + SETTLE_S
        while True:
            after = hub.fd_targets()
            if len(after) == len(before) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        extra = {fd: t for fd, t in after.items() if before.get(fd) != t}
        missing = {fd: t for fd, t in before.items() if after.get(fd) != t}
        check(len(after) == len(before),
              f"{len(before)} descriptors after startup, {len(after)} after {len(jobs)} finished connections "
              f"(waited {SETTLE_S:g} s); new: {describe(extra) or 'none'}; gone: {describe(missing) or 'none'}")
        log(f"ok  {len(after)} descriptors after the connections, as after startup")
        stderr = hub.stderr_text().strip()
        check(stderr == "", f"the hub wrote to standard error: {stderr[:500]!r}")


if __name__ == "__main__":
    sys.exit(run(test, __doc__))
