#!/usr/bin/env python3
"""Bounded load: scripts/load (20 keep-alive clients for 3 s, every 10th request a POST
checked by a GET, every response checked) against a hub; it must exit with status 0,
report 0 failures and a plausible number of requests (more than 1000), and write its
latency plot as PNG and SVG (matplotlib). Its output goes to a temporary directory.

Then steady load keeps the server's idle release away: a hub run with --gc-stats, four
keep-alive clients POSTing and reading back for 4 s, and SIGTERM within a second of the
last request. The release (HttpServer>>startReleasingMemory) runs in the moments no
connection is ready, but only after a whole second without an answered request; before,
it collected (fully every 5 s, over 100 ms on a heap of a GiB) every second under load.
So the hub must report no release while idle.

Usage: test_load.py --espell PATH
"""
import os
import re
import struct
import http.client
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
from hubtest import CLASS_PATH, ROOT, Failure, Hub, check, check_serving, log, run

CLIENTS = 20
DURATION_S = 3
STEADY_CLIENTS = 4
STEADY_S = 4.0
IDLE_RELEASES_RE = re.compile(r"gc: peak RSS [0-9.]+ MiB; ([0-9]+) releases while idle")
MIN_REQUESTS = 1000
LOAD_TIMEOUT_S = 45  # 3 s of load, start-up, 5 s per-request timeout, writing the plot


def check_plots(out):
    """latency.png is a PNG image of the figure's size and latency.svg an SVG document
    with its axis labels as text (real fonts, not pixels)."""
    with open(os.path.join(out, "latency.png"), "rb") as f:
        png = f.read()
    check(png.startswith(b"\x89PNG\r\n\x1a\n") and png[12:16] == b"IHDR", "latency.png is not a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    check(width >= 1000 and height >= 500, f"latency.png is only {width}x{height} pixels")
    with open(os.path.join(out, "latency.svg"), encoding="utf-8") as f:
        svg = f.read()
    check("<svg" in svg and "</svg>" in svg, "latency.svg is not an SVG document")
    for label in ("seconds since start", "latency (ms, log scale)", "p99 per 0.5 s"):
        check(f">{label}</text>" in svg, f"latency.svg lacks the text element {label!r}")
    log(f"ok  latency.png ({width}x{height}) and latency.svg with axes and legend")


def test(args):
    with Hub(args.espell) as hub, tempfile.TemporaryDirectory(prefix="hub-load-") as out:
        # scripts/load runs under Debian's Python (its shebang), which has python3-matplotlib.
        argv = [os.path.join(ROOT, "scripts", "load"), "--url", f"http://127.0.0.1:{hub.port}",
                "--clients", str(CLIENTS), "--duration", str(DURATION_S), "--out", out]
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=LOAD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise Failure(f"scripts/load did not finish within {LOAD_TIMEOUT_S} s") from None
        report = p.stdout + p.stderr
        print(report.rstrip(), flush=True)
        check(p.returncode == 0, f"scripts/load exited with status {p.returncode} (0 means no failed request)")
        summary_path = os.path.join(out, "summary.txt")
        check(os.path.exists(summary_path), "scripts/load wrote no summary.txt")
        with open(summary_path) as f:
            summary = f.read()
        requests = re.search(r"^requests:\s+([0-9]+) \(([0-9]+) POST\)", summary, re.MULTILINE)
        failures = re.search(r"^failures:\s+([0-9]+)", summary, re.MULTILINE)
        check(requests and failures, f"unexpected summary format:\n{summary}")
        total, posts = int(requests.group(1)), int(requests.group(2))
        check(int(failures.group(1)) == 0, f"summary reports {failures.group(1)} failures")
        check(total > MIN_REQUESTS, f"only {total} requests in {DURATION_S} s with {CLIENTS} clients "
                                    f"(expected more than {MIN_REQUESTS})")
        check(posts > 0, "no POST requests were made")
        log(f"ok  {total} requests ({posts} POST), 0 failures")
        check_plots(out)
        hub.check_alive("after the load")
        check_serving(hub.port, "the load")
        stderr = hub.stderr_text().strip()
        check(stderr == "", f"the hub wrote to standard error: {stderr[:500]!r}")



def steady_client(port, name, until, counts, errors):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    n = 0
    try:
        while time.monotonic() < until:
            n += 1
            body = json.dumps({"package": f"{name}-Core", "author": "load test", "source": f"version {n}"})
            connection.request("POST", f"/repos/{name}/versions", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            answer = response.read()
            if response.status != 201:
                errors.append(f"{name} POST {n}: status {response.status} {answer[:200]!r}")
                return
            connection.request("GET", f"/repos/{name}/versions/{json.loads(answer)['number']}")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                errors.append(f"{name} GET {n}: status {response.status}")
                return
            counts[name] = n
    except OSError as error:
        errors.append(f"{name} request {n}: {error}")
    finally:
        connection.close()


def test_no_idle_release_under_load(args):
    command = [args.espell, "run", "--gc-stats", "-cp", CLASS_PATH, "Hub"]
    with Hub(args.espell, command=command) as hub:
        until = time.monotonic() + STEADY_S
        counts, errors = {}, []
        clients = [threading.Thread(target=steady_client, args=(hub.port, f"Steady{i}", until, counts, errors))
                   for i in range(STEADY_CLIENTS)]
        for t in clients:
            t.start()
        for t in clients:
            t.join(STEADY_S + 30)
        check(not errors, f"steady load: {errors[:3]}")
        hub.signal(signal.SIGTERM)
        hub.wait_exit(30)
        stderr = hub.stderr_text()
    released = IDLE_RELEASES_RE.search(stderr)
    check(released, f"no gc: peak RSS line with the releases while idle in the hub's standard error: {stderr[-800:]!r}")
    check(int(released.group(1)) == 0,
          f"the hub released memory while idle {released.group(1)} times under {STEADY_S:g} s of steady load "
          f"({sum(counts.values())} POSTs, as many GETs)")
    log(f"ok  no release while idle under {STEADY_S:g} s of steady load ({sum(counts.values())} POSTs, "
        f"as many GETs)")


def test_all(args):
    test(args)
    test_no_idle_release_under_load(args)


if __name__ == "__main__":
    sys.exit(run(test_all, __doc__))
