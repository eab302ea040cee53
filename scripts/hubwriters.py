"""The hub as a benchmark runs it (start_hub: a virtualized VM with a control socket;
stop_hub; take_snapshot through its control socket), and
clients that write to it: filling it with large versions
until it holds so many MiB of live data (fill), and keep-alive clients POSTing small
versions as fast as they are answered, every request timed (WriteLoad). Every answer is
checked (201 and {"name": ..., "number": N}); a failure is passed to the caller's
`failed(text)` and does not stop the others. Used by scripts/bench/snapshot and
scripts/bench/steady-load."""
import asyncio
import gc
import json
import os
import re
import signal
import subprocess
import threading
import time

from hubload import load_module

load = load_module()

FILL_SOURCE_BYTES = 512 * 1024  # the hub takes bodies up to 1 MiB
HUB_PROGRAM = ["-cp", "lib/Json:lib/Http:apps/hub", "Hub"]
LISTENING_RE = re.compile(rb"hub listening on 127\.0\.0\.1:([0-9]+)")
REQUEST_TIMEOUT_S = 10.0


def start_hub(espell, tree, socket, environment=None):
    """`espell run --virtualized --control SOCKET ... Hub --port 0` in `tree` (whose lib and
    apps it runs) until it listens and its control socket exists: (process, port)."""
    hub = subprocess.Popen([espell, "run", "--virtualized", "--control", socket] + HUB_PROGRAM + ["--port", "0"],
                           cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment)
    while True:
        line = hub.stdout.readline()
        if not line:
            raise SystemExit(f"{espell}: the hub exited (status {hub.wait()}) before listening")
        m = LISTENING_RE.search(line)
        if m:
            port = int(m.group(1))
            break
    while not os.path.exists(socket):
        time.sleep(0.02)
    return hub, port


def stop_hub(hub, wait_s=30):
    """Ends a hub started by start_hub: SIGTERM, then SIGKILL if it is still there after wait_s."""
    if hub.poll() is not None:
        return
    hub.send_signal(signal.SIGTERM)
    try:
        hub.wait(wait_s)
    except subprocess.TimeoutExpired:
        hub.kill()
        hub.wait()


def take_snapshot(espell, socket, directory, mode, failed, timeout_s=600):
    """`espell snapshot --control SOCKET --json --mode MODE DIRECTORY`: its report (a dict),
    or None after passing what went wrong (also no answer within timeout_s) to `failed(text)`."""
    try:
        done = subprocess.run([espell, "snapshot", "--control", socket, "--json", "--mode", mode, directory],
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        failed(f"espell snapshot --mode {mode} {directory}: no answer within {timeout_s} s")
        return None
    try:
        report = json.loads(done.stdout) if done.returncode == 0 else None
    except ValueError:
        report = None
    if report is None:
        failed(f"espell snapshot --mode {mode} {directory} exited {done.returncode}: "
               f"{(done.stdout + done.stderr).strip()[-600:]}")
    return report


def post_bytes(host_header, name, source):
    body = json.dumps({"package": f"{name}-Core", "author": "bench", "source": source},
                      separators=(",", ":")).encode("utf-8")
    return load.encode_request("POST", f"/repos/{name}/versions", host_header, body)


def check_created(response, name):
    value, reason = load.json_body(response, 201)
    if reason:
        return reason
    if not isinstance(value, dict) or value.get("name") != name or not isinstance(value.get("number"), int):
        return f'body is not {{"name":"{name}","number":N}}'
    return None


async def exchange(loop, connection, port, data):
    """(connection, response or None, failure reason or None); opens the connection if needed."""
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            if connection is None or connection.closed:
                if connection is not None:
                    connection.close()
                _, connection = await loop.create_connection(load.Connection, "127.0.0.1", port)
            response = await connection.exchange(data)
        return connection, response, None
    except TimeoutError:
        reason = f"timeout (no complete response within {REQUEST_TIMEOUT_S:g} s)"
    except load.ProtocolError as error:
        reason = str(error)
    except OSError as error:
        reason = load.describe_os_error(error)
    if connection is not None:
        connection.close()
    return None, None, reason


async def fill(port, megabytes, clients, state, failed):
    """POSTs versions with FILL_SOURCE_BYTES sources until `megabytes` MiB of sources have
    been posted in all (state["filled"] counts across calls; state["sequence"] numbers the
    versions)."""
    loop = asyncio.get_running_loop()
    host_header = f"127.0.0.1:{port}"
    block = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" * (FILL_SOURCE_BYTES // 62 + 1))
    target = megabytes * (1 << 20)

    async def client(index):
        name = f"Fill{index}"
        connection = None
        while state["filled"] < target:
            state["filled"] += FILL_SOURCE_BYTES
            state["sequence"] += 1
            prefix = f"version {state['sequence']} "
            source = prefix + block[:FILL_SOURCE_BYTES - len(prefix)]
            connection, response, reason = await exchange(loop, connection, port, post_bytes(host_header, name, source))
            if reason is None:
                reason = check_created(response, name)
            if reason:
                failed(f"filling: POST /repos/{name}/versions ({FILL_SOURCE_BYTES} bytes of source): {reason}")
                state["filled"] = target  # stop every client: the numbers would mean nothing
        if connection is not None:
            connection.close()

    await asyncio.gather(*(client(i) for i in range(clients)))


class WriteLoad:
    """`clients` keep-alive clients POSTing small versions as fast as they are answered;
    records (began_s, finished_s, ok) in perf_counter seconds."""

    def __init__(self, port, clients, failed):
        self.port = port
        self.clients = clients
        self.host_header = f"127.0.0.1:{port}"
        self.records = []
        self.failed = 0
        self.report_failure = failed
        self.stopping = False
        self.thread_id = None  # the thread the clients run on, once they run

    async def client(self, index):
        loop = asyncio.get_running_loop()
        name = f"Snap{index}"
        connection = None
        sequence = 0
        while not self.stopping:
            sequence += 1
            source = f"{name} version {sequence}: " + "x" * 300
            data = post_bytes(self.host_header, name, source)
            began = time.perf_counter()
            connection, response, reason = await exchange(loop, connection, self.port, data)
            if reason is None:
                reason = check_created(response, name)
            finished = time.perf_counter()
            self.records.append((began, finished, reason is None))
            if reason:
                self.failed += 1
                self.report_failure(f"load: POST /repos/{name}/versions: {reason}")
                await asyncio.sleep(0.1)
        if connection is not None:
            connection.close()

    async def run(self):
        # As in scripts/load: Python's cyclic collector walks every tracked object in its
        # oldest generation, and the records grow to millions; its passes stalled every
        # client at once for 60-230 ms (scripts/bench/snapshot-sched: the clients' thread
        # running while the hub waited for a request). The records hold no cycles.
        self.thread_id = threading.get_native_id()
        gc.disable()
        try:
            await asyncio.gather(*(self.client(i) for i in range(self.clients)))
        finally:
            gc.enable()

    def latencies(self, start, end, before_end=None):
        """Latencies (ms, ascending) of the requests that overlap [start, end]; with
        before_end, only those that finished before it."""
        values = [(f - b) * 1000.0 for b, f, _ in self.records
                  if f > start and b < end and (before_end is None or f < before_end)]
        return sorted(values)
