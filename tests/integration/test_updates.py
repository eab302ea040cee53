#!/usr/bin/env python3
"""Updates through the control socket, with `espell update`, against the hub serving
users: the catalogue's updates (updates/01 ... 08a) are committed one after another
(exit status 0) while scripts/load's clients keep checking every answer, none of which
may fail; the failing ones (09a ... 09e) are rolled back (status 1); an invalid script
is refused naming its place (status 2); a guest that cannot pause in time gives status 3
with the process that did not arrive; `espell updates --json` and the update log hold
one record per update, in order.

Usage: test_updates.py --espell PATH
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import argparse
import asyncio
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
from hubtest import CLASS_PATH, ROOT, Hub, check, check_equal, log, run

sys.path.insert(0, os.path.join(ROOT, "scripts"))
from hubload import load_module  # noqa: E402

COMMITTED = ["01-do-up-to-Object.json", "02-string-hash-and-rehash.json",
             "03-common-superclass-for-growable-collections.json", "04-BoxedDouble.som", "05-SmallInteger-asPoint.som",
             "06-Point3D.json", "07a-exception-classification.json", "07b-Block-memoized.som",
             "07c-Double-debugging.json", "08a-restart-accept-loop.json"]
ROLLED_BACK = ["09a-fails-in-the-middle.json", "09b-fails-verification.json", "09c-fails-in-Smalltalk.som",
               "09d-fails-with-MirrorError.som", "09e-fails-by-deadline.json"]
STATUS = {"committed": 0, "rolled-back": 1, "refused": 2, "timed-out": 3}



def update(espell, sock, script, *options):
    done = subprocess.run([espell, "update", "--control", sock, "--json", *options, script], capture_output=True,
                          text=True, timeout=120)
    try:
        record = json.loads(done.stdout)
    except ValueError:
        check(False, f"espell update {os.path.basename(script)}: no JSON record (exit {done.returncode}): "
                     f"{done.stdout!r} {done.stderr!r}")
    check_equal(done.returncode, STATUS[record["outcome"]], f"{os.path.basename(script)}: exit status for "
                                                             f"{record['outcome']}")
    return record


def test(args):
    work = tempfile.mkdtemp(prefix="espell-updates-")
    try:
        updates_under_load(args, work)
        update_of_a_guest_that_cannot_pause(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def updates_under_load(args, work):
    sock = os.path.join(work, "control.sock")
    log_path = os.path.join(work, "updates.log")
    with Hub(args.espell, command=[args.espell, "run", "--virtualized", "--control", sock, "--update-log", log_path,
                                   "-cp", CLASS_PATH, "Hub"]) as hub:
        users = load_module().Run(argparse.Namespace(
            host="127.0.0.1", port=hub.port, clients=8, duration=600.0, post_every=10,
            paths=["/health", "/repos", "/repos/Seaside", "/repos/Zinc/versions/1"]))
        loading = threading.Thread(target=lambda: asyncio.run(users.run()))
        loading.start()
        try:
            time.sleep(1.0)
            records = []
            for name in COMMITTED:
                record = update(args.espell, sock, os.path.join(ROOT, "updates", name))
                check_equal(record["outcome"], "committed", f"{name} ({record.get('failedStep')}: {record.get('error')})")
                log(f"ok  {name}: committed, guest paused {record['timings']['guestPause']} us")
                records.append(record)
            for name in ROLLED_BACK:
                record = update(args.espell, sock, os.path.join(ROOT, "updates", name))
                check_equal(record["outcome"], "rolled-back", name)
                check(record["failedStep"] and record["error"], f"{name}: the record names the failing step and error")
                log(f"ok  {name}: rolled back at {record['failedStep']}: {record['error'][:80]}")
                records.append(record)
            bad = os.path.join(work, "bad.json")
            with open(bad, "w") as f:
                f.write('{"espellUpdate": 1, "steps": [{"op": "addMethod", "class": "Hub", "source": "x = ( ^ 1 + )"}]}')
            record = update(args.espell, sock, bad)
            check_equal(record["outcome"], "refused", "a script whose method does not parse")
            check("steps[0].source, line 1" in record["failedStep"], f"the refusal names the place: {record['failedStep']}")
            check_equal(record["timings"]["pause"], 0, "a refused script never pauses the guest")
            log(f"ok  an invalid script: refused at {record['failedStep']}")
            records.append(record)

            done = subprocess.run([args.espell, "updates", "--control", sock, "--json"], capture_output=True, text=True,
                                  timeout=60)
            check_equal(done.returncode, 0, "espell updates")
            listed = json.loads(done.stdout)
            check_equal([r["id"] for r in listed], [r["id"] for r in records], "espell updates lists every update")
            check_equal([r["outcome"] for r in listed], [r["outcome"] for r in records], "with their outcomes")
            with open(log_path) as f:
                logged = [json.loads(line) for line in f]
            check_equal([r["sha256"] for r in logged], [r["sha256"] for r in records], "the update log")
            log(f"ok  espell updates and the update log hold the {len(records)} records in order")
        finally:
            users.stopping = True
            loading.join(60)
        check(not users.failures, f"every user request answered right during the updates: {users.failures.most_common(5)}")
        check(len(users.records) > 100, f"the users made requests throughout ({len(users.records)})")
        log(f"ok  users saw no failed request in {len(users.records)}")
        hub.check_alive("after the updates")


def update_of_a_guest_that_cannot_pause(args, work):
    """A guest that never reaches an update point: the pause times out, nothing changes."""
    program = os.path.join(work, "Spinner.som")
    with open(program, "w") as f:
        f.write("Spinner = ( run = ( | x | x := 0. 'started' println. system flush. "
                "[ true ] whileTrue: [ x := x + 1 ] ) )\n")
    sock2 = os.path.join(work, "spinner.sock")
    vm = subprocess.Popen([args.espell, "run", "--virtualized", "--control", sock2, program], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    try:
        check_equal(vm.stdout.readline().strip(), b"started", "the spinning guest started")
        for _ in range(200):
            if os.path.exists(sock2):
                break
            time.sleep(0.05)
        record = update(args.espell, sock2, os.path.join(ROOT, "updates", "07c-Double-debugging.json"),
                        "--deadline-ms", "100")
        check_equal(record["outcome"], "timed-out", "an update of a guest that cannot pause")
        check("Spinner>>run" in json.dumps(record["notArrived"]), f"names who did not arrive: {record['notArrived']}")
        check_equal(record["timings"]["apply"], 0, "nothing was applied")
        log(f"ok  a guest that cannot pause: timed out after {record['timings']['pause']} us, "
            f"Spinner>>run did not arrive")
    finally:
        vm.kill()
        vm.wait()


if __name__ == "__main__":
    sys.exit(run(test, __doc__))
