#!/usr/bin/env python3
"""The control socket of a running VM: espell run --virtualized --control SOCKET serves
`espell status` (readable and --json) while its program runs (a main loop on Delays and a
forked computing process); the socket file is mode 0600; clients get exit status 4 where
no VM answers; malformed lines, unknown commands and a 17 MiB line get error answers (or
a close) while the guest keeps running; a peer of another uid is refused (when the test
runs as root); a second VM on the same path is refused and a stale socket file left by a
killed VM is replaced; --control without --virtualized is a usage error; SIGTERM and
SIGINT end the VM with status 0 and remove the socket file.

Usage: test_control.py --espell PATH
"""
import json
import os
import select
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
from hubtest import check, check_equal, log, run

STARTUP_TIMEOUT_S = 60.0  # sanitizer builds on a loaded machine start slowly
CLIENT_TIMEOUT_S = 30.0
STOP_WITHIN_S = 5.0
NO_VM = 4
CONTROL_ERROR = 5
USAGE = 64
SOCKET_UNAVAILABLE = 73

# Serves forever: the main process wakes every 20 ms, a forked process computes and
# passes an update point at each step (so a status request pauses it at once).
PROGRAM = """Served = (
    run = (
        | worker |
        Processor activeProcess name: 'main loop'.
        worker := [ self compute ] newProcess.
        worker name: 'computer'.
        worker resume.
        'started' println. system flush.
        [ true ] whileTrue: [ (Delay forMilliseconds: 20) wait ] )
    compute = (
        | n |
        n := 0.
        [ true ] whileTrue: [ n := n + 1. n > 100000 ifTrue: [ n := 0 ]. Chester updatePoint ] )
)
"""


class Vm:
    """espell run --virtualized --control SOCKET PROGRAM, started and waited for."""

    def __init__(self, espell, sock, program):
        self.argv = [espell, "run", "--virtualized", "--control", sock, program]
        self.sock = sock
        self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        self._wait_started()

    def _wait_started(self):
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            check(remaining > 0, f"no 'started' line within {STARTUP_TIMEOUT_S:g} s")
            ready, _, _ = select.select([self.process.stdout], [], [], remaining)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 1)
                if chunk == b"":
                    err = self.process.stderr.read().decode(errors="replace")
                    check(False, f"the VM exited (status {self.process.wait()}) before starting: {err[:500]!r}")
                line += chunk
        check_equal(line.strip(), b"started", "first line of the program")
        check(os.path.exists(self.sock), "the socket file exists once the program runs")

    def check_alive(self, when):
        check(self.process.poll() is None, f"{when}: the VM exited with status {self.process.returncode}")

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()


def espell(espell_path, *args):
    """Runs an espell client command; answers (status, stdout, stderr)."""
    p = subprocess.run([espell_path, *args], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=CLIENT_TIMEOUT_S)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def status_json(espell_path, sock, when):
    code, out, err = espell(espell_path, "status", "--control", sock, "--json")
    check_equal(code, 0, f"{when}: espell status --json exit status (stderr {err!r})")
    lines = out.splitlines()
    check_equal(len(lines), 1, f"{when}: espell status --json prints one line")
    return json.loads(lines[0])


class RawClient:
    """A connection to the control socket, one JSON line each way."""

    def __init__(self, sock):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(CLIENT_TIMEOUT_S)
        self.sock.connect(sock)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def read_line(self):
        """The next line, or None if the connection ends first."""
        while b"\n" not in self.buffer:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                return None
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line

    def answer(self, request):
        self.send(request + b"\n")
        line = self.read_line()
        check(line is not None, f"no answer to {request[:80]!r}: the connection was closed")
        return json.loads(line)

    def at_end(self):
        """True once the server has closed the connection."""
        return self.read_line() is None

    def close(self):
        self.sock.close()


def check_error(answer, part, what):
    check(answer.get("ok") is False, f"{what}: expected an error answer, got {answer!r}")
    check(part in answer.get("error", ""), f"{what}: expected {part!r} in the error, got {answer!r}")


def check_status(espell_path, vm, sock, program):
    code, out, err = espell(espell_path, "status", "--control", sock)
    check_equal(code, 0, f"espell status exit status (stderr {err!r})")
    for part in ("guest: running", f"pid {vm.process.pid}", f"program: {program}", "updates applied: 0",
                 "heap: old space", "collections:", "computer", "main loop"):
        check(part in out, f"espell status prints {part!r}; it printed:\n{out}")
    log("ok  espell status (readable)")

    status = status_json(espell_path, sock, "status --json")
    check_equal(status["state"], "running", "status.state")
    check_equal(status["program"], program, "status.program")
    check_equal(status["pid"], vm.process.pid, "status.pid")
    check_equal(status["updatesApplied"], 0, "status.updatesApplied")
    check(status["uptimeSeconds"] > 0, f"status.uptimeSeconds > 0: {status['uptimeSeconds']}")
    for field in ("oldSpaceCommittedBytes", "liveBytesAtLastFullCollection", "edenBytes", "scavenges",
                  "fullCollections", "maxScavengeMicros", "scavengeMicros", "maxFullCollectionMicros",
                  "fullCollectionMicros"):
        check(isinstance(status["heap"].get(field), int), f"status.heap.{field} is an integer: {status['heap']}")
    check(status["heap"]["oldSpaceCommittedBytes"] > 0, "old space has committed memory")
    check(0 <= status["heap"]["scavengeCpuMicros"] <= status["heap"]["scavengeMicros"] + 1000,
          f"the scavenges' CPU time is within their wall time: {status['heap']}")
    for work in ("longestScavenge", "longestMarkingStep"):
        lived = status["heap"].get(work)
        check(isinstance(lived, dict) and all(isinstance(lived.get(f), int) for f in
                                              ("micros", "cpuMicros", "faults", "waits", "preemptions")),
              f"status.heap.{work} gives wall and CPU time, faults, waits and preemptions: {lived}")
        check(lived["cpuMicros"] <= lived["micros"] + 1000, f"status.heap.{work}: CPU within wall time: {lived}")
    processes = {p["name"]: p for p in status["processes"] or []}
    check("computer" in processes and "main loop" in processes, f"status.processes: {status['processes']}")
    check_equal(processes["computer"]["priority"], 40, "the computer's priority")
    check_equal(processes["computer"]["state"], "runnable", "the computing process's state")
    check_equal(processes["main loop"]["state"], "waiting", "the main loop's state (on its Delay)")
    log("ok  espell status --json: state, program, pid, uptime, heap, processes, updatesApplied")
    return status


def check_no_vm(espell_path, directory):
    script = os.path.join(directory, "fix.st")
    with open(script, "w") as f:
        f.write("\"an update\"\n")
    plain_file = os.path.join(directory, "plain-file")
    with open(plain_file, "w") as f:
        f.write("x")
    for target, what in ((os.path.join(directory, "nobody.sock"), "a missing socket"),
                         (plain_file, "a regular file")):
        for args in (["status"], ["status", "--json"], ["updates"], ["update", script]):
            code, _, err = espell(espell_path, *args[:1], "--control", target, *args[1:])
            check_equal(code, NO_VM, f"espell {' '.join(args)} on {what}: exit status (stderr {err!r})")
            check("no VM answers" in err, f"espell {' '.join(args)} on {what}: stderr {err!r}")
    log("ok  exit status 4 where no VM answers (missing socket, regular file) for status, updates, update")


def check_usage_errors(espell_path, directory):
    program = os.path.join(directory, "Served.som")
    code, _, err = espell(espell_path, "run", "--control", os.path.join(directory, "x.sock"), program)
    check_equal(code, USAGE, f"--control without --virtualized: exit status (stderr {err!r})")
    check("--control" in err, f"--control without --virtualized: the error names the flag: {err!r}")
    code, _, err = espell(espell_path, "status")
    check_equal(code, USAGE, f"status without --control: exit status (stderr {err!r})")
    for threads in ("0", "65", "two"):
        code, _, err = espell(espell_path, "run", "--gc-threads", threads, program)
        check_equal(code, USAGE, f"--gc-threads {threads}: exit status (stderr {err!r})")
        check("--gc-threads needs a number of threads from 1 to 64" in err,
              f"--gc-threads {threads}: the error names the flag and its range: {err!r}")
    log("ok  usage errors: --control without --virtualized, status without --control, --gc-threads out of range")


def check_bad_requests(espell_path, vm, sock):
    c = RawClient(sock)
    try:
        check_error(c.answer(b"this is not json"), "not valid JSON (at byte", "a line that is not JSON")
        check_error(c.answer(b"[1, 2]"), "must be a JSON object", "an array")
        check_error(c.answer(b'{"verb": "status"}'), 'needs a "command" string', "no command")
        check_error(c.answer(b'{"command": "reboot"}'), "unknown command 'reboot'", "an unknown command")
        status = c.answer(b'{"command": "status"}')
        check(status.get("ok") is True, f"status on the same connection after errors: {status!r}")
    finally:
        c.close()
    log("ok  malformed lines and an unknown command get error answers; the connection stays open")

    # 17 MiB without a newline, as fast as the client can: an error answer and a close
    # (the client's send may fail once the server has closed).
    c = RawClient(sock)
    payload = b"x" * (17 << 20)
    send_error = []

    def send_all():
        try:
            c.send(payload)
        except OSError as error:
            send_error.append(error)

    started = time.monotonic()
    sender = threading.Thread(target=send_all)
    sender.start()
    line = c.read_line()
    sender.join(CLIENT_TIMEOUT_S)
    elapsed = time.monotonic() - started
    check(not sender.is_alive(), "the 17 MiB sender finished (the server read or closed)")
    if line is not None:
        check_error(json.loads(line), "longer than 16777216 bytes", "a 17 MiB line")
        check(c.at_end(), "the connection is closed after the oversized line's error")
    c.close()
    vm.check_alive("after a 17 MiB line")
    status = status_json(espell_path, sock, "after a 17 MiB line")
    check_equal(status["state"], "running", "state after a 17 MiB line")
    log(f"ok  a 17 MiB line: {'error answer, then' if line is not None else 'no answer,'} closed in "
        f"{elapsed:.2f} s; the guest runs on and status answers")


def connect_as(uid, sock):
    """In a forked child running as `uid`: connects to `sock` and reads until the server
    closes. Answers (what the child read, or an error text, and whether it got that far)."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: no exec (the interpreter may not be readable by uid)
        status = 1
        try:
            os.close(reader)
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            c = RawClient(sock)
            data = b""
            while True:
                try:
                    chunk = c.sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    break
                data += chunk
            os.write(writer, data)
            status = 0
        except BaseException as error:  # noqa: BLE001 - reported to the parent
            os.write(writer, f"{type(error).__name__}: {error}".encode())
        finally:
            os._exit(status)
    os.close(writer)
    chunks = []
    while True:
        chunk = os.read(reader, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(reader)
    _, status = os.waitpid(pid, 0)
    return b"".join(chunks).decode(errors="replace"), os.waitstatus_to_exitcode(status) == 0


def check_other_uid(espell_path, sock, directory):
    if os.geteuid() != 0:
        log("note: not root, so the refusal of a peer of another uid is not tested here "
            "(the unit tests cover it with an allowed uid that is not ours)")
        return
    # Let uid 65534 reach the socket: the kernel checks the file's mode on connect.
    os.chmod(directory, 0o755)
    os.chmod(sock, 0o666)
    try:
        text, ran = connect_as(65534, sock)
    finally:
        os.chmod(sock, 0o600)
        os.chmod(directory, 0o700)
    check(ran, f"the peer of uid 65534 connected and read: {text!r}")
    lines = text.splitlines()
    check_equal(len(lines), 1, f"the refused peer got one line, then the close: {lines!r}")
    check_error(json.loads(lines[0]), "permission denied: uid 65534", "a peer of uid 65534")
    status_json(espell_path, sock, "after a refused peer")
    log("ok  a peer of uid 65534 gets one error line and is closed")


def check_second_vm(espell_path, sock, program):
    p = subprocess.run([espell_path, "run", "--virtualized", "--control", sock, program],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=STARTUP_TIMEOUT_S)
    err = p.stderr.decode(errors="replace")
    check_equal(p.returncode, SOCKET_UNAVAILABLE, f"a second VM on the same socket: exit status (stderr {err!r})")
    check(sock in err and "another process is listening" in err, f"the second VM's error names the path: {err!r}")
    check_equal(p.stdout, b"", "the second VM's program did not run")
    status_json(espell_path, sock, "after a second VM was refused")
    log("ok  a second VM on a live socket is refused (status 73) and the first serves on")


def check_stop(vm, sock, sig):
    started = time.monotonic()
    vm.process.send_signal(sig)
    try:
        code = vm.process.wait(STOP_WITHIN_S)
    except subprocess.TimeoutExpired:
        check(False, f"the VM still runs {STOP_WITHIN_S:g} s after {sig.name}")
    err = vm.process.stderr.read().decode(errors="replace")
    check_equal(code, 0, f"exit status after {sig.name} (stderr {err!r})")
    check_equal(err, "", f"standard error after {sig.name}")
    check(not os.path.exists(sock), "the socket file is removed at exit")
    log(f"ok  {sig.name}: exit status 0 within {time.monotonic() - started:.2f} s, socket file removed")


def check_stale_socket(espell_path, sock, program):
    vm = Vm(espell_path, sock, program)
    try:
        vm.process.kill()
        vm.process.wait()
        check(os.path.exists(sock), "a killed VM leaves its socket file behind")
        fresh = Vm(espell_path, sock, program)
        try:
            status = status_json(espell_path, sock, "a VM on a stale socket")
            check_equal(status["pid"], fresh.process.pid, "the new VM answers")
            check_stop(fresh, sock, signal.SIGINT)
        finally:
            fresh.stop()
    finally:
        vm.stop()
    log("ok  a stale socket file (its VM killed) is replaced by the next VM")


def test(args):
    with tempfile.TemporaryDirectory(prefix="espell-control-") as directory:
        program = os.path.join(directory, "Served.som")
        with open(program, "w") as f:
            f.write(PROGRAM)
        sock = os.path.join(directory, "control.sock")
        check_no_vm(args.espell, directory)
        check_usage_errors(args.espell, directory)
        vm = Vm(args.espell, sock, program)
        try:
            mode = stat.S_IMODE(os.stat(sock).st_mode)
            check(stat.S_ISSOCK(os.stat(sock).st_mode), "the control socket is a socket")
            check_equal(oct(mode), oct(0o600), "the socket file's mode")
            log("ok  the socket file is mode 0600")
            first = check_status(args.espell, vm, sock, program)
            check_bad_requests(args.espell, vm, sock)
            check_other_uid(args.espell, sock, directory)
            check_second_vm(args.espell, sock, program)
            later = status_json(args.espell, sock, "at the end")
            check(later["uptimeSeconds"] > first["uptimeSeconds"], "the uptime grows")
            vm.check_alive("before SIGTERM")
            check_stop(vm, sock, signal.SIGTERM)
        finally:
            vm.stop()
        check_stale_socket(args.espell, sock, program)


if __name__ == "__main__":
    sys.exit(run(test, __doc__))
