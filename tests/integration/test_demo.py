#!/usr/bin/python3
"""A short run of the demo (scripts/demo.py): 4 users for 6 s, two updates of the paper's
Table 2 at 2 s, a copy-on-write snapshot at 4 s, then a second VM resumed from the
snapshot. Checks the demo's own verdict and its summary: no failed or wrong request, every
update committed, a snapshot report, the resumed VM serving the same data byte for byte,
and a plot that is a valid SVG file.

Usage: test_demo.py --espell PATH
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UPDATES = ["updates/07a-exception-classification.json", "updates/07b-Block-memoized.som"]


def fail(message):
    print(f"FAIL: test_demo.py: {message}", flush=True)
    sys.exit(1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--espell", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="espell-demo-test-") as out:
        argv = [sys.executable, os.path.join(ROOT, "scripts", "demo.py"), "--espell", os.path.abspath(args.espell),
                "--duration", "6", "--users", "4", "--snapshot-at", "4", "--no-table1", "--out", out]
        for script in UPDATES:
            argv += ["--update", f"{script}@2"]
        done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=240)
        print(done.stdout[-3000:], flush=True)
        summary_path = os.path.join(out, "summary.json")
        if not os.path.exists(summary_path):
            fail(f"no summary.json (exit {done.returncode}): {done.stderr[-2000:]}")
        with open(summary_path) as f:
            summary = json.load(f)
        if summary["requests"] < 100:
            fail(f"only {summary['requests']} requests in 6 s")
        if summary["failed"] or summary["wrong"]:
            fail(f"{summary['failed']} failed and {summary['wrong']} wrong requests")
        outcomes = {u["script"]: u["outcome"] for u in summary["updates"]}
        expected = {os.path.basename(s): "committed" for s in UPDATES}
        if outcomes != expected:
            fail(f"updates: expected {expected}, got {outcomes}")
        snapshot = summary["snapshot"]
        if not snapshot or "error" in snapshot or snapshot.get("pagesWritten", 0) <= 0:
            fail(f"the snapshot: {snapshot}")
        resumed = summary["resumed"]
        if not resumed or not resumed.get("same") or resumed.get("paths", 0) == 0:
            fail(f"the resumed VM: {resumed}")
        if summary["plot"] != "latency.svg":
            fail("no plot")
        try:
            root = ElementTree.parse(os.path.join(out, "latency.svg")).getroot()
        except ElementTree.ParseError as error:
            fail(f"latency.svg is not valid XML: {error}")
        if not root.tag.endswith("svg"):
            fail(f"latency.svg's root element is {root.tag}, not svg")
        if not summary["ok"] or done.returncode != 0:
            fail(f"the demo's verdict: ok={summary['ok']}, exit {done.returncode}")
        for name in ("report.md", "report.html"):
            if not os.path.getsize(os.path.join(out, name)):
                fail(f"{name} is empty")
        print(f"PASS: test_demo.py: {summary['requests']} requests, 0 failed, max {summary['maxLatencyMs']:.1f} ms; "
              f"snapshot pause {snapshot['pauseMicros'] / 1000:.2f} ms; resumed: {resumed['paths']} paths identical",
              flush=True)


if __name__ == "__main__":
    main()
