"""Tests for tests/sandbox/gateway_sandbox.py (the Toss Payments sandbox).

Run from the repository root:
    /usr/bin/python3 -m unittest tests/sandbox/test_sandbox.py -v

Starts the sandbox as a subprocess on a free loopback port (--port 0; the port
is read from its first stdout line) and stops it by its PID at the end.
Standard library only; all traffic goes to 127.0.0.1.
"""

import base64
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
SANDBOX = os.path.join(HERE, "gateway_sandbox.py")
PYTHON = sys.executable or "/usr/bin/python3"
KEY1 = "test_sk_unit_AAAAAAAAAAAAAAAAAAAA"
KEY2 = "test_sk_unit_BBBBBBBBBBBBBBBBBBBB"
ENV_KEY = "test_sk_unit_FROM_ENV"
ISO_KST = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00$")


def basic(key, colon=True):
    raw = (key + (":" if colon else "")).encode()
    return "Basic " + base64.b64encode(raw).decode()


def start_sandbox(args, env_keys=None, pid_file=None, stderr_file=None):
    env = dict(os.environ)
    env.pop("SANDBOX_SECRET_KEYS", None)
    if env_keys is not None:
        env["SANDBOX_SECRET_KEYS"] = env_keys
    cmd = [PYTHON, SANDBOX, "--host", "127.0.0.1", "--port", "0"] + args
    if pid_file:
        cmd += ["--pid-file", pid_file]
    err = open(stderr_file, "wb") if stderr_file else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
    finally:
        if stderr_file:
            err.close()
    ready, _, _ = select.select([proc.stdout], [], [], 10)
    if not ready:
        stop_pid(proc)
        raise RuntimeError("sandbox did not start")
    line = proc.stdout.readline().decode()
    m = re.search(r"http://127\.0\.0\.1:(\d+)", line)
    if not m:
        stop_pid(proc)
        raise RuntimeError("unexpected start line: %r" % (line,))
    port = int(m.group(1))
    deadline = time.time() + 10
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/sim/health")
            r = c.getresponse()
            body = r.read()
            c.close()
            if r.status == 200 and json.loads(body) == {"status": "UP"}:
                break
        except OSError:
            pass
        if time.time() > deadline:
            stop_pid(proc)
            raise RuntimeError("sandbox /sim/health never answered")
        time.sleep(0.05)
    return proc, port


def stop_pid(proc):
    """Stop the sandbox by its PID (SIGTERM, then SIGKILL) and return its exit code."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(10)
    for f in (proc.stdout, proc.stderr):
        if f:
            f.close()
    return proc.returncode


class SandboxTest(unittest.TestCase):
    proc = None
    port = None

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="sandbox_test_")
        cls.pid_file = os.path.join(cls.tmp, "sandbox.pid")
        cls.err_file = os.path.join(cls.tmp, "sandbox.stderr")
        cls.proc, cls.port = start_sandbox(["--secret-key", KEY1, "--secret-key", KEY2],
                                           env_keys=ENV_KEY, pid_file=cls.pid_file,
                                           stderr_file=cls.err_file)

    @classmethod
    def tearDownClass(cls):
        if cls.proc is not None:
            rc = stop_pid(cls.proc)
            cls.proc = None
            assert rc == 0, "sandbox exit code %r" % rc
            assert not os.path.exists(cls.pid_file), "pid file not removed"
        with open(cls.err_file, "rb") as fh:
            err = fh.read()
        os.unlink(cls.err_file)
        assert b"Traceback" not in err, err.decode("utf-8", "replace")
        try:
            os.rmdir(cls.tmp)
        except OSError:
            pass

    def setUp(self):
        status, _, _ = self.call("POST", "/sim/reset", auth=None)
        self.assertEqual(status, 200)
        self._n = 0

    # ---- helpers ----------------------------------------------------------
    def call(self, method, path, body=None, auth=KEY1, headers=None, timeout=10, raw_body=None):
        """Returns (status, raw bytes, parsed JSON or None)."""
        status, _, raw = self.call_full(method, path, body, auth, headers, timeout, raw_body)
        try:
            parsed = json.loads(raw.decode("utf-8"))
        except ValueError:
            parsed = None
        return status, raw, parsed

    def call_full(self, method, path, body=None, auth=KEY1, headers=None, timeout=10, raw_body=None):
        h = {}
        if auth is not None:
            h["Authorization"] = basic(auth)
        if headers:
            h.update(headers)
        data = raw_body
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            raw = r.read()
            return r.status, r, raw
        finally:
            c.close()

    def order(self):
        self._n += 1
        return "ord_%s_%04d" % (self._testMethodName[-20:].strip("_") or "x", self._n)

    def authorize(self, amount=10000, outcome="pay", key=KEY1, order_id=None):
        oid = order_id or self.order()
        status, _, d = self.call("POST", "/sim/authorize",
                                 {"orderId": oid, "amount": amount, "orderName": "포인트 충전",
                                  "outcome": outcome}, auth=key)
        self.assertEqual(status, 200, d)
        self.assertEqual(d["orderId"], oid)
        self.assertEqual(d["amount"], amount)
        self.assertTrue(d["paymentKey"].startswith("tgen_"))
        return d["paymentKey"], oid

    def confirm(self, pk, oid, amount=10000, key=KEY1, idem=None, headers=None, timeout=10):
        h = dict(headers or {})
        if idem is not None:
            h["Idempotency-Key"] = idem
        return self.call("POST", "/v1/payments/confirm",
                         {"paymentKey": pk, "orderId": oid, "amount": amount},
                         auth=key, headers=h, timeout=timeout)

    def advance(self, seconds):
        status, _, d = self.call("POST", "/sim/clock", {"advanceSeconds": seconds}, auth=None)
        self.assertEqual(status, 200, d)
        return d

    def add_fault(self, **kw):
        status, _, d = self.call("POST", "/sim/faults", kw, auth=None)
        self.assertEqual(status, 200, d)
        return d["id"]

    def lookup(self, pk, key=KEY1, headers=None):
        return self.call("GET", "/v1/payments/" + quote(pk, safe=""), auth=key, headers=headers)

    def assertErr(self, resp, status, code):
        st, raw, d = resp
        self.assertEqual(st, status, raw)
        self.assertIsInstance(d, dict, raw)
        self.assertEqual(d["code"], code, raw)
        self.assertIsInstance(d["message"], str)
        self.assertTrue(d["message"])
        self.assertEqual(set(d), {"code", "message"})

    # ---- auth ---------------------------------------------------------------
    def test_auth_cases(self):
        pk, oid = self.authorize()
        path = "/v1/payments/" + pk
        self.assertErr(self.call("GET", path, auth=None), 401, "UNAUTHORIZED_KEY")
        self.assertErr(self.call("GET", path, auth=None, headers={"Authorization": "Bearer " + KEY1}),
                       401, "UNAUTHORIZED_KEY")
        self.assertErr(self.call("GET", path, auth=None, headers={"Authorization": "Basic !!!not-b64"}),
                       401, "UNAUTHORIZED_KEY")
        self.assertErr(self.call("GET", path, auth=None, headers={"Authorization": "Basic"}),
                       401, "UNAUTHORIZED_KEY")
        # no ':' after the key -> 400 INCORRECT_BASIC_AUTH_FORMAT (sandbox choice: 400, not 403)
        self.assertErr(self.call("GET", path, auth=None, headers={"Authorization": basic(KEY1, colon=False)}),
                       400, "INCORRECT_BASIC_AUTH_FORMAT")
        self.assertErr(self.call("GET", path, auth="test_sk_unknown_key"), 401, "UNAUTHORIZED_KEY")
        self.assertErr(self.confirm(pk, oid, key="test_sk_unknown_key"), 401, "UNAUTHORIZED_KEY")
        # the env key and the CLI keys are accepted; defaults are not (keys were given)
        self.assertErr(self.call("GET", "/v1/payments/nope", auth=ENV_KEY), 404, "NOT_FOUND_PAYMENT")
        self.assertErr(self.call("GET", "/v1/payments/nope", auth="test_sk_sandbox_0000000000000000"),
                       401, "UNAUTHORIZED_KEY")
        st, _, d = self.lookup(pk)
        self.assertEqual(st, 200)
        # /sim/authorize needs the same auth
        self.assertErr(self.call("POST", "/sim/authorize", {"orderId": "abcdef", "amount": 1}, auth=None),
                       401, "UNAUTHORIZED_KEY")

    def test_payments_are_scoped_per_key(self):
        pk, oid = self.authorize(key=KEY1)
        self.assertErr(self.lookup(pk, key=KEY2), 404, "NOT_FOUND_PAYMENT")
        self.assertErr(self.call("GET", "/v1/payments/orders/" + oid, auth=KEY2), 404, "NOT_FOUND_PAYMENT")
        self.assertErr(self.confirm(pk, oid, key=KEY2), 403, "FORBIDDEN_REQUEST")
        self.assertEqual(self.confirm(pk, oid)[0], 200)
        self.assertErr(self.call("POST", "/v1/payments/%s/cancel" % pk, {"cancelReason": "x"}, auth=KEY2),
                       404, "NOT_FOUND_PAYMENT")
        # the same orderId under another key is independent
        pk2, _ = self.authorize(key=KEY2, order_id=oid)
        self.assertEqual(self.confirm(pk2, oid, key=KEY2)[0], 200)

    # ---- confirm ------------------------------------------------------------
    def test_confirm_success_payment_object(self):
        pk, oid = self.authorize(amount=15000)
        st, raw, p = self.confirm(pk, oid, amount=15000)
        self.assertEqual(st, 200, raw)
        self.assertEqual(p["status"], "DONE")
        self.assertEqual(p["paymentKey"], pk)
        self.assertEqual(p["orderId"], oid)
        self.assertEqual(p["orderName"], "포인트 충전")
        self.assertEqual(p["method"], "카드")
        self.assertEqual(p["type"], "NORMAL")
        self.assertEqual(p["mId"], "tosspayments")
        self.assertEqual(p["version"], "2022-11-16")
        self.assertEqual(p["currency"], "KRW")
        for k in ("totalAmount", "balanceAmount"):
            self.assertIs(type(p[k]), int)
            self.assertEqual(p[k], 15000)
        self.assertEqual((p["suppliedAmount"], p["vat"]), (13636, 1364))
        self.assertEqual((p["taxFreeAmount"], p["taxExemptionAmount"]), (0, 0))
        self.assertIs(p["useEscrow"], False)
        self.assertIs(p["cultureExpense"], False)
        self.assertIs(p["isPartialCancelable"], True)
        self.assertIsNone(p["cancels"])
        self.assertIsNone(p["failure"])
        self.assertIsNone(p["easyPay"])
        self.assertTrue(ISO_KST.match(p["requestedAt"]), p["requestedAt"])
        self.assertTrue(ISO_KST.match(p["approvedAt"]), p["approvedAt"])
        self.assertTrue(p["lastTransactionKey"])
        card = p["card"]
        self.assertIn("*", card["number"])
        self.assertTrue(card["approveNo"])
        self.assertEqual(card["installmentPlanMonths"], 0)
        self.assertTrue(card["issuerCode"])
        self.assertTrue(p["receipt"]["url"].startswith("http://127.0.0.1:"))
        self.assertTrue(p["checkout"]["url"])
        # English enum text with Accept-Language: en-US
        st, _, p2 = self.lookup(pk, headers={"Accept-Language": "en-US"})
        self.assertEqual(st, 200)
        self.assertEqual(p2["method"], "CARD")

    def test_confirm_validation_errors(self):
        pk, oid = self.authorize()
        path = "/v1/payments/confirm"
        bad_bodies = [
            {"orderId": oid, "amount": 10000},
            {"paymentKey": pk, "amount": 10000},
            {"paymentKey": pk, "orderId": oid},
            {"paymentKey": pk, "orderId": oid, "amount": "10000"},
            {"paymentKey": pk, "orderId": oid, "amount": 0},
            {"paymentKey": pk, "orderId": oid, "amount": -5},
            {"paymentKey": pk, "orderId": oid, "amount": 10000.5},
            {"paymentKey": pk, "orderId": oid, "amount": True},
            {"paymentKey": 12, "orderId": oid, "amount": 10000},
            {"paymentKey": "x" * 201, "orderId": oid, "amount": 10000},
            [1, 2, 3],
        ]
        for b in bad_bodies:
            self.assertErr(self.call("POST", path, b), 400, "INVALID_REQUEST")
        self.assertErr(self.call("POST", path, raw_body=b"{not json"), 400, "INVALID_REQUEST")
        self.assertErr(self.call("POST", path, raw_body=b""), 400, "INVALID_REQUEST")
        self.assertErr(self.call("POST", path, raw_body=b"\xff\xfe"), 400, "INVALID_REQUEST")
        # nothing changed
        self.assertEqual(self.lookup(pk)[2]["status"], "IN_PROGRESS")

    def test_confirm_business_errors(self):
        pk, oid = self.authorize()
        self.assertErr(self.confirm("tgen_doesnotexist000000", oid), 404, "NOT_FOUND_PAYMENT")
        self.assertErr(self.confirm(pk, oid + "X"), 403, "FORBIDDEN_REQUEST")
        self.assertErr(self.confirm(pk, oid, amount=9999), 400, "INVALID_REQUEST")
        self.assertEqual(self.lookup(pk)[2]["status"], "IN_PROGRESS")
        self.assertEqual(self.confirm(pk, oid)[0], 200)
        self.assertErr(self.confirm(pk, oid), 400, "ALREADY_PROCESSED_PAYMENT")

    def test_confirm_reject_outcome(self):
        pk, oid = self.authorize(outcome="reject")
        self.assertErr(self.confirm(pk, oid), 403, "REJECT_CARD_COMPANY")
        st, _, p = self.lookup(pk)
        self.assertEqual(st, 200)
        self.assertEqual(p["status"], "ABORTED")
        self.assertEqual(p["failure"]["code"], "REJECT_CARD_COMPANY")
        self.assertTrue(p["failure"]["message"])
        self.assertIsNone(p["approvedAt"])
        # confirming an ABORTED payment again: 400 ALREADY_PROCESSED_PAYMENT (sandbox choice)
        self.assertErr(self.confirm(pk, oid), 400, "ALREADY_PROCESSED_PAYMENT")
        # the order may be retried with a new checkout (ABORTED does not block the orderId)
        pk2, _ = self.authorize(order_id=oid)
        self.assertEqual(self.confirm(pk2, oid)[0], 200)

    def test_duplicated_order_id(self):
        pk, oid = self.authorize()
        pk_b, _ = self.authorize(order_id=oid)      # second authentication before any approval
        self.assertEqual(self.confirm(pk, oid)[0], 200)
        self.assertErr(self.confirm(pk_b, oid), 400, "DUPLICATED_ORDER_ID")
        self.assertErr(self.call("POST", "/sim/authorize", {"orderId": oid, "amount": 10000}),
                       400, "DUPLICATED_ORDER_ID")
        # lookup by order returns the approved one
        self.assertEqual(self.call("GET", "/v1/payments/orders/" + oid)[2]["paymentKey"], pk)

    def test_lookups_are_equal(self):
        pk, oid = self.authorize()
        self.assertEqual(self.confirm(pk, oid)[0], 200)
        a = self.lookup(pk)
        b = self.call("GET", "/v1/payments/orders/" + oid)
        self.assertEqual(a[0], 200)
        self.assertEqual(b[0], 200)
        self.assertEqual(a[1], b[1])
        self.assertEqual(a[2]["status"], "DONE")
        self.assertErr(self.lookup("tgen_unknown"), 404, "NOT_FOUND_PAYMENT")
        self.assertErr(self.call("GET", "/v1/payments/orders/unknown_order"), 404, "NOT_FOUND_PAYMENT")
        # IN_PROGRESS lookups too
        pk2, oid2 = self.authorize()
        self.assertEqual(self.lookup(pk2)[1], self.call("GET", "/v1/payments/orders/" + oid2)[1])
        self.assertIsNone(self.lookup(pk2)[2]["approvedAt"])

    # ---- clock windows --------------------------------------------------------
    def test_confirm_within_ten_minutes_ok(self):
        pk, oid = self.authorize()
        self.advance(590)
        self.assertEqual(self.confirm(pk, oid)[0], 200)

    def test_ten_minute_session_and_thirty_minute_expiry(self):
        pk, oid = self.authorize()
        d0 = self.call("GET", "/sim/clock", auth=None)[2]
        self.advance(601)
        d1 = self.call("GET", "/sim/clock", auth=None)[2]
        self.assertGreaterEqual(d1["epochSeconds"] - d0["epochSeconds"], 601)
        self.assertEqual(d1["offsetSeconds"], 601)
        self.assertTrue(ISO_KST.match(d1["now"]))
        self.assertErr(self.confirm(pk, oid), 404, "NOT_FOUND_PAYMENT_SESSION")
        self.assertEqual(self.lookup(pk)[2]["status"], "IN_PROGRESS")
        self.advance(30 * 60 - 601 + 5)
        st, _, p = self.lookup(pk)
        self.assertEqual(p["status"], "EXPIRED")
        self.assertIsNotNone(p["failure"])
        self.assertEqual(self.call("GET", "/v1/payments/orders/" + oid)[2]["status"], "EXPIRED")
        self.assertErr(self.confirm(pk, oid), 404, "NOT_FOUND_PAYMENT_SESSION")
        self.assertErr(self.call("POST", "/sim/clock", {"advanceSeconds": -1}, auth=None), 400, "INVALID_REQUEST")

    # ---- cancel ---------------------------------------------------------------
    def test_cancel_partial_then_full(self):
        pk, oid = self.authorize(amount=10000)
        path = "/v1/payments/%s/cancel" % pk
        self.assertErr(self.call("POST", path, {"cancelReason": "not yet"}), 403, "NOT_CANCELABLE_PAYMENT")
        self.assertEqual(self.confirm(pk, oid)[0], 200)
        self.assertErr(self.call("POST", path, {}), 400, "INVALID_REQUEST")
        self.assertErr(self.call("POST", path, {"cancelReason": ""}), 400, "INVALID_REQUEST")
        self.assertErr(self.call("POST", path, {"cancelReason": "x" * 201}), 400, "INVALID_REQUEST")
        self.assertErr(self.call("POST", path, {"cancelReason": "r", "cancelAmount": 0}), 400, "INVALID_REQUEST")
        self.assertErr(self.call("POST", path, {"cancelReason": "r", "cancelAmount": "5"}), 400, "INVALID_REQUEST")
        st, _, p = self.call("POST", path, {"cancelReason": "부분 취소", "cancelAmount": 3000})
        self.assertEqual(st, 200)
        self.assertEqual(p["status"], "PARTIAL_CANCELED")
        self.assertEqual(p["balanceAmount"], 7000)
        self.assertEqual(p["totalAmount"], 10000)
        self.assertEqual(len(p["cancels"]), 1)
        c = p["cancels"][0]
        self.assertEqual(c["cancelAmount"], 3000)
        self.assertEqual(c["cancelReason"], "부분 취소")
        self.assertTrue(ISO_KST.match(c["canceledAt"]))
        self.assertTrue(c["transactionKey"])
        self.assertEqual(p["lastTransactionKey"], c["transactionKey"])
        self.assertErr(self.call("POST", path, {"cancelReason": "too much", "cancelAmount": 8000}),
                       403, "NOT_CANCELABLE_AMOUNT")
        st, _, p = self.call("POST", path, {"cancelReason": "전액 취소"})
        self.assertEqual(st, 200)
        self.assertEqual(p["status"], "CANCELED")
        self.assertEqual(p["balanceAmount"], 0)
        self.assertEqual([x["cancelAmount"] for x in p["cancels"]], [3000, 7000])
        self.assertErr(self.call("POST", path, {"cancelReason": "again"}), 400, "ALREADY_CANCELED_PAYMENT")
        self.assertErr(self.call("POST", "/v1/payments/tgen_nope/cancel", {"cancelReason": "x"}),
                       404, "NOT_FOUND_PAYMENT")
        self.assertEqual(self.lookup(pk)[2]["status"], "CANCELED")
        # a canceled order cannot be paid again
        self.assertErr(self.call("POST", "/sim/authorize", {"orderId": oid, "amount": 10}),
                       400, "DUPLICATED_ORDER_ID")

    def test_cancel_full_in_one_go(self):
        pk, oid = self.authorize(amount=5000)
        self.confirm(pk, oid, amount=5000)
        st, _, p = self.call("POST", "/v1/payments/%s/cancel" % pk, {"cancelReason": "r", "cancelAmount": 5000})
        self.assertEqual((st, p["status"], p["balanceAmount"]), (200, "CANCELED", 0))

    # ---- idempotency ------------------------------------------------------------
    def test_idempotency_replay_byte_for_byte(self):
        pk, oid = self.authorize()
        s1, r1, d1 = self.confirm(pk, oid, idem="idem-key-1")
        self.assertEqual(s1, 200)
        s2, r2, _ = self.confirm(pk, oid, idem="idem-key-1")
        self.assertEqual((s2, r2), (s1, r1))
        # replayed even with Accept-Language: en-US and a different body (sandbox choice)
        s3, r3, _ = self.confirm(pk, oid, amount=1, idem="idem-key-1", headers={"Accept-Language": "en-US"})
        self.assertEqual((s3, r3), (s1, r1))
        # without the key the confirm is executed again
        self.assertErr(self.confirm(pk, oid), 400, "ALREADY_PROCESSED_PAYMENT")
        # another secret key with the same Idempotency-Key is a different identity
        self.assertErr(self.confirm(pk, oid, key=KEY2, idem="idem-key-1"), 403, "FORBIDDEN_REQUEST")
        # errors are stored and replayed too
        e1 = self.confirm("tgen_nope", oid, idem="idem-key-2")
        self.assertErr(e1, 404, "NOT_FOUND_PAYMENT")
        self.assertEqual(self.confirm(pk, oid, idem="idem-key-2")[:2], e1[:2])
        # 15 days later the key is forgotten and the request is executed again
        self.advance(15 * 24 * 3600 - 60)
        self.assertEqual(self.confirm(pk, oid, idem="idem-key-1")[:2], (s1, r1))
        self.advance(120)
        self.assertErr(self.confirm(pk, oid, idem="idem-key-1"), 400, "ALREADY_PROCESSED_PAYMENT")

    def test_idempotency_on_cancel_and_path_scope(self):
        pk, oid = self.authorize()
        self.confirm(pk, oid, idem="same-key")
        path = "/v1/payments/%s/cancel" % pk
        h = {"Idempotency-Key": "same-key"}      # different path -> different identity
        s1, r1, d1 = self.call("POST", path, {"cancelReason": "r", "cancelAmount": 1000}, headers=h)
        self.assertEqual((s1, d1["balanceAmount"]), (200, 9000))
        s2, r2, _ = self.call("POST", path, {"cancelReason": "r", "cancelAmount": 1000}, headers=h)
        self.assertEqual((s2, r2), (s1, r1))
        self.assertEqual(self.lookup(pk)[2]["balanceAmount"], 9000)

    def test_idempotency_key_length_limit(self):
        pk, oid = self.authorize()
        self.assertErr(self.confirm(pk, oid, idem="k" * 301), 400, "INVALID_IDEMPOTENCY_KEY")
        self.assertEqual(self.lookup(pk)[2]["status"], "IN_PROGRESS")
        self.assertEqual(self.confirm(pk, oid, idem="k" * 300)[0], 200)
        # GET ignores the header
        st, _, _ = self.call("GET", "/v1/payments/" + pk, headers={"Idempotency-Key": "k" * 400})
        self.assertEqual(st, 200)

    def test_idempotency_409_while_first_is_running(self):
        pk, oid = self.authorize()
        self.add_fault(action="delay", delayMs=1500)
        first = {}

        def run():
            first["resp"] = self.confirm(pk, oid, idem="overlap-key")

        t = threading.Thread(target=run)
        t0 = time.time()
        t.start()
        time.sleep(0.4)
        self.assertErr(self.confirm(pk, oid, idem="overlap-key"), 409, "IDEMPOTENT_REQUEST_PROCESSING")
        t.join(10)
        self.assertGreaterEqual(time.time() - t0, 1.4)
        s1, r1, d1 = first["resp"]
        self.assertEqual((s1, d1["status"]), (200, "DONE"))
        self.assertEqual(self.confirm(pk, oid, idem="overlap-key")[:2], (s1, r1))

    # ---- Test-Code header -------------------------------------------------------
    def test_test_code_header(self):
        pk, oid = self.authorize()
        documented = {
            400: ["ALREADY_PROCESSED_PAYMENT", "PROVIDER_ERROR", "EXCEED_MAX_CARD_INSTALLMENT_PLAN",
                  "INVALID_REQUEST", "INVALID_API_KEY", "NOT_ALLOWED_POINT_USE", "INVALID_REJECT_CARD",
                  "BELOW_MINIMUM_AMOUNT", "INVALID_CARD_EXPIRATION", "INVALID_STOPPED_CARD",
                  "INVALID_CARD_NUMBER", "INVALID_CARD_LOST_OR_STOLEN", "INVALID_CARD_INSTALLMENT_PLAN",
                  "EXCEED_MAX_DAILY_PAYMENT_COUNT", "EXCEED_MAX_PAYMENT_AMOUNT",
                  "NOT_SUPPORTED_INSTALLMENT_PLAN_CARD_OR_MERCHANT", "INVALID_AUTHORIZE_AUTH",
                  "UNAPPROVED_ORDER_ID", "CARD_PROCESSING_ERROR", "NOT_FOUND_TERMINAL_ID",
                  "DUPLICATED_ORDER_ID", "INVALID_ORDER_ID", "ALREADY_CANCELED_PAYMENT", "REFUND_REJECTED",
                  "INVALID_IDEMPOTENCY_KEY", "INCORRECT_BASIC_AUTH_FORMAT"],
            401: ["UNAUTHORIZED_KEY"],
            403: ["REJECT_CARD_PAYMENT", "REJECT_CARD_COMPANY", "REJECT_ACCOUNT_PAYMENT", "FORBIDDEN_REQUEST",
                  "EXCEED_MAX_AUTH_COUNT", "EXCEED_MAX_ONE_DAY_AMOUNT", "NOT_AVAILABLE_BANK",
                  "INVALID_PASSWORD", "FDS_ERROR", "NOT_CANCELABLE_AMOUNT", "NOT_CANCELABLE_PAYMENT",
                  "FORBIDDEN_CONSECUTIVE_REQUEST", "EXCEED_MAX_REFUND_DUE"],
            404: ["NOT_FOUND_PAYMENT", "NOT_FOUND_PAYMENT_SESSION"],
            409: ["IDEMPOTENT_REQUEST_PROCESSING"],
            500: ["FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", "FAILED_INTERNAL_SYSTEM_PROCESSING",
                  "UNKNOWN_PAYMENT_ERROR", "COMMON_ERROR", "UNKNOWN_ERROR", "FAILED_REFUND_PROCESS"],
        }
        for status, codes in documented.items():
            for code in codes:
                self.assertErr(self.confirm(pk, oid, headers={"TossPayments-Test-Code": code}), status, code)
        self.assertErr(self.confirm(pk, oid, headers={"TossPayments-Test-Code": "EXCEED_MAX_SOMETHING_NEW"}),
                       400, "EXCEED_MAX_SOMETHING_NEW")
        self.assertErr(self.confirm(pk, oid, headers={"TossPayments-Test-Code": "SANDBOX_MADE_UP"}),
                       400, "SANDBOX_MADE_UP")
        # lookups and cancels honour it as well
        self.assertErr(self.lookup(pk, headers={"TossPayments-Test-Code": "NOT_FOUND_PAYMENT"}),
                       404, "NOT_FOUND_PAYMENT")
        # ... with an Idempotency-Key it is not stored
        self.assertErr(self.confirm(pk, oid, idem="tc-key", headers={"TossPayments-Test-Code": "COMMON_ERROR"}),
                       500, "COMMON_ERROR")
        # state unchanged: the payment still confirms normally
        self.assertEqual(self.lookup(pk)[2]["status"], "IN_PROGRESS")
        st, _, p = self.confirm(pk, oid, idem="tc-key")
        self.assertEqual((st, p["status"]), (200, "DONE"))
        # still needs auth
        self.assertErr(self.call("GET", "/v1/payments/" + pk, auth=None,
                                 headers={"TossPayments-Test-Code": "NOT_FOUND_PAYMENT"}), 401, "UNAUTHORIZED_KEY")

    # ---- faults -----------------------------------------------------------------
    def test_fault_delay(self):
        pk, oid = self.authorize()
        self.add_fault(action="delay", delayMs=700)
        t0 = time.time()
        st, _, p = self.confirm(pk, oid)
        self.assertGreaterEqual(time.time() - t0, 0.65)
        self.assertEqual((st, p["status"]), (200, "DONE"))
        pk2, oid2 = self.authorize()
        t0 = time.time()
        self.assertEqual(self.confirm(pk2, oid2)[0], 200)   # count 1: used up
        self.assertLess(time.time() - t0, 0.5)

    def test_fault_delay_past_client_timeout_still_commits(self):
        pk, oid = self.authorize()
        self.add_fault(action="delay", delayMs=1200)
        with self.assertRaises((socket.timeout, TimeoutError)):
            self.confirm(pk, oid, timeout=0.3)
        time.sleep(1.2)
        self.assertEqual(self.lookup(pk)[2]["status"], "DONE")

    def test_fault_error5xx_does_not_approve(self):
        pk, oid = self.authorize()
        self.add_fault(action="error5xx")
        self.assertErr(self.confirm(pk, oid, idem="k5"), 500, "FAILED_INTERNAL_SYSTEM_PROCESSING")
        self.assertEqual(self.lookup(pk)[2]["status"], "IN_PROGRESS")
        # not stored under the Idempotency-Key: a retry with the same key executes
        st, _, p = self.confirm(pk, oid, idem="k5")
        self.assertEqual((st, p["status"]), (200, "DONE"))
        # custom status/code
        pk2, oid2 = self.authorize()
        self.add_fault(action="error5xx", status=503, code="COMMON_ERROR", message="down")
        st, _, d = self.confirm(pk2, oid2)
        self.assertEqual((st, d), (503, {"code": "COMMON_ERROR", "message": "down"}))

    def test_fault_error_count_and_order_filter(self):
        pk_a, oid_a = self.authorize()
        pk_b, oid_b = self.authorize()
        self.add_fault(action="error", code="REJECT_CARD_PAYMENT", orderId=oid_a, count=2)
        self.assertEqual(self.confirm(pk_b, oid_b)[0], 200)     # other order unaffected
        self.assertErr(self.confirm(pk_a, oid_a), 403, "REJECT_CARD_PAYMENT")
        self.assertErr(self.confirm(pk_a, oid_a), 403, "REJECT_CARD_PAYMENT")
        self.assertEqual(self.lookup(pk_a)[2]["status"], "IN_PROGRESS")
        self.assertEqual(self.confirm(pk_a, oid_a)[0], 200)
        self.assertEqual(self.call("GET", "/sim/faults", auth=None)[2]["faults"], [])

    def test_fault_until_cleared_and_listing(self):
        pk, oid = self.authorize()
        fid = self.add_fault(action="error", status=400, code="PROVIDER_ERROR", count=-1)
        lookup_fid = self.add_fault(path="/v1/payments/orders/", action="error5xx", count=-1)
        for _ in range(3):
            self.assertErr(self.confirm(pk, oid), 400, "PROVIDER_ERROR")
        self.assertErr(self.call("GET", "/v1/payments/orders/" + oid), 500, "FAILED_INTERNAL_SYSTEM_PROCESSING")
        self.assertEqual(self.lookup(pk)[0], 200)        # other path
        st, _, d = self.call("GET", "/sim/faults", auth=None)
        self.assertEqual(st, 200)
        ids = {f["id"]: f for f in d["faults"]}
        self.assertEqual(set(ids), {fid, lookup_fid})
        self.assertEqual(ids[fid]["hits"], 3)
        self.assertEqual(ids[fid]["path"], "/v1/payments/confirm")
        self.assertEqual(self.call("DELETE", "/sim/faults", auth=None)[0], 200)
        self.assertEqual(self.call("GET", "/sim/faults", auth=None)[2], {"faults": [], "random": None})
        self.assertEqual(self.confirm(pk, oid)[0], 200)
        # bad fault definitions
        for bad in ({"action": "explode"}, {"action": "delay", "delayMs": -1},
                    {"action": "error", "count": 0}, {"action": "error5xx", "status": 404},
                    {"action": "error", "path": "/sim/x"}):
            self.assertErr(self.call("POST", "/sim/faults", bad, auth=None), 400, "INVALID_REQUEST")

    def _raw_confirm(self, pk, oid, idem=None):
        """Send a confirm over a raw socket; return every byte received before EOF/reset."""
        body = json.dumps({"paymentKey": pk, "orderId": oid, "amount": 10000}).encode()
        head = ("POST /v1/payments/confirm HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: %s\r\n"
                "Content-Type: application/json\r\nContent-Length: %d\r\n" % (basic(KEY1), len(body)))
        if idem:
            head += "Idempotency-Key: %s\r\n" % idem
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        got = b""
        try:
            s.sendall(head.encode() + b"\r\n" + body)
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        finally:
            s.close()
        return got

    def test_fault_approve_then_drop(self):
        pk, oid = self.authorize()
        self.add_fault(action="approve_then_drop")
        self.assertEqual(self._raw_confirm(pk, oid, idem="drop-key"), b"")
        self.assertEqual(self.lookup(pk)[2]["status"], "DONE")
        # the committed response was stored under the key: a retry replays 200 DONE
        st, _, p = self.confirm(pk, oid, idem="drop-key")
        self.assertEqual((st, p["status"]), (200, "DONE"))
        self.assertErr(self.confirm(pk, oid), 400, "ALREADY_PROCESSED_PAYMENT")
        # http.client sees a connection closed without any response
        pk2, oid2 = self.authorize()
        self.add_fault(action="approve_then_drop")
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine)):
            self.confirm(pk2, oid2)
        self.assertEqual(self.call("GET", "/v1/payments/orders/" + oid2)[2]["status"], "DONE")

    def test_fault_approve_then_500(self):
        pk, oid = self.authorize()
        self.add_fault(action="approve_then_500")
        self.assertErr(self.confirm(pk, oid, idem="a500"), 500, "FAILED_INTERNAL_SYSTEM_PROCESSING")
        self.assertEqual(self.lookup(pk)[2]["status"], "DONE")
        st, _, p = self.confirm(pk, oid, idem="a500")
        self.assertEqual((st, p["status"]), (200, "DONE"))

    def test_fault_truncated_json(self):
        pk, oid = self.authorize()
        self.add_fault(action="truncated_json")
        st, resp, raw = self.call_full("POST", "/v1/payments/confirm",
                                       {"paymentKey": pk, "orderId": oid, "amount": 10000})
        self.assertEqual(st, 200)
        self.assertEqual(int(resp.getheader("Content-Length")), len(raw))
        self.assertGreater(len(raw), 100)
        with self.assertRaises(ValueError):
            json.loads(raw.decode("utf-8", "replace"))
        full = self.lookup(pk)[1]
        self.assertEqual(self.lookup(pk)[2]["status"], "DONE")
        self.assertLess(len(raw), len(full))

    def test_random_fault_mode_is_deterministic(self):
        def sweep(seed):
            self.call("POST", "/sim/reset", auth=None)
            st, _, d = self.call("POST", "/sim/faults/random",
                                 {"seed": seed, "rate": 0.5, "actions": ["error5xx", "error"]}, auth=None)
            self.assertEqual(st, 200)
            out = []
            for i in range(40):
                st, _, d = self.confirm("tgen_nope_%d" % i, "order_%04d" % i)
                out.append((st, d["code"]))
            faults = self.call("GET", "/sim/faults", auth=None)[2]
            return out, faults["random"]

        a, ra = sweep(1234)
        b, rb = sweep(1234)
        c, _ = sweep(99)
        self.assertEqual(a, b)
        self.assertEqual(ra["history"], rb["history"])
        self.assertEqual(ra["calls"], 40)
        self.assertNotEqual(a, c)
        kinds = {x for x in a}
        self.assertIn((404, "NOT_FOUND_PAYMENT"), kinds)
        self.assertIn((500, "FAILED_INTERNAL_SYSTEM_PROCESSING"), kinds)
        self.assertIn((400, "PROVIDER_ERROR"), kinds)
        # rate 1 with a committing action: every confirm commits, then answers 500
        self.call("POST", "/sim/reset", auth=None)
        self.call("POST", "/sim/faults/random", {"seed": 1, "rate": 1.0, "actions": ["approve_then_500"]}, auth=None)
        pk, oid = self.authorize()
        self.assertErr(self.confirm(pk, oid), 500, "FAILED_INTERNAL_SYSTEM_PROCESSING")
        self.assertEqual(self.lookup(pk)[2]["status"], "DONE")
        # DELETE /sim/faults clears the random mode too
        self.call("DELETE", "/sim/faults", auth=None)
        self.assertIsNone(self.call("GET", "/sim/faults", auth=None)[2]["random"])
        self.assertErr(self.confirm(pk, oid), 400, "ALREADY_PROCESSED_PAYMENT")
        self.assertErr(self.call("POST", "/sim/faults/random", {"rate": 2}, auth=None), 400, "INVALID_REQUEST")

    # ---- stats / reset / health -------------------------------------------------
    def test_stats_and_reset(self):
        pk, oid = self.authorize()
        self.add_fault(action="error5xx")
        self.confirm(pk, oid, idem="s1")          # faulted
        self.confirm(pk, oid, idem="s1")          # executed
        self.confirm(pk, oid, idem="s1")          # replay
        self.call("POST", "/v1/payments/confirm", raw_body=b"garbage")
        self.lookup(pk)
        self.call("GET", "/v1/payments/orders/" + oid)
        st, _, d = self.call("GET", "/sim/stats", auth=None)
        self.assertEqual(st, 200)
        self.assertEqual(d["confirmCalls"], {oid: 3})
        self.assertEqual(d["confirmCallsTotal"], 4)
        self.assertEqual(d["confirmReplays"], {oid: 1})
        self.assertEqual(d["lookups"], 2)
        self.assertEqual(d["requests"], 6)
        self.advance(100)
        self.assertEqual(self.call("POST", "/sim/reset", auth=None)[0], 200)
        st, _, d = self.call("GET", "/sim/stats", auth=None)
        self.assertEqual((d["requests"], d["confirmCalls"], d["confirmCallsTotal"], d["lookups"]), (0, {}, 0, 0))
        self.assertEqual(d["confirmReplays"], {})
        self.assertEqual(self.call("GET", "/sim/clock", auth=None)[2]["offsetSeconds"], 0)
        self.assertErr(self.lookup(pk), 404, "NOT_FOUND_PAYMENT")
        self.assertEqual(self.call("GET", "/sim/health", auth=None)[:3:2], (200, {"status": "UP"}))

    # ---- checkout page ------------------------------------------------------------
    def checkout_qs(self, **over):
        q = {"orderId": over.pop("orderId", self.order()), "amount": "10000", "orderName": "포인트 충전 1만원",
             "successUrl": "http://127.0.0.1:8080/api/v1/payments/success/toss",
             "failUrl": "http://127.0.0.1:8080/api/v1/payments/fail/toss"}
        q.update(over)
        return q

    def get_page(self, q):
        st, resp, raw = self.call_full("GET", "/sim/checkout?" + urlencode(q), auth=None)
        return st, resp, raw

    def submit(self, q, action):
        form = dict(q)
        form["action"] = action
        st, resp, raw = self.call_full("POST", "/sim/checkout", auth=None,
                                       raw_body=urlencode(form).encode(),
                                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        return st, resp.getheader("Location")

    def test_checkout_page(self):
        q = self.checkout_qs()
        st, resp, raw = self.get_page(q)
        self.assertEqual(st, 200)
        self.assertEqual(resp.getheader("Content-Type"), "text/html; charset=utf-8")
        page = raw.decode("utf-8")           # strict: must be valid UTF-8
        self.assertIn(q["orderId"], page)
        self.assertIn("10,000원", page)
        self.assertIn("포인트 충전 1만원", page)
        self.assertIn("결제하기 (Pay)", page)
        self.assertIn("취소 (Cancel)", page)
        self.assertIn("Decline card", page)
        self.assertIn('<meta charset="utf-8">', page)
        # no external resources
        self.assertIsNone(re.search(r"(src|href)\s*=\s*\"(https?:)?//", page))
        self.assertNotIn("<script src", page)
        self.assertNotIn("@import", page)

    def test_checkout_validation(self):
        bad = [self.checkout_qs(orderId="short"), self.checkout_qs(orderId="bad id with spaces"),
               self.checkout_qs(orderId="x" * 65), self.checkout_qs(amount="0"),
               self.checkout_qs(amount="12.5"), self.checkout_qs(amount="10000000001"),
               self.checkout_qs(amount="abc"), self.checkout_qs(successUrl="javascript:alert(1)"),
               self.checkout_qs(failUrl="ftp://x/y"), self.checkout_qs(successUrl="")]
        for q in bad:
            st, resp, raw = self.get_page(q)
            self.assertEqual(st, 400, q)
            raw.decode("utf-8")
        q = self.checkout_qs()
        del q["failUrl"]
        self.assertEqual(self.get_page(q)[0], 400)
        self.assertEqual(self.get_page(self.checkout_qs(amount="10000000000"))[0], 200)

    def test_checkout_pay_redirect_and_confirm(self):
        q = self.checkout_qs()
        st, loc = self.submit(q, "pay")
        self.assertEqual(st, 302)
        self.assertTrue(loc.startswith(q["successUrl"] + "?paymentType=NORMAL&orderId="), loc)
        pairs = parse_qsl(urlsplit(loc).query)
        self.assertEqual([k for k, _ in pairs], ["paymentType", "orderId", "paymentKey", "amount"])
        d = dict(pairs)
        self.assertEqual((d["paymentType"], d["orderId"], d["amount"]), ("NORMAL", q["orderId"], "10000"))
        self.assertTrue(re.fullmatch(r"tgen_[A-Za-z0-9]{20}", d["paymentKey"]))
        # payments minted at checkout belong to the first accepted key
        st, _, p = self.confirm(d["paymentKey"], d["orderId"], amount=10000)
        self.assertEqual((st, p["status"], p["orderName"]), (200, "DONE", "포인트 충전 1만원"))
        # a DONE orderId at checkout -> DUPLICATED_ORDER_ID page
        st, _, raw = self.get_page(q)
        self.assertEqual(st, 400)
        self.assertIn("DUPLICATED_ORDER_ID", raw.decode("utf-8"))
        st, loc = self.submit(q, "pay")
        self.assertEqual(st, 400)

    def test_checkout_success_url_with_query(self):
        q = self.checkout_qs(successUrl="http://127.0.0.1:8080/s?x=1")
        st, loc = self.submit(q, "pay")
        self.assertEqual(st, 302)
        self.assertTrue(loc.startswith("http://127.0.0.1:8080/s?x=1&paymentType=NORMAL&orderId="), loc)

    def test_checkout_non_ascii_url_and_blank_outcome(self):
        q = self.checkout_qs(successUrl="http://127.0.0.1:8080/성공", outcome="")
        self.assertEqual(self.get_page(q)[0], 200)
        st, loc = self.submit(q, "pay")
        self.assertEqual(st, 302)
        self.assertTrue(loc.startswith("http://127.0.0.1:8080/%EC%84%B1%EA%B3%B5?paymentType=NORMAL&"), loc)

    def test_checkout_cancel_redirect(self):
        q = self.checkout_qs()
        st, loc = self.submit(q, "cancel")
        self.assertEqual(st, 302)
        self.assertTrue(loc.startswith(q["failUrl"] + "?code=PAY_PROCESS_CANCELED&message="), loc)
        pairs = parse_qsl(urlsplit(loc).query)
        self.assertEqual([k for k, _ in pairs], ["code", "message", "orderId"])
        d = dict(pairs)
        self.assertEqual(d["orderId"], q["orderId"])
        self.assertEqual(d["message"], "사용자에 의해 결제가 취소되었습니다.")
        self.assertTrue(all(ord(ch) < 128 for ch in loc))
        self.assertErr(self.call("GET", "/v1/payments/orders/" + q["orderId"]), 404, "NOT_FOUND_PAYMENT")

    def test_checkout_decline(self):
        q = self.checkout_qs()
        st, loc = self.submit(q, "reject")
        self.assertEqual(st, 302)
        d = dict(parse_qsl(urlsplit(loc).query))
        self.assertErr(self.confirm(d["paymentKey"], d["orderId"]), 403, "REJECT_CARD_COMPANY")
        self.assertEqual(self.lookup(d["paymentKey"])[2]["status"], "ABORTED")

    def test_checkout_get_outcome_shortcut_and_secret_key(self):
        q = self.checkout_qs(outcome="pay", secretKey=KEY2)
        st, resp, _ = self.get_page(q)
        self.assertEqual(st, 302)
        d = dict(parse_qsl(urlsplit(resp.getheader("Location")).query))
        self.assertErr(self.confirm(d["paymentKey"], d["orderId"]), 403, "FORBIDDEN_REQUEST")
        self.assertEqual(self.confirm(d["paymentKey"], d["orderId"], key=KEY2)[0], 200)
        self.assertEqual(self.get_page(self.checkout_qs(secretKey="test_sk_not_accepted"))[0], 400)

    # ---- transport --------------------------------------------------------------
    def test_keep_alive_and_throughput(self):
        pk, oid = self.authorize()
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = {"Authorization": basic(KEY1)}
        c.request("GET", "/v1/payments/" + pk, headers=h)
        c.getresponse().read()
        sock = c.sock
        n = 1000
        t0 = time.time()
        for _ in range(n):
            c.request("GET", "/v1/payments/" + pk, headers=h)
            r = c.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
        dt = time.time() - t0
        self.assertIs(c.sock, sock)            # the connection was reused throughout
        c.close()
        sys.stderr.write("[%d keep-alive lookups in %.2fs = %.0f req/s] " % (n, dt, n / dt))
        self.assertLess(dt, 10.0)

    def test_unknown_paths_and_methods(self):
        self.assertErr(self.call("GET", "/v1/nothing"), 404, "NOT_FOUND")
        self.assertErr(self.call("DELETE", "/v1/payments/confirm"), 405, "METHOD_NOT_ALLOWED")
        self.assertErr(self.call("GET", "/sim/nothing", auth=None), 404, "NOT_FOUND")
        self.assertEqual(self.call("GET", "/", auth=None)[0], 404)


class CliTest(unittest.TestCase):
    def test_refuses_non_loopback(self):
        for host in ("0.0.0.0", "8.8.8.8", "example.com", "::"):
            r = subprocess.run([PYTHON, SANDBOX, "--host", host, "--port", "0"],
                               capture_output=True, timeout=20)
            self.assertEqual(r.returncode, 2, host)
            self.assertIn(b"loopback", r.stderr)

    def test_default_keys_and_clean_sigterm(self):
        tmp = tempfile.mkdtemp(prefix="sandbox_cli_")
        pid_file = os.path.join(tmp, "pid")
        proc, port = start_sandbox([], env_keys=None, pid_file=pid_file)
        try:
            with open(pid_file) as fh:
                self.assertEqual(int(fh.read()), proc.pid)
            for key, want in (("test_sk_sandbox_0000000000000000", 404),
                              ("test_gsk_docs_OaPz8L5KdmQXkzRz3y47BMw6", 404),
                              (KEY1, 401)):
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/v1/payments/nope", headers={"Authorization": basic(key)})
                r = c.getresponse()
                r.read()
                c.close()
                self.assertEqual(r.status, want, key)
        finally:
            rc = stop_pid(proc)
        self.assertEqual(rc, 0)
        self.assertFalse(os.path.exists(pid_file))
        os.rmdir(tmp)


if __name__ == "__main__":
    unittest.main()
