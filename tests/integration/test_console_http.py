"""The console over plain HTTP (no browser): access by token (none or a wrong one: 401,
then the cookie), POSTs refused cross-origin or without the token (403, 401), foreign Host
headers and other methods refused, malformed requests answered 400; the JSON endpoints
(overview, processes with frames, a class's sources, an update applied and refused, a
snapshot) — while the guest's own service keeps answering throughout; the search over
every method source (its matches, its bounds, its escaping), the chart's scavenges, the
images on disk (in --snapshot-dir and beside a snapshot, a damaged one named as such);
and a console whose port is taken stops with a message while the guest serves on."""
import json
import http.client
import os
import socket
import subprocess
import tempfile
import time

import hubtest
from consoletest import ConsoleHub, ServiceProbe, churn
from hubtest import check, check_equal, log

ROOT = hubtest.ROOT


def raw(port, data):
    """Sends bytes as they are; answers the status of the first response (0 when none)."""
    with socket.create_connection(("127.0.0.1", port), timeout=hubtest.IO_TIMEOUT_S) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        answer = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    head = answer.split(b"\r\n", 1)[0].split()
    return int(head[1]) if len(head) > 1 else 0


def access(hub):
    t = hub.token
    for path in ("/", "/processes", "/api/overview", "/api/classes", "/api/metrics", "/nope",
                 "/search?q=self", "/api/search?q=self", "/api/images"):
        status, headers, _ = hub.request("GET", path)
        check_equal(status, 401, f"GET {path} without the token")
        check("www-authenticate" in headers, f"GET {path} without the token: a WWW-Authenticate header")
    check_equal(hub.request("GET", "/?token=" + "0" * 32)[0], 401, "a wrong token in the query")
    check_equal(hub.request("GET", "/?token=" + t[:-1])[0], 401, "a token one digit short")
    check_equal(hub.request("GET", "/", headers={"Cookie": "espell_console=" + "f" * 32})[0], 401, "a wrong cookie")
    status, headers, body = hub.request("GET", "/?token=" + t)
    check_equal(status, 303, "the URL printed at start: to the page without the token")
    check_equal(headers.get("location"), "/", "where the URL with the token leads")
    cookie = headers.get("set-cookie", "")
    for part in (f"espell_console={t}", "HttpOnly", "SameSite=Strict"):
        check(part in cookie, f"the first answer sets the cookie with {part}: {cookie!r}")
    status, headers, _ = hub.request("GET", f"/classes?q=hub&token={t}")
    check_equal((status, headers.get("location")), (303, "/classes?q=hub"), "other query fields are kept")
    status, _, body = hub.get("/")
    check(status == 200 and b"Espell console" in body, "the overview page with the cookie")
    check_equal(hub.get("/processes")[0], 200, "the cookie alone, afterwards")
    status, headers, _ = hub.request("GET", "/api/overview?token=" + t)
    check_equal(status, 200, "a JSON endpoint answers the token in its query at once")
    check_equal(hub.request("DELETE", "/api/updates", headers={"Cookie": f"espell_console={t}"})[0], 405, "DELETE")
    check_equal(hub.request("GET", "/", headers={"Cookie": f"espell_console={t}", "Host": "evil.example:80"})[0], 403,
                "a Host that is not the console's (DNS rebinding)")


def posts(hub):
    script = {"name": "x.json", "script": "{}"}
    status, _ = hub.post_json("/api/update", script, **{"X-Console-Token": "0" * 32})
    check_equal(status, 401, "POST with a wrong token")
    status, _, _ = hub.request("POST", "/api/update", body="{}", headers={
        "Cookie": f"espell_console={hub.token}", "Content-Type": "application/json"})
    check_equal(status, 401, "POST with the cookie only (no token in the request)")
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{hub.console_port + 1}"):
        status, body = hub.post_json("/api/update", script, Origin=origin)
        check_equal(status, 403, f"POST from origin {origin}")
    status, body = hub.post_json("/api/snapshot", {"directory": "/tmp/x"}, **{"Sec-Fetch-Site": "cross-site"})
    check_equal(status, 403, "POST a browser marks cross-site")
    status, _, _ = hub.request("POST", "/apply", body=f"token={hub.token}&name=a.json&script=%7B%7D", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"})
    check_equal(status, 403, "a form posted from another site, token and all")
    check_equal(hub.request("GET", "/api/update", headers={"Cookie": f"espell_console={hub.token}"})[0], 405,
                "GET of a POST-only endpoint")


def malformed(hub):
    port = hub.console_port
    check_equal(raw(port, b"NONSENSE\r\n\r\n"), 400, "a request line without a target")
    check_equal(raw(port, b"GET / HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n"), 400, "a header without a colon")
    check_equal(raw(port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1:1\r\nContent-Length: x\r\n\r\n"), 400,
                "a bad Content-Length")
    check_equal(raw(port, b"\x00\x01\x02\r\n\r\n"), 400, "binary noise")
    status, body = hub.post_json("/api/update", None)
    check_equal(status, 400, "a JSON body that is not an object")
    status, _, _ = hub.request("POST", "/api/update", body="{not json", headers={
        "X-Console-Token": hub.token, "Content-Type": "application/json"})
    check_equal(status, 400, "a body that is not JSON")
    status, _, _ = hub.request("POST", "/apply", body="token=%zz", headers={
        "Content-Type": "application/x-www-form-urlencoded", "X-Console-Token": hub.token})
    check_equal(status, 400, "a form with a malformed escape")
    status, body = hub.post_json("/api/update", {"name": 3, "script": []})
    check_equal(status, 400, "an update whose name and script are not strings")


def endpoints(hub, work):
    overview = hub.get_json("/api/overview")
    check_equal(overview["status"]["state"], "running", "the guest's state")
    check(overview["processCount"] >= 2, f"the hub's processes are counted: {overview['processCount']}")
    check(0 < overview["guestPauseMicros"] < 1_000_000, f"the pause is measured: {overview['guestPauseMicros']}")
    processes = hub.get_json("/api/processes")["value"]
    frames = [f for p in processes for f in p["frames"]]
    check(any("HttpServer>>serveForever" in f["frame"] for f in frames), "the accept loop's frame is listed")
    check(all({"pc", "receiver", "arguments", "temporaries"} <= f.keys() for f in frames), "frames carry their values")
    classes = hub.get_json("/api/classes")["value"]
    check("Hub" in classes and "Object" in classes, "the class list names Hub and Object")
    hub_class = hub.get_json("/api/classes/Hub")["value"]
    health = [m for m in hub_class["methods"] if m["selector"] == "health:"]
    check(health and "status" in health[0]["source"], "Hub>>health:'s source")
    check_equal(hub.get("/api/classes/NoSuchClass")[0], 404, "an unknown class")

    with open(os.path.join(ROOT, "updates", "07c-Double-debugging.json")) as f:
        status, record = hub.post_json("/api/update", {"name": "07c-Double-debugging.json", "script": f.read()})
    check_equal(status, 200, "applying an update")
    check_equal(record["outcome"], "committed", f"the update's outcome ({record})")
    check(record["timings"]["guestPause"] > 0, "the record's timings")
    status, record = hub.post_json("/api/update", {"name": "bad.json", "script": '{"espellUpdate": 1, "steps": [{"op": "addMethod", "class": 7}]}'})
    check_equal(record["outcome"], "refused", "a script that breaks the schema")
    check("steps[0]" in record["failedStep"], f"the refusal names the step: {record['failedStep']!r}")
    records = hub.get_json("/api/updates")["records"]
    check_equal([r["outcome"] for r in records], ["committed", "refused"], "the update history")

    image = os.path.join(work, "image")
    status, entry = hub.post_json("/api/snapshot", {"directory": image})
    check_equal(status, 200, f"a snapshot ({entry})")
    check(os.path.exists(os.path.join(image, "manifest.json")), "the snapshot's manifest is written")
    check_equal([s["directory"] for s in hub.get_json("/api/snapshots")], [image], "the snapshots taken")
    status, entry = hub.post_json("/api/snapshot", {"directory": "relative/dir"})
    check_equal(status, 400, "a snapshot into a relative directory")


def search(hub):
    answer = hub.get_json("/api/search?q=health%3A")
    check(0 < answer["guestPauseMicros"] < 1_000_000, f"the search's pause is measured: {answer['guestPauseMicros']}")
    found = answer["value"]
    check_equal((found["query"], found["caseSensitive"], found["limit"]), ("health:", True, 200), "the search's terms")
    check(found["methodsSearched"] > 1000, f"every method is searched: {found['methodsSearched']}")
    health = [m for m in found["matches"] if (m["class"], m["side"], m["selector"]) == ("Hub", "instance", "health:")]
    check(health, f"Hub>>health: is found by its source: {found['matches'][:5]}")
    check(any(line["line"] == 1 and line["text"].startswith("health: request") for line in health[0]["lines"]),
          f"with its matching line: {health[0]['lines']}")
    check_equal(hub.get_json("/api/search?q=HEALTH%3A")["value"]["matches"], [], "the search is case-sensitive")
    common = hub.get_json("/api/search?q=self")["value"]
    check_equal((len(common["matches"]), common["more"]), (200, True), "a common text: the first 200 methods, more said")
    check(all(len(m["lines"]) <= 5 for m in common["matches"]), "at most five lines per method")
    check_equal(hub.get("/api/search?q=" + "x" * 101)[0], 400, "a search text over 100 characters")
    check_equal(hub.get("/api/search?q=")[0], 400, "an empty search text")
    check_equal(hub.get("/search?q=" + "x" * 101)[0], 400, "the page: a search text over 100 characters")
    # Sources holding '<' (the primitives' pragma) are escaped on the page, and so is the query.
    status, _, body = hub.get("/search?q=%3Cprimitive%3E")
    check_equal(status, 200, "the search page")
    check(b"&lt;primitive&gt;" in body and b"<primitive>" not in body, "a source holding '<' is escaped")
    check(b'href="/classes/' in body, "each match links to its class")
    status, _, body = hub.get("/search?q=%3Cscript%3E%22x")
    check(status == 200 and b'<script>"x' not in body and b"&lt;script&gt;&quot;x" in body, "the query is escaped")
    status, _, body = hub.get("/classes")
    check(b'id="search-form"' in body and b'action="/search"' in body, "the classes page has the search form")


def chart(hub):
    """The chart's data: every sample has the second's longest scavenge; each scavenge is
    a point (end time in ms, pause in µs) within the samples' time."""
    deadline = time.monotonic() + 20
    while True:
        metrics = hub.get_json("/api/metrics")
        samples = metrics["samples"]
        if len(samples) >= 2 and metrics["scavenges"]:
            break
        check(time.monotonic() < deadline, f"no scavenge in the chart's data within 20 s: {metrics}")
        churn(hub.port)
    check(all("maxScavengeMicros" in s and s["maxScavengeMicros"] >= s["meanScavengeMicros"] for s in samples),
          f"each sample's longest scavenge: {samples[-3:]}")
    points = metrics["scavenges"]
    check(all(len(p) == 2 and p[1] >= 0 for p in points), f"each scavenge's end and pause: {points[:3]}")
    check(points[0][0] >= samples[0]["t"] - 1000 and points[-1][0] <= samples[-1]["t"] + 2000,
          f"the scavenges lie within the samples' time: {points[0]}, {points[-1]}, {samples[0]['t']}, {samples[-1]['t']}")
    check(max(p[1] for p in points) <= max(s["maxScavengeMicros"] for s in samples) or len(samples) < 3,
          "the longest per second is the longest of its scavenges")


def images(hub, work, snapshot_dir):
    """After endpoints(): an image in work (taken), a damaged one beside it, and in
    --snapshot-dir a directory without a manifest."""
    os.makedirs(os.path.join(work, "damaged"))
    with open(os.path.join(work, "damaged", "manifest.json"), "w") as f:
        f.write('{"formatVersion": 1, <not json')
    os.makedirs(os.path.join(work, "not-an-image"))  # beside a snapshot: not listed
    listings = hub.get_json("/api/images")
    check_equal([l["directory"] for l in listings], [snapshot_dir, work], "--snapshot-dir, then where the snapshot went")
    check_equal([(i["name"], i["manifest"]) for i in listings[0]["images"]], [("empty", "missing")],
                "--snapshot-dir: a directory without a manifest")
    beside = {i["name"]: i for i in listings[1]["images"]}
    check_equal(sorted(beside), ["damaged", "image"], "beside the snapshot: the directories with a manifest")
    image = beside["image"]
    with open(os.path.join(image["directory"], "manifest.json")) as f:
        written = json.load(f)["formatVersion"]
    check_equal((image["manifest"], image["space"], image["mode"], image["formatVersion"]),
                ("ok", "guest", "cow", written), f"the snapshot's image, read from its manifest: {image}")
    check(image["totalBytes"] > 0 and image["takenAt"], f"its size and time: {image}")
    check(beside["damaged"]["manifest"] == "unreadable" and "not valid JSON" in beside["damaged"]["error"],
          f"a damaged manifest is named as such: {beside['damaged']}")
    status, _, body = hub.get("/snapshots")
    check(status == 200 and b"Images on disk" in body and b"not valid JSON" in body, "the snapshots page lists them")


def snapshot_dir_alone(espell):
    """--snapshot-dir without --console is a usage error."""
    r = subprocess.run([espell, "run", "--virtualized", "--snapshot-dir", "/tmp", "-cp", hubtest.CLASS_PATH, "Hub"],
                       capture_output=True, timeout=hubtest.IO_TIMEOUT_S)
    check_equal(r.returncode, 64, "--snapshot-dir without --console")
    check(b"--snapshot-dir needs --console" in r.stderr, f"the usage error says why: {r.stderr!r}")


def taken_port(espell):
    """A console whose port is taken stops with a message; the guest serves on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [espell, "run", "--virtualized", "--console", str(port), "-cp", hubtest.CLASS_PATH, "Hub"]
        with hubtest.Hub(espell, command=command) as hub:
            deadline = time.monotonic() + hubtest.STARTUP_TIMEOUT_S
            while "the console has stopped" not in hub.stderr_text():
                check(time.monotonic() < deadline, f"no message about the taken port: {hub.stderr_text()!r}")
                time.sleep(0.05)
            check(f"cannot listen on 127.0.0.1:{port}" in hub.stderr_text(), "the message names the port")
            status, _, body = hubtest_get(hub.port, "/health")
            check_equal((status, body), (200, b'{"status":"ok"}'), "the guest after its console stopped")


def hubtest_get(port, path):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=hubtest.IO_TIMEOUT_S)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.getheaders(), r.read()
    finally:
        conn.close()


def test(args):
    with tempfile.TemporaryDirectory(prefix="console-http-") as work, \
            tempfile.TemporaryDirectory(prefix="console-images-") as snapshot_dir:
        os.makedirs(os.path.join(snapshot_dir, "empty"))
        with ConsoleHub(args.espell, snapshot_dir=snapshot_dir) as hub:
            probe = ServiceProbe(hub.port)
            access(hub)
            posts(hub)
            malformed(hub)
            search(hub)
            chart(hub)
            endpoints(hub, work)
            images(hub, work, snapshot_dir)
            count, slowest = probe.stop()
            log(f"the guest's service answered {count} requests meanwhile, the slowest in {slowest:.1f} ms")
            hub.check_alive("after the console's tests")
    taken_port(args.espell)
    snapshot_dir_alone(args.espell)


if __name__ == "__main__":
    raise SystemExit(hubtest.run(test, __doc__))
