#!/usr/bin/env python3
"""Bounded memory per connection, and memory given back: clients that pipeline requests
for large responses and never read them.

1. BulkServer (tests/integration/BulkServer.som, on lib/Http; every response a new 1 MiB
   String) with --send-timeout-ms 1500: 20 connections each pipeline 100 requests for
   /bulk/1048576 and read nothing. A connection must stop answering once its unsent
   output passes HttpLimits maxUnsentBytes: a few bodies per connection (what the
   kernel's socket buffers take), not 100; the server's RSS stays under 200 MiB (before
   the bound: 2.5 GB, and 100 such clients reached the heap limit). Good requests on new
   connections are answered meanwhile. After the send timeout the server cuts the
   flooding connections off (each client then reads at most a few MiB, then a reset or
   end of stream) and its descriptors return to their number at startup.
2. Once they are gone the memory goes back to the system while the server is idle (the
   server's idle release starts after a second without an answered request and collects
   fully within about 6 s of the last activity): its RSS
   falls back to within 10 MiB of what it was at startup within 20 s (without the idle
   release it stays near its peak, some 30 MiB above).
3. The hub, with a 1 MiB version and the same flood: RSS stays under 150 MiB, the
   connections are cut off after --send-timeout-ms, each cut-off is logged on standard
   error, and the hub keeps answering.
Under AddressSanitizer (the sanitizer suite) the RSS limits are 4 times higher and the
return check is skipped: its allocator's quarantine keeps freed C++ memory and its shadow
memory is resident; the bounds on bodies made and the cut-offs are checked all the same.

Usage: test_backpressure.py --espell PATH
"""
import json
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
from hubtest import (CLASS_PATH, Connection, Failure, Hub, check, check_equal, check_serving, compact, expect, get,
                     log, post, run)

SEND_TIMEOUT_MS = 1500
FLOODERS = 20
PIPELINED = 100
BODY = 1048576
RSS_LIMIT_MIB = 200
HUB_RSS_LIMIT_MIB = 150
RETURN_MARGIN_MIB = 10
RETURN_WITHIN_S = 20.0
CUT_OFF_WITHIN_S = 120.0    # the send timeout plus what a sanitizer build on a loaded machine needs
THIS_DIR = os.path.dirname(os.path.abspath(__file__))


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise Failure(f"no VmRSS for process {pid}")


class Flooder(threading.Thread):
    """Pipelines requests without reading; once told to, reads until the server ends the
    connection and records how many bytes arrived and how it ended."""

    def __init__(self, port, request):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20.0)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.request = request
        self.read_now = threading.Event()
        self.received = 0
        self.ending = None

    def run(self):
        try:
            self.sock.sendall(self.request * PIPELINED)
            self.read_now.wait()
            while True:
                data = self.sock.recv(1 << 16)
                if not data:
                    self.ending = "end of stream"
                    break
                self.received += len(data)
        except ConnectionResetError:
            self.ending = "reset"
        except socket.timeout:
            self.ending = "still open"
        except OSError as error:
            self.ending = f"{type(error).__name__}: {error}"
        finally:
            self.sock.close()


def sanitized(pid):
    """Whether the process runs with AddressSanitizer: its allocator keeps freed C++ memory
    in a quarantine (256 MiB) and maps shadow memory, so RSS says little about the heap."""
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def descriptors(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def flood(port, request, pid, rss_limit, good_request):
    """Starts the flooders, watches RSS for 3 s while checking good requests, waits until
    the server has closed every flooding connection (its descriptors back to their number
    before the flood: the send timeout cut them off), then lets the flooders read what the
    kernel still holds for them. Answers (peak RSS, flooders)."""
    baseline = descriptors(pid)
    flooders = [Flooder(port, request) for _ in range(FLOODERS)]
    for f in flooders:
        f.start()
    peak = 0.0

    def watch():
        nonlocal peak
        peak = max(peak, rss_mib(pid))
        check(peak < rss_limit, f"RSS {peak:.0f} MiB with {FLOODERS} non-reading pipelining clients "
                                f"(limit {rss_limit} MiB): output is not bounded")

    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        watch()
        good_request()
        time.sleep(0.2)
    # The cut-off: each connection is aborted once its output has waited SEND_TIMEOUT_MS
    # (a slow build takes a while to reach that point for all of them).
    deadline = time.monotonic() + CUT_OFF_WITHIN_S
    while descriptors(pid) > baseline:
        watch()
        check(time.monotonic() < deadline, f"{descriptors(pid) - baseline} flooding connections still open "
                                           f"{CUT_OFF_WITHIN_S:g} s after the flood began: not cut off")
        time.sleep(0.2)
    for f in flooders:
        f.read_now.set()
    for f in flooders:
        f.join(30)
        check(not f.is_alive(), "a flooding client did not see the end of its connection")
    return peak, flooders


def check_cut_off(flooders, response_bytes):
    for f in flooders:
        check(f.ending in ("reset", "end of stream"),
              f"a flooding connection was not cut off after the send timeout: {f.ending}")
        # Unread output is dropped, not delivered: at most what the kernel buffers held
        # (a few MiB) and the responses in flight, far from all 100 responses.
        check(f.received < 30 * response_bytes,
              f"a flooding client received {f.received} bytes of {PIPELINED * response_bytes}: its "
              f"unread output was kept")


def bulk_server(args):
    command = [args.espell, "run", "-cp", CLASS_PATH + ":" + THIS_DIR, "BulkServer"]
    with Hub(args.espell, "--send-timeout-ms", str(SEND_TIMEOUT_MS), command=command) as server:
        time.sleep(0.5)
        baseline_rss = rss_mib(server.pid)
        asan = sanitized(server.pid)

        def good_request():
            with Connection(server.port) as c:
                c.send(get("/bulk/10"))
                response = c.read_response(what="good request during the flood")
                check_equal((response.status, response.body), (200, b"x" * 10), "good request during the flood")

        request = get(f"/bulk/{BODY}")
        peak, flooders = flood(server.port, request, server.pid, RSS_LIMIT_MIB * (4 if asan else 1), good_request)
        with Connection(server.port) as c:
            c.send(get("/made"))
            made = json.loads(c.read_response(what="/made").body)["made"]
        log(f"ok  {FLOODERS} clients pipelining {PIPELINED} requests for 1 MiB and not reading: peak RSS "
            f"{peak:.0f} MiB (baseline {baseline_rss:.0f}), {made} bodies made (not {FLOODERS * PIPELINED})")
        check(made <= FLOODERS * 10, f"{made} bodies made for {FLOODERS} clients that read nothing: the "
                                     f"connections went on answering their pipelined requests")
        check_cut_off(flooders, BODY)
        log(f"ok  every flooding connection was cut off after the send timeout "
            f"({', '.join(sorted(set(f.ending for f in flooders)))})")

        if asan:
            log("skipped the memory return check: AddressSanitizer's quarantine holds freed memory")
            good_request()
            server.check_alive("after the flood")
            return
        deadline = time.monotonic() + RETURN_WITHIN_S
        while rss_mib(server.pid) > baseline_rss + RETURN_MARGIN_MIB:
            check(time.monotonic() < deadline, f"RSS still {rss_mib(server.pid):.0f} MiB {RETURN_WITHIN_S:g} s "
                                               f"after the flood (baseline {baseline_rss:.0f} MiB): memory not "
                                               f"given back")
            time.sleep(0.2)
        log(f"ok  memory given back while idle: RSS {rss_mib(server.pid):.0f} MiB (peak {peak:.0f})")
        good_request()
        server.check_alive("after the flood")


def hub(args):
    with Hub(args.espell, "--send-timeout-ms", str(SEND_TIMEOUT_MS)) as server:
        document = {"package": "Big-Core", "author": "load", "source": "s" * (BODY - 100)}
        with Connection(server.port) as c:
            c.send(post("/repos/Big/versions", compact(document)))
            expect(c.read_response(what="POST of a 1 MiB version"), 201, {"name": "Big", "number": 1},
                   "POST of a 1 MiB version")
        time.sleep(0.3)
        response_bytes = len(compact(dict({"name": "Big", "number": 1}, **document)))
        peak, flooders = flood(server.port, get("/repos/Big/versions/1"), server.pid,
                               HUB_RSS_LIMIT_MIB * (4 if sanitized(server.pid) else 1),
                               lambda: check_serving(server.port, "the hub flood"))
        check_cut_off(flooders, response_bytes)
        check_serving(server.port, "the hub flood")
        # Cutting a client off is not routine: each cut-off is logged, naming why.
        cut = [line for line in server.stderr_text().splitlines()
               if line.startswith("http: connection ended: SocketTimeout: ")
               and line.endswith("not taken by the peer in time")]
        check(len(cut) == FLOODERS, f"{len(cut)} cut-offs logged for {FLOODERS} flooders: "
                                    f"{server.stderr_text().strip()[-1000:]!r}")
        log(f"ok  the hub under the same flood: peak RSS {peak:.0f} MiB, every flooder cut off, still serving")


def test(args):
    bulk_server(args)
    hub(args)


if __name__ == "__main__":
    sys.exit(run(test, __doc__))
