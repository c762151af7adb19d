"""test_foundation.py: the HTTP contract every route shares (envelopes,
request ids, limits, listeners) and the operations endpoints."""
import base64
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from apitest import (ADMIN_PORT, MEMBER_AUDIENCE, MEMBER_ISSUER, STACK_DIR, admin,  # noqa: E402
                     admin_token, api, check, eq, is_error_envelope, request, test)
import fcgi_client  # noqa: E402


@test
def health_is_up_without_io():
    r = api("GET", "/health")
    eq(r.status, 200)
    eq(r.json, {"status": "UP"})
    eq(r.header("Content-Type"), "application/json; charset=utf-8")
    check(r.header("X-Request-Id"), "X-Request-Id on every response")


@test
def ready_reports_every_component_and_breaker():
    r = api("GET", "/ready")
    eq(r.status, 200)
    j = r.json
    eq(j["status"], "UP")
    for c in ("primary", "replica", "redis"):
        eq(j["components"][c]["status"], "UP", c)
    eq(j["components"]["replica"]["inRecovery"], True, "the replica is a streaming standby")
    for b in ("redis", "replica", "gateway"):
        check(j["breakers"][b]["state"] in ("CLOSED", "OPEN", "HALF_OPEN"), b)


@test
def unknown_path_is_404_envelope():
    r = api("GET", "/api/v1/does-not-exist")
    is_error_envelope(r, 404, "NO_RESOURCE")
    r = api("GET", "/nothing-here.html")  # nginx's own 404
    is_error_envelope(r, 404, "NO_RESOURCE")


@test
def wrong_method_is_405_with_allow():
    r = api("DELETE", "/health")
    is_error_envelope(r, 405, "METHOD_NOT_ALLOWED")
    eq(r.header("Allow"), "GET, HEAD")
    r = api("POST", "/ready", body={})
    is_error_envelope(r, 405, "METHOD_NOT_ALLOWED")


@test
def head_has_headers_and_no_body():
    r = api("HEAD", "/health")
    eq(r.status, 200)
    eq(r.body, b"")


@test
def body_over_the_limit_is_413_envelope():
    r = api("POST", "/api/v1/payments", body=b"{" + b" " * 70000 + b"}",
            headers={"Content-Type": "application/json"})
    is_error_envelope(r, 413, "PAYLOAD_TOO_LARGE")


@test
def pool_answers_413_itself_when_reached_directly():
    # A client on the FastCGI socket is not limited by nginx.
    out = fcgi_client.get(os.path.join(STACK_DIR, "run", "memberapi.sock"), "/health",
                          method="POST", body=b"x" * 70000,
                          extra={"CONTENT_TYPE": "application/json"})
    check(out is not None and out.startswith(b"Status: 413"), f"got {out[:60] if out else out!r}")
    check(b'"errorType":"PAYLOAD_TOO_LARGE"' in out)


@test
def wrong_content_type_is_415():
    r = api("POST", "/api/v1/payments", body="orderId=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"})
    is_error_envelope(r, 415, "UNSUPPORTED_MEDIA_TYPE")
    r = api("POST", "/api/v1/payments", body="{}")  # no Content-Type
    is_error_envelope(r, 415, "UNSUPPORTED_MEDIA_TYPE")


@test
def bad_query_encoding_is_400():
    r = api("GET", "/api/v1/profiles?page=%ZZ")
    is_error_envelope(r, 400, "INVALID_PARAMETER")
    r = api("GET", "/api/v1/profiles?page=%FF")
    is_error_envelope(r, 400, "INVALID_PARAMETER")


@test
def request_id_is_echoed_when_well_formed():
    r = api("GET", "/api/v1/nope", headers={"X-Request-Id": "client-abc.123"})
    eq(r.header("X-Request-Id"), "client-abc.123")
    eq(r.json["requestId"], "client-abc.123")
    r = api("GET", "/health", headers={"X-Request-Id": "client-abc.123"})
    eq(r.header("X-Request-Id"), "client-abc.123")


@test
def bad_request_id_is_replaced():
    for bad in ("has space", "x" * 129, "quote\"d", "semi;colon"):
        r = api("GET", "/api/v1/nope", headers={"X-Request-Id": bad})
        rid = r.header("X-Request-Id")
        check(rid and rid != bad, f"{bad!r} was echoed")
        eq(r.json["requestId"], rid)
        eq(len(rid), 32)


@test
def request_ids_are_unique():
    ids = {api("GET", "/health").header("X-Request-Id") for _ in range(50)}
    eq(len(ids), 50)


@test
def operator_routes_only_on_the_admin_listener():
    for path in ("/metrics", "/pool-status", "/internal/v1/users/points"):
        r = api("GET", path)
        is_error_envelope(r, 404, "NO_RESOURCE")
    eq(admin("GET", "/pool-status").status, 200)
    eq(admin("GET", "/metrics").status, 200)


@test
def internal_routes_need_the_admin_token():
    r = admin("POST", "/internal/v1/users/1/tokens")
    is_error_envelope(r, 401, "UNAUTHORIZED")
    check((r.header("WWW-Authenticate") or "").startswith("Bearer"), repr(r.headers))
    r = admin("POST", "/internal/v1/users/1/tokens", headers={"Authorization": "Bearer wrong-token-123456"})
    is_error_envelope(r, 403, "FORBIDDEN")
    r = admin("POST", "/internal/v1/users/1/tokens",
              headers={"Authorization": "Bearer " + admin_token()})
    eq(r.status, 201)
    # a compact JWS whose claims name user 1, with the stack's issuer and audience
    head, claims, sig = r.json["data"]["token"].split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    eq(json.loads(base64.urlsafe_b64decode(pad(head)))["alg"], "HS256")
    c = json.loads(base64.urlsafe_b64decode(pad(claims)))
    eq((c["sub"], c.get("iss", ""), c.get("aud", "")), ("1", MEMBER_ISSUER, MEMBER_AUDIENCE))
    check(c["exp"] > c["iat"] > 0 and sig, repr(c))


@test
def pool_status_text_and_json():
    r = admin("GET", "/pool-status")
    eq(r.header("Content-Type"), "text/plain; charset=utf-8")
    for field in ("accepted conn:", "active processes:", "idle processes:", "max active threads:",
                  "slow requests:", "respawned workers:", "breaker redis"):
        check(field in r.text, f"{field} missing")
    j = admin("GET", "/pool-status?format=json&full").json
    workers = int(os.environ.get("WORKERS", os.cpu_count()))
    eq(j["totalProcesses"], workers)
    eq(len(j["workers"]), workers)
    check(all(w["state"] == "ready" for w in j["workers"]))
    check(j["acceptedConn"] > 0)
    r = admin("GET", "/pool-status?format=xml")
    is_error_envelope(r, 400, "INVALID_PARAMETER")


@test
def metrics_are_prometheus_text():
    api("GET", "/health")
    r = admin("GET", "/metrics")
    check(r.header("Content-Type").startswith("text/plain; version=0.0.4"))
    t = r.text
    for needle in ('# TYPE memberapi_http_requests_total counter',
                   'memberapi_http_requests_total{route="health",code="200"}',
                   'memberapi_http_request_duration_seconds_bucket{route="health",le="+Inf"}',
                   'memberapi_breaker_state{breaker="redis"}',
                   'memberapi_pool_workers'):
        check(needle in t, f"{needle} missing")


@test
def nginx_errors_use_the_envelope():
    # 400 from nginx itself (a header line too long for its buffers)
    r = request(ADMIN_PORT, "GET", "/health", headers={"X-Big": "a" * 9000})
    is_error_envelope(r, 400, "INVALID_PARAMETER")
    r = admin("GET", "/no-such-admin-page")
    is_error_envelope(r, 404, "NO_RESOURCE")


@test
def server_tokens_are_off():
    r = api("GET", "/health")
    eq(r.header("Server"), "nginx")
    r = api("GET", "/nothing.html")
    check("nginx/" not in r.text)
    json.loads(r.text)


@test
def nginx_errors_are_json_whatever_the_path_looks_like():
    # nginx labels a static response after the path's extension; its error
    # envelopes must still say JSON (a 404 for /x.html was text/html).
    for path in ("/missing.html", "/missing.js", "/missing.png", "/missing"):
        r = api("GET", path)
        is_error_envelope(r, 404, "NO_RESOURCE")
        eq(r.header("Content-Type"), "application/json; charset=utf-8", path)
    r = api("POST", "/index.html", body={})  # static files take GET and HEAD only
    is_error_envelope(r, 403, "FORBIDDEN")
    eq(r.header("Content-Type"), "application/json; charset=utf-8")
