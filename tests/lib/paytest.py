"""paytest.py: helpers for the points and payment integration tests (on top
of apitest.py; Python standard library only).

  new_user() / balance(uid) / ledger(order_id)     test data through psql
  order_id(tag)                                     a fresh, valid orderId
  create(oid, uid, amount) / success(oid, pk, amount) / get_payment(oid) / fail(qs)
                                                    as the payment's owner (member
                                                    token; as_user= another one,
                                                    as_user=0 none)
  authorize(oid, amount, outcome)                   the widget step, at the sandbox
  sandbox(method, path, body) / fault(...) / clear_faults() / stats()
  reconcile(**env)                                  `memberapi job reconcile` once,
                                                    with the pool's configuration
  wait_ready()                                      /ready answers 200 again
Every payment test creates its own user and orders, so tests never depend
on each other's data, and leaves no sandbox fault behind.
"""
import base64
import json
import os
import random
import subprocess
import time

import apitest
from apitest import api, check, eq, sql, sql1

SANDBOX_PORT = int(os.environ.get("STACK_SANDBOX_PORT", "18090"))
TOSS_TIMEOUT_MS = int(os.environ.get("TOSS_TIMEOUT_MS", "15000"))
TOSS_CONNECT_TIMEOUT_MS = int(os.environ.get("TOSS_CONNECT_TIMEOUT_MS", "3000"))
# payment_lease_ms(): one gateway call plus the 5 s database margin.
LEASE_S = TOSS_TIMEOUT_MS / 1000.0 + 5.0
BUILD_DIR = os.environ.get("BUILD_DIR", os.path.join(apitest.ROOT, "build"))
MEMBERAPI_BIN = os.environ.get("MEMBERAPI_BIN", os.path.join(BUILD_DIR, "src", "memberapi"))
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer")

_AUTH = "Basic " + base64.b64encode((apitest.TOSS_SECRET_KEY + ":").encode()).decode()


def new_user(name="pay-test"):
    return int(sql1(f"INSERT INTO users (name) VALUES ('{name}') RETURNING id"))


def balance(uid):
    return int(sql1(f"SELECT point FROM users WHERE id = {int(uid)}"))


def ledger(order_id):
    """Ledger rows of one payment: [(user_id, delta, balance_after)]."""
    check(apitest_safe(order_id), "unsafe order id")
    return [(int(a), int(b), int(c)) for a, b, c in
            sql(f"SELECT user_id, delta, balance_after FROM point_ledger "
                f"WHERE payment_order_id = '{order_id}'")]


def row(order_id):
    """(status, payment_key, fail_code, points_granted) from the table."""
    check(apitest_safe(order_id), "unsafe order id")
    r = sql(f"SELECT status, coalesce(payment_key, ''), coalesce(fail_code, ''), points_granted "
            f"FROM payments WHERE order_id = '{order_id}'")
    return tuple(r[0]) if r else None


def status(order_id):
    r = row(order_id)
    return r[0] if r else None


def apitest_safe(s):
    return all(c.isalnum() or c in "-_" for c in s)


def order_id(tag="ord"):
    return f"{tag}_{time.time_ns() % 10**13}_{random.randrange(10**6):06d}"


_owners = {}


def owner_of(oid):
    """The user of a payment (cached: it never changes); a stranger's id when
    there is no such payment (its token is valid, it owns nothing)."""
    if oid in _owners:
        return _owners[oid]
    uid = sql1(f"SELECT user_id FROM payments WHERE order_id = '{oid}'") \
        if oid and apitest_safe(oid) else None
    if uid is None:
        return STRANGER
    _owners[oid] = int(uid)
    return _owners[oid]


STRANGER = 999999999999  # a user id nobody has: its token is valid and owns nothing


def as_headers(user, oid=None):
    """Authorization of user (None: the owner of oid; 0: no token)."""
    if user == 0:
        return {}
    return apitest.member(owner_of(oid) if user is None else user)


def create(oid, uid, amount, gateway="TOSS", pay_type="CARD", as_user=None, **extra):
    """POST /api/v1/payments as member uid (as_user: another member, 0: no token)."""
    body = {"orderId": oid, "userId": uid, "amount": amount, "payGateway": gateway,
            "payType": pay_type}
    body.update(extra)
    if uid is None:
        del body["userId"]
    r = api("POST", "/api/v1/payments", body,
            headers=as_headers(uid if as_user is None else as_user))
    if r.status in (200, 201) and uid:
        _owners[oid] = int(uid)
    return r


BREAKER_OPEN_MESSAGE = "the payment gateway is unavailable"


def success(oid, pk, amount, method="POST", gateway="toss", timeout=60, retry_breaker=True,
            as_user=None):
    """The success call. The gateway breaker is shared by every test: when an
    earlier test's faults left it OPEN, the API answers 503 "unavailable,
    payment unchanged, retry shortly", and a client retries; so do these
    tests (up to 60 s), unless retry_breaker is False."""
    qs = f"paymentKey={pk}&orderId={oid}&amount={amount}"
    if method == "GET":
        qs = "paymentType=NORMAL&" + qs  # as the gateway's redirect sends it
    deadline = time.time() + 60
    h = as_headers(as_user, oid)
    while True:
        r = api(method, f"/api/v1/payments/success/{gateway}?{qs}", headers=h, timeout=timeout)
        if not (retry_breaker and r.status == 503 and r.json
                and BREAKER_OPEN_MESSAGE in r.json.get("errorMessage", "")
                and time.time() < deadline):
            return r
        time.sleep(1)


def get_payment(oid, as_user=None):
    return api("GET", f"/api/v1/payments/{oid}", headers=as_headers(as_user, oid))


def fail(qs, oid=None, gateway="toss", as_user=None):
    """GET /api/v1/payments/fail/{gateway}?qs as the owner of oid."""
    return api("GET", f"/api/v1/payments/fail/{gateway}?{qs}", headers=as_headers(as_user, oid))


def sandbox(method, path, body=None, auth=False, timeout=30):
    h = {"Authorization": _AUTH} if auth else {}
    return apitest.request(SANDBOX_PORT, method, path, body, h, timeout)


def authorize(oid, amount, outcome="pay"):
    """What the widget does when the buyer pays: returns the paymentKey."""
    r = sandbox("POST", "/sim/authorize", {"orderId": oid, "amount": amount,
                                            "orderName": "포인트 충전", "outcome": outcome},
                auth=True)
    eq(r.status, 200, f"sandbox authorize {r!r}")
    return r.json["paymentKey"]


def paid_order(uid, amount=10000, tag="ord", outcome="pay"):
    oid = order_id(tag)
    r = create(oid, uid, amount)
    eq(r.status, 201, f"create {r!r}")
    return oid, authorize(oid, amount, outcome)


def fault(action, oid=None, **kw):
    body = {"action": action}
    if oid:
        body["orderId"] = oid
    body.update(kw)
    r = sandbox("POST", "/sim/faults", body)
    eq(r.status, 200, f"sandbox fault {r!r}")
    return r.json["id"]


def clear_faults():
    sandbox("DELETE", "/sim/faults")


def stats():
    return sandbox("GET", "/sim/stats").json


def confirm_calls(oid):
    return stats()["confirmCalls"].get(oid, 0)


def advance_clock(seconds):
    eq(sandbox("POST", "/sim/clock", {"advanceSeconds": seconds}).status, 200)


def reconcile(check_rc=True, **env):
    """Runs `memberapi job reconcile` once in the foreground with the pool's
    configuration (stack.sh's exports plus $STACK_DIR/pool.env, as start_pool
    does) and the overrides in env; asserts no sanitizer report."""
    extra = " ".join(f"{k}={v}" for k, v in env.items())
    cmd = ('. "$ROOT/scripts/lib/stack.sh"; set -a; . "$STACK_DIR/pool.env"; set +a; '
           f'{extra} exec "$MEMBERAPI_BIN" job reconcile')
    r = subprocess.run(["bash", "-c", cmd],
                       env=dict(os.environ, ROOT=apitest.ROOT, MEMBERAPI_BIN=MEMBERAPI_BIN),
                       capture_output=True, text=True, timeout=600)
    for m in SANITIZER_MARKS:
        check(m not in r.stderr, f"sanitizer report from the reconciler: {r.stderr[-2000:]}")
    if check_rc:
        eq(r.returncode, 0, f"reconcile exit status; stderr: {r.stderr[-500:]}")
    return r


def wait_ready(timeout=60):
    apitest.wait_until(lambda: api("GET", "/ready", timeout=5).status == 200, timeout=timeout,
                       interval=0.3, what="/ready 200")


def data_of(resp):
    """The envelope's data, re-serialised canonically (to compare answers)."""
    return json.dumps(resp.json.get("data"), sort_keys=True, ensure_ascii=False)
