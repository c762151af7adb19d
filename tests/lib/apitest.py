"""apitest.py: the small harness shared by the integration, fault and load
tests (Python standard library only; runs with Debian's /usr/bin/python3).

It talks to the local stack that scripts/test (or scripts/run) started, reads
the same environment (HTTP_PORT, ADMIN_PORT, DATABASE_URL, STACK_DIR, ...),
and offers:
  - api(method, path, body=..., headers=...) / admin(...): HTTP through nginx
  - member(uid) / member_token(uid): "Authorization: Bearer <member JWT>" for
    a user, minted by the admin route and cached per user; jwt_hs256(...):
    a token built here with the stack's secret (for the refusal tests)
  - sql(query) / sql1(query): queries through psql (constant SQL only)
  - stack(fn, *args): run a function of scripts/lib/stack.sh (restart Redis, ...)
  - ab(...): run apache-bench and parse its figures
  - @test and run(): register tests in definition order and run them; the
    last line is "N passed, N failed" (what CI reads).
  - openapi_test(): the test that fails when any response from the stack
    did not match docs/openapi.yaml (every request() is checked, see
    openapi_check.py); tests/integration/run.py runs it last.
A test is a function that raises AssertionError (use check/eq) on failure.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import subprocess
import threading
import time
import traceback

import openapi_check

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HTTP_PORT = int(os.environ.get("HTTP_PORT", "8080"))
ADMIN_PORT = int(os.environ.get("ADMIN_PORT", "8081"))
STACK_DIR = os.environ.get("STACK_DIR", os.path.join(ROOT, ".stack"))
# Defaults derived from the STACK_* ports exactly as scripts/lib/stack.sh
# derives them, so a test never reaches another stack's services.
_PG = os.environ.get("STACK_PG_PORT", "15432")
_PG_REPLICA = os.environ.get("STACK_PG_REPLICA_PORT", "15433")
DATABASE_URL = os.environ.get("DATABASE_URL", f"postgresql://memberapi@127.0.0.1:{_PG}/memberapi")
REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL",
                             f"postgresql://memberapi@127.0.0.1:{_PG_REPLICA}/memberapi")
TOSS_API_BASE = os.environ.get("TOSS_API_BASE",
                               "http://127.0.0.1:%s" % os.environ.get("STACK_SANDBOX_PORT", "18090"))
TOSS_SECRET_KEY = os.environ.get("TOSS_SECRET_KEY", "test_sk_sandbox_0000000000000000")


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        self.text = body.decode("utf-8", "replace")
        try:
            self.json = json.loads(self.text) if self.text else None
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<{self.status} {self.text[:300]}>"


def _listener(port, host):
    """The stack's listener a request goes to, or None (the sandbox, other hosts)."""
    if host not in ("127.0.0.1", "localhost"):
        return None
    return {HTTP_PORT: "public", ADMIN_PORT: "admin"}.get(port)


def request(port, method, path, body=None, headers=None, timeout=30, host="127.0.0.1"):
    """One HTTP request. A response from the stack's public or admin listener
    is also checked against docs/openapi.yaml (openapi_check.observe); the
    integration runner fails when any did not match."""
    h = dict(headers or {})
    data = None
    if body is not None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json; charset=utf-8")
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        resp = Resp(r.status, r.getheaders(), r.read())
    finally:
        c.close()
    listener = _listener(port, host)
    if listener:
        openapi_check.observe(listener, method, path, resp.status, resp.headers, resp.body)
    return resp


def api(method, path, body=None, headers=None, timeout=30):
    return request(HTTP_PORT, method, path, body, headers, timeout)


def admin(method, path, body=None, headers=None, timeout=30):
    return request(ADMIN_PORT, method, path, body, headers, timeout)


def admin_token():
    with open(os.path.join(STACK_DIR, "admin_token")) as f:
        return f.read().strip()


# ---- member tokens (docs/API.md "Member tokens") -----------------------------

_member_tokens = {}
_member_lock = threading.Lock()


def member_token(uid):
    """A member JWT for user uid, minted by POST /internal/v1/users/{id}/tokens
    and cached per user (a token minted for a user is valid for a day)."""
    uid = int(uid)
    with _member_lock:
        tok = _member_tokens.get(uid)
    if tok and tok[1] > time.time() + 60:
        return tok[0]
    r = admin("POST", f"/internal/v1/users/{uid}/tokens",
              headers={"Authorization": "Bearer " + admin_token()})
    if r.status not in (200, 201):
        raise AssertionError(f"minting a member token for user {uid}: {r!r}")
    with _member_lock:
        _member_tokens[uid] = (r.json["data"]["token"], time.time() + 3600)
    return r.json["data"]["token"]


def member(uid, headers=None):
    """Request headers of member uid (plus headers)."""
    h = dict(headers or {})
    h["Authorization"] = "Bearer " + member_token(uid)
    return h


def member_secret():
    """The stack's HS256 member secret (the environment's, or the generated one)."""
    if os.environ.get("MEMBER_JWT_SECRET"):
        return os.environ["MEMBER_JWT_SECRET"]
    path = os.environ.get("MEMBER_JWT_SECRET_FILE") or os.path.join(STACK_DIR, "member_jwt_secret")
    with open(path) as f:
        return f.readline().strip()


MEMBER_ISSUER = os.environ.get("MEMBER_JWT_ISSUER", "memberapi-local")
MEMBER_AUDIENCE = os.environ.get("MEMBER_JWT_AUDIENCE", "memberapi")


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt_hs256(claims=None, header=None, secret=None, sub=None, **extra):
    """A compact JWS built here: header (default {"alg":"HS256","typ":"JWT"})
    and claims (default: sub, iat, exp in an hour, the stack's iss and aud,
    updated with extra), HMAC-SHA256 with secret (default the stack's)."""
    now = int(time.time())
    if claims is None:
        claims = {"sub": str(sub if sub is not None else 1), "iat": now, "exp": now + 3600}
        if MEMBER_ISSUER:
            claims["iss"] = MEMBER_ISSUER
        if MEMBER_AUDIENCE:
            claims["aud"] = MEMBER_AUDIENCE
        claims.update(extra)
    h = b64url(json.dumps(header or {"alg": "HS256", "typ": "JWT"}).encode())
    c = b64url(json.dumps(claims).encode())
    key = (secret if secret is not None else member_secret())
    key = key.encode() if isinstance(key, str) else key
    sig = b64url(hmac.new(key, f"{h}.{c}".encode(), hashlib.sha256).digest())
    return f"{h}.{c}.{sig}"


def is_unauthorized(resp):
    """Asserts 401 UNAUTHORIZED with WWW-Authenticate: Bearer."""
    is_error_envelope(resp, 401, "UNAUTHORIZED")
    check((resp.header("WWW-Authenticate") or "").startswith("Bearer"),
          f"WWW-Authenticate: {resp.header('WWW-Authenticate')!r}")


def sql(query, url=None):
    """Rows of a query as lists of strings (psql -At); constant SQL only."""
    r = subprocess.run(["psql", url or DATABASE_URL, "-X", "-At", "-F", "\t", "-v",
                        "ON_ERROR_STOP=1", "-c", query], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"sql failed: {r.stderr.strip()} [{query[:200]}]")
    return [line.split("\t") for line in r.stdout.splitlines() if line != ""]


def sql1(query, url=None):
    rows = sql(query, url)
    return rows[0][0] if rows and rows[0] else None


def stack(fn, *args, check_rc=True, env=None):
    """Calls a function of scripts/lib/stack.sh with the test stack's env
    (plus env, for this call only)."""
    cmd = ". \"$ROOT/scripts/lib/stack.sh\"; " + fn + " " + " ".join(
        "'" + str(a).replace("'", "'\\''") + "'" for a in args)
    extra = {k: str(v) for k, v in (env or {}).items()}
    r = subprocess.run(["bash", "-c", cmd], env=dict(os.environ, ROOT=ROOT, **extra),
                       capture_output=True, text=True)
    if check_rc and r.returncode != 0:
        raise AssertionError(f"stack {fn} failed: {r.stdout[-500:]} {r.stderr[-500:]}")
    return r.stdout


def restart_pool(env=None, ready=False):
    """Restarts the stack's pool with extra configuration in its environment
    (none: the stack's own); with ready, waits for /ready."""
    stack('stop_pid "$RUN/pool.pid" TERM 20; start_pool' + ("; wait_ready 60" if ready else ""),
          env=env)


POOL_LOG = os.path.join(STACK_DIR, "log", "memberapi.log")


def log_size():
    """Where the pool's log ends now (for log_since)."""
    return os.path.getsize(POOL_LOG)


def log_since(offset):
    """What the pool logged since offset (a log_size())."""
    with open(POOL_LOG, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def pool_env():
    """The pool's environment: ours with the stack's pool.env (what
    scripts/lib/stack.sh starts the pool with) over it, logging to stderr."""
    env = dict(os.environ)
    with open(os.path.join(STACK_DIR, "pool.env")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("=")
            if k and not k.startswith("#"):
                env[k] = v
    env["LOG_FILE"] = "-"
    return env


def pid_of(name):
    with open(os.path.join(STACK_DIR, "run", name + ".pid")) as f:
        return int(f.read().strip())


def wait_until(pred, timeout=10.0, interval=0.05, what="condition"):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - keep polling until the deadline
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


def pool_status():
    return admin("GET", "/pool-status?format=json&full").json


# ---- apache-bench ----------------------------------------------------------

AB_FIELDS = {
    "complete": r"Complete requests:\s+(\d+)",
    "failed": r"Failed requests:\s+(\d+)",
    "non2xx": r"Non-2xx responses:\s+(\d+)",
    "rps": r"Requests per second:\s+([\d.]+)",
    "p50": r"\s50%\s+(\d+)",
    "p99": r"\s99%\s+(\d+)",
    "max": r"\s100%\s+(\d+)",
}


def ab(url, n=None, c=32, keepalive=True, seconds=None, headers=None, extra=None):
    """Runs ab; returns a dict with complete, failed, non2xx, rps, p50, p99 (ms)."""
    cmd = ["ab", "-q", "-r", "-l", "-c", str(c)]
    if keepalive:
        cmd.append("-k")
    if seconds:
        cmd += ["-t", str(seconds), "-n", str(n or 5000000)]
    else:
        cmd += ["-n", str(n)]
    for h in headers or []:
        cmd += ["-H", h]
    cmd += extra or []
    cmd.append(url)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=(seconds or 120) + 60)
    out = {"cmd": " ".join(cmd), "raw": r.stdout}
    for k, rx in AB_FIELDS.items():
        m = re.search(rx, r.stdout)
        out[k] = float(m.group(1)) if m else 0.0
    if r.returncode != 0 and not out["complete"]:
        raise AssertionError(f"ab failed: {r.stderr.strip()[:300]}")
    return out


# ---- assertions and the runner ----------------------------------------------

def check(cond, msg="check failed"):
    if not cond:
        raise AssertionError(msg)


def eq(actual, expected, msg=""):
    if actual != expected:
        raise AssertionError(f"{msg + ': ' if msg else ''}expected {expected!r}, got {actual!r}")


def is_error_envelope(resp, status, error_type):
    """Asserts API.md's error envelope."""
    j = resp.json
    check(j is not None, f"not JSON: {resp!r}")
    eq(resp.status, status, "HTTP status")
    eq(j.get("code"), status, "envelope code")
    eq(j.get("errorType"), error_type, "errorType")
    check(isinstance(j.get("errorMessage"), str) and j["errorMessage"], "errorMessage")
    check(isinstance(j.get("status"), str) and j["status"], "envelope status")
    eq(j.get("requestId"), resp.header("X-Request-Id"), "requestId matches X-Request-Id")


_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def run(modules=None, label="tests"):
    """Runs the registered tests; prints one line per test and the summary."""
    passed = failed = 0
    failures = []
    for fn in list(_tests):
        name = f"{fn.__module__}.{fn.__name__}"
        t0 = time.time()
        try:
            fn()
            passed += 1
            print(f"PASS {name} ({time.time() - t0:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001 - a test's failure of any kind is reported
            failed += 1
            failures.append(name)
            print(f"FAIL {name} ({time.time() - t0:.1f}s): {e}", flush=True)
            if not isinstance(e, AssertionError):
                traceback.print_exc(limit=4)
    _tests.clear()
    if failures:
        print("failed: " + ", ".join(failures))
    print(f"{label}: {passed} passed, {failed} failed", flush=True)
    return failed == 0


def openapi_test():
    """Registers, last, the test that every response matched docs/openapi.yaml.
    OPENAPI_VALIDATE=0 turns the checking off (then no such test runs and the
    runner says so)."""
    if os.environ.get("OPENAPI_VALIDATE", "1") == "0":
        print("note: OPENAPI_VALIDATE=0: responses are not checked against docs/openapi.yaml")
        return
    openapi_check.ENABLED = True

    def every_response_matched_docs_openapi_yaml():
        n, violations, seen = openapi_check.summary()
        check(n > 0, "no response from the stack was checked")
        print(f"openapi: {n} responses checked, {len(seen)} (operation, status) pairs seen")
        if violations:
            lines = sorted(violations.items(), key=lambda kv: -kv[1])
            shown = "\n  ".join(f"{line}  (x{count})" for line, count in lines[:40])
            more = f"\n  ... and {len(lines) - 40} more" if len(lines) > 40 else ""
            raise AssertionError(f"{len(lines)} kinds of responses did not match "
                                 f"docs/openapi.yaml:\n  {shown}{more}")

    every_response_matched_docs_openapi_yaml.__module__ = "openapi"
    test(every_response_matched_docs_openapi_yaml)
