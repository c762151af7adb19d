"""test_frontend.py: what nginx serves for the web front end (nginx/html/):
its pages in UTF-8, its configuration at /config.json (written by
scripts/lib/stack.sh's render_nginx) and the local stack's demo members at
/demo-members.json (demo_members), as docs/openapi.yaml documents them. The pages themselves are tested in a browser: tests/browser/run.mjs."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from apitest import TOSS_API_BASE, api, check, eq, is_error_envelope, sql1, stack, test  # noqa: E402


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


@test
def demo_members_sign_in_as_users_1_to_5():
    r = api("GET", "/demo-members.json")
    eq(r.status, 200)
    eq(r.header("Content-Type"), "application/json; charset=utf-8")
    eq(r.header("Cache-Control"), "no-store")
    members = r.json["members"]
    eq([m["userId"] for m in members], [1, 2, 3, 4, 5], "STACK_DEMO_MEMBERS' default")
    for m in members:
        eq(m["name"], sql1(f"SELECT name FROM users WHERE id = {m['userId']}"), "the user's name")
        me = api("GET", "/api/v1/me", headers={"Authorization": f"Bearer {m['token']}"})
        eq(me.status, 200, f"the token of member {m['userId']} is accepted")
        eq(me.json["data"]["userId"], m["userId"], "and names that member")
    r = api("POST", "/demo-members.json", body={})
    is_error_envelope(r, 405, "METHOD_NOT_ALLOWED")


@test
def demo_members_only_on_a_loopback_stack_that_asks_for_them():
    try:
        # none asked for: no file, the front end shows only the paste form
        stack("demo_members", env={"STACK_DEMO_MEMBERS": ""})
        is_error_envelope(api("GET", "/demo-members.json"), 404, "NO_RESOURCE")
        stack("demo_members")
        eq(api("GET", "/demo-members.json").status, 200)
        # a public listener that is not loopback: tokens are never published
        out = stack("demo_members", env={"NGINX_LISTEN_ADDR": "0.0.0.0"})
        check("not loopback" in out, out)
        is_error_envelope(api("GET", "/demo-members.json"), 404, "NO_RESOURCE")
        # a user that does not exist is left out; a bad id stops with a message
        stack("demo_members", env={"STACK_DEMO_MEMBERS": "2,987654321"})
        eq([m["userId"] for m in api("GET", "/demo-members.json").json["members"]], [2])
        stack("demo_members", env={"STACK_DEMO_MEMBERS": "1 x"}, check_rc=False)
        is_error_envelope(api("GET", "/demo-members.json"), 404, "NO_RESOURCE")
    finally:
        stack("demo_members")
    eq(len(api("GET", "/demo-members.json").json["members"]), 5, "restored")
