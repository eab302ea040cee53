#!/usr/bin/env python3
"""Clean shutdown and command-line errors: SIGTERM and SIGINT make the hub exit with
status 0 within 2 s (idle; with open keep-alive, half-sent and idle connections; in the
middle of a stream of requests); bad options make it exit with status 2 and a message
naming the problem on standard error; a port in use makes it exit with status 1;
scripts/hub checks its options and passes the timeout options on.

Usage: test_shutdown.py --espell PATH
"""
import os
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
from hubtest import (CLASS_PATH, ROOT, Connection, Failure, Hub, check, check_equal, check_serving, expect, get, log, run,
                     seed_version)

STOP_WITHIN_S = 2.0
CLI_TIMEOUT_S = 30.0


def hub_stderr(hub, setup_ran):
    """What the hub wrote to standard error. scripts/hub runs scripts/setup first, whose
    progress lines ("ninja: ...", "setup: ...") go to standard error too; they are not the hub's."""
    lines = hub.stderr_text().strip().splitlines()
    if setup_ran:
        lines = [line for line in lines if not line.startswith(("ninja: ", "setup: "))]
    return "\n".join(lines).strip()


def stop_with(hub, sig, what, setup_ran=False):
    started = time.monotonic()
    hub.signal(sig)
    status = hub.wait_exit(STOP_WITHIN_S)
    elapsed = time.monotonic() - started
    check(status is not None, f"{what}: the hub still runs {STOP_WITHIN_S:g} s after {sig.name}")
    check(status == 0, f"{what}: exit status {status} after {sig.name}, expected 0")
    stderr = hub_stderr(hub, setup_ran)
    check(stderr == "", f"{what}: the hub wrote to standard error: {stderr[:500]!r}")
    log(f"ok  {what}: exit status 0 {elapsed:.2f} s after {sig.name}")
    return hub


def idle_hub(espell, sig):
    with Hub(espell) as hub:
        check_serving(hub.port, "startup")
        stop_with(hub, sig, "idle hub")


def hub_with_connections(espell, sig):
    with Hub(espell) as hub:
        keep_alive = Connection(hub.port)
        keep_alive.send(get("/repos/Zinc/versions/2"))
        expect(keep_alive.read_response(), 200, seed_version("Zinc", 2), "keep-alive request", close=False)
        half_sent = Connection(hub.port)
        half_sent.send(b"POST /repos/Zinc/versions HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\n{\"pack")
        idle = Connection(hub.port)
        time.sleep(0.1)  # let the hub accept them all
        try:
            stop_with(hub, sig, "hub with open connections")
        finally:
            for c in (keep_alive, half_sent, idle):
                c.close()


def hub_under_requests(espell, sig):
    """A client sends requests back to back on new connections while the signal arrives."""
    with Hub(espell) as hub:
        stop = threading.Event()
        answered = [0]

        def client():
            while not stop.is_set():
                try:
                    with Connection(hub.port, timeout=5) as c:
                        c.send(get("/health"))
                        c.read_response()
                        answered[0] += 1
                except (Failure, OSError):
                    time.sleep(0.01)

        thread = threading.Thread(target=client, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 30
            while answered[0] < 50 and time.monotonic() < deadline:
                time.sleep(0.01)
            check(answered[0] >= 50, f"only {answered[0]} requests answered before the signal")
            stop_with(hub, sig, f"hub answering requests ({answered[0]} so far)")
        finally:
            stop.set()
            thread.join(10)


def bad_options(espell):
    cases = [
        (["--port", "x"], 'invalid port "x"'),
        (["--port", "65536"], 'invalid port "65536"'),
        (["--port", "-1"], 'invalid port "-1"'),
        (["--port", ""], 'invalid port ""'),
        (["--port"], "--port needs a value"),
        (["--idle-timeout-ms", "0"], 'invalid idle timeout "0"'),
        (["--idle-timeout-ms", "1.5"], 'invalid idle timeout "1.5"'),
        (["--idle-timeout-ms", "abc"], 'invalid idle timeout "abc"'),
        (["--idle-timeout-ms", "86400001"], 'invalid idle timeout "86400001"'),
        (["--idle-timeout-ms", "99999999999999999999999999"], 'invalid idle timeout "99999999999999999999999999"'),
        (["--port", "0", "--idle-timeout-ms"], "--idle-timeout-ms needs a value"),
        (["--head-timeout-ms", "0"], 'invalid head timeout "0"'),
        (["--head-timeout-ms", "2s"], 'invalid head timeout "2s"'),
        (["--body-timeout-ms", "86400001"], 'invalid body timeout "86400001"'),
        (["--send-timeout-ms", "-5"], 'invalid send timeout "-5"'),
        (["--port", "0", "--send-timeout-ms"], "--send-timeout-ms needs a value"),
        (["--verbose"], "unknown argument --verbose"),
        (["8080"], "unknown argument 8080"),
    ]
    for options, message in cases:
        argv = [espell, "run", "-cp", CLASS_PATH, "Hub"] + options
        what = "Hub " + " ".join(repr(o) if not o or " " in o else o for o in options)
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise Failure(f"{what}: still running after {CLI_TIMEOUT_S:g} s (it should refuse its options)") from None
        check_equal(p.returncode, 2, f"{what}: exit status (stderr {p.stderr.strip()!r})")
        check(f"hub: {message}" in p.stderr, f"{what}: standard error {p.stderr.strip()!r} does not say {message!r}")
        check("usage: Hub [--port N] [--idle-timeout-ms M]" in p.stderr, f"{what}: no usage line on standard error")
        check("listening" not in p.stdout, f"{what}: it listened anyway: {p.stdout.strip()!r}")
        log(f"ok  {what}: exit status 2, 'hub: {message}'")


def port_in_use(espell):
    with Hub(espell) as first:
        argv = [espell, "run", "-cp", CLASS_PATH, "Hub", "--port", str(first.port)]
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
        check_equal(p.returncode, 1, f"a second hub on port {first.port}: exit status (stderr {p.stderr.strip()!r})")
        check(f"hub: cannot listen on 127.0.0.1:{first.port}" in p.stderr,
              f"a second hub on port {first.port}: standard error {p.stderr.strip()!r}")
        log(f"ok  port in use: exit status 1, {p.stderr.strip()!r}")
        check_serving(first.port, "a second hub failed to listen on its port")


def scripts_hub():
    """scripts/hub passes --idle-timeout-ms on (it always runs ROOT/build/espell, so this
    part is skipped when that does not exist)."""
    script = os.path.join(ROOT, "scripts", "hub")
    if not os.access(os.path.join(ROOT, "build", "espell"), os.X_OK):
        log("skipped scripts/hub: build/espell does not exist")
        return
    for options, message in ((["--idle-timeout-ms"], "--idle-timeout-ms needs a value"),
                             (["--idle-timeout-ms=0"], 'invalid idle timeout "0"'),
                             (["--head-timeout-ms"], "--head-timeout-ms needs a value"),
                             (["--body-timeout-ms=x"], 'invalid body timeout "x"'),
                             (["--bogus"], "unknown argument --bogus")):
        p = subprocess.run([script] + options, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=CLI_TIMEOUT_S)
        what = "scripts/hub " + " ".join(options)
        check_equal(p.returncode, 2, f"{what}: exit status (stderr {p.stderr.strip()!r})")
        check(message in p.stderr, f"{what}: standard error {p.stderr.strip()!r} does not say {message!r}")
        log(f"ok  {what}: exit status 2, {message!r}")
    with Hub(None, "--idle-timeout-ms", "400", command=[script]) as hub:
        with Connection(hub.port) as c:
            started = time.monotonic()
            check_equal(c.read_to_eof(what="idle connection"), b"", "scripts/hub: bytes on an idle connection")
            elapsed = time.monotonic() - started
            check(0.35 <= elapsed <= 5.0, f"scripts/hub --idle-timeout-ms 400: idle connection closed after "
                                          f"{elapsed:.2f} s")
        log(f"ok  scripts/hub --idle-timeout-ms 400: idle connection closed after {elapsed:.2f} s")
        stop_with(hub, signal.SIGTERM, "scripts/hub", setup_ran=True)


def test(args):
    for sig in (signal.SIGTERM, signal.SIGINT):
        idle_hub(args.espell, sig)
        hub_with_connections(args.espell, sig)
        hub_under_requests(args.espell, sig)
    bad_options(args.espell)
    port_in_use(args.espell)
    scripts_hub()


if __name__ == "__main__":
    sys.exit(run(test, __doc__))
