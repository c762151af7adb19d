"""test_defects.py: known defects of issue 10, each shown fixed from the
outside: without the member-token key the pool and `memberapi token` stop
with a message naming it instead of crashing on the first mint; `memberapi probe`
refuses an over-long path instead of overflowing its buffer; strings from
the gateway (status text, failure codes and messages) cannot forge a log
line; hammering the public /ready opens no Redis connection per call; a bad
DATABASE_URL (or another URL that may hold a password) is named in the
error, never echoed; an admin idempotencyKey reused with another body is
409 (tests in test_points.py); a SIGHUP reload names the changed keys that
need a restart and applies the rest all or nothing. Tests that restart
the pool leave it running with the stack's configuration."""
import http.server
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import concurrent.futures
import apitest  # noqa: E402
import paytest  # noqa: E402
from apitest import (ROOT, admin, admin_token, api, check, eq,  # noqa: E402
                     log_since, log_size, pid_of, pool_env, pool_status, test, wait_until)

BIN = os.environ.get("MEMBERAPI_BIN", os.path.join(ROOT, "build", "src", "memberapi"))


def bearer():
    return {"Authorization": "Bearer " + admin_token()}


def env_without(*keys):
    return {k: v for k, v in os.environ.items() if k not in keys}


def restore_pool():
    apitest.restart_pool(ready=True)


# ---- the member-token key missing ------------------------------------------
# Member tokens are JWTs (issue 11): without their key (MEMBER_JWT_SECRET, or
# a public key) the pool refuses to start, naming the key; it never crashes
# on the first mint. With RS256/ES256 minting answers 503 (test_member_auth).

@test
def token_command_without_the_member_jwt_secret_exits_with_a_message():
    env = env_without("MEMBER_JWT_SECRET", "MEMBER_JWT_SECRET_FILE", "CONFIG_FILE")
    env["LOG_FILE"] = "-"
    r = subprocess.run([BIN, "token", "7"], env=env, capture_output=True, text=True, timeout=30)
    eq(r.returncode, 1, f"exit status (a negative one is a signal): {r.stderr!r}")
    check("MEMBER_JWT_SECRET" in r.stderr, f"the message names the key: {r.stderr!r}")
    eq(r.stdout, "", "no token printed")


@test
def pool_without_the_member_jwt_secret_refuses_to_start_naming_the_key():
    env = pool_env()
    for k in ("MEMBER_JWT_SECRET", "MEMBER_JWT_SECRET_FILE", "CONFIG_FILE"):
        env.pop(k, None)
    with tempfile.TemporaryDirectory() as d:
        env.update(LISTEN=os.path.join(d, "pool.sock"), ADMIN_LISTEN="", PID_FILE="",
                   LOG_FILE="-", WORKERS="1", THREADS="1")
        r = subprocess.run([BIN, "serve"], env=env, capture_output=True, text=True, timeout=30)
        check(r.returncode not in (0,) and r.returncode > 0,
              f"exit status {r.returncode} (a negative one is a signal)")
        check("MEMBER_JWT_SECRET" in r.stderr, f"the message names the key: {r.stderr[-300:]!r}")
        check(not os.path.exists(os.path.join(d, "pool.sock")), "no socket was opened")
    r = admin("POST", "/internal/v1/users/7/tokens", headers=bearer())
    eq(r.status, 201, repr(r))
    check(isinstance(r.json["data"]["token"], str) and r.json["data"]["token"], "a token")


# ---- memberapi probe with a long path ----------------------------------------



def probe(path):
    return subprocess.run([BIN, "probe", path], env=pool_env(), capture_output=True, text=True,
                          timeout=30)


@test
def probe_refuses_an_over_long_path_and_sends_long_ones_whole():
    r = probe("/health")
    eq(r.returncode, 0, f"probe /health: {r.stdout!r} {r.stderr!r}")
    r = probe("/" + "a" * 10000)
    eq(r.returncode, 2, f"exit status (a negative one is a signal): {r.stderr!r}")
    check("PATH" in r.stderr and "1024" in r.stderr, f"a clear message: {r.stderr!r}")
    # A path above 127 bytes needs FastCGI's four-byte length: the pool
    # parses the request and answers it (404: no such route), not a crash.
    long_path = "/health/" + "b" * 900
    r = probe(long_path)
    eq(r.returncode, 1, f"{r.stdout!r} {r.stderr!r}")
    eq(r.stdout.strip(), f"probe {pool_env()['LISTEN']} {long_path}: 404")
    eq(probe("/health").returncode, 0, "the pool still answers")


# ---- gateway strings in the log ----------------------------------------------

FORGED = "\nevent=forged level=error user_id=1 injected=yes"


class LyingGateway(http.server.BaseHTTPRequestHandler):
    """A Toss look-alike whose answers carry newlines and key=value text in
    every free-text field: the confirm answers a payment whose status is
    not one Toss has (so it stays UNKNOWN); the order lookup (the
    reconciler's) answers it ABORTED with a failure code and message of the
    same kind."""

    def _answer(self, oid, pk, amount, status, failure):
        body = json.dumps({"paymentKey": pk, "orderId": oid, "status": status,
                           "totalAmount": amount, "method": "카드\nevent=forged",
                           "requestedAt": "2024-01-01T00:00:00+09:00",
                           "failure": failure}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802 - http.server's name
        req = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        self._answer(req["orderId"], req["paymentKey"], req["amount"], "DONE" + FORGED[:20],
                     None)

    def do_GET(self):  # noqa: N802
        oid = self.path.rsplit("/", 1)[-1]
        if oid != self.server.order_id:  # another test's payment: no answer, nothing settles
            body = b'{"code":"FAILED_INTERNAL_SYSTEM_PROCESSING","message":"not this one"}'
            self.send_response(500)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self._answer(oid, "pk_lying_gateway", self.server.amount, "ABORTED",
                     {"code": "REJECT" + FORGED, "message": "declined" + FORGED})

    def log_message(self, *args):
        pass






@test
def gateway_strings_cannot_forge_a_log_line():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LyingGateway)
    srv.amount = 3000
    srv.order_id = None
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        apitest.restart_pool({"TOSS_API_BASE": f"http://127.0.0.1:{srv.server_address[1]}"},
                             ready=True)
        uid = paytest.new_user("lying-gateway")
        oid = paytest.order_id("forge")
        srv.order_id = oid
        eq(paytest.create(oid, uid, srv.amount).status, 201)
        offset = log_size()
        base = f"http://127.0.0.1:{srv.server_address[1]}"
        r = paytest.success(oid, "pk_lying_gateway", srv.amount)
        eq(r.status, 502, f"a status Toss does not have settles nothing: {r!r}")
        eq(paytest.status(oid), "UNKNOWN")
        # The reconciler looks the order up: ABORTED, with the lying failure.
        paytest.reconcile(TOSS_API_BASE=base, RECONCILE_MIN_AGE_S=0,
                          RECONCILE_MAX_FAILURES=100000)
        eq(paytest.status(oid), "ABORTED")
        text = log_since(offset)
        check("event=gateway_call call=confirm" in text and "event=payment_aborted" in text,
              f"the calls were logged: {text[-2000:]!r}")
        lines = text.splitlines()
        bad = [ln for ln in lines if not ln.startswith("ts=")]
        eq(bad, [], "every log line is one the pool began")
        check(not any(ln.startswith("event=forged") or " injected=yes" in ln.split('"')[0]
                      for ln in lines), "no forged key=value outside quotes")
    finally:
        srv.shutdown()
        srv.server_close()
        restore_pool()


# ---- /ready and Redis connections ----------------------------------------------

REDIS_PORT = os.environ.get("STACK_REDIS_PORT", "16379")


def redis_connections_received():
    r = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", REDIS_PORT, "INFO", "stats"],
                       capture_output=True, text=True, timeout=10)
    eq(r.returncode, 0, r.stderr)
    for line in r.stdout.splitlines():
        if line.startswith("total_connections_received:"):
            return int(line.split(":", 1)[1])
    raise AssertionError(f"no total_connections_received in {r.stdout[:300]!r}")


@test
def ready_calls_do_not_open_a_redis_connection_each():
    n = 400
    threads = int(os.environ.get("THREADS", "16"))
    workers = int(os.environ.get("WORKERS", os.cpu_count()))
    before = redis_connections_received()
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        answers = list(ex.map(lambda _: api("GET", "/ready"), range(n)))
    opened = redis_connections_received() - before - 1  # -1: our own INFO connection
    eq(sorted({r.status for r in answers}), [200])
    eq({r.json["components"]["redis"]["status"] for r in answers}, {"UP"})
    # At most one per request thread (each keeps its connection), not one per call.
    check(opened <= workers * threads, f"{n} /ready calls opened {opened} Redis connections "
          f"(bound: {workers} workers x {threads} threads)")


# ---- configuration errors never echo secret-bearing values -------------------

@test
def a_bad_secret_bearing_url_is_named_not_echoed():
    secret = "hunter2-Pa55word"
    cases = {
        "DATABASE_URL": f"mysql://memberapi:{secret}@db.internal:5432/memberapi",
        "DATABASE_REPLICA_URL": f"mysql://memberapi:{secret}@db.internal:5433/memberapi",
        "REDIS_URL": f"rediss://:{secret}@cache.internal:6379/0",
        "TOSS_API_BASE": f"ftp://user:{secret}@gateway.internal",
    }
    for key, value in cases.items():
        for bad in (value, value + "/" + "x" * 1100):  # a wrong form; too long
            env = dict(os.environ, LOG_FILE="-", **{key: bad})
            for cmd in (["check-config"], ["serve"]):
                r = subprocess.run([BIN, *cmd], env=env, capture_output=True, text=True,
                                   timeout=30)
                eq(r.returncode, 1, f"{key} accepted by {cmd[0]}: {r.stderr!r}")
                check(f"configuration error: {key}:" in r.stderr, f"{key}: {r.stderr!r}")
                for part in (secret, "internal", bad[:8]):
                    check(part not in r.stderr + r.stdout,
                          f"{key}: {part!r} echoed: {r.stderr!r}")


# ---- SIGHUP reload: restart-only keys named, the rest all or nothing ---------

def settled(generation, name):
    """pool-status once every worker is of generation and reports POOL_NAME name."""
    s = pool_status()
    if s["generation"] == generation and s["pool"] == name and all(
            w["generation"] == generation for w in s["workers"]):
        return s
    return None


def wait_log(offset, needle, what):
    return wait_until(lambda: next((ln for ln in log_since(offset).splitlines() if needle in ln),
                                   None), 15, what=what)


@test
def reload_names_restart_only_keys_and_applies_the_rest_all_or_nothing():
    # Keys the pool's environment does not set, so the file decides them.
    fd, conf = tempfile.mkstemp(suffix=".conf")
    os.close(fd)
    os.chmod(conf, 0o644)

    def write(**keys):
        with open(conf, "w") as f:
            f.writelines(f"{k}={v}\n" for k, v in keys.items())

    try:
        write(POOL_NAME="alpha", LISTEN_BACKLOG=1024, REDIS_TIMEOUT_MS=25)
        apitest.restart_pool({"CONFIG_FILE": conf}, ready=True)
        first = wait_until(lambda: settled(1, "alpha"), 15, what="pool alpha")
        master = pid_of("pool")

        # a reloadable key and two read only at start
        write(POOL_NAME="beta", LISTEN_BACKLOG=2048, REDIS_TIMEOUT_MS=40)
        offset = log_size()
        os.kill(master, signal.SIGHUP)
        line = wait_log(offset, "event=reload_needs_restart", "the restart warning")
        check("keys=LISTEN_BACKLOG,REDIS_TIMEOUT_MS " in line, line)
        check("2048" not in line and "40" not in line.split("keys=")[1], "names, never values")
        line = wait_log(offset, "event=reload generation=2", "the reload")
        check("changed=POOL_NAME" in line, line)
        wait_until(lambda: settled(2, "beta"), 20, what="generation 2 serving as beta")
        eq(api("GET", "/ready").status, 200)

        # an invalid value: the whole reload is refused, beta keeps serving
        write(POOL_NAME="gamma", LISTEN_BACKLOG=2048, REDIS_TIMEOUT_MS=40, THREADS="many")
        offset = log_size()
        os.kill(master, signal.SIGHUP)
        line = wait_log(offset, "event=reload_refused", "the refusal")
        check("THREADS" in line, line)
        s = pool_status()
        eq((s["pool"], s["generation"], s["reloads"]), ("beta", 2, first["reloads"] + 1))
        check("event=reload generation" not in log_since(offset), "no new generation")

        # values each fine but breaking a relation between keys: refused too
        write(POOL_NAME="gamma", REDIS_BREAKER_SLIDING_WINDOW_SIZE=5,
              REDIS_BREAKER_MINIMUM_NUMBER_OF_CALLS=50)
        offset = log_size()
        os.kill(master, signal.SIGHUP)
        line = wait_log(offset, "event=reload_refused", "the refusal of the relation")
        check("redis breaker" in line, line)
        eq(pool_status()["pool"], "beta")
        eq(api("GET", "/health").status, 200)
    finally:
        os.unlink(conf)
        restore_pool()
