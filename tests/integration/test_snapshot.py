#!/usr/bin/env python3
"""Snapshots of a live hub and resuming from the image, through the espell commands:
while two clients POST new versions, `espell snapshot --control SOCKET --json DIR` takes a
copy-on-write snapshot of the guest; the hub is killed (SIGKILL); `espell run --virtualized
--image DIR --port 0` resumes it, and every version acknowledged before the snapshot began
is served byte for byte as the original served it, new versions are accepted and an
update commits (the segments checked on first touch meanwhile, the default); `espell run
--image DIR` (no hypervisor) resumes it too. The same by mprotect, the fallback where
userfaultfd is unavailable (ESPELL_SNAPSHOT_PROTECTION=mprotect), armed ahead of the
pause like userfaultfd. Also: a snapshot
of the hypervisor space and snapshots in the fork and copy modes; images that are
corrupt, truncated, tampered with or incomplete are refused with exit status 65 (a
tampered segment whether checked on first touch or with --verify-image-first); a VM
killed while writing a snapshot leaves no image that looks complete, and the next snapshot
into that name works; a snapshot whose writes fail (the VM's file-size limit reached) while
clients POST fails naming the file, leaves nothing and loses nothing, and the next one
works; cow snapshots back to back into one directory while clients POST answer every
request, and the last image resumes with what was acknowledged before it; client errors
(no VM: 4, bad options: 64).

Usage: test_snapshot.py --espell PATH
"""
import http.client
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
from hubtest import CLASS_PATH, ROOT, Hub, check, check_equal, log, run

BAD_IMAGE = 65
NO_VM = 4
CONTROL_ERROR = 5
USAGE = 64
CLIENT_TIMEOUT_S = 120.0

# A program holding about 200 MiB of byte arrays (so writing its image takes a while) and
# waiting on Delays; its update points are those of the Delay loop.
BIG = """Big = (
    run = (
        | chunks |
        chunks := (1 to: 200) collect: [ :i | | b | b := ByteArray new: 1048576. b at: 1 put: i \\\\ 256. b ].
        'filled' println. system flush.
        [ true ] whileTrue: [ (Delay forMilliseconds: 10) wait ] )
)
"""


def espell(args, *argv, timeout=CLIENT_TIMEOUT_S):
    return subprocess.run([args.espell, *argv], capture_output=True, text=True, timeout=timeout)


def snapshot(args, sock, directory, *options):
    done = espell(args, "snapshot", "--control", sock, "--json", *options, directory)
    check_equal(done.returncode, 0, f"espell snapshot {' '.join(options)}: exit status ({done.stderr.strip()})")
    report = json.loads(done.stdout)
    for field in ("pauseMicros", "heapBytes", "freeBytes", "pagesWritten", "pagesSavedByCow", "zeroPagesSaved",
                  "savesWaited", "pacedMicros", "peakExtraBytes", "bytesWritten", "throughputMiBPerSecond",
                  "totalMicros"):
        check(field in report, f"the snapshot report has no {field}: {report}")
    check(report["pagesWritten"] > 0 and report["bytesWritten"] == 4096 * report["pagesWritten"],
          f"pages and bytes written: {report}")
    check(os.path.isfile(os.path.join(directory, "manifest.json")), f"{directory}/manifest.json exists")
    return report


class Writers:
    """Clients POSTing new versions of their own repositories; each acknowledged version is
    recorded with the time its answer arrived."""

    def __init__(self, hub, clients=2):
        self.hub = hub
        self.port = hub.port
        self.stop = threading.Event()
        self.acked = []  # (time acknowledged, repository, number, source)
        self.errors = []
        self.began = time.monotonic()
        self.threads = [threading.Thread(target=self.write, args=(f"Snap{i}",)) for i in range(clients)]
        for t in self.threads:
            t.start()

    def write(self, name):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        n = 0
        while not self.stop.is_set():
            n += 1
            source = f"version {n} of {name}: " + "x" * (n % 200)
            body = json.dumps({"package": f"{name}-Core", "author": "snapshot test", "source": source})
            step = "sending"
            try:
                connection.request("POST", f"/repos/{name}/versions", body, {"Content-Type": "application/json"})
                step = "reading the answer"
                response = connection.getresponse()
                answer = response.read()
            except OSError as error:
                self.errors.append(f"{name} POST {n}, {step} {time.monotonic() - self.began:.3f} s after "
                                   f"the writers began: {error}")
                return
            if response.status != 201:
                self.errors.append(f"{name} POST {n}: status {response.status} {answer!r}")
                return
            number = json.loads(answer)["number"]
            self.acked.append((time.monotonic(), name, number, source))
        connection.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        check(not self.errors, f"the writers failed: {self.errors[:3]}; the hub's errors: "
                               f"{self.hub.stderr_text().strip()[-2000:]!r}")


def check_no_connection_errors(hub, which):
    """No connection ended on an error other than its client resetting it (a connection of
    the process an image was taken from ends quietly too; see HttpConnection>>ended:)."""
    ended = [line for line in hub.stderr_text().splitlines() if "connection ended" in line]
    check(not ended, f"{which}: connections ended on errors: {ended[:3]}")


def get(port, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def get_versions(port, versions):
    """GETs each (repository, number) of `versions` in turn on one keep-alive connection
    (thousands of them: a connection each took most of the test's time on a busy machine);
    yields ((repository, number), status, body)."""
    connection = None
    try:
        for name, number in versions:
            if connection is None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", f"/repos/{name}/versions/{number}")
            response = connection.getresponse()
            body = response.read()
            if response.will_close:
                connection.close()
                connection = None
            yield (name, number), response.status, body
    finally:
        if connection is not None:
            connection.close()


def served_before(hub, writers, started):
    """What the hub serves, byte for byte, for each version acknowledged before `started`
    (the snapshot's start): {(repository, number): body}."""
    before = [(name, number) for at, name, number, _ in writers.acked if at < started]
    check(len(before) > 20, f"versions acknowledged before the snapshot: {len(before)}")
    served = {}
    for (name, number), status, body in get_versions(hub.port, before):
        check_equal(status, 200, f"the original hub serving {name} version {number}")
        served[(name, number)] = body
    return served


def check_serves(hub, served, what):
    """`hub` serves each of `served` ({(repository, number): body}) byte for byte."""
    for (name, number), status, again in get_versions(hub.port, served):
        check_equal((status, again), (200, served[(name, number)]), f"{name} version {number} {what}")


def resume_command(args, sock, directory):
    return [args.espell, "run", "--virtualized", "--control", sock, "--image", directory]


def test_snapshot_and_resume(args, work):
    sock = os.path.join(work, "hub.sock")
    image = os.path.join(work, "hub-image")
    with Hub(args.espell, command=[args.espell, "run", "--virtualized", "--control", sock, "-cp", CLASS_PATH,
                                   "Hub"]) as hub:
        writers = Writers(hub)
        time.sleep(1.0)
        started = time.monotonic()
        report = snapshot(args, sock, image)
        log(f"snapshot while writing, {started - writers.began:.3f} to {time.monotonic() - writers.began:.3f} s "
            f"after the writers began: pause {report['pauseMicros']} us, {report['pagesWritten']} pages, "
            f"{report['pagesSavedByCow']} saved on write, {report['throughputMiBPerSecond']:.0f} MiB/s")
        time.sleep(0.3)
        writers.finish()
        served = served_before(hub, writers, started)
        # Two more snapshots of the running VM: the hypervisor space, and the fork mode.
        hv = snapshot(args, sock, os.path.join(work, "hv-image"), "--space", "hypervisor")
        check_equal(hv["space"], "hypervisor", "the hypervisor snapshot's space")
        snapshot(args, sock, os.path.join(work, "fork-image"), "--mode", "fork")
        snapshot(args, sock, os.path.join(work, "copy-image"), "--mode", "copy")
        check_no_connection_errors(hub, "the original hub")
        hub.signal(signal.SIGKILL)
        hub.wait_exit(30)

    resumed_sock = os.path.join(work, "resumed.sock")
    with Hub(args.espell, command=resume_command(args, resumed_sock, image)) as resumed:
        check_serves(resumed, served, "after resuming")
        status, body = get(resumed.port, "/repos/Zinc/versions/1")
        check_equal(status, 200, "a seeded version after resuming")
        writers = Writers(resumed, clients=1)
        time.sleep(0.3)
        writers.finish()
        check(len(writers.acked) > 0, "the resumed hub accepts new versions")
        # The resumed VM serves its control socket too, and takes updates.
        done = espell(args, "status", "--control", resumed_sock, "--json")
        check_equal(done.returncode, 0, f"espell status of the resumed VM ({done.stderr.strip()})")
        done = espell(args, "update", "--control", resumed_sock, os.path.join(ROOT, "updates", "07b-Block-memoized.som"))
        check_equal(done.returncode, 0, f"an update of the resumed VM ({done.stdout.strip()} {done.stderr.strip()})")
        check_no_connection_errors(resumed, "the resumed hub")
    log(f"resumed: {len(served)} versions acknowledged before the snapshot served byte for byte")

    # Without a hypervisor (espell run --image DIR, no --virtualized) it resumes the same.
    with Hub(args.espell, command=[args.espell, "run", "--image", image]) as alone:
        name, number = next(iter(served))
        status, body = get(alone.port, f"/repos/{name}/versions/{number}")
        check_equal((status, body), (200, served[(name, number)]), "the image resumed without a hypervisor")

    # The fork-mode image resumes as well.
    with Hub(args.espell, command=resume_command(args, os.path.join(work, "fork.sock"),
                                                 os.path.join(work, "fork-image"))) as forked:
        name, number = next(iter(served))
        status, body = get(forked.port, f"/repos/{name}/versions/{number}")
        check_equal((status, body), (200, served[(name, number)]), "the fork-mode image's data")
    return image


def test_snapshot_by_mprotect(args, work):
    """The fallback's protection, armed ahead of its pause: the pause protects only what was
    written meanwhile, and the image resumes with every acknowledged version."""
    sock = os.path.join(work, "mprotect.sock")
    image = os.path.join(work, "mprotect-image")
    with Hub(args.espell, command=[args.espell, "run", "--virtualized", "--control", sock, "-cp", CLASS_PATH, "Hub"],
             env={"ESPELL_SNAPSHOT_PROTECTION": "mprotect"}) as hub:
        writers = Writers(hub)
        time.sleep(1.0)
        started = time.monotonic()
        report = snapshot(args, sock, image)
        time.sleep(0.3)
        writers.finish()
        check_equal(report["protection"], "mprotect", "the forced protection")
        if not os.environ.get("ESPELL_GC_STRESS_BUILD"):  # there every allocation's full collection disarms
            check(report["pagesProtectedInPause"] < report["pagesWritten"],
                  f"armed ahead: the pause protected {report['pagesProtectedInPause']} of {report['pagesWritten']} pages")
        log(f"snapshot by mprotect while writing: pause {report['pauseMicros']} us, "
            f"{report['pagesProtectedInPause']} of {report['pagesWritten']} pages protected in it, "
            f"{report['pagesSavedByCow']} saved on write")
        served = served_before(hub, writers, started)
        hv = snapshot(args, sock, os.path.join(work, "mprotect-hv-image"), "--space", "hypervisor")
        check_equal((hv["space"], hv["protection"]), ("hypervisor", "mprotect"), "the hypervisor's snapshot by mprotect")
        check_no_connection_errors(hub, "the hub snapshotted by mprotect")
        hub.signal(signal.SIGKILL)
        hub.wait_exit(30)
    with Hub(args.espell, command=resume_command(args, os.path.join(work, "mprotect-resumed.sock"), image)) as resumed:
        check_serves(resumed, served, "after resuming the mprotect image")
    log(f"resumed by mprotect: {len(served)} versions served byte for byte")


def refused(args, directory, expected, what, flags=()):
    done = espell(args, "run", *flags, "--image", directory, timeout=60)
    check_equal(done.returncode, BAD_IMAGE, f"{what}: exit status ({done.stderr.strip()})")
    check(expected in done.stderr, f"{what}: the error names '{expected}': {done.stderr.strip()}")


def test_refused_images(args, work, image):
    def copy(name):
        target = os.path.join(work, name)
        shutil.copytree(image, target)
        return target

    with open(os.path.join(image, "manifest.json")) as f:
        # The largest: a nursery segment may be a single page.
        segment = max(json.load(f)["segments"], key=lambda s: s["bytes"])["file"]

    damaged = copy("damaged")
    with open(os.path.join(damaged, "manifest.json"), "r+b") as f:
        f.seek(10)
        f.write(b"#")
    refused(args, damaged, "manifest.json", "a damaged manifest")

    truncated = copy("truncated")
    path = os.path.join(truncated, segment)
    os.truncate(path, os.path.getsize(path) - 4096)
    refused(args, truncated, "truncated", "a truncated segment")

    tampered = copy("tampered")
    with open(os.path.join(tampered, segment), "r+b") as f:
        f.seek(4096 + 17)
        byte = f.read(1)
        f.seek(4096 + 17)
        f.write(bytes([byte[0] ^ 0x20]))
    # Checked on first touch (the default), the hub stops before it reads the segment;
    # checked first, it never starts.
    refused(args, tampered, "SHA-256", "a tampered segment")
    refused(args, tampered, "SHA-256", "a tampered segment checked first", flags=("--verify-image-first",))

    incomplete = copy("incomplete")
    os.remove(os.path.join(incomplete, "manifest.json"))
    refused(args, incomplete, "missing", "an image without its manifest")
    refused(args, os.path.join(work, "no-such-image"), "no such image", "a missing directory")
    with open(os.path.join(work, "a-file"), "w") as f:
        f.write("not an image\n")
    refused(args, os.path.join(work, "a-file"), "not a directory", "a file")


def test_killed_while_writing(args, work):
    program = os.path.join(work, "Big.som")
    with open(program, "w") as f:
        f.write(BIG)
    sock = os.path.join(work, "big.sock")
    image = os.path.join(work, "big-image")
    command = [args.espell, "run", "--virtualized", "--control", sock, program]
    vm = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        check_equal(vm.stdout.readline().strip(), "filled", "the big program's first line")
        client = subprocess.Popen([args.espell, "snapshot", "--control", sock, image], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        # Kill the VM as soon as its partial directory appears (it is writing then).
        deadline = time.monotonic() + 30
        partial = None
        while partial is None and time.monotonic() < deadline and client.poll() is None:
            partial = next((n for n in os.listdir(work) if n.startswith(".big-image.partial-")), None)
            time.sleep(0.001)
        vm.kill()
        vm.wait(30)
        client.wait(30)
    finally:
        if vm.poll() is None:
            vm.kill()
            vm.wait()
    if partial is None:
        log("note: the snapshot finished before the VM could be killed mid-write")
    check_equal(client.returncode == 0, os.path.isdir(image), "an image exists only if the snapshot answered")
    if client.returncode != 0:
        check(not os.path.exists(image), "no image directory after a VM killed while writing")
        refused(args, os.path.join(work, partial), "missing", "the partial directory of a killed snapshot")
    # A new VM snapshots into the same name: leftovers are removed, the image is complete.
    vm = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        check_equal(vm.stdout.readline().strip(), "filled", "the big program's first line")
        report = snapshot(args, sock, image)
        check(report["bytesWritten"] > 200 << 20, f"the big image holds the program's data: {report['bytesWritten']}")
        check(not any(n.startswith(".big-image.partial-") for n in os.listdir(work)),
              f"partial directories left: {os.listdir(work)}")
    finally:
        vm.kill()
        vm.wait()


def test_write_fails_under_load(args, work):
    """The disk refusing a snapshot's writes part way, here the VM's file-size limit (as
    `ulimit -f` or systemd's LimitFSIZE set it) below its larger segment files, while
    clients POST: the error names the file, no image or partial directory is left, no
    client sees an error, and every version acknowledged is served; the VM lives on (it
    ignores SIGXFSZ) and, the limit raised, the next snapshot into that name completes."""
    sock = os.path.join(work, "limited.sock")
    image = os.path.join(work, "limited-image")
    with Hub(args.espell, command=[args.espell, "run", "--virtualized", "--control", sock, "-cp", CLASS_PATH,
                                   "Hub"]) as hub:
        # About 8 MiB of sources, so that the heap spans segment files over the limit.
        connection = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
        for n in range(16):
            body = json.dumps({"package": "Big-Core", "author": "snapshot test",
                               "source": f"version {n} " + "y" * (512 * 1024)})
            connection.request("POST", "/repos/Big/versions", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
            check_equal(response.status, 201, f"filling: {answer[:200]!r}")
        connection.close()
        limit = 1 << 20
        resource.prlimit(hub.pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        writers = Writers(hub)
        time.sleep(0.5)
        done = espell(args, "snapshot", "--control", sock, image)
        time.sleep(0.3)
        writers.finish()
        check_equal(done.returncode, CONTROL_ERROR, f"a snapshot past the file-size limit: exit status "
                                                    f"({done.stdout.strip()} {done.stderr.strip()})")
        check("File too large" in done.stderr and "segment-" in done.stderr,
              f"the error names the segment file and the cause: {done.stderr.strip()}")
        check(not os.path.exists(image), "no image directory after a failed snapshot")
        check(not any(n.startswith(".limited-image.partial-") for n in os.listdir(work)),
              f"partial directories left: {os.listdir(work)}")
        check(len(writers.acked) > 20, f"versions acknowledged around the failed snapshot: {len(writers.acked)}")
        sources = {(name, number): source for _, name, number, source in writers.acked}
        for (name, number), status, body in get_versions(hub.port, sources):
            check_equal(status, 200, f"{name} version {number} after the failed snapshot")
            check_equal(json.loads(body)["source"], sources[(name, number)], f"{name} version {number}'s source")
        check_no_connection_errors(hub, "the hub whose snapshot failed")
        resource.prlimit(hub.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        report = snapshot(args, sock, image)
        check(report["bytesWritten"] > 8 << 20, f"the image holds the sources: {report['bytesWritten']}")
    log(f"a snapshot past a {limit >> 20} MiB file-size limit failed cleanly under "
        f"{len(writers.acked)} POSTs; the next one wrote {report['bytesWritten'] >> 20} MiB")


def test_back_to_back_under_load(args, work):
    """Cow snapshots one after another into the same directory while two clients POST:
    every request is answered (the writers stop at the first error), each image replaces
    the last with nothing left beside it, and the last one resumes with every version
    acknowledged before it began, byte for byte."""
    sock = os.path.join(work, "rolling.sock")
    image = os.path.join(work, "rolling-image")
    snapshots = 6
    with Hub(args.espell, command=[args.espell, "run", "--virtualized", "--control", sock, "-cp", CLASS_PATH,
                                   "Hub"]) as hub:
        writers = Writers(hub)
        time.sleep(0.5)
        for i in range(snapshots):
            started = time.monotonic()
            report = snapshot(args, sock, image)
            check(report["pagesWritten"] > 0, f"snapshot {i + 1} of {snapshots} wrote pages")
            acked = len(writers.acked)
        time.sleep(0.3)
        writers.finish()
        check(len(writers.acked) > acked, "versions acknowledged after the last snapshot")
        left = sorted(n for n in os.listdir(work) if n.startswith(".rolling-image") or n.startswith("rolling-image."))
        check(not left, f"nothing beside the image after {snapshots} snapshots into it: {left}")
        served = served_before(hub, writers, started)
        check_no_connection_errors(hub, "the hub snapshotted back to back")
        hub.signal(signal.SIGKILL)
        hub.wait_exit(30)
    with Hub(args.espell, command=resume_command(args, os.path.join(work, "rolling-resumed.sock"), image)) as resumed:
        check_serves(resumed, served, "after resuming the last image")
    log(f"{snapshots} snapshots back to back under {len(writers.acked)} POSTs, none failed; the last image "
        f"served {len(served)} versions byte for byte")


def test_client_errors(args, work):
    done = espell(args, "snapshot", "--control", os.path.join(work, "nobody.sock"), os.path.join(work, "x"))
    check_equal(done.returncode, NO_VM, f"snapshot without a VM ({done.stderr.strip()})")
    done = espell(args, "snapshot", "--control", "s", "--mode", "fast", "x")
    check_equal(done.returncode, USAGE, "an unknown --mode")
    check("--mode" in done.stderr, f"the error names --mode: {done.stderr.strip()}")
    done = espell(args, "snapshot", "--control", "s")
    check_equal(done.returncode, USAGE, "snapshot without DIR")
    done = espell(args, "run", "--trust-image", "Hub")
    check_equal(done.returncode, USAGE, "--trust-image without --image")
    done = espell(args, "run", "--verify-image-first", "Hub")
    check_equal(done.returncode, USAGE, "--verify-image-first without --image")
    done = espell(args, "run", "--trust-image", "--verify-image-first", "--image", work)
    check_equal(done.returncode, USAGE, "--trust-image with --verify-image-first")


def test(args):
    work = tempfile.mkdtemp(prefix="espell-snapshot-")
    try:
        image = test_snapshot_and_resume(args, work)
        test_refused_images(args, work, image)
        test_snapshot_by_mprotect(args, work)
        test_killed_while_writing(args, work)
        test_write_fails_under_load(args, work)
        test_back_to_back_under_load(args, work)
        test_client_errors(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run(test, __doc__))
