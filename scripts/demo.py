#!/usr/bin/python3
"""(Run by scripts/demo, which sets everything up first.)

Espell's main job: a live service whose core libraries are updated while it serves,
without losing a request — Polito et al.'s evaluation (SmalltalkHub under load, Table 2's
bug fixes applied live), reproduced on the hub.

  scripts/demo [--users 20] [--duration 90] [--update SCRIPT@SECONDS]... [--snapshot-at SECONDS]
               [--out demo-report] [--no-table1] [--no-updates] [--no-snapshot] [--espell PATH]
               [--console PORT]

1. Sets everything up (scripts/setup), starts the hub (apps/hub) as the guest of a
   hypervisor with a control socket, and fills it with repositories and versions.
2. Drives it with --users concurrent keep-alive users for --duration seconds; every
   answer is checked (status and body; scripts/load's checks, one POST in ten).
3. Applies updates from updates/ while it serves, each in one step (default: at 30 s the
   paper's Table 2 — the exception-handling change, memoized blocks, the Double debugging
   aid — then the do: push-up of its section 3), and takes a copy-on-write snapshot of the
   guest at --snapshot-at (default 60 s).
4. At the end, stops the hub, resumes a second VM from the snapshot and checks that it
   serves the same data.
5. Writes DIR/report.md, DIR/summary.json (the totals, for tests) and a self-contained
   DIR/report.html: response times over time
   (median, p99 and max per 0.5 s, updates and the snapshot marked), Table 1 for this
   machine (scripts/bench/virtualization, skipped with --no-table1), Table 2 as Espell did
   it (from the update records), the snapshot report, and the totals.

Progress is printed while it runs; Ctrl-C stops it and still writes what it has.
Exit status: 0 when every request succeeded with a right answer and every update
committed, 1 otherwise, 2 for bad arguments.
"""
import argparse
import asyncio
import base64
import collections
import concurrent.futures
import html
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
sys.dont_write_bytecode = True
from hubload import load_module  # noqa: E402
from plotting import PlottingUnavailable, new_figure, save_figure, use_log_scale  # noqa: E402



load = load_module()
ESPELL = os.path.join(ROOT, "build", "espell")  # --espell changes it
TABLE2 = ["07a-exception-classification.json", "07b-Block-memoized.som", "07c-Double-debugging.json",
          "01-do-up-to-Object.json"]
# Pharo's integrators needed these many steps for the paper's Table 2 fixes.
PAPER_STEPS = {"07a-exception-classification.json": 5}
WINDOW_S = 0.5


def log(text):
    print(text, flush=True)


# ---------------------------------------------------------------------------------------
# The VM

class Hub:
    """The hub as a guest of a hypervisor, with a control socket."""

    def __init__(self, work, image=None, console=None):
        self.socket = os.path.join(work, f"control-{os.getpid()}-{int(time.time() * 1000)}.sock")
        argv = [ESPELL, "run", "--virtualized", "--control", self.socket]
        if console is not None:
            argv += ["--console", str(console)]  # its URL goes to hub-stderr.txt and is logged
        if image:
            argv += ["--image", image]
        else:
            argv += ["-cp", "lib/Json:lib/Http:apps/hub", "Hub", "--port", "0"]
        self.stderr = open(os.path.join(work, "hub-stderr.txt" if not image else "resumed-stderr.txt"), "w")
        self.process = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=self.stderr)
        self.port = None
        deadline = time.monotonic() + 60
        while self.port is None:
            line = self.process.stdout.readline().decode(errors="replace")
            if not line:
                raise RuntimeError(f"the hub exited (status {self.process.wait()}) before listening; see {self.stderr.name}")
            match = re.search(r"listening on 127\.0\.0\.1:([0-9]+)", line)
            if match:
                self.port = int(match.group(1))
            if time.monotonic() > deadline:
                raise RuntimeError("the hub did not listen within 60 s")
        for _ in range(200):  # the control socket is created once the guest runs
            if os.path.exists(self.socket):
                break
            time.sleep(0.05)
        self.console_url = None
        for _ in range(200 if console is not None else 0):  # printed before the guest starts
            with open(self.stderr.name) as f:
                match = re.search(r"console listening on (\S+)", f.read())
            if match:
                self.console_url = match.group(1)
                break
            time.sleep(0.05)

    def control(self, *args):
        """Runs `espell COMMAND --control SOCKET --json ARGS`; answers (status, parsed JSON or text)."""
        command, rest = args[0], list(args[1:])
        done = subprocess.run([ESPELL, command, "--control", self.socket, "--json"] + rest, cwd=ROOT,
                              capture_output=True, text=True)
        try:
            return done.returncode, json.loads(done.stdout)
        except ValueError:
            return done.returncode, (done.stdout + done.stderr).strip()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stderr.close()


def http(port, method, path, body=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                     data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def fill(port, repositories=20, versions=5):
    for r in range(repositories):
        name = f"Demo{r}"
        for v in range(versions):
            status, _ = http(port, "POST", f"/repos/{name}/versions",
                             {"package": f"{name}-Core", "author": "demo", "source": f"{name} version {v + 1}"})
            if status != 201:
                raise RuntimeError(f"filling the hub: POST /repos/{name}/versions answered {status}")


def served_data(port, names=None):
    """What the hub serves for its repositories (those in `names`, default all): the
    repository and each of its versions, as (status, bytes), keyed by path."""
    data = {}
    status, body = http(port, "GET", "/repos")
    if status != 200:
        raise RuntimeError(f"GET /repos answered {status}")
    for repo in json.loads(body):
        if names is not None and repo["name"] not in names:
            continue
        data[f"/repos/{repo['name']}"] = http(port, "GET", f"/repos/{repo['name']}")
        for n in range(1, repo["versions"] + 1):
            path = f"/repos/{repo['name']}/versions/{n}"
            data[path] = http(port, "GET", path)
    return data


def repository_names(port):
    status, body = http(port, "GET", "/repos")
    return [r["name"] for r in json.loads(body)] if status == 200 else []


# ---------------------------------------------------------------------------------------
# The run

class Demo:
    def __init__(self, args, hub, out):
        self.args, self.hub, self.out = args, hub, out
        settings = argparse.Namespace(host="127.0.0.1", port=hub.port, clients=args.users, duration=args.duration,
                                      post_every=10, paths=["/health", "/repos", "/repos/Seaside",
                                                            "/repos/Zinc/versions/1", "/repos/Demo3/versions/2"])
        self.run = load.Run(settings)
        self.events = []  # (seconds, label, details)
        self.records = []  # update records
        self.snapshot = None
        self.heap = None  # the guest's heap figures (espell status) at the end of the run
        self.snapshot_started = None
        self.snapshot_dir = os.path.join(out, "snapshot")
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)

    def elapsed(self):
        return time.perf_counter() - self.run.start if self.run.start else 0.0

    async def at(self, seconds, what, action):
        await asyncio.sleep(max(0.0, seconds - self.elapsed()))
        started = self.elapsed()
        log(f"[{started:6.1f} s] {what} ...")
        result = await asyncio.get_running_loop().run_in_executor(self.pool, action)
        log(f"[{self.elapsed():6.1f} s] {result}")

    def update(self, script):
        status, record = self.hub.control("update", os.path.join(ROOT, script))
        at = self.elapsed()
        if not isinstance(record, dict):
            self.events.append((at, os.path.basename(script), {"error": record, "status": status}))
            return f"update {script}: espell update exited {status}: {record}"
        self.records.append(record)
        self.events.append((at, os.path.basename(script), record))
        t = record.get("timings", {})
        return (f"update {record.get('script')}: {record.get('outcome')}, guest paused "
                f"{t.get('guestPause', 0) / 1000:.2f} ms (apply {t.get('apply', 0) / 1000:.2f} ms, "
                f"verify {t.get('verify', 0) / 1000:.2f} ms)" +
                (f" — {record.get('failedStep')}: {record.get('error')}" if record.get("error") else ""))

    def take_snapshot(self):
        shutil.rmtree(self.snapshot_dir, ignore_errors=True)
        self.snapshot_started = self.elapsed()
        status, report = self.hub.control("snapshot", self.snapshot_dir)
        self.events.append((self.elapsed(), "snapshot", report))
        if status != 0 or not isinstance(report, dict):
            self.snapshot = {"error": report, "status": status}
            return f"snapshot: espell snapshot exited {status}: {report}"
        self.snapshot = report
        return (f"snapshot: pause {report.get('pauseMicros', 0) / 1000:.2f} ms, "
                f"{report.get('bytesWritten', 0) / 1048576:.1f} MiB written")

    async def progress(self):
        # Only the records added since the last line: the clients share this event loop, and
        # a pass over all of them (a million by the end) held every client for a quarter of
        # a second — the run's slowest "requests" were these passes.
        seen, failed = 0, 0
        while True:
            await asyncio.sleep(1.0)
            now = self.elapsed()
            records = self.run.records
            new = records[seen:]
            seen += len(new)
            failed += sum(1 for r in new if not r[5])
            recent = sorted(r[1] for r in new)
            log(f"[{now:6.1f} s] {seen} requests, {failed} failed, "
                f"p99 of the last second {load.percentile(recent, 0.99):.2f} ms")

    async def main(self):
        loop_task = asyncio.ensure_future(self.run.run())
        while not self.run.start:
            await asyncio.sleep(0.01)
        tasks = [asyncio.ensure_future(self.progress())]
        for script, seconds in self.args.update:
            tasks.append(asyncio.ensure_future(self.at(seconds, f"applying {script}", lambda s=script: self.update(s))))
        if self.args.snapshot_at is not None:
            tasks.append(asyncio.ensure_future(self.at(self.args.snapshot_at, "snapshot of the guest", self.take_snapshot)))
        try:
            await loop_task
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


# ---------------------------------------------------------------------------------------
# The report

def windows(records):
    by = collections.defaultdict(list)
    for t, latency, *_ in records:
        by[int(t / WINDOW_S)].append(latency)
    rows = []
    for w in sorted(by):
        values = sorted(by[w])
        rows.append(((w + 0.5) * WINDOW_S, load.percentile(values, 0.5), load.percentile(values, 0.99), values[-1]))
    return rows


def plot(demo, base):
    rows = windows(demo.run.records)
    fig, ax = new_figure(f"hub response times under {demo.args.users} users, updated live",
                         xlabel="seconds since start", ylabel="response time (ms, log scale)")
    use_log_scale(ax)
    if rows:
        xs = [r[0] for r in rows]
        ax.plot(xs, [max(r[3], 0.01) for r in rows], color="#c8c8c8", linewidth=1, label="max per 0.5 s")
        ax.plot(xs, [max(r[2], 0.01) for r in rows], color="#dc7814", linewidth=1.5, label="p99 per 0.5 s")
        ax.plot(xs, [max(r[1], 0.01) for r in rows], color="#466ebe", linewidth=1.5, label="median per 0.5 s")
    bad = [(r[0], max(r[1], 0.01)) for r in demo.run.records if not r[5]]
    if bad:
        ax.scatter(*zip(*bad), s=14, color="#dc1414", marker="x", label="failed request")
    for seconds, label, _ in demo.events:
        ax.axvline(seconds, color="#2a9d3a" if label != "snapshot" else "#8a2be2", linestyle="--", linewidth=1)
        ax.annotate(label, (seconds, 1), xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                    va="top", ha="right")
    ax.legend(loc="upper left", fontsize=8)
    save_figure(fig, base)


def table1(out, skip):
    if skip:
        return None
    path = os.path.join(out, "table1.md")
    log("Table 1: the benchmarks-game programs alone and as a guest (scripts/bench/virtualization) ...")
    done = subprocess.run([os.path.join(ROOT, "scripts", "bench", "virtualization"), "--rounds", "1",
                           "--iterations", "2", "--markdown", path], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0 or not os.path.exists(path):
        return f"scripts/bench/virtualization failed (exit {done.returncode}): {done.stderr.strip()[-500:]}"
    with open(path) as f:
        return f.read()


def table2(demo):
    lines = ["| update | classes | methods | steps (Pharo) | guest pause ms | apply ms | verify ms | outcome |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in demo.records:
        t = r.get("timings", {})
        script = r.get("script", "?")
        paper = PAPER_STEPS.get(script)
        lines.append(f"| {script} | {r.get('classesChanged', 0)} | {r.get('methodsChanged', 0)} | "
                     f"1{f' ({paper})' if paper else ''} | {t.get('guestPause', 0) / 1000:.2f} | "
                     f"{t.get('apply', 0) / 1000:.2f} | {t.get('verify', 0) / 1000:.2f} | {r.get('outcome')} |")
    return "\n".join(lines)


def slowest_around(records, at):
    """The slowest request in flight from a second before an event's answer (at) to half a
    second after it: the event's own pause and whatever it delayed."""
    return max((r[1] for r in records if r[0] <= at + 0.5 and r[0] + r[1] / 1000.0 >= at - 1.0), default=0)


def heap_line(heap):
    """The guest's collections over the run (espell status at its end), with their longest pauses."""
    if not heap or "maxFullCollectionMicros" not in heap:
        return "- guest collections: not known (espell status did not answer)"
    return (f"- guest collections: {heap['scavenges']} scavenges (longest {heap['maxScavengeMicros'] / 1000:.1f} ms), "
            f"{heap['fullCollections']} full (longest {heap['maxFullCollectionMicros'] / 1000:.1f} ms); "
            f"{heap['liveBytesAtLastFullCollection'] / 1048576:.1f} MiB live at the last full collection")


def write_report(demo, out, table1_text, resumed, interrupted):
    records = demo.run.records
    total = len(records)
    failed = sum(1 for r in records if not r[5])
    latencies = sorted(r[1] for r in records)
    plot_note = ""
    try:
        plot(demo, os.path.join(out, "latency"))
    except PlottingUnavailable as error:
        plot_note = f"(no plot: {error})"
    committed = all(r.get("outcome") == "committed" for r in demo.records) and len(demo.records) == len(demo.args.update)
    ok = failed == 0 and committed and not interrupted and (resumed is None or resumed.get("same", False))
    totals = [
        f"- requests: {total}, failed: {failed}, wrong answers: {sum(demo.run.failures.values())}",
        f"- response time: median {load.percentile(latencies, 0.5):.2f} ms, p99 {load.percentile(latencies, 0.99):.2f} ms, "
        f"max {latencies[-1] if latencies else 0:.2f} ms",
        "- slowest request around each event: " + (", ".join(
            f"{label} {slowest_around(records, at):.1f} ms"
            for at, label, _ in demo.events) or "no events"),
        heap_line(demo.heap),
        f"- updates: {len(demo.records)} applied, "
        f"{sum(1 for r in demo.records if r.get('outcome') == 'committed')} committed",
        f"- result: {'PASS' if ok else 'FAIL'}" + (" (interrupted)" if interrupted else ""),
    ]
    if demo.run.failures:
        totals.append("- failure reasons: " + "; ".join(f"{c}x {r}" for r, c in demo.run.failures.most_common(5)))
    snapshot = ("```json\n" + json.dumps(demo.snapshot, indent=2) + "\n```") if demo.snapshot else "no snapshot was taken"
    resume = ("not attempted" if resumed is None else
              f"{resumed.get('paths', 0)} paths compared byte for byte, {resumed.get('acknowledged', 0)} "
              "acknowledged versions checked: "
              f"{'all identical' if resumed.get('same') else 'DIFFERENT: ' + ', '.join(resumed.get('differ', [])[:5])}"
              if "error" not in resumed else f"failed: {resumed['error']}")
    md = "\n".join([
        "# Espell demo: the hub updated live under load", "",
        f"{demo.args.users} users, {demo.args.duration:g} s; every answer checked. {plot_note}", "",
        "![response times](latency.svg)", "",
        "## Totals", "", *totals, "",
        "## Table 2, as Espell did it", "", table2(demo), "",
        "## Table 1: guest with an idle hypervisor against alone (this machine)", "",
        table1_text or "skipped (--no-table1)", "",
        "## Snapshot", "", snapshot, "",
        "## Resumed from the snapshot", "", resume, "",
    ])
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(md)
    # The slowest request in flight around each update and the snapshot, and the slowest of the run.
    near_events = []
    for at, label, _ in demo.events:
        near_events.append({"event": label, "atSeconds": round(at, 2), "maxLatencyMs": slowest_around(records, at)})
    slowest = sorted(records, key=lambda r: -r[1])[:5]
    summary = {
        "slowestNearEvents": near_events,
        "slowest": [{"atSeconds": round(r[0], 2), "latencyMs": r[1], "method": r[2], "path": r[3]} for r in slowest],
        "ok": ok, "interrupted": interrupted, "requests": total, "failed": failed,
        "requestsPerSecond": total / demo.args.duration,
        "wrong": sum(demo.run.failures.values()), "maxLatencyMs": latencies[-1] if latencies else 0,
        "updates": [{"script": os.path.basename(r.get("script", "")), "outcome": r.get("outcome")} for r in demo.records],
        "updatesRequested": len(demo.args.update),
        "snapshot": demo.snapshot, "resumed": resumed, "guestHeap": demo.heap,
        "plot": "latency.svg" if os.path.exists(os.path.join(out, "latency.svg")) else None,
    }
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    svg = ""
    if os.path.exists(os.path.join(out, "latency.svg")):
        with open(os.path.join(out, "latency.svg")) as f:
            svg = f.read()
    body = html.escape(md).replace("![response times](latency.svg)", svg)
    with open(os.path.join(out, "report.html"), "w") as f:
        f.write("<!DOCTYPE html><html><head><meta charset='utf-8'><title>Espell demo</title>"
                "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
                "pre{white-space:pre-wrap}</style></head><body><pre>" + body + "</pre></body></html>\n")
    return ok


def acknowledged_before(demo, seconds):
    """Versions the users' POSTs had been answered 201 for before `seconds`, per repository."""
    counts = collections.Counter()
    for t, latency, method, path, status, ok in demo.run.records:
        if method == "POST" and ok and t + latency / 1000.0 < seconds:
            counts[path.split("/")[2]] += 1
    return counts


def compare_resumed(demo, hub, fixed, out):
    """Stops the hub, resumes a second VM from the snapshot and checks what it serves: the
    repositories filled before the run byte for byte, and every version a user's POST had
    been acknowledged for before the snapshot began."""
    if not os.path.exists(os.path.join(out, "snapshot", "manifest.json")):
        return {"error": "no complete snapshot directory"}
    acknowledged = acknowledged_before(demo, demo.snapshot_started)
    hub.stop()
    try:
        resumed = Hub(out, image=os.path.join(out, "snapshot"))
    except RuntimeError as error:
        return {"error": str(error)}
    try:
        after = served_data(resumed.port, {p.split("/")[2] for p in fixed})
        differ = [p for p in fixed if after.get(p) != fixed[p]]
        counts = {r["name"]: r["versions"] for r in json.loads(http(resumed.port, "GET", "/repos")[1])}
        missing = [f"{name}: {n} acknowledged, {counts.get(name, 0)} served"
                   for name, n in acknowledged.items() if counts.get(name, 0) < n]
        return {"paths": len(fixed), "acknowledged": sum(acknowledged.values()), "same": not differ and not missing,
                "differ": differ + missing}
    finally:
        resumed.stop()


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--duration", type=float, default=90.0)
    parser.add_argument("--update", action="append", metavar="SCRIPT@SECONDS",
                        help="apply updates/SCRIPT at SECONDS (repeatable; default: Table 2 and do: at 30 s)")
    parser.add_argument("--snapshot-at", type=float, default=60.0, metavar="SECONDS")
    parser.add_argument("--no-snapshot", action="store_true")
    parser.add_argument("--no-updates", action="store_true",
                        help="apply no update (the baseline the demo's throughput is compared with)")
    parser.add_argument("--out", default="demo-report")
    parser.add_argument("--no-table1", action="store_true")
    parser.add_argument("--espell", default=ESPELL, help="the VM (default build/espell)")
    parser.add_argument("--console", type=int, metavar="PORT",
                        help="the hypervisor also serves its console on 127.0.0.1:PORT (0: any); watch the demo there")
    args = parser.parse_args(argv)
    if args.users < 1 or not args.duration > 0:
        parser.error("--users must be at least 1 and --duration positive")
    updates = []
    for spec in [] if args.no_updates else args.update or [f"updates/{s}@30" for s in TABLE2]:
        script, _, seconds = spec.rpartition("@")
        if not script or not re.fullmatch(r"[0-9]+(\.[0-9]+)?", seconds):
            parser.error(f"--update {spec!r}: expected SCRIPT@SECONDS")
        if not os.path.isfile(os.path.join(ROOT, script)):
            parser.error(f"--update {spec!r}: no file {script}")
        updates.append((script, float(seconds)))
    args.update = updates
    if args.no_snapshot:
        args.snapshot_at = None
    return args


def main(argv):
    global ESPELL
    args = parse_args(argv)
    ESPELL = os.path.abspath(args.espell)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="espell-demo-")
    log(f"starting the hub as a guest, control socket in {work} ...")
    hub = Hub(work, console=args.console)
    if hub.console_url:
        log(f"the console: {hub.console_url}")
    interrupted = False
    try:
        fill(hub.port)
        fixed = served_data(hub.port)  # no user writes to these repositories
        log(f"hub on 127.0.0.1:{hub.port}, filled; {args.users} users for {args.duration:g} s")
        demo = Demo(args, hub, out)
        try:
            asyncio.run(demo.main())
        except KeyboardInterrupt:
            interrupted = True
            log("interrupted: writing the report of what ran")
        status, answer = hub.control("status")
        demo.heap = answer.get("heap") if status == 0 and isinstance(answer, dict) else None
        resumed = None
        if demo.snapshot and "error" not in demo.snapshot and not interrupted:
            resumed = compare_resumed(demo, hub, fixed, out)
        table1_text = None if interrupted else table1(out, args.no_table1)
        ok = write_report(demo, out, table1_text, resumed, interrupted)
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)
    log(f"wrote {out}/report.md and report.html")
    with open(os.path.join(out, "report.md")) as f:
        summary = f.read().split("## Table 2")[0]
    log(summary)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
