"""test_points.py: the points endpoints (API.md "Users and points") through
nginx: balance, history pagination, and the operator's adjustment on the
admin listener (auth, idempotency key, never below zero)."""
import json
import threading
import time

import apitest
from apitest import admin, api, check, eq, is_error_envelope, is_unauthorized, member, sql1, test
from paytest import balance, new_user

PATCH = "/internal/v1/users/points"


def bearer(token=None):
    return {"Authorization": "Bearer " + (token or apitest.admin_token())}


def adjust(uid, amount, key, reason="manual adjustment", headers=None):
    body = {"userId": uid, "amount": amount, "reason": reason, "idempotencyKey": key}
    return admin("PATCH", PATCH, body, headers=headers if headers is not None else bearer())


def key(tag):
    return f"{tag}-{time.time_ns()}"


@test
def balance_of_a_user():
    uid = new_user()
    r = api("GET", f"/api/v1/users/{uid}/points", headers=member(uid))
    eq(r.status, 200)
    eq(r.json["data"], {"userId": uid, "point": 0})
    eq(r.json["code"], 200)
    eq(r.json["status"], "OK")


@test
def balance_of_unknown_and_malformed_users():
    # a valid token whose sub names no user: 404 on that user's routes
    nobody = member(999999999999)
    is_error_envelope(api("GET", "/api/v1/users/999999999999/points", headers=nobody), 404,
                      "NO_RESOURCE")
    is_error_envelope(api("GET", "/api/v1/users/999999999999/points/history", headers=nobody),
                      404, "NO_RESOURCE")
    # with a valid token, a malformed id is 400 (the path is checked after the token)
    for bad in ("0", "abc", "99999999999999999999", "-1"):
        is_error_envelope(api("GET", f"/api/v1/users/{bad}/points", headers=member(1)), 400,
                          "INVALID_PARAMETER")
        is_unauthorized(api("GET", f"/api/v1/users/{bad}/points"))


@test
def points_belong_to_their_member():
    uid, other = new_user(), new_user()
    for path in (f"/api/v1/users/{uid}/points", f"/api/v1/users/{uid}/points/history"):
        is_unauthorized(api("GET", path))
        is_unauthorized(api("GET", path, headers={"Authorization": "Basic dXNlcjpwYXNz"}))
        is_unauthorized(api("GET", path, headers={"Authorization": "Bearer not-a-jwt"}))
        is_unauthorized(api("GET", path, headers={"Authorization": "Bearer " + apitest.admin_token()}))
        r = api("GET", path, headers=member(other))
        is_error_envelope(r, 403, "FORBIDDEN")
        check("api/v1" not in r.json["errorMessage"], r.json["errorMessage"])
        eq(api("GET", path, headers=member(uid)).status, 200)
    # ownership comes before existence: another member asking about a user
    # that does not exist is 403, not 404
    is_error_envelope(api("GET", "/api/v1/users/999999999998/points", headers=member(other)),
                      403, "FORBIDDEN")


@test
def support_reads_points_on_the_admin_listener():
    uid = new_user()
    eq(adjust(uid, 1200, key("support")).status, 200)
    r = admin("GET", f"/internal/v1/users/{uid}/points", headers=bearer())
    eq(r.status, 200, repr(r))
    eq(r.json["data"], {"userId": uid, "point": 1200})
    r = admin("GET", f"/internal/v1/users/{uid}/points")
    is_error_envelope(r, 401, "UNAUTHORIZED")
    is_error_envelope(admin("GET", f"/internal/v1/users/{uid}/points", headers=member(uid)), 403,
                      "FORBIDDEN")
    is_error_envelope(admin("GET", "/internal/v1/users/999999999999/points", headers=bearer()),
                      404, "NO_RESOURCE")
    is_error_envelope(admin("GET", "/internal/v1/users/x/points", headers=bearer()), 400,
                      "INVALID_PARAMETER")
    # never on the public listener
    eq(api("GET", f"/internal/v1/users/{uid}/points", headers=bearer()).status, 404)


@test
def admin_adjustment_changes_balance_and_ledger():
    uid = new_user()
    r = adjust(uid, 1500, key("grant"), "이벤트 적립")
    eq(r.status, 200, repr(r))
    d = r.json["data"]
    eq((d["userId"], d["amount"], d["point"], d["reason"]), (uid, 1500, 1500, "이벤트 적립"))
    check(isinstance(d["ledgerId"], int) and len(d["createdAt"]) == 19, repr(d))
    eq(balance(uid), 1500)
    r = adjust(uid, -500, key("take"))
    eq(r.json["data"]["point"], 1000)
    eq(balance(uid), 1000)
    eq(api("GET", f"/api/v1/users/{uid}/points", headers=member(uid)).json["data"]["point"], 1000)
    # the ledger replays the balance
    eq(sql1(f"SELECT sum(delta) FROM point_ledger WHERE user_id = {uid}"), "1000")


@test
def admin_idempotency_key_replays_the_first_result():
    uid = new_user()
    k = key("once")
    first = adjust(uid, 700, k)
    eq(first.status, 200)
    check(first.header("Idempotent-Replayed") is None, "first answer is not a replay")
    again = adjust(uid, 700, k)
    eq(again.status, 200)
    eq(again.json["data"], first.json["data"])
    eq(again.header("Idempotent-Replayed"), "true")
    eq(balance(uid), 700)
    eq(sql1(f"SELECT count(*) FROM point_ledger WHERE user_id = {uid}"), "1")


@test
def admin_idempotency_key_with_another_body_is_409():
    uid, other_uid = new_user(), new_user()
    k = key("reuse")
    first = adjust(uid, 700, k, "first reason")
    eq(first.status, 200, repr(first))
    # the same key for another adjustment: not a retry, so not replayed
    for body in ({"userId": uid, "amount": 99999, "reason": "first reason"},
                 {"userId": uid, "amount": 700, "reason": "another reason"},
                 {"userId": other_uid, "amount": 700, "reason": "first reason"},
                 {"userId": uid, "amount": -700, "reason": "first reason"}):
        r = adjust(body["userId"], body["amount"], k, body["reason"])
        is_error_envelope(r, 409, "CONFLICT")
        check(k in r.json["errorMessage"], r.json["errorMessage"])
        check(r.header("Idempotent-Replayed") is None, "a conflict is not a replay")
    eq(balance(uid), 700)
    eq(balance(other_uid), 0)
    eq(sql1(f"SELECT count(*) FROM point_ledger WHERE idempotency_key = '{k}'"), "1")
    # the original request still replays
    again = adjust(uid, 700, k, "first reason")
    eq(again.status, 200)
    eq(again.json["data"], first.json["data"])


@test
def admin_idempotency_key_under_concurrency():
    uid = new_user()
    k = key("race")
    answers = []

    def go():
        answers.append(adjust(uid, 300, k))

    ts = [threading.Thread(target=go) for _ in range(12)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    eq(sorted({a.status for a in answers}), [200])
    eq(len({json.dumps(a.json["data"], sort_keys=True) for a in answers}), 1)
    eq(balance(uid), 300)
    eq(sql1(f"SELECT count(*) FROM point_ledger WHERE user_id = {uid}"), "1")


@test
def admin_idempotency_key_raced_with_two_bodies():
    uid = new_user()
    k = key("race2")
    answers = []

    def go(amount):
        answers.append((amount, adjust(uid, amount, k)))

    ts = [threading.Thread(target=go, args=(100 if i % 2 else 200,)) for i in range(12)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    won = [a for a, r in answers if r.status == 200]
    eq(len(set(won)), 1, f"one body wins: {[(a, r.status) for a, r in answers]}")
    for a, r in answers:
        if a != won[0]:
            is_error_envelope(r, 409, "CONFLICT")
    eq(balance(uid), won[0])
    eq(sql1(f"SELECT count(*) FROM point_ledger WHERE user_id = {uid}"), "1")


@test
def admin_adjustment_never_below_zero():
    uid = new_user()
    adjust(uid, 100, key("seed"))
    r = adjust(uid, -101, key("over"))
    is_error_envelope(r, 409, "CONFLICT")
    eq(balance(uid), 100)
    eq(sql1(f"SELECT count(*) FROM point_ledger WHERE user_id = {uid}"), "1")
    eq(adjust(uid, -100, key("exact")).json["data"]["point"], 0)
    is_error_envelope(adjust(uid, -1, key("zero")), 409, "CONFLICT")
    eq(balance(uid), 0)


@test
def admin_adjustment_for_unknown_user():
    is_error_envelope(adjust(999999999999, 10, key("nouser")), 404, "NO_RESOURCE")


@test
def admin_route_only_on_the_admin_listener():
    uid = new_user()
    body = {"userId": uid, "amount": 10, "reason": "r", "idempotencyKey": key("pub")}
    r = api("PATCH", PATCH, body, headers=bearer())
    is_error_envelope(r, 404, "NO_RESOURCE")
    eq(balance(uid), 0)


@test
def admin_route_needs_the_bearer_token():
    uid = new_user()
    is_error_envelope(adjust(uid, 10, key("a"), headers={}), 401, "UNAUTHORIZED")
    is_error_envelope(adjust(uid, 10, key("b"), headers={"Authorization": "Basic eDp5"}), 401,
                      "UNAUTHORIZED")
    is_error_envelope(adjust(uid, 10, key("c"), headers=bearer("not-the-admin-token-at-all")),
                      403, "FORBIDDEN")
    eq(balance(uid), 0)


@test
def admin_adjustment_rejects_bad_bodies():
    uid = new_user()
    bad = [
        "",
        "not json",
        "[]",
        {"userId": uid, "amount": 10, "reason": "r"},
        {"userId": uid, "amount": 0, "reason": "r", "idempotencyKey": "k1"},
        {"userId": uid, "amount": 1.5, "reason": "r", "idempotencyKey": "k1"},
        {"userId": str(uid), "amount": 10, "reason": "r", "idempotencyKey": "k1"},
        {"userId": uid, "amount": 10, "reason": " ", "idempotencyKey": "k1"},
        {"userId": uid, "amount": 10, "reason": "r", "idempotencyKey": "has space"},
        {"userId": uid, "amount": 10, "reason": "r", "idempotencyKey": "k1", "extra": True},
        '{"userId": %d, "amount": 10, "amount": 10000, "reason": "r", "idempotencyKey": "k1"}' % uid,
        '{"userId": %d, "amount": 10, "reason": "r", "idempotencyKey": "k1"} trailing' % uid,
    ]
    for b in bad:
        h = dict(bearer(), **{"Content-Type": "application/json"})
        r = admin("PATCH", PATCH, b, headers=h)
        is_error_envelope(r, 400, "INVALID_PARAMETER")
    r = admin("PATCH", PATCH, '{"userId":1}', headers=dict(bearer(), **{"Content-Type": "text/plain"}))
    is_error_envelope(r, 415, "UNSUPPORTED_MEDIA_TYPE")
    eq(balance(uid), 0)


@test
def history_is_paginated_newest_first():
    uid = new_user()
    for i in range(1, 6):
        eq(adjust(uid, i * 100, key(f"h{i}"), f"step {i}").status, 200)
    r = api("GET", f"/api/v1/users/{uid}/points/history?page=0&size=2", headers=member(uid))
    eq(r.status, 200)
    d = r.json["data"]
    eq((d["page"], d["size"], d["totalElements"], d["totalPages"], d["hasNext"]),
       (0, 2, 5, 3, True))
    eq(d["nextCursor"], None)
    eq([c["delta"] for c in d["contents"]], [500, 400])
    c = d["contents"][0]
    eq(sorted(c), ["createdAt", "delta", "id", "paymentOrderId", "reason"])
    eq((c["reason"], c["paymentOrderId"]), ("step 5", None))
    last = api("GET", f"/api/v1/users/{uid}/points/history?page=2&size=2", headers=member(uid)).json["data"]
    eq(([x["delta"] for x in last["contents"]], last["hasNext"]), ([100], False))
    beyond = api("GET", f"/api/v1/users/{uid}/points/history?page=9&size=2", headers=member(uid)).json["data"]
    eq((beyond["contents"], beyond["totalElements"]), ([], 5))
    default = api("GET", f"/api/v1/users/{uid}/points/history", headers=member(uid)).json["data"]
    eq((default["page"], default["size"], len(default["contents"])), (0, 10, 5))
    ids = [x["id"] for x in default["contents"]]
    eq(ids, sorted(ids, reverse=True))


@test
def history_rejects_bad_paging():
    uid = new_user()
    for qs in ("page=-1", "page=x", "size=0", "size=101", "size=1&size=2", "page=100001"):
        is_error_envelope(api("GET", f"/api/v1/users/{uid}/points/history?{qs}", headers=member(uid)), 400,
                          "INVALID_PARAMETER")
