"""test_payments.py: API.md "Payments (point top-up)" rule by rule, through
nginx against the gateway sandbox: create (validation, idempotent replay,
409), success rules 1-7, fail, GET, and the reconciler's READY expiry and
missing-grant repair. Concurrency, faults, the sweep and nginx's limits have
files of their own."""
import os
import subprocess

from apitest import (admin_token, api, check, eq, is_error_envelope, is_unauthorized, member, sql,
                     sql1, test)
from paytest import (MEMBERAPI_BIN, advance_clock, balance, clear_faults, confirm_calls, create,
                     fail, fault, get_payment, ledger, new_user, order_id, paid_order,
                     reconcile, row, stats, status, success)


# ---- create ---------------------------------------------------------------

@test
def create_answers_201_with_the_payment():
    uid = new_user()
    oid = order_id("cr")
    r = create(oid, uid, 10000)
    eq(r.status, 201, repr(r))
    eq((r.json["code"], r.json["status"]), (201, "CREATED"))
    d = r.json["data"]
    eq((d["orderId"], d["amount"], d["payGateway"], d["payType"], d["userId"], d["status"]),
       (oid, 10000, "TOSS", "CARD", uid, "READY"))
    check(d["successUrl"].endswith("/api/v1/payments/success/toss"), d["successUrl"])
    check(d["failUrl"].endswith("/api/v1/payments/fail/toss"), d["failUrl"])
    check(len(d["createdAt"]) == 19 and d["createdAt"][10] == " ", d["createdAt"])
    eq(get_payment(oid).json["data"], d)
    eq(status(oid), "READY")


@test
def create_same_body_again_is_an_idempotent_200():
    uid = new_user()
    oid = order_id("cr")
    first = create(oid, uid, 5000)
    again = create(oid, uid, 5000)
    eq(again.status, 200)
    eq(again.json["data"], first.json["data"])
    eq(sql1(f"SELECT count(*) FROM payments WHERE order_id = '{oid}'"), "1")


@test
def create_same_order_with_another_body_is_409():
    uid, other = new_user(), new_user()
    oid = order_id("cr")
    eq(create(oid, uid, 5000).status, 201)
    is_error_envelope(create(oid, uid, 5001), 409, "CONFLICT")
    is_error_envelope(create(oid, other, 5000), 409, "CONFLICT")
    is_error_envelope(create(oid, uid, 5000, pay_type="EASY_PAY"), 409, "CONFLICT")
    eq(get_payment(oid).json["data"]["amount"], 5000)


@test
def create_validates_the_body():
    uid = new_user()
    oid = order_id("cv")
    good = {"orderId": oid, "userId": uid, "amount": 1000, "payGateway": "TOSS",
            "payType": "CARD"}
    bad = [
        dict(good, orderId="short"),
        dict(good, orderId="has space 123"),
        dict(good, orderId="x" * 65),
        dict(good, amount=0),
        dict(good, amount=-5),
        dict(good, amount=10000001),
        dict(good, amount=1000.0),
        dict(good, amount="1000"),
        dict(good, userId=0),
        dict(good, userId="1"),
        dict(good, payGateway="PAYPAL"),
        dict(good, payGateway="KAKAO"),  # a known name, not available yet
        dict(good, payGateway="toss"),
        dict(good, payType="VIRTUAL_ACCOUNT"),  # waits for a deposit: not taken
        dict(good, payType=""),
        dict(good, extra=1),
        {k: v for k, v in good.items() if k != "amount"},
        "[]",
        "{",
        '{"orderId": "%s", "userId": %d, "amount": 1, "amount": 1000, "payGateway": "TOSS", '
        '"payType": "CARD"}' % (oid, uid),
    ]
    for b in bad:
        r = api("POST", "/api/v1/payments", b, headers=member(uid, {"Content-Type": "application/json"}))
        is_error_envelope(r, 400, "INVALID_PARAMETER")
    r = api("POST", "/api/v1/payments", "orderId=x", headers=member(uid, {"Content-Type": "text/plain"}))
    is_error_envelope(r, 415, "UNSUPPORTED_MEDIA_TYPE")
    is_error_envelope(create(oid, 999999999999, 1000), 404, "NO_RESOURCE")
    eq(sql1(f"SELECT count(*) FROM payments WHERE order_id = '{oid}'"), "0")
    eq(create(oid, uid, 10000000).status, 201)  # the default PAYMENT_MAX_AMOUNT


# ---- success: rule 1 (unknown order, amount first) ------------------------

@test
def rule1_unknown_order_is_404():
    r = success(order_id("nx"), "tgen_whatever", 1000)
    is_error_envelope(r, 404, "NO_RESOURCE")


@test
def rule1_tampered_amount_is_400_and_nothing_is_called():
    uid = new_user()
    oid, pk = paid_order(uid, 10000, "tamper")
    r = success(oid, pk, 100)
    is_error_envelope(r, 400, "INVALID_PARAMETER")
    eq(confirm_calls(oid), 0, "the gateway was not called")
    eq(status(oid), "READY")
    eq(balance(uid), 0)
    # the real buyer can still finish the payment
    eq(success(oid, pk, 10000).status, 200)
    eq(balance(uid), 10000)
    # and a tampered amount on a DONE payment is still refused first
    is_error_envelope(success(oid, pk, 10001), 400, "INVALID_PARAMETER")


@test
def success_validates_its_parameters():
    uid = new_user()
    oid, pk = paid_order(uid, 1000, "param")
    for qs in ("", f"orderId={oid}&amount=1000", f"paymentKey={pk}&amount=1000",
               f"paymentKey={pk}&orderId={oid}", f"paymentKey={pk}&orderId={oid}&amount=abc",
               f"paymentKey={pk}&orderId={oid}&amount=0", f"paymentKey=a%2Fb&orderId={oid}&amount=1000",
               f"paymentKey={pk}&orderId=bad&amount=1000",
               f"paymentKey={pk}&orderId={oid}&amount=1000&amount=1000"):
        is_error_envelope(api("POST", f"/api/v1/payments/success/toss?{qs}", headers=member(uid)),
                          400, "INVALID_PARAMETER")
    is_error_envelope(success(oid, pk, 1000, gateway="paypal"), 404, "NO_RESOURCE")
    # a HEAD (link checkers, prefetchers) neither confirms nor aborts
    eq(api("HEAD", f"/api/v1/payments/success/toss?paymentKey={pk}&orderId={oid}"
                   f"&amount=1000").status, 405)
    eq(api("HEAD", f"/api/v1/payments/fail/toss?code=X&orderId={oid}").status, 405)
    eq(confirm_calls(oid), 0)
    eq(status(oid), "READY")


# ---- success: rules 3 and 4 (confirm, DONE, one grant) --------------------

@test
def rule4_success_confirms_and_grants_once():
    uid = new_user()
    oid, pk = paid_order(uid, 15000, "ok")
    r = success(oid, pk, 15000)
    eq(r.status, 200, repr(r))
    d = r.json["data"]
    eq(sorted(d), ["amount", "approvedAt", "method", "orderId", "pointBalance", "requestedAt",
                   "status"])
    eq((d["orderId"], d["amount"], d["method"], d["status"], d["pointBalance"]),
       (oid, 15000, "CARD", "DONE", 15000))
    check(len(d["approvedAt"]) == 19 and len(d["requestedAt"]) == 19, repr(d))
    eq(row(oid), ("DONE", pk, "", "t"))
    eq(ledger(oid), [(uid, 15000, 15000)])
    eq(balance(uid), 15000)
    eq(confirm_calls(oid), 1)
    h = api("GET", f"/api/v1/users/{uid}/points/history", headers=member(uid)).json["data"]["contents"]
    eq((h[0]["delta"], h[0]["paymentOrderId"]), (15000, oid))
    g = get_payment(oid).json["data"]
    eq((g["status"], g["method"], g["approvedAt"]), ("DONE", "CARD", d["approvedAt"]))


@test
def rule4_the_gateway_redirect_form_works_too():
    # successUrl points at this route: the browser lands here with GET
    uid = new_user()
    oid, pk = paid_order(uid, 3000, "get")
    r = success(oid, pk, 3000, method="GET")
    eq(r.status, 200, repr(r))
    eq(r.json["data"]["status"], "DONE")
    eq(balance(uid), 3000)


@test
def rule4_second_top_up_adds_to_the_balance():
    uid = new_user()
    for amount in (1000, 2500):
        oid, pk = paid_order(uid, amount, "twice")
        eq(success(oid, pk, amount).status, 200)
    eq(balance(uid), 3500)
    eq(sql1(f"SELECT string_agg(balance_after::text, ',' ORDER BY id) FROM point_ledger "
            f"WHERE user_id = {uid}"), "1000,3500")


# ---- success: rule 5 (refusals -> ABORTED, the gateway's class) -----------

@test
def rule5_card_declined_is_aborted_with_the_gateway_code():
    uid = new_user()
    oid, pk = paid_order(uid, 20000, "rej", outcome="reject")
    r = success(oid, pk, 20000)
    is_error_envelope(r, 403, "EXTERNAL_API_ERROR")
    eq(r.json["pgCode"], "REJECT_CARD_COMPANY")
    check(r.json["pgMessage"], "pgMessage")
    eq(row(oid)[0::2], ("ABORTED", "REJECT_CARD_COMPANY"))
    eq(balance(uid), 0)
    eq(ledger(oid), [])


@test
def rule5_refusal_classes_400_401_404():
    uid = new_user()
    try:
        for code, http in (("INVALID_CARD_NUMBER", 400), ("UNAUTHORIZED_KEY", 401)):
            oid, pk = paid_order(uid, 1000, "cls")
            fault("error", oid, code=code)
            r = success(oid, pk, 1000)
            is_error_envelope(r, http, "EXTERNAL_API_ERROR")
            eq(r.json["pgCode"], code)
            eq(status(oid), "ABORTED")
        # the 10-minute confirm window of the gateway
        oid, pk = paid_order(uid, 1000, "late")
        advance_clock(11 * 60)
        r = success(oid, pk, 1000)
        is_error_envelope(r, 404, "EXTERNAL_API_ERROR")
        eq(r.json["pgCode"], "NOT_FOUND_PAYMENT_SESSION")
        eq(status(oid), "ABORTED")
        eq(balance(uid), 0)
    finally:
        clear_faults()


# ---- success: rule 6 (5xx/timeout/network -> UNKNOWN, 502/504) -------------

@test
def rule6_gateway_5xx_is_unknown_502_and_no_points():
    uid = new_user()
    oid, pk = paid_order(uid, 7000, "5xx")
    try:
        fault("error5xx", oid)
        r = success(oid, pk, 7000)
        is_error_envelope(r, 502, "EXTERNAL_API_ERROR")
        eq(r.json["pgCode"], "FAILED_INTERNAL_SYSTEM_PROCESSING")
        eq(status(oid), "UNKNOWN")
        eq(get_payment(oid).json["data"]["status"], "UNKNOWN")
        eq((balance(uid), ledger(oid)), (0, []))
    finally:
        clear_faults()
    # settled by the reconciler: the gateway approved nothing, so it confirms
    # again under the stored Idempotency-Key
    reconcile(RECONCILE_MIN_AGE_S=0)
    eq(status(oid), "DONE")
    eq(ledger(oid), [(uid, 7000, 7000)])


@test
def rule6_buyer_retry_after_unknown_reuses_the_idempotency_key():
    uid = new_user()
    oid, pk = paid_order(uid, 4000, "retry")
    try:
        fault("approve_then_500", oid)  # approved at the gateway, answer lost
        is_error_envelope(success(oid, pk, 4000), 502, "EXTERNAL_API_ERROR")
        eq(status(oid), "UNKNOWN")
    finally:
        clear_faults()
    r = success(oid, pk, 4000)  # the front end tries again
    eq(r.status, 200, repr(r))
    eq(r.json["data"]["pointBalance"], 4000)
    # the same key: the gateway replayed its first answer, it did not approve twice
    eq(stats()["confirmReplays"].get(oid), 1)
    eq(confirm_calls(oid), 2)
    eq(ledger(oid), [(uid, 4000, 4000)])


@test
def rule6_unknown_payment_refuses_another_payment_key():
    uid = new_user()
    oid, pk = paid_order(uid, 4000, "unk2")
    try:
        fault("error5xx", oid)
        eq(success(oid, pk, 4000).status, 502)
    finally:
        clear_faults()
    is_error_envelope(success(oid, "tgen_someoneelse", 4000), 409, "CONFLICT")
    eq(confirm_calls(oid), 1)
    reconcile(RECONCILE_MIN_AGE_S=0)
    eq(status(oid), "DONE")


# ---- success: rule 7 (repeats) --------------------------------------------

@test
def rule7_done_again_returns_the_same_body_without_the_gateway():
    uid = new_user()
    oid, pk = paid_order(uid, 12000, "rep")
    first = success(oid, pk, 12000)
    eq(first.status, 200)
    calls = confirm_calls(oid)
    for method in ("POST", "GET"):
        again = success(oid, pk, 12000, method=method)
        eq(again.status, 200)
        eq(again.text, first.text, "byte-for-byte the first answer")
    eq(confirm_calls(oid), calls, "no gateway call for a DONE payment")
    # later top-ups do not change this payment's recorded answer
    oid2, pk2 = paid_order(uid, 1000, "rep")
    eq(success(oid2, pk2, 1000).json["data"]["pointBalance"], 13000)
    eq(success(oid, pk, 12000).text, first.text)
    is_error_envelope(success(oid, "tgen_another", 12000), 409, "CONFLICT")
    eq(ledger(oid), [(uid, 12000, 12000)])


@test
def rule7_aborted_and_expired_are_409():
    uid = new_user()
    oid, pk = paid_order(uid, 1000, "ab", outcome="reject")
    eq(success(oid, pk, 1000).status, 403)
    calls = confirm_calls(oid)
    is_error_envelope(success(oid, pk, 1000), 409, "CONFLICT")
    eq(confirm_calls(oid), calls)
    # a READY payment past the gateway's 30 minutes expires
    oid2, pk2 = paid_order(uid, 1000, "ex")
    sql(f"UPDATE payments SET requested_at = now() - interval '31 minutes' "
        f"WHERE order_id = '{oid2}'")
    reconcile()
    eq(row(oid2)[0::2], ("EXPIRED", "PAYMENT_EXPIRED"))
    is_error_envelope(success(oid2, pk2, 1000), 409, "CONFLICT")
    eq(confirm_calls(oid2), 0)
    eq(balance(uid), 0)


# ---- fail redirect ----------------------------------------------------------

@test
def fail_marks_a_ready_payment_aborted():
    uid = new_user()
    oid = order_id("fail")
    eq(create(oid, uid, 1000).status, 201)
    r = fail(f"code=PAY_PROCESS_CANCELED"
             f"&message=%EC%82%AC%EC%9A%A9%EC%9E%90+%EC%B7%A8%EC%86%8C&orderId={oid}", oid)
    is_error_envelope(r, 400, "EXTERNAL_API_ERROR")
    eq(r.json["data"], {"code": "PAY_PROCESS_CANCELED", "message": "사용자 취소", "orderId": oid})
    eq((r.json["pgCode"], r.json["pgMessage"]), ("PAY_PROCESS_CANCELED", "사용자 취소"))
    eq(row(oid)[0::2], ("ABORTED", "PAY_PROCESS_CANCELED"))
    eq(get_payment(oid).json["data"]["failMessage"], "사용자 취소")


@test
def fail_without_order_changes_nothing():
    r = fail("code=PAY_PROCESS_CANCELED&message=closed", as_user=new_user())
    is_error_envelope(r, 400, "EXTERNAL_API_ERROR")
    eq(r.json["data"], {"code": "PAY_PROCESS_CANCELED", "message": "closed", "orderId": None})


@test
def fail_cannot_undo_a_done_payment():
    uid = new_user()
    oid, pk = paid_order(uid, 1000, "fdone")
    eq(success(oid, pk, 1000).status, 200)
    r = fail(f"code=PAY_PROCESS_ABORTED&orderId={oid}", oid)
    eq(r.status, 400)
    eq(status(oid), "DONE")
    eq(balance(uid), 1000)


@test
def fail_validates_its_parameters():
    uid = new_user()
    is_error_envelope(fail("message=x", as_user=uid), 400, "INVALID_PARAMETER")
    is_error_envelope(fail("code=bad+code", as_user=uid), 400, "INVALID_PARAMETER")
    is_error_envelope(fail("code=X&orderId=no", as_user=uid), 400, "INVALID_PARAMETER")
    is_error_envelope(fail("code=X", gateway="paypal", as_user=uid), 404, "NO_RESOURCE")


# ---- GET /payments/{orderId} -------------------------------------------------

@test
def get_payment_unknown_and_malformed():
    is_error_envelope(get_payment(order_id("none")), 404, "NO_RESOURCE")
    is_error_envelope(api("GET", "/api/v1/payments/abc", headers=member(new_user())), 400,
                      "INVALID_PARAMETER")


# ---- reconciler: missing grants ---------------------------------------------

@test
def reconciler_grants_a_done_payment_without_its_grant_once():
    # An operator marked a payment DONE by hand (e.g. after asking the
    # gateway's support): the reconciler adds the missing grant, once.
    uid = new_user()
    oid = order_id("repair")
    sql(f"INSERT INTO payments (order_id, user_id, amount, status, gateway, pay_type, "
        f"payment_key, method, approved_at) VALUES ('{oid}', {uid}, 2500, 'DONE', 'TOSS', "
        f"'CARD', 'tgen_manual_{oid}', 'CARD', now())")
    reconcile()
    eq(ledger(oid), [(uid, 2500, 2500)])
    eq(row(oid)[3], "t")
    reconcile()
    eq(ledger(oid), [(uid, 2500, 2500)])
    eq(balance(uid), 2500)
    # and its success answer carries the recorded balance
    r = success(oid, f"tgen_manual_{oid}", 2500)
    eq((r.status, r.json["data"]["pointBalance"]), (200, 2500))


@test
def reconciler_leaves_young_ready_payments_alone():
    uid = new_user()
    oid = order_id("young")
    eq(create(oid, uid, 1000).status, 201)
    reconcile()
    eq(status(oid), "READY")


# ---- configuration ------------------------------------------------------------

def check_config(**env):
    r = subprocess.run([MEMBERAPI_BIN, "check-config"], capture_output=True, text=True,
                       env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LOG_FILE": "-",
                            "MEMBER_JWT_SECRET": "payments-test-member-jwt-secret-0123456789",
                            **env}, timeout=60)
    return r.returncode, r.stdout + r.stderr


@test
def gateway_configuration_is_checked_at_start():
    # no secret: the server starts, the gateway takes no payment (503)
    rc, out = check_config()
    eq(rc, 0, out[-300:])
    check("event=gateway_not_configured gateway=TOSS" in out, out[-500:])
    # a live key never crosses the network in clear text
    rc, out = check_config(TOSS_API_BASE="http://pg.example.com", TOSS_SECRET_KEY="live_sk_secret1")
    check(rc != 0 and "TOSS_API_BASE" in out and "live_sk_secret1" not in out, out[-300:])
    # a key that would break Basic auth; the message does not echo it
    rc, out = check_config(TOSS_SECRET_KEY="test_sk_a:b")
    check(rc != 0 and "TOSS_SECRET_KEY" in out and "test_sk_a:b" not in out, out[-300:])
    rc, out = check_config(TOSS_SECRET_KEY="test_sk_ok", TOSS_CONNECT_TIMEOUT_MS="9000",
                           TOSS_TIMEOUT_MS="5000")
    check(rc != 0 and "TOSS_CONNECT_TIMEOUT_MS" in out, out[-300:])
    rc, out = check_config(TOSS_SECRET_KEY="test_sk_ok", PAYMENT_MAX_AMOUNT="0")
    check(rc != 0 and "PAYMENT_MAX_AMOUNT" in out, out[-300:])
    rc, out = check_config(TOSS_SECRET_KEY="test_sk_ok")
    eq(rc, 0, out[-300:])
    check("key=TOSS_SECRET_KEY value=(set)" in out and "test_sk_ok" not in out, out[-500:])


# ---- authorization (API.md "Members and authorization") ---------------------

@test
def create_takes_the_member_from_the_token():
    uid, other = new_user(), new_user()
    oid = order_id("own")
    # no token: 401, nothing created
    is_unauthorized(create(oid, uid, 1000, as_user=0))
    # another member's userId: 403, nothing created
    is_error_envelope(create(oid, uid, 1000, as_user=other), 403, "FORBIDDEN")
    eq(sql1(f"SELECT count(*) FROM payments WHERE order_id = '{oid}'"), "0")
    # userId omitted: the token's member
    r = create(oid, None, 1000, as_user=uid)
    eq(r.status, 201, repr(r))
    eq(r.json["data"]["userId"], uid)
    eq(sql1(f"SELECT user_id FROM payments WHERE order_id = '{oid}'"), str(uid))
    # the same request again (with or without userId) is the idempotent replay
    eq(create(oid, uid, 1000).status, 200)
    eq(create(oid, None, 1000, as_user=uid).status, 200)


@test
def payments_are_read_and_confirmed_by_their_owner_only():
    uid, other = new_user(), new_user()
    oid, pk = paid_order(uid, 3000, "owner")
    # read: 401 without a token, 403 for another member, 200 for the owner
    is_unauthorized(get_payment(oid, as_user=0))
    is_error_envelope(get_payment(oid, as_user=other), 403, "FORBIDDEN")
    eq(get_payment(oid).status, 200)
    # confirm (POST and GET) and fail: refused before anything is called or changed
    for method in ("POST", "GET"):
        is_unauthorized(success(oid, pk, 3000, method=method, as_user=0))
        is_error_envelope(success(oid, pk, 3000, method=method, as_user=other), 403, "FORBIDDEN")
    is_unauthorized(fail(f"code=PAY_PROCESS_CANCELED&orderId={oid}", oid, as_user=0))
    is_error_envelope(fail(f"code=PAY_PROCESS_CANCELED&orderId={oid}", oid, as_user=other), 403,
                      "FORBIDDEN")
    eq(confirm_calls(oid), 0, "the gateway was not called")
    eq(status(oid), "READY")
    eq((balance(uid), balance(other)), (0, 0))
    # the owner confirms
    eq(success(oid, pk, 3000).status, 200)
    eq(balance(uid), 3000)
    # a DONE payment's success answer is not replayed to another member
    is_error_envelope(success(oid, pk, 3000, as_user=other), 403, "FORBIDDEN")


@test
def payment_routes_check_token_then_path_then_owner_then_existence():
    uid = new_user()
    # no token and a malformed orderId: the token first
    is_unauthorized(api("GET", "/api/v1/payments/abc"))
    is_unauthorized(api("POST", "/api/v1/payments/success/toss?paymentKey=k&orderId=x&amount=1"))
    # a token and a malformed orderId: 400
    is_error_envelope(api("GET", "/api/v1/payments/abc", headers=member(uid)), 400,
                      "INVALID_PARAMETER")
    # a token and an unknown orderId: 404
    is_error_envelope(get_payment(order_id("none"), as_user=uid), 404, "NO_RESOURCE")
    is_error_envelope(success(order_id("none"), "tgen_x", 1000, as_user=uid), 404, "NO_RESOURCE")
    # a token for a user that does not exist, creating for itself: 404
    is_error_envelope(create(order_id("ghost"), 999999999999, 1000), 404, "NO_RESOURCE")
    # the webhook-free routes all want the token: a stray admin token is no member token
    is_unauthorized(api("GET", f"/api/v1/payments/{order_id('x')}",
                        headers={"Authorization": "Bearer " + admin_token()}))


@test
def support_reads_any_payment_on_the_admin_listener():
    import apitest
    uid = new_user()
    oid = order_id("support")
    eq(create(oid, uid, 2000).status, 201)
    adm = {"Authorization": "Bearer " + apitest.admin_token()}
    r = apitest.admin("GET", f"/internal/v1/payments/{oid}", headers=adm)
    eq(r.status, 200, repr(r))
    eq(r.json["data"], get_payment(oid).json["data"])
    is_error_envelope(apitest.admin("GET", f"/internal/v1/payments/{oid}"), 401, "UNAUTHORIZED")
    is_error_envelope(apitest.admin("GET", f"/internal/v1/payments/{oid}", headers=member(uid)),
                      403, "FORBIDDEN")
    is_error_envelope(apitest.admin("GET", f"/internal/v1/payments/{order_id('none')}",
                                    headers=adm), 404, "NO_RESOURCE")
    is_error_envelope(apitest.admin("GET", "/internal/v1/payments/abc", headers=adm), 400,
                      "INVALID_PARAMETER")
    eq(api("GET", f"/internal/v1/payments/{oid}", headers=adm).status, 404)
