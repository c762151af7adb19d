#!/usr/bin/python3
"""Toss Payments gateway sandbox (test double for the product's payment client).

What this file is for
---------------------
A single-file, standard-library-only HTTP server that speaks the Toss Payments
core API v1 (``/v1/payments/...``) as described in /work/shared/PG_APIS.md, so
the product's C client (libcurl) can be tested against it without the network,
and that serves a fake checkout page (``/sim/checkout``) so a person can top up
points from a browser in the local stack.

It also exposes a small JSON control API under ``/sim/`` for tests: an
injectable clock, deterministic and seeded-random fault injection
(delay / 5xx / commit-then-drop / commit-then-500 / truncated JSON / any error
code), request statistics and a reset.  See tests/sandbox/README.md.

It only ever binds loopback addresses.  State lives in memory; nothing is
written to disk per request (only the optional pid file at start-up).

Usage:
    python3 tests/sandbox/gateway_sandbox.py --host 127.0.0.1 --port PORT \
        [--secret-key KEY ...] [--pid-file FILE] [--verbose]

On start it prints one line ``gateway_sandbox listening on http://HOST:PORT``
to stdout (useful with ``--port 0``).  SIGTERM / SIGINT stop it with exit 0.
"""

import argparse
import base64
import binascii
import html
import ipaddress
import json
import os
import random
import re
import secrets
import signal
import socket
import socketserver
import string
import sys
import threading
import time
import traceback
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

# --------------------------------------------------------------------------
# Constants
# --------------------------------------------------------------------------

KST = timezone(timedelta(hours=9))
DEFAULT_SECRET_KEYS = ("test_sk_sandbox_0000000000000000",
                       "test_gsk_docs_OaPz8L5KdmQXkzRz3y47BMw6")
CONFIRM_SESSION_SECONDS = 10 * 60          # confirm within 10 min of checkout
IN_PROGRESS_VALIDITY_SECONDS = 30 * 60     # IN_PROGRESS -> EXPIRED after 30 min
IDEMPOTENCY_TTL_SECONDS = 15 * 24 * 3600   # Idempotency-Key valid 15 days
IDEMPOTENCY_KEY_MAX = 300
MAX_BODY_BYTES = 1 << 20
MAX_CHECKOUT_AMOUNT = 10 ** 10
API_VERSION = "2022-11-16"
ORDER_ID_RE = re.compile(r"[A-Za-z0-9_-]{6,64}\Z")
KEY_ALPHABET = string.ascii_letters + string.digits

APPROVED_STATES = ("DONE", "PARTIAL_CANCELED", "CANCELED")
FAULT_ACTIONS = ("delay", "error5xx", "approve_then_drop", "approve_then_500",
                 "truncated_json", "error")
DEFAULT_RANDOM_ACTIONS = ("error5xx", "approve_then_drop", "approve_then_500",
                          "truncated_json")

# Every error code of PG_APIS.md section 1.6 (plus 1.7 and the redirect codes)
# with its HTTP status and a Korean / English message.
ERRORS = {
    # ---- 400
    "ALREADY_PROCESSED_PAYMENT": (400, "이미 처리된 결제 입니다.", "This payment has already been processed."),
    "PROVIDER_ERROR": (400, "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요.", "A temporary error occurred. Please try again shortly."),
    "EXCEED_MAX_CARD_INSTALLMENT_PLAN": (400, "설정 가능한 최대 할부 개월 수를 초과했습니다.", "Exceeded the maximum card installment plan."),
    "INVALID_REQUEST": (400, "잘못된 요청입니다.", "The request is invalid."),
    "INVALID_API_KEY": (400, "잘못된 시크릿키 연동 정보 입니다.", "Invalid secret key integration."),
    "NOT_ALLOWED_POINT_USE": (400, "포인트 사용이 불가한 카드로 카드 포인트 결제에 실패했습니다.", "Card point payment failed: this card does not allow point use."),
    "INVALID_REJECT_CARD": (400, "카드 사용이 거절되었습니다. 카드사 문의가 필요합니다.", "The card was rejected. Please contact the card company."),
    "BELOW_MINIMUM_AMOUNT": (400, "신용카드는 결제금액이 100원 이상, 계좌는 200원 이상부터 결제가 가능합니다.", "Card payments must be at least 100 KRW and account payments at least 200 KRW."),
    "INVALID_CARD_EXPIRATION": (400, "카드 정보를 다시 확인해주세요. (유효기간)", "Please check the card expiration date."),
    "INVALID_STOPPED_CARD": (400, "정지된 카드 입니다.", "This card is suspended."),
    "INVALID_CARD_NUMBER": (400, "카드번호를 다시 확인해주세요.", "Please check the card number."),
    "INVALID_CARD_LOST_OR_STOLEN": (400, "분실 혹은 도난 카드입니다.", "This card was reported lost or stolen."),
    "INVALID_CARD_INSTALLMENT_PLAN": (400, "할부 개월 정보가 잘못되었습니다.", "Invalid installment plan."),
    "EXCEED_MAX_DAILY_PAYMENT_COUNT": (400, "하루 결제 가능 횟수를 초과했습니다.", "Exceeded the daily payment count."),
    "EXCEED_MAX_PAYMENT_AMOUNT": (400, "하루 결제 가능 금액을 초과했습니다.", "Exceeded the maximum payment amount."),
    "EXCEED_MAX_AMOUNT": (400, "거래금액 한도를 초과했습니다.", "Exceeded the transaction amount limit."),
    "NOT_SUPPORTED_INSTALLMENT_PLAN_CARD_OR_MERCHANT": (400, "할부가 지원되지 않는 카드 또는 가맹점 입니다.", "Installments are not supported for this card or merchant."),
    "NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN": (400, "할부가 지원되지 않는 카드입니다.", "Monthly installments are not supported for this card."),
    "NOT_SUPPORTED_METHOD": (400, "지원되지 않는 결제수단입니다.", "Unsupported payment method."),
    "NOT_SUPPORTED_CARD_TYPE": (400, "지원되지 않는 카드 종류입니다.", "Unsupported card type."),
    "INVALID_AUTHORIZE_AUTH": (400, "유효하지 않은 인증 방식입니다.", "Invalid authentication method."),
    "UNAPPROVED_ORDER_ID": (400, "아직 승인되지 않은 주문번호입니다.", "This order has not been approved yet."),
    "CARD_PROCESSING_ERROR": (400, "카드사에서 오류가 발생했습니다.", "An error occurred at the card company."),
    "NOT_FOUND_TERMINAL_ID": (400, "단말기번호(Terminal Id)가 없습니다. 토스페이먼츠로 문의 바랍니다.", "No terminal id. Please contact Toss Payments."),
    "DUPLICATED_ORDER_ID": (400, "이미 승인 및 취소가 진행된 중복된 주문번호 입니다. 다른 주문번호로 진행해주세요.", "This orderId was already approved or canceled. Please use another orderId."),
    "INVALID_ORDER_ID": (400, "주문번호는 6자 이상 64자 이하의 영문 대소문자, 숫자, 특수문자 -, _ 만 허용됩니다.", "orderId must be 6 to 64 characters of A-Z, a-z, 0-9, - and _."),
    "INVALID_IDEMPOTENCY_KEY": (400, "멱등키는 300자 이하로 입력해주세요.", "The Idempotency-Key must be 1 to 300 characters."),
    # Documented as 403 vs 400 (unconfirmed); this sandbox answers 400.
    "INCORRECT_BASIC_AUTH_FORMAT": (400, "잘못된 요청입니다. ':' 를 포함해 인코딩해주세요.", "Incorrect Basic auth format. Encode the key followed by ':'."),
    "ALREADY_CANCELED_PAYMENT": (400, "이미 취소된 결제 입니다.", "This payment has already been canceled."),
    "REFUND_REJECTED": (400, "환불이 거절됐습니다. 결제사에 문의 부탁드립니다.", "The refund was rejected. Please contact the payment provider."),
    "PAY_PROCESS_CANCELED": (400, "사용자에 의해 결제가 취소되었습니다.", "The payment was canceled by the user."),
    "PAY_PROCESS_ABORTED": (400, "결제 진행 중 승인에 실패하여 결제가 중단되었습니다.", "The payment was aborted because the approval failed."),
    # ---- 401
    "UNAUTHORIZED_KEY": (401, "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다.", "Unauthorized secret key or client key."),
    # ---- 403
    "REJECT_CARD_PAYMENT": (403, "한도초과 혹은 잔액부족으로 결제에 실패했습니다.", "Payment failed: over the limit or insufficient balance."),
    "REJECT_CARD_COMPANY": (403, "결제 승인이 거절되었습니다.", "The card company declined the payment."),
    "REJECT_ACCOUNT_PAYMENT": (403, "잔액부족으로 결제에 실패했습니다.", "Payment failed: insufficient account balance."),
    "FORBIDDEN_REQUEST": (403, "허용되지 않은 요청입니다.", "Forbidden request."),
    "EXCEED_MAX_AUTH_COUNT": (403, "최대 인증 횟수를 초과했습니다. 카드사로 문의해주세요.", "Exceeded the maximum authentication count. Please contact the card company."),
    "EXCEED_MAX_ONE_DAY_AMOUNT": (403, "일일 한도를 초과했습니다.", "Exceeded the daily limit."),
    "NOT_AVAILABLE_BANK": (403, "은행 서비스 시간이 아닙니다.", "The bank is not available at this time."),
    "INVALID_PASSWORD": (403, "결제 비밀번호가 일치하지 않습니다.", "The payment password does not match."),
    "FDS_ERROR": (403, "[토스페이먼츠] 위험거래가 감지되어 결제가 제한됩니다.", "[Toss Payments] A risky transaction was detected; the payment is restricted."),
    "NOT_CANCELABLE_AMOUNT": (403, "취소 할 수 없는 금액 입니다.", "This amount cannot be canceled."),
    "NOT_CANCELABLE_PAYMENT": (403, "취소 할 수 없는 결제 입니다.", "This payment cannot be canceled."),
    "FORBIDDEN_CONSECUTIVE_REQUEST": (403, "반복적인 요청은 허용되지 않습니다. 잠시 후 다시 시도해주세요.", "Consecutive requests are not allowed. Please try again shortly."),
    "EXCEED_MAX_REFUND_DUE": (403, "환불 가능한 기간이 지났습니다.", "The refund period has passed."),
    # ---- 404
    "NOT_FOUND_PAYMENT": (404, "존재하지 않는 결제 정보 입니다.", "The payment does not exist."),
    "NOT_FOUND_PAYMENT_SESSION": (404, "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다.", "The payment session expired; no payment data exists."),
    "NOT_FOUND": (404, "존재하지 않는 API 입니다.", "No such API."),
    # ---- 405 / 409 / 413 (sandbox plumbing)
    "METHOD_NOT_ALLOWED": (405, "허용되지 않는 메서드입니다.", "Method not allowed."),
    "IDEMPOTENT_REQUEST_PROCESSING": (409, "이전 멱등 요청이 처리 중입니다. 잠시 후 다시 시도해주세요.", "A previous request with this Idempotency-Key is still being processed. Please retry later."),
    "PAYLOAD_TOO_LARGE": (413, "요청 본문이 너무 큽니다.", "Request body too large."),
    # ---- 500
    "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING": (500, "결제가 완료되지 않았어요. 다시 시도해주세요.", "The payment was not completed. Please try again."),
    "FAILED_INTERNAL_SYSTEM_PROCESSING": (500, "내부 시스템 처리 작업이 실패했습니다. 잠시 후 다시 시도해주세요.", "Internal system processing failed. Please try again shortly."),
    "UNKNOWN_PAYMENT_ERROR": (500, "결제에 실패했어요. 같은 문제가 반복된다면 은행이나 카드사로 문의해주세요.", "The payment failed. If this keeps happening, contact your bank or card company."),
    "COMMON_ERROR": (500, "일시적인 오류가 발생했습니다. 잠시 후 다시 시도해주세요.", "A temporary error occurred. Please try again shortly."),
    "UNKNOWN_ERROR": (500, "알 수 없는 에러가 발생했습니다.", "An unknown error occurred."),
    "FAILED_REFUND_PROCESS": (500, "은행 응답시간 지연이나 일시적인 오류로 환불요청에 실패했습니다.", "The refund failed because of a bank delay or a temporary error."),
}


def error_status(code):
    """HTTP status for an error code: the table, then the documented
    wildcard families (EXCEED_MAX_*, NOT_SUPPORTED_* are 400), else 400."""
    entry = ERRORS.get(code)
    if entry is not None:
        return entry[0]
    return 400


def error_message(code, en):
    entry = ERRORS.get(code)
    if entry is None:
        return ("Test error code: " + code) if en else ("테스트 에러 코드입니다: " + code)
    return entry[2] if en else entry[1]


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_body(code, en, message=None):
    return dumps({"code": code, "message": message if message is not None else error_message(code, en)})


def kst_iso(epoch):
    """ISO-8601 Korea time to the second, e.g. 2024-01-15T10:30:05+09:00."""
    return datetime.fromtimestamp(int(epoch), KST).isoformat()


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def rand_token(n):
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(n))


class ApiError(Exception):
    def __init__(self, code, message=None, status=None):
        super().__init__(code)
        self.code = code
        self.message = message
        self.status = status if status is not None else error_status(code)


# --------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------

class Payment:
    __slots__ = ("owner", "payment_key", "order_id", "order_name", "total", "balance",
                 "status", "outcome", "requested_at", "approved_at", "cancels", "failure",
                 "last_tx", "approve_no", "seq")


class Clock:
    """Real time plus an offset that tests move forward with /sim/clock."""

    def __init__(self):
        self.offset = 0.0

    def now(self):
        return time.time() + self.offset


class Fault:
    __slots__ = ("id", "path", "order_id", "action", "delay_ms", "status", "code",
                 "message", "count", "remaining", "hits")

    def to_json(self):
        return {"id": self.id, "path": self.path, "orderId": self.order_id,
                "action": self.action, "delayMs": self.delay_ms, "status": self.status,
                "code": self.code, "message": self.message, "count": self.count,
                "remaining": self.remaining, "hits": self.hits}


class State:
    def __init__(self, keys):
        self.keys = list(keys)
        self.key_set = frozenset(keys)
        self.lock = threading.Lock()
        self.clock = Clock()
        self.reset_locked()

    def reset_locked(self):
        self.payments = {}        # paymentKey -> Payment
        self.orders = {}          # (owner, orderId) -> [Payment, ...] in mint order
        self.idem = {}            # (owner, method, path, key) -> [done, created, status, body, ctype]
        self.faults = []
        self.fault_seq = 0
        self.random_cfg = None
        self.seq = 0
        self.generation = getattr(self, "generation", 0) + 1
        self.stats_requests = 0
        self.stats_confirm = {}
        self.stats_confirm_total = 0
        self.stats_confirm_replays = {}
        self.stats_lookups = 0
        self.stats_cancels = 0
        self.clock.offset = 0.0

    # -- payments ---------------------------------------------------------
    def refresh(self, p, now):
        """Lazy 30-minute expiry of an unconfirmed payment."""
        if p.status == "IN_PROGRESS" and now - p.requested_at > IN_PROGRESS_VALIDITY_SECONDS:
            p.status = "EXPIRED"
            p.failure = "NOT_FOUND_PAYMENT_SESSION"

    def order_has_approved(self, owner, order_id, exclude=None):
        for q in self.orders.get((owner, order_id), ()):
            if q is not exclude and q.status in APPROVED_STATES:
                return True
        return False

    def mint(self, owner, order_id, amount, order_name, outcome):
        """Record an authenticated (IN_PROGRESS) payment; caller holds the lock."""
        if self.order_has_approved(owner, order_id):
            raise ApiError("DUPLICATED_ORDER_ID")
        while True:
            pk = "tgen_" + rand_token(20)
            if pk not in self.payments:
                break
        p = Payment()
        p.owner = owner
        p.payment_key = pk
        p.order_id = order_id
        p.order_name = order_name
        p.total = amount
        p.balance = amount
        p.status = "IN_PROGRESS"
        p.outcome = outcome
        p.requested_at = self.clock.now()
        p.approved_at = None
        p.cancels = []
        p.failure = None
        p.last_tx = None
        p.approve_no = None
        self.seq += 1
        p.seq = self.seq
        self.payments[pk] = p
        self.orders.setdefault((owner, order_id), []).append(p)
        return p

    def by_order(self, owner, order_id):
        lst = self.orders.get((owner, order_id))
        if not lst:
            return None
        for q in lst:
            if q.status in APPROVED_STATES:
                return q
        return lst[-1]


def render_payment(p, en, base):
    vat = (2 * p.balance + 11) // 22          # round(balance / 11), Toss style
    card = None
    if p.approved_at is not None:
        card = {
            "issuerCode": "71", "acquirerCode": "71", "number": "43301234****123*",
            "installmentPlanMonths": 0, "isInterestFree": False, "interestPayer": None,
            "approveNo": p.approve_no, "useCardPoint": False,
            "cardType": "CREDIT" if en else "신용", "ownerType": "PERSONAL" if en else "개인",
            "acquireStatus": "READY", "amount": p.total,
        }
    cancels = None
    if p.cancels:
        cancels = []
        for c in p.cancels:
            cancels.append({
                "transactionKey": c["transactionKey"], "cancelReason": c["cancelReason"],
                "taxExemptionAmount": 0, "canceledAt": kst_iso(c["canceledAt"]),
                "transferDiscountAmount": 0, "easyPayDiscountAmount": 0,
                "receiptKey": c["receiptKey"], "cancelAmount": c["cancelAmount"],
                "taxFreeAmount": 0, "refundableAmount": c["refundableAmount"],
                "cancelStatus": "DONE", "cancelRequestId": None,
            })
    failure = None
    if p.failure:
        failure = {"code": p.failure, "message": error_message(p.failure, en)}
    pk_q = quote(p.payment_key, safe="")
    return {
        "mId": "tosspayments",
        "lastTransactionKey": p.last_tx,
        "paymentKey": p.payment_key,
        "orderId": p.order_id,
        "orderName": p.order_name,
        "taxExemptionAmount": 0,
        "status": p.status,
        "requestedAt": kst_iso(p.requested_at),
        "approvedAt": kst_iso(p.approved_at) if p.approved_at is not None else None,
        "useEscrow": False,
        "cultureExpense": False,
        "card": card,
        "virtualAccount": None,
        "transfer": None,
        "mobilePhone": None,
        "giftCertificate": None,
        "cashReceipt": None,
        "cashReceipts": None,
        "discount": None,
        "cancels": cancels,
        "secret": None,
        "type": "NORMAL",
        "easyPay": None,
        "country": "KR",
        "failure": failure,
        "isPartialCancelable": True,
        "receipt": {"url": base + "/sim/receipt/" + pk_q},
        "checkout": {"url": base + "/v1/payments/" + pk_q + "/checkout"},
        "currency": "KRW",
        "totalAmount": p.total,
        "balanceAmount": p.balance,
        "suppliedAmount": p.balance - vat,
        "vat": vat,
        "taxFreeAmount": 0,
        "method": "CARD" if en else "카드",
        "version": API_VERSION,
        "metadata": None,
    }


# --------------------------------------------------------------------------
# HTML (checkout page)
# --------------------------------------------------------------------------

PAGE_CSS = """
body{font-family:system-ui,-apple-system,"Apple SD Gothic Neo","Malgun Gothic","Noto Sans KR",sans-serif;
background:#f2f4f6;margin:0;padding:16px;color:#191f28}
main{max-width:440px;margin:40px auto;background:#fff;border-radius:16px;padding:28px;
box-shadow:0 2px 12px rgba(0,0,0,.08)}
.badge{display:inline-block;background:#fff4e5;color:#b25e00;border-radius:8px;padding:2px 8px;font-size:13px}
h1{font-size:22px;margin:12px 0 20px}
dl{margin:0 0 24px}dt{color:#6b7684;font-size:13px;margin-top:12px}dd{margin:2px 0 0;font-size:16px;word-break:break-all}
.amount{font-size:28px;font-weight:700;color:#3182f6}
button{width:100%;border:0;border-radius:10px;padding:14px;font-size:16px;margin-top:10px;cursor:pointer}
.pay{background:#3182f6;color:#fff}.cancel{background:#e8f3ff;color:#1b64da}
.reject{background:#fff0f0;color:#d22030}
details{margin-top:18px;color:#6b7684;font-size:14px}
.err{background:#fff0f0;border-radius:10px;padding:12px;color:#d22030}
a{color:#1b64da}
"""


def html_page(title, inner):
    return ("<!DOCTYPE html>\n<html lang=\"ko\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>" + html.escape(title) + "</title><style>" + PAGE_CSS + "</style></head>"
            "<body><main>" + inner + "</main></body></html>\n").encode("utf-8")


def won(amount):
    return "{:,}원".format(amount)


def add_query(url, pairs):
    """Append query pairs to url ('?' or '&' as needed), keeping a #fragment last."""
    frag = ""
    if "#" in url:
        url, frag = url.split("#", 1)
        frag = "#" + frag
    q = urlencode(pairs, quote_via=quote)
    if url.endswith("?") or url.endswith("&"):
        return url + q + frag
    return url + ("&" if "?" in url else "?") + q + frag


def valid_http_url(u):
    if not isinstance(u, str) or not u or len(u) > 2048:
        return False
    if any(ord(ch) < 0x21 or ord(ch) == 0x7f for ch in u):
        return False
    try:
        parts = urlsplit(u)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# --------------------------------------------------------------------------
# HTTP server
# --------------------------------------------------------------------------

_date_cache = [0, ""]


def http_date():
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = formatdate(now, usegmt=True)
    return _date_cache[1]


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def server_bind(self):
        # Skip HTTPServer.server_bind's reverse-DNS getfqdn() (can be slow).
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
            return
        sys.stderr.write("gateway_sandbox: error handling request from %s\n" % (client_address,))
        traceback.print_exc()


class SandboxServer6(SandboxServer):
    address_family = socket.AF_INET6


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TossSandbox/1.0"
    sys_version = ""
    timeout = 120          # idle keep-alive connections are closed after this
    # set on the class by main()
    state = None
    verbose = False
    base_url = ""

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    # ---- plumbing -------------------------------------------------------
    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("gateway_sandbox: %s - %s\n" % (self.address_string(), fmt % args))

    def log_request(self, code="-", size="-"):
        pass        # our own one-line log is written in _dispatch

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def _read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te and te.lower() != "identity":
            if "chunked" not in te.lower():
                raise ApiError("INVALID_REQUEST", "unsupported Transfer-Encoding")
            return self._read_chunked()
        cl = self.headers.get("Content-Length")
        if cl is None:
            return b""
        try:
            n = int(cl.strip())
        except ValueError:
            self.close_connection = True
            raise ApiError("INVALID_REQUEST", "bad Content-Length")
        if n < 0:
            self.close_connection = True
            raise ApiError("INVALID_REQUEST", "bad Content-Length")
        if n > MAX_BODY_BYTES:
            self.close_connection = True
            raise ApiError("PAYLOAD_TOO_LARGE")
        data = self.rfile.read(n) if n else b""
        if len(data) != n:
            self.close_connection = True
            raise ConnectionError("short body")
        return data

    def _read_chunked(self):
        out = []
        total = 0
        while True:
            line = self.rfile.readline(1026)
            if not line:
                raise ConnectionError("eof in chunked body")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise ApiError("INVALID_REQUEST", "bad chunk size")
            if size == 0:
                while True:      # trailers
                    t = self.rfile.readline(65537)
                    if t in (b"\r\n", b"\n", b""):
                        break
                return b"".join(out)
            total += size
            if total > MAX_BODY_BYTES:
                self.close_connection = True
                raise ApiError("PAYLOAD_TOO_LARGE")
            out.append(self.rfile.read(size))
            self.rfile.readline(3)

    def _write(self, status, body, ctype="application/json", extra=None):
        """Write a whole response in a single send (no Nagle stalls)."""
        reason = self.responses.get(status, ("Unknown",))[0]
        head = ["HTTP/1.1 %d %s" % (status, reason),
                "Server: " + self.server_version,
                "Date: " + http_date(),
                "Content-Type: " + ctype,
                "Content-Length: %d" % len(body)]
        if extra:
            for k, v in extra:
                head.append("%s: %s" % (k, v))
        if self.close_connection:
            head.append("Connection: close")
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        self._status = status
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _json(self, status, obj):
        self._write(status, dumps(obj))

    def _err(self, code, en=False, message=None, status=None):
        self._write(status if status is not None else error_status(code),
                    error_body(code, en, message))

    def _drop(self):
        """Close the TCP connection without writing a single byte."""
        self.close_connection = True
        self._status = "drop"
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.connection.close()
        except OSError:
            pass

    def _dispatch(self, method):
        t0 = time.perf_counter()
        self._status = None
        self._note = ""
        path, _, query = self.path.partition("?")
        en = False
        try:
            en = self._is_english()
            body = self._read_body() if method in ("POST", "PUT", "PATCH", "DELETE") else b""
            if method == "GET" and (self.headers.get("Content-Length") or self.headers.get("Transfer-Encoding")):
                body = self._read_body()
            if path.startswith("/v1/"):
                self._handle_api(method, path, body, en)
            elif path.startswith("/sim/") or path == "/sim":
                self._handle_sim(method, path, query, body)
            else:
                self._err("NOT_FOUND", en)
        except ApiError as e:
            self._err(e.code, en, e.message, e.status)
        except (ConnectionError, TimeoutError, socket.timeout):
            self.close_connection = True
            self._status = "disconnected"
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            self._err("FAILED_INTERNAL_SYSTEM_PROCESSING", en)
        if self.verbose:
            sys.stderr.write("gateway_sandbox: %s %s %s %.1fms%s\n" % (
                method, path, self._status, (time.perf_counter() - t0) * 1000.0, self._note))

    def _is_english(self):
        al = self.headers.get("Accept-Language")
        if not al:
            return False
        first = al.split(",", 1)[0].split(";", 1)[0].strip().lower()
        return first == "en" or first.startswith("en-")

    def _auth(self):
        """Return the secret key or raise ApiError (Toss Basic auth rules)."""
        h = self.headers.get("Authorization")
        if not h:
            raise ApiError("UNAUTHORIZED_KEY")
        parts = h.strip().split(None, 1)
        if len(parts) != 2 or parts[0].lower() != "basic":
            raise ApiError("UNAUTHORIZED_KEY")
        try:
            decoded = base64.b64decode(parts[1].strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise ApiError("UNAUTHORIZED_KEY")
        if ":" not in decoded:
            # PG_APIS.md: 403 vs 400 is unconfirmed; the sandbox answers 400.
            raise ApiError("INCORRECT_BASIC_AUTH_FORMAT")
        key = decoded.split(":", 1)[0]        # the password part is ignored
        if key not in self.state.key_set:
            raise ApiError("UNAUTHORIZED_KEY")
        return key

    # ---- /v1 API ----------------------------------------------------------
    def _handle_api(self, method, path, raw, en):
        st = self.state
        segs = path.split("/")       # ['', 'v1', 'payments', ...]
        route = None
        arg = None
        if len(segs) >= 4 and segs[2] == "payments" and all(segs[3:]):
            if len(segs) == 4 and segs[3] == "confirm" and method == "POST":
                route = "confirm"
            elif len(segs) == 5 and segs[3] == "orders":
                route, arg = "by_order", unquote(segs[4])
            elif len(segs) == 5 and segs[4] == "cancel":
                route, arg = "cancel", unquote(segs[3])
            elif len(segs) == 4:
                route, arg = "by_key", unquote(segs[3])
        allowed = {"confirm": "POST", "cancel": "POST", "by_order": "GET", "by_key": "GET"}

        data = None
        if method == "POST":
            try:
                data = json.loads(raw.decode("utf-8")) if raw else None
            except (UnicodeDecodeError, ValueError):
                data = ValueError
        with st.lock:
            st.stats_requests += 1
            if route == "confirm":
                st.stats_confirm_total += 1
                oid = data.get("orderId") if isinstance(data, dict) else None
                if isinstance(oid, str):
                    st.stats_confirm[oid] = st.stats_confirm.get(oid, 0) + 1
            elif method == "GET" and route in ("by_order", "by_key"):
                st.stats_lookups += 1
            elif route == "cancel" and method == "POST":
                st.stats_cancels += 1

        if route is None:
            raise ApiError("NOT_FOUND")
        if allowed[route] != method:
            raise ApiError("METHOD_NOT_ALLOWED")

        owner = self._auth()

        idem_key = None
        if method == "POST":
            idem_key = self.headers.get("Idempotency-Key")
            if idem_key is not None and (len(idem_key) == 0 or len(idem_key) > IDEMPOTENCY_KEY_MAX):
                raise ApiError("INVALID_IDEMPOTENCY_KEY")

        test_code = (self.headers.get("TossPayments-Test-Code") or "").strip()
        if test_code:
            self._note = " test-code=" + test_code
            self._err(test_code, en)
            return

        # order id the request is about (for fault matching)
        order_id = None
        if route == "confirm":
            if isinstance(data, dict) and isinstance(data.get("orderId"), str):
                order_id = data["orderId"]
        elif route == "by_order":
            order_id = arg
        else:
            p = st.payments.get(arg)
            if p is not None:
                order_id = p.order_id
        fault = self._pick_fault(path, order_id, route == "confirm")
        action = fault["action"] if fault else None
        if fault:
            self._note = " fault=%s(%s)" % (action, fault["source"])

        if action in ("error", "error5xx"):
            self._err(fault["code"], en, fault["message"], fault["status"])
            return

        ident = None
        replay = None
        gen = None
        if idem_key is not None:
            ident = (owner, method, path, idem_key)
            with st.lock:
                now = st.clock.now()
                entry = st.idem.get(ident)
                if entry is not None and now - entry[1] > IDEMPOTENCY_TTL_SECONDS:
                    del st.idem[ident]
                    entry = None
                if entry is not None:
                    if not entry[0]:
                        self._err("IDEMPOTENT_REQUEST_PROCESSING", en)
                        return
                    replay = (entry[2], entry[3], entry[4])
                else:
                    st.idem[ident] = [False, now, None, None, None]
                    gen = st.generation
                    if len(st.idem) % 4096 == 0:
                        self._prune_idem(now)

        if action == "delay":
            time.sleep(fault["delayMs"] / 1000.0)

        if replay is not None:
            status, body, ctype = replay
            self._note += " replay"
            if route == "confirm" and order_id is not None:
                with st.lock:
                    st.stats_confirm_replays[order_id] = st.stats_confirm_replays.get(order_id, 0) + 1
        else:
            try:
                status, body = self._execute(route, arg, owner, data, en)
            except BaseException:
                if ident is not None:
                    with st.lock:
                        if st.generation == gen:
                            st.idem.pop(ident, None)
                raise
            ctype = "application/json"
            if ident is not None:
                with st.lock:
                    if st.generation == gen:
                        e = st.idem.get(ident)
                        if e is not None:
                            e[0], e[2], e[3], e[4] = True, status, body, ctype

        if action == "approve_then_drop":
            self._drop()
            return
        if action == "approve_then_500":
            self._err(fault["code"], en, fault["message"], fault["status"])
            return
        if action == "truncated_json":
            body = body[: len(body) // 2]
        self._write(status, body, ctype)

    def _prune_idem(self, now):
        st = self.state
        dead = [k for k, e in st.idem.items() if e[0] and now - e[1] > IDEMPOTENCY_TTL_SECONDS]
        for k in dead:
            del st.idem[k]

    def _pick_fault(self, path, order_id, is_confirm):
        st = self.state
        with st.lock:
            for f in st.faults:
                if not path.startswith(f.path):
                    continue
                if f.order_id is not None and f.order_id != order_id:
                    continue
                f.hits += 1
                if f.remaining > 0:
                    f.remaining -= 1
                    if f.remaining == 0:
                        st.faults.remove(f)
                return {"action": f.action, "delayMs": f.delay_ms, "status": f.status,
                        "code": f.code, "message": f.message, "source": "fault#%d" % f.id}
            cfg = st.random_cfg
            if is_confirm and cfg is not None:
                cfg["calls"] += 1
                action = None
                if cfg["rng"].random() < cfg["rate"]:
                    action = cfg["actions"][cfg["rng"].randrange(len(cfg["actions"]))]
                hist = cfg["history"]
                if len(hist) < 10000:
                    hist.append(action)
                if action is None:
                    return None
                cfg["applied"] += 1
                status, code = cfg["status"], cfg["code"]
                if action in ("error5xx", "approve_then_500"):
                    if status is None or status < 500:
                        status = 500
                    code = code or "FAILED_INTERNAL_SYSTEM_PROCESSING"
                elif action == "error":
                    code = code or "PROVIDER_ERROR"
                    status = status or error_status(code)
                return {"action": action, "delayMs": cfg["delayMs"], "status": status,
                        "code": code, "message": cfg["message"], "source": "random"}
        return None

    def _execute(self, route, arg, owner, data, en):
        try:
            if route == "confirm":
                return self._confirm(owner, data, en)
            if route == "cancel":
                return self._cancel(owner, arg, data, en)
            if route == "by_key":
                return self._lookup(owner, arg, None, en)
            return self._lookup(owner, None, arg, en)
        except ApiError as e:
            return e.status, error_body(e.code, en, e.message)

    def _confirm(self, owner, data, en):
        st = self.state
        if not isinstance(data, dict):
            raise ApiError("INVALID_REQUEST")
        pk, oid, amount = data.get("paymentKey"), data.get("orderId"), data.get("amount")
        if not isinstance(pk, str) or not 1 <= len(pk) <= 200:
            raise ApiError("INVALID_REQUEST",
                           "paymentKey is required (string, up to 200 chars)." if en else "paymentKey는 필수 값입니다. (200자 이하 문자열)")
        if not isinstance(oid, str) or not 1 <= len(oid) <= 64:
            raise ApiError("INVALID_REQUEST",
                           "orderId is required (string, up to 64 chars)." if en else "orderId는 필수 값입니다. (64자 이하 문자열)")
        if not is_int(amount) or amount <= 0:
            raise ApiError("INVALID_REQUEST",
                           "amount is required (positive integer)." if en else "amount는 필수 값입니다. (양의 정수)")
        with st.lock:
            now = st.clock.now()
            p = st.payments.get(pk)
            if p is None:
                raise ApiError("NOT_FOUND_PAYMENT")
            if p.owner != owner or p.order_id != oid:
                raise ApiError("FORBIDDEN_REQUEST")
            st.refresh(p, now)
            if p.status in APPROVED_STATES or p.status == "ABORTED":
                raise ApiError("ALREADY_PROCESSED_PAYMENT")
            if p.status == "EXPIRED":
                raise ApiError("NOT_FOUND_PAYMENT_SESSION")
            if amount != p.total:
                raise ApiError("INVALID_REQUEST",
                               "The amount does not match the authenticated amount." if en else "결제 금액이 인증된 금액과 일치하지 않습니다.")
            if now - p.requested_at > CONFIRM_SESSION_SECONDS:
                raise ApiError("NOT_FOUND_PAYMENT_SESSION")
            if st.order_has_approved(owner, oid, exclude=p):
                raise ApiError("DUPLICATED_ORDER_ID")
            if p.outcome == "reject":
                p.status = "ABORTED"
                p.failure = "REJECT_CARD_COMPANY"
                raise ApiError("REJECT_CARD_COMPANY")
            p.status = "DONE"
            p.approved_at = now
            p.last_tx = secrets.token_hex(16)
            p.approve_no = "%08d" % secrets.randbelow(10 ** 8)
            return 200, dumps(render_payment(p, en, self.base_url))

    def _lookup(self, owner, pk, oid, en):
        st = self.state
        with st.lock:
            if pk is not None:
                p = st.payments.get(pk)
                if p is not None and p.owner != owner:
                    p = None
            else:
                p = st.by_order(owner, oid)
            if p is None:
                raise ApiError("NOT_FOUND_PAYMENT")
            st.refresh(p, st.clock.now())
            return 200, dumps(render_payment(p, en, self.base_url))

    def _cancel(self, owner, pk, data, en):
        st = self.state
        if not isinstance(data, dict):
            raise ApiError("INVALID_REQUEST")
        reason = data.get("cancelReason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
            raise ApiError("INVALID_REQUEST",
                           "cancelReason is required (1 to 200 chars)." if en else "cancelReason은 필수 값입니다. (200자 이하)")
        amount = data.get("cancelAmount")
        if amount is not None and (not is_int(amount) or amount <= 0):
            raise ApiError("INVALID_REQUEST",
                           "cancelAmount must be a positive integer." if en else "cancelAmount는 양의 정수여야 합니다.")
        with st.lock:
            now = st.clock.now()
            p = st.payments.get(pk)
            if p is None or p.owner != owner:
                raise ApiError("NOT_FOUND_PAYMENT")
            st.refresh(p, now)
            if p.status == "CANCELED":
                raise ApiError("ALREADY_CANCELED_PAYMENT")
            if p.status not in ("DONE", "PARTIAL_CANCELED"):
                raise ApiError("NOT_CANCELABLE_PAYMENT")
            if amount is None:
                amount = p.balance
            if amount > p.balance:
                raise ApiError("NOT_CANCELABLE_AMOUNT")
            p.balance -= amount
            p.status = "CANCELED" if p.balance == 0 else "PARTIAL_CANCELED"
            tx = secrets.token_hex(16)
            p.last_tx = tx
            p.cancels.append({"transactionKey": tx, "cancelReason": reason, "canceledAt": now,
                              "receiptKey": secrets.token_hex(12), "cancelAmount": amount,
                              "refundableAmount": p.balance})
            return 200, dumps(render_payment(p, en, self.base_url))

    # ---- /sim control and checkout ---------------------------------------
    def _sim_json_body(self, raw, allow_empty=True):
        if not raw.strip():
            if allow_empty:
                return {}
            raise ApiError("INVALID_REQUEST", "JSON body required")
        try:
            d = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError("INVALID_REQUEST", "malformed JSON")
        if not isinstance(d, dict):
            raise ApiError("INVALID_REQUEST", "JSON object required")
        return d

    def _handle_sim(self, method, path, query, raw):
        st = self.state
        name = path[len("/sim/"):] if path.startswith("/sim/") else ""

        if name == "health":
            if method != "GET":
                raise ApiError("METHOD_NOT_ALLOWED")
            self._json(200, {"status": "UP"})
        elif name == "clock":
            if method == "POST":
                d = self._sim_json_body(raw, allow_empty=False)
                adv = d.get("advanceSeconds")
                if not isinstance(adv, (int, float)) or isinstance(adv, bool) or adv < 0 or adv != adv or adv > 1e10:
                    raise ApiError("INVALID_REQUEST", "advanceSeconds must be a number >= 0")
                with st.lock:
                    st.clock.offset += adv
            elif method != "GET":
                raise ApiError("METHOD_NOT_ALLOWED")
            with st.lock:
                now = st.clock.now()
                off = st.clock.offset
            self._json(200, {"now": kst_iso(now), "epochSeconds": int(now),
                             "offsetSeconds": int(off) if off == int(off) else off})
        elif name == "faults":
            if method == "GET":
                with st.lock:
                    cfg = st.random_cfg
                    rnd = None
                    if cfg is not None:
                        rnd = {k: cfg[k] for k in ("seed", "rate", "actions", "delayMs", "status",
                                                   "code", "message", "calls", "applied")}
                        rnd["history"] = list(cfg["history"])
                    self._json(200, {"faults": [f.to_json() for f in st.faults], "random": rnd})
            elif method == "DELETE":
                with st.lock:
                    n = len(st.faults) + (1 if st.random_cfg is not None else 0)
                    st.faults = []
                    st.random_cfg = None
                self._json(200, {"cleared": n})
            elif method == "POST":
                f = self._parse_fault(self._sim_json_body(raw))
                with st.lock:
                    st.fault_seq += 1
                    f.id = st.fault_seq
                    st.faults.append(f)
                self._json(200, {"id": f.id})
            else:
                raise ApiError("METHOD_NOT_ALLOWED")
        elif name == "faults/random":
            if method == "POST":
                cfg = self._parse_random(self._sim_json_body(raw))
                with st.lock:
                    st.random_cfg = cfg
                self._json(200, {"id": "random", "seed": cfg["seed"]})
            elif method == "DELETE":
                with st.lock:
                    st.random_cfg = None
                self._json(200, {"cleared": 1})
            else:
                raise ApiError("METHOD_NOT_ALLOWED")
        elif name.startswith("faults/") and name[7:].isdigit():
            if method != "DELETE":
                raise ApiError("METHOD_NOT_ALLOWED")
            fid = int(name[7:])
            with st.lock:
                before = len(st.faults)
                st.faults = [f for f in st.faults if f.id != fid]
                n = before - len(st.faults)
            if not n:
                raise ApiError("NOT_FOUND", "no such fault")
            self._json(200, {"cleared": n})
        elif name == "stats":
            if method != "GET":
                raise ApiError("METHOD_NOT_ALLOWED")
            with st.lock:
                self._json(200, {"requests": st.stats_requests,
                                 "confirmCalls": dict(st.stats_confirm),
                                 "confirmCallsTotal": st.stats_confirm_total,
                                 "confirmReplays": dict(st.stats_confirm_replays),
                                 "lookups": st.stats_lookups,
                                 "cancelCalls": st.stats_cancels})
        elif name == "reset":
            if method != "POST":
                raise ApiError("METHOD_NOT_ALLOWED")
            with st.lock:
                st.reset_locked()
            self._json(200, {"reset": True})
        elif name == "authorize":
            if method != "POST":
                raise ApiError("METHOD_NOT_ALLOWED")
            owner = self._auth()
            d = self._sim_json_body(raw, allow_empty=False)
            oid, amount = d.get("orderId"), d.get("amount")
            order_name = d.get("orderName", "포인트 충전")
            outcome = d.get("outcome", "pay")
            if not isinstance(oid, str) or not ORDER_ID_RE.match(oid):
                raise ApiError("INVALID_REQUEST", "orderId must be 6..64 chars of [A-Za-z0-9_-]")
            if not is_int(amount) or not 1 <= amount <= MAX_CHECKOUT_AMOUNT:
                raise ApiError("INVALID_REQUEST", "amount must be an integer 1..10^10")
            if not isinstance(order_name, str) or not 1 <= len(order_name) <= 100:
                raise ApiError("INVALID_REQUEST", "orderName must be 1..100 chars")
            if outcome not in ("pay", "reject"):
                raise ApiError("INVALID_REQUEST", "outcome must be pay or reject")
            with st.lock:
                p = st.mint(owner, oid, amount, order_name, outcome)
            self._json(200, {"paymentKey": p.payment_key, "orderId": oid, "amount": amount})
        elif name == "payments":
            if method != "GET":
                raise ApiError("METHOD_NOT_ALLOWED")
            with st.lock:
                now = st.clock.now()
                out = []
                for p in st.payments.values():
                    st.refresh(p, now)
                    out.append({"paymentKey": p.payment_key, "orderId": p.order_id,
                                "status": p.status, "totalAmount": p.total,
                                "balanceAmount": p.balance, "outcome": p.outcome,
                                "requestedAt": kst_iso(p.requested_at),
                                "keyIndex": st.keys.index(p.owner)})
            self._json(200, {"payments": out})
        elif name == "checkout":
            if method == "GET":
                self._checkout(parse_qs(query, keep_blank_values=True), None)
            elif method == "POST":
                try:
                    form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
                except UnicodeDecodeError:
                    form = {}
                action = (form.get("action") or [""])[0]
                if (form.get("decline") or [""])[0] and action == "pay":
                    action = "reject"
                self._checkout(form, action or "?")
            else:
                raise ApiError("METHOD_NOT_ALLOWED")
        elif name.startswith("receipt/") and method == "GET":
            self._receipt(unquote(name[len("receipt/"):]))
        else:
            raise ApiError("NOT_FOUND")

    def _parse_fault(self, d):
        f = Fault()
        path = d.get("path", "/v1/payments/confirm")
        if not isinstance(path, str) or not path.startswith("/v1"):
            raise ApiError("INVALID_REQUEST", "path must be a /v1 path prefix")
        oid = d.get("orderId")
        if oid is not None and not isinstance(oid, str):
            raise ApiError("INVALID_REQUEST", "orderId must be a string")
        action = d.get("action")
        if action not in FAULT_ACTIONS:
            raise ApiError("INVALID_REQUEST", "action must be one of " + ", ".join(FAULT_ACTIONS))
        count = d.get("count", 1)
        if not is_int(count) or (count < 1 and count != -1):
            raise ApiError("INVALID_REQUEST", "count must be a positive integer or -1")
        delay = d.get("delayMs", 1000)
        if not is_int(delay) or not 0 <= delay <= 600000:
            raise ApiError("INVALID_REQUEST", "delayMs must be an integer 0..600000")
        status, code, message = self._fault_error_fields(d, action)
        f.path, f.order_id, f.action, f.delay_ms = path, oid, action, delay
        f.status, f.code, f.message = status, code, message
        f.count = f.remaining = count
        f.hits = 0
        return f

    def _fault_error_fields(self, d, action):
        status, code, message = d.get("status"), d.get("code"), d.get("message")
        if status is not None and (not is_int(status) or not 100 <= status <= 599):
            raise ApiError("INVALID_REQUEST", "status must be an HTTP status number")
        if code is not None and (not isinstance(code, str) or not code):
            raise ApiError("INVALID_REQUEST", "code must be a non-empty string")
        if message is not None and not isinstance(message, str):
            raise ApiError("INVALID_REQUEST", "message must be a string")
        if action in ("error5xx", "approve_then_500"):
            if status is not None and status < 500:
                raise ApiError("INVALID_REQUEST", action + " needs a 5xx status")
            status = status or 500
            code = code or "FAILED_INTERNAL_SYSTEM_PROCESSING"
        elif action == "error":
            code = code or "PROVIDER_ERROR"
            status = status or error_status(code)
        return status, code, message

    def _parse_random(self, d):
        seed = d.get("seed", 0)
        if not is_int(seed):
            raise ApiError("INVALID_REQUEST", "seed must be an integer")
        rate = d.get("rate", 0.1)
        if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0.0 <= rate <= 1.0:
            raise ApiError("INVALID_REQUEST", "rate must be a number 0.0..1.0")
        actions = d.get("actions", list(DEFAULT_RANDOM_ACTIONS))
        if (not isinstance(actions, list) or not actions
                or any(a not in FAULT_ACTIONS for a in actions)):
            raise ApiError("INVALID_REQUEST", "actions must be a non-empty list of " + ", ".join(FAULT_ACTIONS))
        delay = d.get("delayMs", 1000)
        if not is_int(delay) or not 0 <= delay <= 600000:
            raise ApiError("INVALID_REQUEST", "delayMs must be an integer 0..600000")
        status, code, message = d.get("status"), d.get("code"), d.get("message")
        if status is not None and (not is_int(status) or not 100 <= status <= 599):
            raise ApiError("INVALID_REQUEST", "status must be an HTTP status number")
        if code is not None and (not isinstance(code, str) or not code):
            raise ApiError("INVALID_REQUEST", "code must be a non-empty string")
        if message is not None and not isinstance(message, str):
            raise ApiError("INVALID_REQUEST", "message must be a string")
        return {"seed": seed, "rate": float(rate), "actions": list(actions), "delayMs": delay,
                "status": status, "code": code, "message": message,
                "rng": random.Random(seed), "calls": 0, "applied": 0, "history": []}

    # ---- checkout page ----------------------------------------------------
    def _page(self, status, title, inner):
        self._write(status, html_page(title, inner), "text/html; charset=utf-8",
                    [("Cache-Control", "no-store")])

    def _checkout(self, q, action):
        st = self.state

        def one(name):
            v = q.get(name)
            return v[0] if v else None

        order_id = one("orderId")
        amount_s = one("amount")
        order_name = one("orderName") or "포인트 충전"
        success_url = one("successUrl")
        fail_url = one("failUrl")
        secret_key = one("secretKey")
        if action is None:
            action = one("outcome") or None     # GET ...&outcome=pay|reject|cancel acts at once

        problems = []
        if order_id is None or not ORDER_ID_RE.match(order_id):
            problems.append("orderId: 6~64자의 영문, 숫자, -, _ (6..64 chars of A-Z a-z 0-9 - _)")
        amount = None
        if amount_s is not None and re.fullmatch(r"[0-9]{1,11}", amount_s):
            amount = int(amount_s)
            if not 1 <= amount <= MAX_CHECKOUT_AMOUNT:
                amount = None
        if amount is None:
            problems.append("amount: 1 ~ 10,000,000,000 사이의 정수 (integer 1..10^10)")
        if len(order_name) > 100:
            problems.append("orderName: 100자 이하 (up to 100 chars)")
        if not valid_http_url(success_url):
            problems.append("successUrl: http(s) URL")
        if not valid_http_url(fail_url):
            problems.append("failUrl: http(s) URL")
        owner = st.keys[0]
        if secret_key is not None:
            if secret_key not in st.key_set:
                problems.append("secretKey: 등록되지 않은 키 (not an accepted key)")
            else:
                owner = secret_key
        if action not in (None, "pay", "reject", "cancel"):
            problems.append("action/outcome: pay | reject | cancel")
        if problems:
            items = "".join("<li>" + html.escape(s) + "</li>" for s in problems)
            self._page(400, "잘못된 결제 요청 (Bad checkout request)",
                       "<p class=\"badge\">SANDBOX</p><h1>잘못된 결제 요청 (Bad request)</h1>"
                       "<div class=\"err\"><ul>" + items + "</ul></div>")
            return

        if action == "cancel":
            msg = error_message("PAY_PROCESS_CANCELED", False)
            loc = add_query(fail_url, [("code", "PAY_PROCESS_CANCELED"), ("message", msg),
                                       ("orderId", order_id)])
            self._redirect(loc)
            return

        if action in ("pay", "reject"):
            try:
                with st.lock:
                    p = st.mint(owner, order_id, amount, order_name, action)
            except ApiError as e:
                self._duplicate_page(e.code, order_id, fail_url)
                return
            loc = add_query(success_url, [("paymentType", "NORMAL"), ("orderId", order_id),
                                          ("paymentKey", p.payment_key), ("amount", str(amount))])
            self._redirect(loc)
            return

        with st.lock:
            dup = st.order_has_approved(owner, order_id)
        if dup:
            self._duplicate_page("DUPLICATED_ORDER_ID", order_id, fail_url)
            return

        e = html.escape
        hidden = "".join(
            "<input type=\"hidden\" name=\"%s\" value=\"%s\">" % (k, e(v))
            for k, v in (("orderId", order_id), ("amount", str(amount)), ("orderName", order_name),
                         ("successUrl", success_url), ("failUrl", fail_url),
                         ("secretKey", secret_key)) if v is not None)
        inner = (
            "<p class=\"badge\">SANDBOX · 테스트 결제 (test payment)</p>"
            "<h1>토스페이먼츠 결제 (Checkout)</h1>"
            "<dl><dt>주문명 (Order name)</dt><dd id=\"orderName\">" + e(order_name) + "</dd>"
            "<dt>주문번호 (Order ID)</dt><dd id=\"orderId\"><code>" + e(order_id) + "</code></dd>"
            "<dt>결제 금액 (Amount)</dt><dd id=\"amount\" class=\"amount\" data-amount=\""
            + str(amount) + "\">" + won(amount) + "</dd>"
            "<dt>결제 수단 (Method)</dt><dd>카드 (Card) · 43301234****123*</dd></dl>"
            "<form method=\"post\" action=\"/sim/checkout\">" + hidden +
            "<button type=\"submit\" name=\"action\" value=\"pay\" class=\"pay\">결제하기 (Pay)</button>"
            "<button type=\"submit\" name=\"action\" value=\"cancel\" class=\"cancel\">취소 (Cancel)</button>"
            "<details><summary>테스트 옵션 (Test options)</summary>"
            "<p>카드사 거절: 승인(confirm) 시 REJECT_CARD_COMPANY 로 거절됩니다. "
            "(Decline card: the payment is authenticated but confirm is refused with REJECT_CARD_COMPANY.)</p>"
            "<button type=\"submit\" name=\"action\" value=\"reject\" class=\"reject\">카드 거절 (Decline card)</button>"
            "</details></form>")
        self._page(200, "토스페이먼츠 샌드박스 결제 (Sandbox checkout)", inner)

    def _duplicate_page(self, code, order_id, fail_url):
        e = html.escape
        msg = error_message(code, False)
        back = add_query(fail_url, [("code", code), ("message", msg), ("orderId", order_id)])
        self._page(400, code,
                   "<p class=\"badge\">SANDBOX</p><h1>결제할 수 없습니다 (Cannot pay)</h1>"
                   "<div class=\"err\"><p><code id=\"code\">" + e(code) + "</code></p><p>" + e(msg)
                   + "</p><p>" + e(error_message(code, True)) + "</p><p>주문번호 (Order ID): <code>"
                   + e(order_id) + "</code></p></div>"
                   "<p><a href=\"" + e(back) + "\">돌아가기 (Back to the shop)</a></p>")

    def _redirect(self, location):
        # header values must be ASCII: percent-encode any non-ASCII character as UTF-8
        location = "".join(ch if ord(ch) < 128 else quote(ch) for ch in location)
        self._write(302, b"", "text/plain; charset=utf-8",
                    [("Location", location), ("Cache-Control", "no-store")])

    def _receipt(self, pk):
        st = self.state
        with st.lock:
            p = st.payments.get(pk)
            if p is not None:
                st.refresh(p, st.clock.now())
                info = (p.order_id, p.order_name, p.total, p.balance, p.status,
                        kst_iso(p.approved_at) if p.approved_at else "-")
        if p is None:
            self._page(404, "NOT_FOUND_PAYMENT", "<h1>NOT_FOUND_PAYMENT</h1>")
            return
        e = html.escape
        self._page(200, "영수증 (Receipt)",
                   "<p class=\"badge\">SANDBOX</p><h1>영수증 (Receipt)</h1><dl>"
                   "<dt>주문번호 (Order ID)</dt><dd>" + e(info[0]) + "</dd>"
                   "<dt>주문명 (Order name)</dt><dd>" + e(info[1]) + "</dd>"
                   "<dt>결제 금액 (Amount)</dt><dd>" + won(info[2]) + "</dd>"
                   "<dt>취소 후 잔액 (Balance)</dt><dd>" + won(info[3]) + "</dd>"
                   "<dt>상태 (Status)</dt><dd>" + e(info[4]) + "</dd>"
                   "<dt>승인 시각 (Approved at)</dt><dd>" + e(info[5]) + "</dd></dl>")


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------

def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def collect_keys(cli_keys):
    keys = []
    for k in list(cli_keys or []) + os.environ.get("SANDBOX_SECRET_KEYS", "").split(","):
        k = k.strip()
        if k and k not in keys:
            keys.append(k)
    return keys or list(DEFAULT_SECRET_KEYS)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Toss Payments gateway sandbox (loopback only).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--secret-key", action="append", default=[],
                    help="accepted secret key (repeatable); also env SANDBOX_SECRET_KEYS (comma-separated)")
    ap.add_argument("--pid-file")
    ap.add_argument("--verbose", action="store_true", help="log one line per request to stderr")
    ap.add_argument("--allow-any-host", action="store_true",
                    help="allow a non-loopback --host: only inside the sandbox's own container "
                         "(docker/compose.yaml) or a test network namespace (tests/lib/hosts.sh), "
                         "whose networks are private to the project")
    args = ap.parse_args(argv)

    if not is_loopback(args.host) and not args.allow_any_host:
        sys.stderr.write("gateway_sandbox: refusing to bind non-loopback host %r "
                         "(use 127.0.0.1, ::1 or localhost)\n" % args.host)
        return 2
    if not 0 <= args.port <= 65535:
        sys.stderr.write("gateway_sandbox: bad port %d\n" % args.port)
        return 2
    keys = collect_keys(args.secret_key)
    for k in keys:
        if ":" in k:
            sys.stderr.write("gateway_sandbox: a secret key must not contain ':'\n")
            return 2

    host = args.host.strip("[]")
    if host == "localhost":
        host = "127.0.0.1"
    cls = SandboxServer6 if ":" in host else SandboxServer
    try:
        server = cls((host, args.port), Handler)
    except OSError as e:
        sys.stderr.write("gateway_sandbox: cannot bind %s:%d: %s\n" % (host, args.port, e))
        return 1
    port = server.server_address[1]
    shown = "[%s]" % host if ":" in host else host
    Handler.state = State(keys)
    Handler.verbose = args.verbose
    Handler.base_url = "http://%s:%d" % (shown, port)

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.pid_file:
        with open(args.pid_file, "w") as fh:
            fh.write("%d\n" % os.getpid())
    sys.stdout.write("gateway_sandbox listening on %s\n" % Handler.base_url)
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        try:
            server.server_close()
        except Exception:
            pass
        if args.pid_file:
            try:
                with open(args.pid_file) as fh:
                    mine = fh.read().strip() == str(os.getpid())
                if mine:
                    os.unlink(args.pid_file)
            except OSError:
                pass
    if args.verbose:
        sys.stderr.write("gateway_sandbox: stopped\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
