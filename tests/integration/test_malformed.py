"""test_malformed.py: docs/API.md "Malformed requests", row by row, through
nginx on both listeners. Requests go out on raw sockets (http.client cannot
send most of them): each row's bytes, its status, and the error envelope
(JSON, errorType, a message naming the problem, requestId = X-Request-Id).
No row may answer a 5xx or anything but JSON. The table in docs/API.md is
checked against the rows here, so the two cannot drift apart."""
import json
import os
import re
import socket
import threading
import time

import apitest
import fcgi_client
from apitest import ADMIN_PORT, HTTP_PORT, ROOT, check, eq, test
from paytest import balance, new_user, order_id

# What each listener offers the rows: a pool route on both (/health), a
# path prefix the pool serves, and a JSON route that reads a body.
LISTENERS = {
    "public": {"port": HTTP_PORT, "get": "/health", "prefix": "/api/v1/x",
               "body": (b"POST", b"/api/v1/payments")},
    "admin": {"port": ADMIN_PORT, "get": "/health", "prefix": "/internal/v1/x",
              "body": (b"PATCH", b"/internal/v1/users/points")},  # with the admin token
}

JSON_TYPE = "application/json; charset=utf-8"


def _auth(lst):
    """The listener's credentials: the admin token, or a member's JWT (the
    public body route is a member route: without a token it is 401 before
    its body is read)."""
    if lst == "admin":
        return b"Authorization: Bearer " + apitest.admin_token().encode() + b"\r\n"
    return b"Authorization: Bearer " + apitest.member_token(1).encode() + b"\r\n"


def raw(port, data, timeout=15, shut=False):
    """Sends data, returns every byte the server sent until it closed the
    connection or one whole response (by Content-Length) arrived."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # nginx may answer and close before taking all of it
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            out += b
            head, sep, body = out.partition(b"\r\n\r\n")
            m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            if sep and m and len(body) >= int(m.group(1)):
                break
    finally:
        s.close()
    return out


class Raw:
    """A parsed HTTP/1.x response from raw()."""

    def __init__(self, data):
        self.data = data
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        m = re.match(rb"HTTP/1\.[01] (\d{3})", lines[0])
        check(m, f"no HTTP status line: {data[:200]!r}")
        self.status = int(m.group(1))
        self.headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(b":")
            self.headers[k.strip().lower().decode()] = v.strip().decode("latin-1")
        try:
            self.json = json.loads(self.body)
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<{self.data[:400]!r}>"


def check_envelope(r, status, etype, msg=None, what=""):
    check(r.status < 500, f"{what}: a 5xx for a malformed request: {r!r}")
    eq(r.status, status, f"{what}: status ({r!r})")
    eq(r.headers.get("content-type"), JSON_TYPE, f"{what}: Content-Type")
    check(r.json is not None, f"{what}: not JSON: {r!r}")
    if etype is None:  # served normally
        return
    eq(r.json.get("code"), status, f"{what}: envelope code")
    eq(r.json.get("errorType"), etype, f"{what}: errorType")
    check(isinstance(r.json.get("status"), str) and r.json["status"], f"{what}: envelope status")
    rid = r.headers.get("x-request-id")
    check(rid and r.json.get("requestId") == rid, f"{what}: requestId {r.json.get('requestId')!r} "
          f"vs X-Request-Id {rid!r}")
    em = r.json.get("errorMessage")
    check(isinstance(em, str) and em, f"{what}: errorMessage")
    if msg is not None:
        check(msg in em, f"{what}: errorMessage {em!r} does not say {msg!r}")


# ---- the rows ---------------------------------------------------------------
# (id, request builder (listener name, its dict) -> bytes, status, errorType,
#  message the answer must contain, who answers). The ids are docs/API.md's.

H = b"Host: api.test\r\n"


def get(target, extra=b"", version=b"HTTP/1.1"):
    return lambda n, L: b"GET " + target(n, L) + b" " + version + b"\r\n" + H + extra + b"\r\n"


def prefix(tail):
    return lambda n, L: L["prefix"].encode() + tail


def health(tail=b""):
    return lambda n, L: L["get"].encode() + tail


def body_req(headers, body=b"", version=b"HTTP/1.1", auth=True):
    def build(n, L):
        method, path = L["body"]
        return (method + b" " + path + b" " + version + b"\r\n" + H + (_auth(n) if auth else b"")
                + b"Content-Type: application/json\r\n" + headers + b"\r\n" + body)
    return build


def method(m, target=None):
    return lambda n, L: m + b" " + (target or L["get"].encode()) + b" HTTP/1.1\r\n" + H + b"\r\n"


def line(text):
    return lambda n, L: text


MANY_HEADERS = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"b" * 1000) for i in range(40))
MANY_PARAMS = b"&".join(b"p%d=1" % i for i in range(65))
CHUNKED_BIG = b"".join(b"1000\r\n" + b" " * 4096 + b"\r\n" for _ in range(20)) + b"0\r\n\r\n"
M400, NGINX_MSG = "INVALID_PARAMETER", "malformed request"

ROWS = [
    # path
    ("M01", get(prefix(b"/1%00")), 400, M400, NGINX_MSG, "nginx"),
    ("M02", get(prefix(b"/1\x00x")), 400, M400, NGINX_MSG, "nginx"),
    ("M03", get(prefix(b"/%zz")), 400, M400, NGINX_MSG, "nginx"),
    ("M04", get(prefix(b"/%4")), 400, M400, NGINX_MSG, "nginx"),
    ("M05", get(prefix(b"/1%0A")), 400, M400, "malformed path: control character (%0A)", "pool"),
    ("M06", get(prefix(b"/%FF")), 400, M400, "malformed path: not valid UTF-8", "pool"),
    ("M07", get(prefix(b"/a\x01b")), 400, M400, NGINX_MSG, "nginx"),
    ("M08", get(line(b"api/v1/x")), 400, M400, NGINX_MSG, "nginx"),
    ("M09", get(line(b"/../../etc/passwd")), 400, M400, NGINX_MSG, "nginx"),
    # query
    ("M10", get(health(b"?page=1%00")), 400, M400, "query value contains a NUL byte", "pool"),
    ("M11", get(health(b"?page=%zz")), 400, M400, "malformed percent-encoding in query value",
     "pool"),
    ("M12", get(health(b"?page=%4")), 400, M400, "malformed percent-encoding in query value",
     "pool"),
    ("M13", get(health(b"?name=%FF%FE")), 400, M400, "query value is not valid UTF-8", "pool"),
    ("M14", get(health(b"?" + MANY_PARAMS)), 400, M400, "too many query parameters", "pool"),
    # sizes
    ("M15", get(health(b"?x=" + b"a" * 9000)), 414, M400, "request line is too long", "nginx"),
    ("M16", get(health(b"?x=" + b"a" * 100000)), 414, M400, "request line is too long", "nginx"),
    ("M17", get(health(), b"X-Big: " + b"a" * 9000 + b"\r\n"), 400, M400,
     "request headers are too large", "nginx"),
    ("M18", get(health(), MANY_HEADERS), 400, M400, "request headers are too large", "nginx"),
    # methods
    ("M19", method(b"FOO"), 405, "METHOD_NOT_ALLOWED", "method FOO is not allowed here", "pool"),
    ("M20", method(b"PROPFIND"), 405, "METHOD_NOT_ALLOWED", "method PROPFIND is not allowed",
     "pool"),
    ("M21", method(b"get"), 400, M400, NGINX_MSG, "nginx"),
    ("M22", method(b"G@T"), 400, M400, NGINX_MSG, "nginx"),
    ("M23", method(b"TRACE"), 405, "METHOD_NOT_ALLOWED", "method not allowed here", "nginx"),
    ("M24", method(b"CONNECT", b"api.test:443"), 400, M400, NGINX_MSG, "nginx"),
    # bodies (M25, chunked and accepted, has a test of its own below)
    ("M26", body_req(b"Transfer-Encoding: chunked\r\n", CHUNKED_BIG), 413, "PAYLOAD_TOO_LARGE",
     "request body is larger than the limit", "nginx"),
    ("M27", body_req(b"Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"), 400, M400,
     NGINX_MSG, "nginx"),
    ("M28", body_req(b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n",
                     b"2\r\n{}\r\n0\r\n\r\n"), 400, M400, NGINX_MSG, "nginx"),
    ("M29", body_req(b"Transfer-Encoding: gzip\r\n", b"{}"), 400, M400,
     "unsupported Transfer-Encoding", "nginx"),
    ("M30", body_req(b"Transfer-Encoding: chunked\r\n", b"2\r\n{}\r\n0\r\n\r\n", b"HTTP/1.0"),
     400, M400, NGINX_MSG, "nginx"),
    ("M31", body_req(b"Content-Length: abc\r\n", b"{}"), 400, M400, NGINX_MSG, "nginx"),
    ("M32", body_req(b"Content-Length: -1\r\n", b"{}"), 400, M400, NGINX_MSG, "nginx"),
    ("M33", body_req(b"Content-Length: 2\r\nContent-Length: 3\r\n", b"{}"), 400, M400, NGINX_MSG,
     "nginx"),
    ("M34", body_req(b"Content-Length: 99999999999999999999999\r\n", b"{}"), 400, M400,
     NGINX_MSG, "nginx"),
    ("M35", body_req(b"Content-Length: 100000\r\n", b"{" * 1000), 413, "PAYLOAD_TOO_LARGE",
     "request body is larger than the limit", "nginx"),
    ("M37", body_req(b"Connection: close\r\n"), 400, M400, "a JSON body is required", "pool"),
    # request line and version (M38, HTTP/0.9, has a test of its own below)
    ("M39", get(health(), version=b"HTTP/2.0"), 400, M400, "unsupported HTTP version", "nginx"),
    ("M40", get(health(), version=b"HTTX/1.1"), 400, M400, NGINX_MSG, "nginx"),
    ("M41", line(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 400, M400, NGINX_MSG, "nginx"),
    ("M42", line(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 32 + b"\r\n\r\n"),
     400, M400, NGINX_MSG, "nginx"),
    ("M43", line(b"hello world\r\n\r\n"), 400, M400, NGINX_MSG, "nginx"),
    # Host
    ("M44", line(b"GET /health HTTP/1.1\r\n\r\n"), 400, M400, NGINX_MSG, "nginx"),
    ("M45", line(b"GET /health HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400, M400, NGINX_MSG, "nginx"),
    ("M46", line(b"GET /health HTTP/1.1\r\nHost: ..\r\n\r\n"), 400, M400, NGINX_MSG, "nginx"),
    ("M47", line(b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400, M400, NGINX_MSG,
     "nginx"),
    # other headers
    ("M48", get(health(), b"X Bad: 1\r\n"), 400, M400, NGINX_MSG, "nginx"),
    ("M49", get(health(), b"X-Bad: a\x00b\r\n"), 400, M400, NGINX_MSG, "nginx"),
    ("M50", get(health(), b"nocolon\r\n"), 200, None, None, "pool"),
    # nginx's error pages are not a resource
    ("M52", get(line(b"/.errors/400")), 404, "NO_RESOURCE", "no resource at this path", "nginx"),
]


def _run_row(row, lst):
    rid, build, status, etype, msg, by = row
    L = LISTENERS[lst]
    r = Raw(raw(L["port"], build(lst, L)))
    check_envelope(r, status, etype, msg, f"{rid} on {lst}")
    if status == 405 and by == "pool":
        eq(r.headers.get("allow"), "GET, HEAD", f"{rid} on {lst}: the pool's 405 has Allow")


@test
def every_row_answers_its_envelope_on_the_public_listener():
    for row in ROWS:
        _run_row(row, "public")


@test
def every_row_answers_its_envelope_on_the_admin_listener():
    for row in ROWS:
        _run_row(row, "admin")


@test
def the_pools_rows_are_answered_by_the_pool():
    # A pool answer carries the request id nginx passed (the same either
    # way); what tells them apart is the message: nginx's rows say only
    # their generic text, the pool's name the problem. Checked here so a row
    # moving from the pool to nginx (or back) is a visible change.
    for rid, build, status, etype, msg, by in ROWS:
        if etype is None:
            continue
        r = Raw(raw(HTTP_PORT, build("public", LISTENERS["public"])))
        nginx_texts = {"malformed request", "request headers are too large",
                       "request line is too long", "request body is larger than the limit",
                       "unsupported Transfer-Encoding (only chunked is accepted)",
                       "unsupported HTTP version", "method not allowed here",
                       "no resource at this path"}
        check(r.json is not None, f"{rid}: not JSON: {r!r}")
        said = r.json["errorMessage"]
        if by == "nginx":
            check(said in nginx_texts, f"{rid}: {said!r} is not one of nginx's texts")
        else:
            check(said not in nginx_texts, f"{rid}: {said!r} is nginx's text, not the pool's")


@test
def chunked_bodies_are_accepted_like_a_length():
    # M25: nginx reads the chunks (at most MAX_BODY_BYTES), then hands the
    # pool the body with its length; the route behaves as with Content-Length.
    def chunked(b):
        half = len(b) // 2
        return (b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"
                % (half, b[:half], len(b) - half, b[half:]))

    uid = new_user()
    oid = order_id("chunk")
    body = json.dumps({"orderId": oid, "userId": uid, "amount": 1000, "payGateway": "TOSS",
                       "payType": "CARD"}).encode()
    token = b"Authorization: Bearer " + apitest.member_token(uid).encode() + b"\r\n"
    r = Raw(raw(HTTP_PORT, b"POST /api/v1/payments HTTP/1.1\r\n" + H + token
                + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunked(body)))
    eq(r.status, 201, repr(r))
    eq(r.json["data"]["orderId"], oid)
    eq(r.json["data"]["amount"], 1000)
    g = apitest.api("GET", "/api/v1/payments/" + oid, headers=apitest.member(uid))  # stored as sent (and checked by openapi)
    eq((g.status, g.json["data"]["amount"], g.json["data"]["userId"]), (200, 1000, uid))

    body = json.dumps({"userId": uid, "amount": 321, "reason": "chunked",
                       "idempotencyKey": f"chunked-{time.time_ns()}"}).encode()
    r = Raw(raw(ADMIN_PORT, b"PATCH /internal/v1/users/points HTTP/1.1\r\n" + H + _auth("admin")
                + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunked(body)))
    eq(r.status, 200, repr(r))
    eq(r.json["data"]["point"], 321)
    eq(balance(uid), 321)


@test
def http_0_9_gets_the_envelope_as_its_body():
    # M38: HTTP/0.9 has no status line or headers, so the 400 envelope is the
    # whole answer; the resource itself is not served.
    for lst, L in LISTENERS.items():
        out = raw(L["port"], b"GET " + L["get"].encode() + b"\r\n")
        check(not out.startswith(b"HTTP/"), f"{lst}: a status line for HTTP/0.9: {out[:80]!r}")
        j = json.loads(out)
        eq((j["code"], j["errorType"]), (400, "INVALID_PARAMETER"), lst)
        check("UP" not in out.decode(), f"{lst}: /health was served to HTTP/0.9")


@test
def requests_that_stop_arriving_are_closed_without_an_answer():
    # M36 and M51, the rows without an envelope: nginx ends a request whose
    # body (client_body_timeout, 10 s) or headers (client_header_timeout,
    # 10 s) stop arriving by closing the connection (a reset, as
    # reset_timedout_connection is on), never with a response; its 408 is
    # not sent for either. What holds: the client learns within the timeout
    # and nothing reached the pool half-read. Both listeners at once, so the
    # test waits ~10 s.
    results = {}

    def body_stops(lst, L):
        method, path = L["body"]
        t0 = time.monotonic()
        results[("M36", lst)] = (raw(L["port"], method + b" " + path + b" HTTP/1.1\r\n" + H
                                     + _auth(lst) + b"Content-Type: application/json\r\n"
                                     + b"Content-Length: 100\r\n\r\n{\"a\":", timeout=25),
                                 time.monotonic() - t0)

    def headers_stop(lst, L):
        t0 = time.monotonic()
        results[("M51", lst)] = (raw(L["port"], b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: ",
                                     timeout=25), time.monotonic() - t0)

    threads = [threading.Thread(target=f, args=(lst, L))
               for lst, L in LISTENERS.items() for f in (body_stops, headers_stop)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    for (rid, lst), (out, took) in sorted(results.items()):
        eq(out, b"", f"{rid} on {lst}: nginx closes without an answer")
        check(9 <= took < 20, f"{rid} on {lst}: closed after {took:.1f}s, not after the 10 s timeout")
    eq(len(results), 4, "every slow request finished")


@test
def the_pool_applies_the_path_rules_on_its_own_socket():
    # Without nginx in front (a client on the FastCGI socket), the pool
    # decodes a REQUEST_URI that comes without DOCUMENT_URI as nginx decodes
    # $uri, and refuses what nginx would: %00, a bad escape, a control
    # character. docs/API.md, the last note under the table.
    sock = os.path.join(apitest.STACK_DIR, "run", "memberapi.sock")

    def ask(params):
        req = fcgi_client.Request(sock, dict({"REQUEST_METHOD": "GET", "QUERY_STRING": "",
                                              "CONTENT_LENGTH": "0", "API_LISTENER": "public"},
                                             **params), timeout=10)
        req.send_body(b"")
        out = req.response()
        check(out, f"no answer for {params}")
        head, _, body = out.partition(b"\r\n\r\n")
        return int(head.split(b" ")[1]), json.loads(body)

    for uri, msg in (("/api/v1/profiles/1%00x", "malformed path: it contains a NUL byte (%00)"),
                     ("/api/v1/profiles/%zz", "malformed percent-encoding in path"),
                     ("/api/v1/profiles/%4", "malformed percent-encoding in path"),
                     ("/api/v1/profiles/1%0A", "malformed path: control character (%0A)"),
                     ("api/v1/profiles/1", "malformed path: it must start with '/'")):
        status, j = ask({"REQUEST_URI": uri})
        eq((status, j["errorType"], j["errorMessage"]), (400, M400, msg), uri)
    status, j = ask({"REQUEST_URI": "/api/v1/profiles/%31?page=%zz"})  # the query is not the path
    eq((status, j["data"]["id"]), (200, 1), "a decoded REQUEST_URI routes like $uri")
    status, j = ask({"DOCUMENT_URI": "/api/v1/profiles/1\x7f"})
    eq((status, j["errorMessage"]), (400, "malformed path: control character (%7F)"))
    status, j = ask({"DOCUMENT_URI": "/api/v1/profiles", "QUERY_STRING": "page=%00"})
    eq((status, j["errorMessage"]), (400, "query value contains a NUL byte (%00)"))


@test
def docs_table_lists_every_row_with_its_status():
    with open(os.path.join(ROOT, "docs", "API.md"), encoding="utf-8") as f:
        doc = f.read()
    table = {}
    for m in re.finditer(r"^\| (M\d\d) \|(.*)$", doc, re.M):
        cells = [c.strip() for c in m.group(2).strip().rstrip("|").split("|")]
        table[m.group(1)] = cells
    tested = {row[0]: row for row in ROWS}
    tested.update({"M25": (None, None, 201, None, None, "pool"),
                   "M36": (None, None, None, None, None, "nginx"),
                   "M38": (None, None, 400, "INVALID_PARAMETER", None, "nginx"),
                   "M51": (None, None, None, None, None, "nginx")})
    eq(sorted(table), sorted(tested), "docs/API.md rows vs tested rows")
    for rid, row in tested.items():
        cells = table[rid]
        status_cell, etype_cell, by_cell = cells[-3], cells[-2], cells[-1]
        if row[2] is not None:
            check(status_cell.startswith(str(row[2])),
                  f"{rid}: docs say {status_cell!r}, the test expects {row[2]}")
        if row[3] is not None:
            check(row[3] in etype_cell, f"{rid}: docs say {etype_cell!r}, test {row[3]}")
        check(row[5] in by_cell, f"{rid}: docs say answered by {by_cell!r}, test {row[5]}")
