"""test_frontend.py: what nginx serves for the web front end (nginx/html/):
its pages in UTF-8 and its configuration at /config.json (written by
scripts/lib/stack.sh's render_nginx), both as docs/openapi.yaml documents
them. The pages themselves are tested in a browser: tests/browser/run.mjs."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from apitest import TOSS_API_BASE, api, check, eq, is_error_envelope, test  # noqa: E402


@test
def front_end_is_served_in_utf8():
    r = api("GET", "/")
    eq(r.status, 200)
    eq(r.header("Content-Type"), "text/html; charset=utf-8")
    check('<html lang="ko">' in r.text and "회원 프로필" in r.text, "the Korean index page")
    check(r.header("X-Request-Id"), "X-Request-Id on static files too")


@test
def config_json_names_the_gateway_checkout():
    r = api("GET", "/config.json")
    eq(r.status, 200)
    eq(r.header("Content-Type"), "application/json; charset=utf-8")
    eq(r.header("Cache-Control"), "no-store")
    eq(r.json, {"gatewayBase": TOSS_API_BASE.rstrip("/"), "checkoutPath": "/sim/checkout",
                "gateway": "toss"})
    check(r.header("X-Request-Id"), "X-Request-Id")


@test
def static_files_take_only_get():
    r = api("POST", "/", body={})
    is_error_envelope(r, 403, "FORBIDDEN")
    r = api("POST", "/config.json", body={})
    is_error_envelope(r, 405, "METHOD_NOT_ALLOWED")
