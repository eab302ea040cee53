#!/usr/bin/env python3
"""Every route and every error status of the hub through curl: status, Content-Type,
Content-Length, Date, Connection, Allow and the exact JSON bodies of the Node reference
(scripts/bench/node-hub.js); a POST and the GETs that must show it; two URLs in one curl
call sharing one keep-alive connection.

Usage: test_routes.py --espell PATH
"""
import os
import sys
import tempfile

sys.dont_write_bytecode = True  # keep the source tree clean of __pycache__
from hubtest import (Failure, Hub, SEED, check, check_equal, compact, curl, error_body, expect, parse_responses,
                     run, seed_repository, seed_version, log)

IDLE_TIMEOUT_MS = 1000  # so that the 408 case takes a second, not ten


def curl_responses(port, path, *options, head_request=False, what=None):
    """curl -i of one URL; answers its final response (interim 100 Continue skipped)."""
    what = what or f"{' '.join(options)} {path}".strip()
    rc, out, err = curl("--http1.1", "-i", *options, f"http://127.0.0.1:{port}{path}")
    check(rc == 0, f"{what}: curl exited with status {rc}: {err.strip()}")
    responses = parse_responses(out, head_only=(0,) if head_request else ())
    check_equal(len(responses), 1, f"{what}: number of responses in curl's output {out[:300]!r}")
    return responses[0]


def check_route(port, path, status, body, *options, close=False, allow=None, head_request=False):
    what = f"{' '.join(options)} {path}".strip()
    what = what if len(what) <= 100 else what[:80] + "..." + what[-17:]
    response = curl_responses(port, path, *options, head_request=head_request, what=what)
    expect(response, status, body, what, close=close, allow=allow, head_request=head_request)
    log(f"ok  {status}  {what}")
    return response


def check_seed_routes(port):
    check_route(port, "/health", 200, {"status": "ok"})
    check_route(port, "/repos", 200, [{"name": n, "versions": 2} for n in sorted(SEED)])
    for name in SEED:
        check_route(port, f"/repos/{name}", 200, seed_repository(name))
        for n in (1, 2):
            check_route(port, f"/repos/{name}/versions/{n}", 200, seed_version(name, n))
    # A query is ignored; path segments are percent-decoded.
    check_route(port, "/repos/Zinc?verbose=1", 200, seed_repository("Zinc"))
    check_route(port, "/repos/Zi%6Ec/versions/%32", 200, seed_version("Zinc", 2))
    # HTTP/1.0 answers close unless the client asks for keep-alive.
    check_route(port, "/health", 200, {"status": "ok"}, "--http1.0", close=True)


def check_not_found(port):
    not_found = error_body("not found")
    for path in ("/", "/nope", "/health/x", "/repos/", "/repos/Zinc/versions/1/x", "/repos/Zinc/history",
                 "/repos/bad%20name", "/repos/%ZZ", "/repos/%C3%28", "/repos/a%2Fb"):
        check_route(port, path, 404, not_found)
    check_route(port, "/nope", 404, not_found, "-X", "POST", "--data-binary", "{}")
    check_route(port, "/repos/Nope", 404, error_body("no repository named Nope"))
    check_route(port, "/repos/Nope/versions/1", 404, error_body("no repository named Nope"))
    for n in ("3", "0", "01", "abc", "99999999999999999999999"):
        check_route(port, f"/repos/Zinc/versions/{n}", 404, error_body(f"no version {n} of repository Zinc"))


def check_method_not_allowed(port):
    not_allowed = error_body("method not allowed")
    check_route(port, "/repos", 405, not_allowed, "-X", "DELETE", allow="GET")
    check_route(port, "/repos/Zinc", 405, not_allowed, "-X", "PUT", "--data-binary", "{}", allow="GET")
    check_route(port, "/health", 405, not_allowed, "-X", "POST", "--data-binary", "{}", allow="GET")
    check_route(port, "/repos/Zinc/versions", 405, not_allowed, allow="POST")
    check_route(port, "/repos/Zinc/versions/1", 405, not_allowed, "-X", "POST", "--data-binary", "{}", allow="GET")
    # HEAD is not a route of its own: 405, headers only, Content-Length of the body left out.
    check_route(port, "/health", 405, not_allowed, "--head", allow="GET", head_request=True)


def post_version(port, name, fields, number):
    body = compact(fields)
    check_route(port, f"/repos/{name}/versions", 201, {"name": name, "number": number},
                "-H", "Content-Type: application/json", "--data-binary", body.decode("utf-8"))


def check_posts(port):
    # To a seed repository: number 3, then visible in every view.
    fields = {"package": "Seaside-Tests", "author": "integration", "source": "Object subclass: #Foo"}
    post_version(port, "Seaside", fields, 3)
    check_route(port, "/repos/Seaside/versions/3", 200, {"name": "Seaside", "number": 3, **fields})
    repo = seed_repository("Seaside")
    repo["versions"].append({"number": 3, "package": fields["package"], "author": fields["author"]})
    check_route(port, "/repos/Seaside", 200, repo)
    # A new repository is created with an empty description; the listing stays sorted by byte order.
    unusual = {"package": "P\u00e9-\u2211", "author": "a \"quoted\" back\\slash",
               "source": "line 1\nline 2\ttab \u0001 \U0001F600 </script>"}
    post_version(port, "Fresh-1.x_y", unusual, 1)
    # Expect: 100-continue gets 100 Continue first (curl -i shows it; parse_responses skips it).
    check_route(port, "/repos/Fresh-1.x_y/versions", 201, {"name": "Fresh-1.x_y", "number": 2},
                "-H", "Expect: 100-continue", "--data-binary", compact(fields).decode("utf-8"))
    response = check_route(port, "/repos/Fresh-1.x_y/versions/1", 200, {"name": "Fresh-1.x_y", "number": 1, **unusual})
    # Content-Length counts the bytes of the UTF-8 body, not its characters.
    length = int(response.header("content-length"))
    check_equal(length, len(response.body), "non-ASCII body: Content-Length against the bytes received")
    check(length > len(response.body.decode("utf-8")), "non-ASCII body: Content-Length must count bytes, not characters")
    check_route(port, "/repos/Fresh-1.x_y", 200, {
        "name": "Fresh-1.x_y", "description": "",
        "versions": [{"number": 1, "package": unusual["package"], "author": unusual["author"]},
                     {"number": 2, "package": fields["package"], "author": fields["author"]}]})
    listing = {n: 2 for n in SEED}
    listing["Seaside"] = 3
    listing["Fresh-1.x_y"] = 2
    check_route(port, "/repos", 200, [{"name": n, "versions": listing[n]} for n in sorted(listing)])


def check_bad_bodies(port):
    cases = [
        ('{"package":', "body is not valid JSON"),
        ("", "body is not valid JSON"),
        ('{"package":"p","author":"a","source":"s"} x', "body is not valid JSON"),
        ("[1,2]", "body must be a JSON object"),
        ("null", "body must be a JSON object"),
        ('"text"', "body must be a JSON object"),
        ("{}", 'field "package" must be a string'),
        ('{"package":"p","author":5,"source":"s"}', 'field "author" must be a string'),
        ('{"package":"p","author":"a","source":null}', 'field "source" must be a string'),
        ('{"package":"p","author":"a"}', 'field "source" must be a string'),
    ]
    for body, text in cases:
        check_route(port, "/repos/Zinc/versions", 400, error_body(text), "--data-binary", body)
    # Not UTF-8: the reference decodes strictly.
    with tempfile.NamedTemporaryFile(prefix="hub-body-", suffix=".json") as f:
        f.write(b'{"package":"\xff","author":"a","source":"s"}')
        f.flush()
        check_route(port, "/repos/Zinc/versions", 400, error_body("body is not valid JSON"),
                    "--data-binary", "@" + f.name)
    # None of them added a version.
    check_route(port, "/repos/Zinc", 200, seed_repository("Zinc"))


def check_protocol_errors(port):
    # 400: HTTP/1.1 without Host (curl leaves the header out when given an empty one).
    check_route(port, "/health", 400, error_body("bad request"), "-H", "Host:", close=True)
    # 408: the body announced is not sent within the idle timeout.
    check_route(port, "/repos/Zinc/versions", 408, error_body("request timeout"), "-X", "POST",
                "-H", "Content-Length: 100", "--data-binary", "abc", close=True)
    # 411: a chunked body.
    check_route(port, "/repos/Zinc/versions", 411, error_body("length required"),
                "-H", "Transfer-Encoding: chunked", "--data-binary", "{}", close=True)
    # 413: a body over 1 MiB (curl sends Expect: 100-continue; the hub refuses at once).
    with tempfile.NamedTemporaryFile(prefix="hub-body-") as f:
        f.write(b"x" * (1024 * 1024 + 1))
        f.flush()
        check_route(port, "/repos/Zinc/versions", 413, error_body("request body too large"),
                    "--data-binary", "@" + f.name, close=True)
    # 431: headers over 8 KiB.
    check_route(port, "/health", 431, error_body("request header fields too large"),
                "-H", "X-Padding: " + "p" * 9000, close=True)
    # 505: curl cannot send another HTTP version, so the request goes raw through telnet://.
    with tempfile.NamedTemporaryFile(prefix="hub-request-") as f:
        f.write(b"GET /health HTTP/1.2\r\nHost: hub\r\n\r\n")
        f.flush()
        rc, out, err = curl("--upload-file", f.name, f"telnet://127.0.0.1:{port}")
        check(rc == 0, f"505 via telnet://: curl exited with status {rc}: {err.strip()}")
        responses = parse_responses(out)
        check_equal(len(responses), 1, f"505 via telnet://: number of responses in {out[:300]!r}")
        expect(responses[0], 505, error_body("http version not supported"), "HTTP/1.2 request", close=True)
        log("ok  505  HTTP/1.2 request")


def check_keep_alive(port):
    """Two URLs in one curl call: the second transfer reuses the first one's connection."""
    rc, out, err = curl("--http1.1", "-i", "-w", "%{stderr}transfer %{http_code} %{num_connects} %{local_port}\n",
                        f"http://127.0.0.1:{port}/health", f"http://127.0.0.1:{port}/repos/Roassal/versions/2")
    check(rc == 0, f"keep-alive: curl exited with status {rc}: {err.strip()}")
    responses = parse_responses(out)
    check_equal(len(responses), 2, "keep-alive: number of responses")
    expect(responses[0], 200, {"status": "ok"}, "keep-alive: first transfer", close=False)
    expect(responses[1], 200, seed_version("Roassal", 2), "keep-alive: second transfer", close=False)
    transfers = [line.split() for line in err.splitlines() if line.startswith("transfer ")]
    check_equal(len(transfers), 2, f"keep-alive: curl's transfer lines in {err!r}")
    check_equal(transfers[0][2], "1", "keep-alive: new connections made by the first transfer")
    check_equal(transfers[1][2], "0", "keep-alive: new connections made by the second transfer (reuse expected)")
    check_equal(transfers[1][3], transfers[0][3], "keep-alive: local port of the second transfer")
    log("ok  keep-alive: two URLs over one connection")


def test(args):
    with Hub(args.espell, "--idle-timeout-ms", str(IDLE_TIMEOUT_MS)) as hub:
        check_seed_routes(hub.port)
        check_not_found(hub.port)
        check_method_not_allowed(hub.port)
        check_bad_bodies(hub.port)
        check_posts(hub.port)
        check_protocol_errors(hub.port)
        check_keep_alive(hub.port)
        hub.check_alive("after all routes")
        stderr = hub.stderr_text().strip()
        check(stderr == "", f"the hub wrote to standard error: {stderr[:500]!r}")


if __name__ == "__main__":
    sys.exit(run(test, __doc__))
