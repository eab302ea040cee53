#!/usr/bin/env python3
"""Termination signals reach every kind of program: SIGTERM and SIGINT make espell exit
with status 0 within 2 s while its only process loops without sending I/O (with and
without allocating), while it waits on a long Delay, and while it waits on a semaphore
nothing will signal beside a looping process, and while one primitive runs for seconds;
each plain and as the guest of a
hypervisor (--virtualized).

Usage: test_signals.py --espell PATH
"""
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
from hubtest import check, check_equal, log, run

STOP_WITHIN_S = 2.0
STARTUP_TIMEOUT_S = 60.0  # sanitizer builds on a loaded machine start slowly

# Each program prints "started" (and flushes: standard output is a pipe) once it is in
# the state under test.
PROGRAMS = {
    "a tight loop": "run = ( 'started' println. system flush. [ true ] whileTrue: [ ] )",
    "an allocating loop": "run = ( | a | 'started' println. system flush. [ true ] whileTrue: [ a := Array new: 16 ] )",
    "a long Delay": "run = ( 'started' println. system flush. (Delay forSeconds: 600) wait )",
    "a semaphore wait beside a loop": """run = (
        | s |
        s := Semaphore new.
        [ [ true ] whileTrue: [ Processor yield ] ] fork.
        'started' println. system flush.
        s wait )""",
    # One primitive running for seconds (printing a 3.6-million-digit integer, made in
    # no time by a shift): long primitives poll the heartbeat (vm/LongOperation.h).
    "a long primitive": """run = (
        | x |
        x := (1 << 12000000) - 1.
        'started' println. system flush.
        [ true ] whileTrue: [ x printString ] )""",
}


def wait_for_start(process, what):
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    line = b""
    while not line.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        check(remaining > 0, f"{what}: no 'started' line within {STARTUP_TIMEOUT_S:g} s")
        ready, _, _ = select.select([process.stdout], [], [], remaining)
        if ready:
            chunk = os.read(process.stdout.fileno(), 1)
            check(chunk != b"", f"{what}: exited (status {process.poll()}) before starting")
            line += chunk
    check_equal(line.strip(), b"started", f"{what}: first line")


def stop(espell, directory, name, body, sig, virtualized):
    path = os.path.join(directory, "Program.som")
    with open(path, "w") as f:
        f.write(f"Program = ( {body} )\n")
    argv = [espell, "run"] + (["--virtualized"] if virtualized else []) + [path]
    what = f"{name}{' (virtualized)' if virtualized else ''}, {sig.name}"
    process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for_start(process, what)
        time.sleep(0.2)  # well inside the loop or the wait
        started = time.monotonic()
        process.send_signal(sig)
        try:
            status = process.wait(STOP_WITHIN_S)
        except subprocess.TimeoutExpired:
            check(False, f"{what}: still running {STOP_WITHIN_S:g} s after the signal")
        elapsed = time.monotonic() - started
        stderr = process.stderr.read().decode(errors="replace").strip()
        check_equal(status, 0, f"{what}: exit status (standard error {stderr[:300]!r})")
        check_equal(stderr, "", f"{what}: standard error")
        log(f"ok  {what}: exit status 0 {elapsed:.2f} s after the signal")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()


def test(args):
    with tempfile.TemporaryDirectory(prefix="espell-signals-") as directory:
        for virtualized in (False, True):
            for name, body in PROGRAMS.items():
                for sig in (signal.SIGTERM, signal.SIGINT):
                    stop(args.espell, directory, name, body, sig, virtualized)


if __name__ == "__main__":
    sys.exit(run(test, __doc__))
