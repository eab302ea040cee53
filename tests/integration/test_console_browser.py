"""The console in a real browser: Debian's chromium, headless, driven through the DevTools
protocol (cdp.py) against the hub run as a guest with its console. Loads every page and
checks the rendered DOM — the guest's processes with their frames, a class's method
source, an update applied from the page (and a failing one rolled back, the step named)
and its record in the history, a snapshot taken from the page, the live chart drawn from
/api/metrics with each scavenge a dot, a search over every method source, and the images
on disk (the snapshot's, a damaged one, a directory of --snapshot-dir without a manifest)
— while the guest's own service keeps answering. Screenshots of each page go
to the test log directory (ESPELL_TEST_LOG_DIR, else meson-logs/ under the current
directory), in console-screenshots/. Skipped (exit status 77) without chromium."""
import json
import os
import sys
import tempfile
import time

import hubtest
from cdp import BrowserError, Chromium, find_chromium
from consoletest import ConsoleHub, ServiceProbe, churn
from hubtest import check, check_equal, log

ROOT = hubtest.ROOT


def shots_dir():
    base = os.environ.get("ESPELL_TEST_LOG_DIR") or os.path.join(os.getcwd(), "meson-logs")
    path = os.path.join(base, "console-screenshots")
    os.makedirs(path, exist_ok=True)
    return path


def text_of(browser, selector):
    return browser.evaluate(f"(function(){{var e=document.querySelector({json.dumps(selector)});"
                            f"return e?e.textContent:null;}})()")


def wait_until(what, condition, timeout=10.0, shown=None):
    """Polls condition (a page being replaced meanwhile counts as not yet); on failure the
    message ends with what shown() answers (the page, say)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except BrowserError:
            pass
        if time.monotonic() >= deadline:
            check(False, f"{what}: not within {timeout:g} s" + (f": {shown()}" if shown else ""))
        time.sleep(0.1)


def apply_from_page(browser, hub, name):
    browser.open(hub.url + "/apply")
    with open(os.path.join(ROOT, "updates", name)) as f:
        script = f.read()
    browser.submit(f"document.getElementById('name').value={json.dumps(name)};"
                   f"document.getElementById('script').value={json.dumps(script)};"
                   f"document.getElementById('apply-button').click();")


def test(args):
    binary = find_chromium()
    shots = shots_dir()
    with tempfile.TemporaryDirectory(prefix="console-browser-") as work, \
            tempfile.TemporaryDirectory(prefix="console-images-") as snapshot_dir, \
            ConsoleHub(args.espell, snapshot_dir=snapshot_dir) as hub, Chromium(binary) as browser:
        os.makedirs(os.path.join(snapshot_dir, "no-manifest"))
        probe = ServiceProbe(hub.port)

        browser.open(f"{hub.url}/?token={hub.token}")  # redirected to / with the cookie
        # A first overview the guest could not pause for in time (a sanitizer build on a
        # loaded machine) retries itself every 2 s.
        wait_until("the overview after the token's redirect", lambda: text_of(browser, "#guest-state") is not None, 30,
                   lambda: browser.dom()[-1500:])
        check_equal(text_of(browser, "#guest-state"), "running", f"the overview's guest state ({browser.dom()[-800:]})")
        check(int(text_of(browser, "#process-count")) >= 2, "the overview counts the hub's processes")
        check("paused it for" in text_of(browser, "#guest-pause"), "the overview shows the pause it cost")
        browser.screenshot(os.path.join(shots, "overview.png"))
        uptime = text_of(browser, "#uptime")
        wait_until("the overview refreshes itself", lambda: text_of(browser, "#uptime") != uptime, 8)

        browser.open(hub.url + "/processes")
        # Pages that read the guest retry by themselves when it did not pause in time.
        wait_until("the processes page shows the accept loop's frame",
                   lambda: "serveForever" in browser.dom(), 30, lambda: browser.dom()[-1500:])
        dom = browser.dom()
        check("a Socket" in dom, "the processes page shows frames' values")
        browser.screenshot(os.path.join(shots, "processes.png"))

        browser.open(hub.url + "/classes")
        wait_until("the class list", lambda: browser.evaluate("document.querySelectorAll('#classes li').length") > 20, 30,
                   lambda: browser.dom()[-1500:])
        browser.evaluate("var f=document.getElementById('filter');f.value='hubrep';"
                         "f.dispatchEvent(new Event('input'));")
        visible = browser.evaluate("Array.from(document.querySelectorAll('#classes li'))"
                                   ".filter(function(e){return e.style.display!=='none'}).map(function(e){return e.textContent})")
        check_equal(visible, ["HubRepository"], "the class list filtered as one types")
        browser.open(hub.url + "/classes/Hub")
        def health_source():
            sources = browser.evaluate(
                "Array.from(document.querySelectorAll('pre.source')).map(function(e){return e.textContent})")
            return any(s.startswith("health: request") and '{"status":"ok"}' in s for s in sources)
        wait_until("the class page shows Hub>>health:'s source", health_source, 30, lambda: browser.dom()[-1500:])
        browser.screenshot(os.path.join(shots, "class-Hub.png"))

        browser.open(hub.url + "/classes")
        wait_until("the search form on the classes page", lambda: text_of(browser, "#search-button") is not None, 30)
        browser.submit("document.getElementById('search').value='health:';"
                       "document.getElementById('search-button').click();")
        def found_health():
            rows = browser.evaluate("Array.from(document.querySelectorAll('#matches tr.match')).map(function(r){"
                                    "return [r.querySelector('a').textContent, r.querySelector('.selector').textContent,"
                                    " r.querySelector('pre').textContent]})")
            return any(c == "Hub" and s == "health:" and "health: request" in src for c, s, src in rows)
        wait_until("the search finds Hub>>health: by its source", found_health, 30, lambda: browser.dom()[-1500:])
        check("case-sensitive" in text_of(browser, "#search-summary"), "the page says how it matches")
        browser.screenshot(os.path.join(shots, "search.png"))

        apply_from_page(browser, hub, "07b-Block-memoized.som")
        check("committed" in text_of(browser, "#outcome"), f"the update applied from the page: {text_of(browser, '#outcome')}")
        browser.screenshot(os.path.join(shots, "update-committed.png"))
        apply_from_page(browser, hub, "09a-fails-in-the-middle.json")
        check("rolled-back" in text_of(browser, "#outcome"), "a failing update from the page is rolled back")
        check("steps[2]" in text_of(browser, "#error"), f"the failing step is named: {text_of(browser, '#error')}")
        browser.screenshot(os.path.join(shots, "update-rolled-back.png"))
        browser.open(hub.url + "/updates")
        outcomes = browser.evaluate("Array.from(document.querySelectorAll('#updates td.outcome')).map(function(e){return e.textContent})")
        check_equal(outcomes, ["rolled-back", "committed"], "the update history, newest first")
        browser.screenshot(os.path.join(shots, "updates.png"))

        image = os.path.join(work, "image")
        os.makedirs(os.path.join(work, "damaged"))
        with open(os.path.join(work, "damaged", "manifest.json"), "w") as f:
            f.write("{damaged")
        browser.open(hub.url + "/snapshots")
        browser.submit(f"document.getElementById('directory').value={json.dumps(image)};"
                       "document.getElementById('snapshot-button').click();")
        check(text_of(browser, "#snapshot-taken") is not None, f"the snapshot page reports the snapshot: {browser.dom()[-600:]}")
        check(image in text_of(browser, "#snapshots"), "the snapshot is listed")
        check(os.path.exists(os.path.join(image, "manifest.json")), "the image is on disk")
        rows = browser.evaluate("Array.from(document.querySelectorAll('tr.image')).map(function(r){"
                                "return [r.className, r.querySelector('.directory').textContent]})")
        check(["image ok", image] in rows, f"the image on disk is listed from its manifest: {rows}")
        check(["image unreadable", os.path.join(work, "damaged")] in rows, f"a damaged manifest is listed as such: {rows}")
        check(["image missing", os.path.join(snapshot_dir, "no-manifest")] in rows,
              f"a directory of --snapshot-dir without a manifest: {rows}")
        browser.screenshot(os.path.join(shots, "snapshots.png"))

        browser.open(hub.url + "/chart")
        churn(hub.port)  # scavenges for the chart's dots
        # The guest's latency is read while the chart is watched: its first point comes with
        # the second reading, a second or two after the page opened.
        wait_until("the chart draws its samples with the guest's latency",
                   lambda: int(browser.evaluate("document.getElementById('chart').dataset.samples||'0'")) >= 2
                   and "no latency" not in text_of(browser, "#chart-status"), 10)
        check(browser.evaluate("document.querySelectorAll('#chart polyline').length") == 4, "the chart's four lines")
        wait_until("the chart draws each scavenge", lambda: browser.evaluate("document.querySelectorAll('#chart circle.scavenge').length") > 0,
                   10, lambda: json.dumps(browser.evaluate("document.getElementById('chart-status').textContent")))
        browser.screenshot(os.path.join(shots, "chart.png"))

        count, slowest = probe.stop()
        log(f"the guest's service answered {count} requests meanwhile, the slowest in {slowest:.1f} ms; "
            f"screenshots in {shots}")
        hub.check_alive("after the browser's visit")


if __name__ == "__main__":
    if find_chromium() is None:
        print("SKIP: chromium is not installed (scripts/setup installs it)", flush=True)
        sys.exit(77)
    raise SystemExit(hubtest.run(test, __doc__))
