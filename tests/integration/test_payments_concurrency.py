"""test_payments_concurrency.py: duplicates arriving together.

50 success calls for one order at once must call the gateway once and grant
once; parallel creates of one order make one payment; a success racing the
fail redirect ends in one consistent state. Last, nginx's rate limit on the
payment routes answers 429 in the API envelope."""
import http.client
import json
import os
import threading
import time

import apitest
from apitest import api, check, eq, is_error_envelope, test
from paytest import (TOSS_TIMEOUT_MS, balance, clear_faults, confirm_calls, create, fail, fault,
                     ledger, new_user, order_id, paid_order, status, success)


def together(n, fn):
    """Runs fn(i) in n threads released at the same moment; returns results."""
    barrier = threading.Barrier(n)
    out = [None] * n

    def run(i):
        barrier.wait()
        try:
            out[i] = fn(i)
        except Exception as e:  # noqa: BLE001 - a failed call is a result to check
            out[i] = e

    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


@test
def fifty_parallel_success_calls_confirm_once_and_grant_once():
    uid = new_user()
    amount = 23000
    oid, pk = paid_order(uid, amount, "par50")
    rs = together(50, lambda i: success(oid, pk, amount, method="POST" if i % 2 else "GET"))
    bad = [r for r in rs if not isinstance(r, apitest.Resp)]
    eq(bad, [], "every call got an answer")
    codes = sorted({r.status for r in rs})
    check(set(codes) <= {200, 409}, f"answers: {codes}")
    oks = [r for r in rs if r.status == 200]
    check(oks, "at least one call succeeded")
    eq(len({r.text for r in oks}), 1, "every 200 carries the same body")
    for r in rs:
        if r.status == 409:
            is_error_envelope(r, 409, "CONFLICT")
    eq(confirm_calls(oid), 1, "exactly one gateway confirm")
    eq(ledger(oid), [(uid, amount, amount)])
    eq(balance(uid), amount)
    eq(status(oid), "DONE")
    print(f"    50 calls: {len(oks)} x 200, {50 - len(oks)} x 409")


@test
def fifty_parallel_calls_while_the_confirm_is_in_flight():
    # The gateway takes its time: every duplicate arrives while the first
    # confirm is in flight and is answered 409 from the stored state.
    uid = new_user()
    amount = 8000
    oid, pk = paid_order(uid, amount, "par50d")
    delay = min(1500, TOSS_TIMEOUT_MS // 2)
    fault("delay", oid, delayMs=delay)
    try:
        rs = together(50, lambda i: success(oid, pk, amount))
    finally:
        clear_faults()
    codes = [r.status for r in rs]
    check(set(codes) <= {200, 409}, f"answers: {sorted(set(codes))}")
    check(codes.count(200) >= 1 and codes.count(409) >= 1, f"answers: {codes}")
    eq(confirm_calls(oid), 1, "exactly one gateway confirm")
    eq(ledger(oid), [(uid, amount, amount)])
    eq(balance(uid), amount)
    print(f"    50 calls: {codes.count(200)} x 200, {codes.count(409)} x 409")


@test
def parallel_creates_of_one_order_make_one_payment():
    uid = new_user()
    oid = order_id("parc")
    rs = together(20, lambda i: create(oid, uid, 9000))
    codes = [r.status for r in rs]
    eq(codes.count(201), 1, f"codes {codes}")
    eq(codes.count(200), 19, f"codes {codes}")
    eq(len({json.dumps(r.json["data"], sort_keys=True) for r in rs}), 1)
    eq(apitest.sql1(f"SELECT count(*) FROM payments WHERE order_id = '{oid}'"), "1")


@test
def success_racing_the_fail_redirect_ends_consistent():
    uid = new_user()
    for _ in range(5):
        oid, pk = paid_order(uid, 1000, "race")
        together(2, lambda i: success(oid, pk, 1000) if i == 0 else
                 fail(f"code=PAY_PROCESS_CANCELED&orderId={oid}", oid))
        st = status(oid)
        if st == "DONE":
            eq((confirm_calls(oid), len(ledger(oid))), (1, 1))
        else:
            eq(st, "ABORTED")
            eq((confirm_calls(oid), ledger(oid)), (0, []))
    eq(balance(uid), 1000 * int(apitest.sql1(
        f"SELECT count(*) FROM payments WHERE user_id = {uid} AND status = 'DONE'")))


@test
def payment_routes_are_rate_limited_with_429_in_the_envelope():
    rate = int(os.environ.get("STACK_PAYMENT_RATE", "200"))
    burst = int(os.environ.get("STACK_PAYMENT_BURST", "400"))
    limit = max(3 * (burst + rate), 3000)
    seen = {"sent": 0, "429": 0, "other": {}}
    sample = []
    lock = threading.Lock()
    deadline = time.time() + 20
    # a member's token, so that below the limit the pool answers (404: no such order)
    auth = apitest.member(new_user())

    def hammer():
        c = http.client.HTTPConnection("127.0.0.1", apitest.HTTP_PORT, timeout=10)
        while time.time() < deadline:
            with lock:
                if seen["sent"] >= limit or seen["429"] >= 50:
                    break
                seen["sent"] += 1
            c.request("GET", "/api/v1/payments/rl_probe_000000", headers=auth)
            r = c.getresponse()
            body = r.read()
            with lock:
                if r.status == 429:
                    seen["429"] += 1
                    if not sample:
                        sample.append(apitest.Resp(r.status, r.getheaders(), body))
                else:
                    seen["other"][r.status] = seen["other"].get(r.status, 0) + 1
            if r.getheader("Connection", "").lower() == "close":
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", apitest.HTTP_PORT, timeout=10)
        c.close()

    ts = [threading.Thread(target=hammer) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print(f"    sent {seen['sent']}: {seen['429']} x 429, others {seen['other']}")
    check(seen["429"] > 0, f"no 429 after {seen['sent']} requests")
    is_error_envelope(sample[0], 429, "SERVICE_UNAVAILABLE")
    eq(sample[0].json["status"], "TOO_MANY_REQUESTS")
    eq(set(seen["other"]), {404}, "below the limit the pool answered")
    # other routes are not limited by the payment zone
    uid = new_user()
    rs = together(20, lambda i: api("GET", f"/api/v1/users/{uid}/points", headers=apitest.member(uid)))
    eq({r.status for r in rs}, {200})
    # let the bucket refill for whatever runs next
    time.sleep(burst / rate + 1)
    eq(api("GET", "/api/v1/payments/rl_probe_000000", headers=auth).status, 404)
