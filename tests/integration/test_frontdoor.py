"""test_frontdoor.py: the FastCGI sockets are not a second front door, and a
request that runs too long is visible while it runs (issue 10, points 3, 4).

  - half a FastCGI record, then silence: the pool closes the connection after
    FCGI_READ_TIMEOUT_MS, counts it, and keeps serving; a request head whose
    body never comes is dropped the same way, unanswered; an idle kept
    connection (FCGI_KEEP_CONN) is closed after the same timeout;
  - API_LISTENER=admin sent to the public socket reaches no admin route (the
    pool's 404 envelope): only the admin socket serves them;
  - the sockets are not world-writable;
  - a request held by a slow gateway is logged (route, request id, elapsed)
    while it still runs, past SLOW_REQUEST_MS; past REQUEST_TIMEOUT_MS the
    client gets a 504 envelope, the worker is recycled, the payment is not
    harmed (the reconciler settles it, one grant);
  - saturation: with every thread busy, /pool-status shows the busy threads,
    the "max threads reached" count and the listen queue, and they move.

The tests that need small timeouts restart the pool with them and leave it
running with the stack's own configuration."""
import os
import socket
import stat
import struct
import subprocess
import threading
import time

import apitest
from apitest import (STACK_DIR, admin, api, check, eq, is_error_envelope, log_since, log_size,
                     pool_status, test, wait_until)
import fcgi_client
from paytest import (balance, clear_faults, fault, ledger, new_user, paid_order, reconcile,
                     status, success)

RUN = os.path.join(STACK_DIR, "run")
SOCK = os.path.join(RUN, "memberapi.sock")
ADMIN_SOCK = os.path.join(RUN, "memberapi-admin.sock")
WORKERS = int(os.environ.get("WORKERS", os.cpu_count()))


def restart(**env):
    apitest.restart_pool(env)
    n = int(env.get("WORKERS", WORKERS))
    wait_until(lambda: len([w for w in pool_status()["workers"] if w["state"] == "ready"]) == n,
               15, what="workers ready")






def connect(path=SOCK):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    return s


def closed_after(s):
    """Seconds until the pool closes s (recv returns EOF or a reset)."""
    t0 = time.time()
    try:
        data = s.recv(65536)
    except ConnectionResetError:
        data = b""
    check(data == b"", f"the pool answered instead of closing: {data[:200]!r}")
    return time.time() - t0


def head(uri, params=None, keep=False, content_length=0):
    """BEGIN_REQUEST and the PARAMS stream of a GET (FCGI_KEEP_CONN with keep)."""
    p = {"REQUEST_METHOD": "GET", "DOCUMENT_URI": uri, "QUERY_STRING": "",
         "CONTENT_LENGTH": str(content_length)}
    p.update(params or {})
    return (fcgi_client._record(fcgi_client.BEGIN_REQUEST, struct.pack(">HB5x", 1, 1 if keep else 0))
            + fcgi_client._record(fcgi_client.PARAMS, fcgi_client._params(p))
            + fcgi_client._record(fcgi_client.PARAMS, b""))


def read_response(s):
    """STDOUT of one response, read to its END_REQUEST."""
    buf, out = b"", b""
    while True:
        chunk = s.recv(65536)
        check(chunk, "connection closed before END_REQUEST")
        buf += chunk
        while len(buf) >= 8:
            _, rtype, _, clen, pad, _ = struct.unpack(">BBHHBB", buf[:8])
            if len(buf) < 8 + clen + pad:
                break
            content, buf = buf[8:8 + clen], buf[8 + clen + pad:]
            if rtype == fcgi_client.STDOUT:
                out += content
            elif rtype == fcgi_client.END_REQUEST:
                return out


def metric(name):
    for line in admin("GET", "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"metric {name} missing")


# ---- point 3: the sockets ----------------------------------------------------

def check_config(**env):
    bin_ = os.environ.get("MEMBERAPI_BIN", os.path.join(apitest.ROOT, "build", "src", "memberapi"))
    e = {k: v for k, v in os.environ.items() if k not in ("LISTEN", "ADMIN_LISTEN")}
    if not e.get("MEMBER_JWT_SECRET"):  # the stack's key: without one the start is refused
        e.setdefault("MEMBER_JWT_SECRET_FILE", os.path.join(STACK_DIR, "member_jwt_secret"))
    e.update(env)
    return subprocess.run([bin_, "check-config"], env=e, capture_output=True, text=True)


@test
def the_admin_socket_is_next_to_the_public_one_unless_configured():
    for listen, admin_listen in (("/run/x/memberapi.sock", "/run/x/memberapi-admin.sock"),
                                 ("/run/x/pool", "/run/x/pool-admin.sock"),
                                 ("10.0.0.12:9000", "10.0.0.12:9001")):
        r = check_config(LISTEN=listen)
        eq(r.returncode, 0, r.stderr)
        check(f'key=ADMIN_LISTEN value="{admin_listen}"' in r.stderr
              or f"key=ADMIN_LISTEN value={admin_listen}" in r.stderr,
              f"{listen}: {[ln for ln in r.stderr.splitlines() if 'ADMIN_LISTEN' in ln]}")
    r = check_config(LISTEN="/run/x/a.sock", ADMIN_LISTEN="/run/y/b.sock")
    check("/run/y/b.sock" in r.stderr and r.returncode == 0, r.stderr[-300:])
    for env, named in (({"LISTEN": "/run/x/a.sock", "ADMIN_LISTEN": "/run/x/a.sock"}, "ADMIN_LISTEN"),
                       ({"LISTEN": "127.0.0.1:65535"}, "ADMIN_LISTEN"),
                       ({"ADMIN_LISTEN": "nowhere"}, "ADMIN_LISTEN"),
                       ({"SOCKET_MODE": "666"}, "SOCKET_MODE"),
                       ({"FCGI_READ_TIMEOUT_MS": "0"}, "FCGI_READ_TIMEOUT_MS"),
                       ({"REQUEST_TIMEOUT_MS": "10"}, "REQUEST_TIMEOUT_MS")):
        r = check_config(**env)
        eq(r.returncode, 1, f"{env} accepted")
        check(named in r.stderr and "configuration error" in r.stderr, f"{env}: {r.stderr!r}")


@test
def a_socket_group_that_does_not_exist_stops_the_start():
    r = subprocess.run(["bash", "-c", '. "$ROOT/scripts/lib/stack.sh"; set -a; . "$STACK_DIR/pool.env"; '
                        'set +a; LISTEN=$STACK_DIR/run/t.sock ADMIN_LISTEN=$STACK_DIR/run/t-admin.sock '
                        'SOCKET_GROUP=no-such-group-xyz PID_FILE= LOG_FILE=- '
                        'timeout 10 "$MEMBERAPI_BIN" serve'],
                       env=dict(os.environ, ROOT=apitest.ROOT), capture_output=True, text=True)
    check(r.returncode not in (0, 124), f"started anyway: rc {r.returncode}")
    check("SOCKET_GROUP" in r.stderr and "no-such-group-xyz" in r.stderr, r.stderr[-500:])
    check(not os.path.exists(os.path.join(RUN, "t.sock")), "no socket left behind")

@test
def sockets_are_not_world_writable():
    for path in (SOCK, ADMIN_SOCK):
        st = os.stat(path)
        check(stat.S_ISSOCK(st.st_mode), f"{path} is a socket")
        mode = stat.S_IMODE(st.st_mode)
        eq(mode & 0o007, 0, f"{path} mode {oct(mode)}: others have no access")
        eq(mode, 0o660, f"{path} mode")


@test
def api_listener_parameter_on_the_public_socket_reaches_no_admin_route():
    for uri in ("/pool-status", "/metrics", "/internal/v1/users/1/points"):
        for value in ("admin", "ADMIN", "public"):
            out = fcgi_client.get(SOCK, uri, extra={"API_LISTENER": value})
            check(out is not None and out.startswith(b"Status: 404"),
                  f"{uri} with API_LISTENER={value} on the public socket: {out[:300]!r}")
            check(b'"errorType":"NO_RESOURCE"' in out, f"404 envelope: {out[:300]!r}")
    # the admin socket serves them without any parameter
    out = fcgi_client.get(ADMIN_SOCK, "/pool-status", extra={"API_LISTENER": "public"})
    check(out.startswith(b"Status: 200") and b"pool:" in out, f"admin socket: {out[:200]!r}")
    # through nginx: only the admin listener, whatever the client sends
    r = api("GET", "/pool-status", headers={"API-Listener": "admin"})
    is_error_envelope(r, 404, "NO_RESOURCE")
    eq(admin("GET", "/pool-status?format=json").status, 200)


@test
def half_a_record_then_silence_is_closed_after_the_read_timeout():
    restart(FCGI_READ_TIMEOUT_MS=1500)
    try:
        before = pool_status()["readTimeouts"]
        m0 = metric("memberapi_fcgi_read_timeouts_total")
        s = connect()
        s.sendall(head("/health")[:5])  # half a record header
        # meanwhile the pool serves as usual
        for _ in range(20):
            eq(api("GET", "/health").status, 200)
        took = closed_after(s)
        s.close()
        check(1.0 <= took <= 4.0, f"closed after {took:.2f}s (timeout 1.5 s)")
        # a complete head whose body never comes: dropped, unanswered
        s = connect()
        s.sendall(head("/health", content_length=10))
        took = closed_after(s)
        s.close()
        check(1.0 <= took <= 4.0, f"head without its body closed after {took:.2f}s")
        # a silent connection
        s = connect()
        took = closed_after(s)
        s.close()
        check(1.0 <= took <= 4.0, f"silent connection closed after {took:.2f}s")
        st = pool_status()
        check(st["readTimeouts"] >= before + 3, f"read timeouts counted: {st['readTimeouts']}")
        check(metric("memberapi_fcgi_read_timeouts_total") >= m0 + 3, "metric counts them")
        eq(st["activeThreads"], 1, "no thread is held (only the status request's own)")
        eq(api("GET", "/health").status, 200)
    finally:
        restart()


@test
def an_idle_kept_connection_is_closed_after_the_read_timeout():
    restart(FCGI_READ_TIMEOUT_MS=1500)
    try:
        s = connect()
        for _ in range(3):  # a kept connection serves request after request
            s.sendall(head("/health", keep=True) + fcgi_client._record(fcgi_client.STDIN, b""))
            out = read_response(s)
            check(out.startswith(b"Status: 200"), f"kept connection answer: {out[:200]!r}")
        took = closed_after(s)
        s.close()
        check(1.0 <= took <= 4.0, f"idle kept connection closed after {took:.2f}s")
        eq(pool_status()["activeThreads"], 1, "no thread is held")
    finally:
        restart()


# ---- point 4: requests that run too long, saturation ---------------------------

@test
def a_long_request_is_logged_while_running_then_answered_504_and_its_worker_recycled():
    restart(SLOW_REQUEST_MS=300, REQUEST_TIMEOUT_MS=2000, STOP_TIMEOUT_MS=8000)
    uid = new_user("frontdoor-slow")
    oid, pk = paid_order(uid, 12000, "wd")
    try:
        before = pool_status()
        m0 = metric("memberapi_http_request_timeouts_total")
        fault("delay", oid, delayMs=4000)
        off = log_size()
        rid = "frontdoor-" + oid
        box = {}

        def confirm():
            t0 = time.time()
            qs = f"paymentKey={pk}&orderId={oid}&amount=12000"
            box["r"] = api("POST", f"/api/v1/payments/success/toss?{qs}",
                           headers={"X-Request-Id": rid, **apitest.member(uid)}, timeout=30)
            box["took"] = time.time() - t0
            box["done_at"] = time.time()

        t = threading.Thread(target=confirm)
        t.start()
        seen = wait_until(lambda: (lambda text: next(
            (ln for ln in text.splitlines() if "event=slow_request_running" in ln
             and f"rid={rid}" in ln), None))(log_since(off)), 3, what="slow request logged")
        seen_at = time.time()
        check("done_at" not in box, "logged while the request was still running")
        check("route=payment_success" in seen or "route=payment" in seen, f"route in {seen}")
        check("elapsed_ms=" in seen, f"elapsed in {seen}")
        t.join(30)
        r, took = box["r"], box["took"]
        is_error_envelope(r, 504, "SERVICE_UNAVAILABLE")
        eq(r.json["requestId"], rid)
        check(1.8 <= took < 3.9, f"answered at the timeout, not by the gateway: {took:.2f}s")
        check(seen_at < box["done_at"], "the log line came first")
        check(f"rid={rid}" in log_since(off) and "event=request_timeout" in log_since(off),
              "the timeout is logged with the request id")
        eq(metric("memberapi_http_request_timeouts_total"), m0 + 1, "timeouts metric")
        # the worker that held it is recycled; the pool keeps its size and serves
        after = wait_until(lambda: (lambda s: s if s["recycledWorkers"] > before["recycledWorkers"]
                                    and len([w for w in s["workers"] if w["state"] == "ready"])
                                    == WORKERS else None)(pool_status()), 15,
                           what="worker recycled and replaced")
        eq(after["requestTimeouts"], before["requestTimeouts"] + 1)
        for _ in range(10):
            eq(api("GET", "/health").status, 200)
        # the recycled worker exits once its thread is back (the gateway's
        # answer, at 4 s)
        wait_until(lambda: not [w for w in pool_status()["workers"] if w["state"] == "draining"],
                   15, what="the recycled worker gone")
    finally:
        clear_faults()
    # the payment is not harmed: once the gateway answered, the reconciler
    # settles it with exactly one grant
    time.sleep(3)
    reconcile(RECONCILE_MIN_AGE_S=0)
    eq(status(oid), "DONE")
    eq(ledger(oid), [(uid, 12000, 12000)])
    eq(balance(uid), 12000)
    restart()


@test
def a_worker_whose_thread_stays_stuck_exits_after_stop_timeout():
    # the gateway call outlives both the request timeout and the drain bound
    restart(REQUEST_TIMEOUT_MS=1000, STOP_TIMEOUT_MS=500, TOSS_TIMEOUT_MS=3000)
    uid = new_user("frontdoor-stuck")
    oid, pk = paid_order(uid, 13000, "wd")
    try:
        before = pool_status()
        off = log_size()
        fault("delay", oid, delayMs=6000)
        t0 = time.time()
        r = success(oid, pk, 13000, timeout=30, retry_breaker=False)
        is_error_envelope(r, 504, "SERVICE_UNAVAILABLE")
        check(time.time() - t0 < 2.5, f"answered at the timeout: {time.time() - t0:.2f}s")
        line = wait_until(lambda: next((ln for ln in log_since(off).splitlines()
                                        if "event=worker_abandoned_threads" in ln), None), 10,
                          what="the worker leaves its stuck thread behind")
        check("threads=1" in line, line)
        check(time.time() - t0 < 3.0, "before the gateway call ended (3 s)")
        after = wait_until(lambda: (lambda s: s if len([w for w in s["workers"]
                                                        if w["state"] == "ready"]) == WORKERS
                                    and not [w for w in s["workers"] if w["state"] == "draining"]
                                    else None)(pool_status()), 10, what="pool back to size")
        old = {w["pid"] for w in before["workers"]}
        check(len(old - {w["pid"] for w in after["workers"]}) == 1, "one worker replaced")
        eq(after["respawnedWorkers"], before["respawnedWorkers"], "an exit, not a crash")
        for _ in range(10):
            eq(api("GET", "/health").status, 200)
    finally:
        clear_faults()
    # the confirm died with its worker: the reconciler settles the payment once
    # its lease is over
    time.sleep(6)

    def settled():
        reconcile(RECONCILE_MIN_AGE_S=0, TOSS_TIMEOUT_MS=3000)
        return status(oid) == "DONE"
    wait_until(settled, 40, interval=2, what="payment settled by the reconciler")
    eq(ledger(oid), [(uid, 13000, 13000)])
    eq(balance(uid), 13000)
    restart()


@test
def saturation_busy_threads_max_threads_reached_and_the_listen_queue_show_and_move():
    restart(WORKERS=1, THREADS=2, FCGI_READ_TIMEOUT_MS=3500)
    held = []
    try:
        before = pool_status()
        eq(before["listenQueue"], 0, "empty queue at rest")
        check(before["listenQueueLen"] >= 16, f"queue limit: {before['listenQueueLen']}")
        m0 = metric("memberapi_pool_max_threads_reached_total")
        mark = pool_status()["maxThreadsReached"]
        # two requests whose bodies never come hold both threads in a request;
        # 1 s apart, so that the second thread is still held when the first
        # one's read timeout lets the status request in (a loaded machine
        # must not let it take a queued connection first)
        for gap in (1.0, 0.2):
            s = connect()
            s.sendall(head("/health", content_length=10))
            held.append(s)
            time.sleep(gap)
        # three more wait in the listen queue
        for _ in range(3):
            held.append(connect())
        time.sleep(0.2)
        # the status request waits for a thread (the admin socket is served
        # first when one frees up, at the read timeout)
        t0 = time.time()
        st = pool_status()
        waited = time.time() - t0
        check(1.5 <= waited <= 6, f"the status waited for a thread: {waited:.2f}s")
        check(st["listenQueue"] >= 3, f"listen queue {st['listenQueue']}")
        check(st["maxListenQueue"] >= 3, f"max listen queue {st['maxListenQueue']}")
        check(st["maxThreadsReached"] >= mark + 1, f"max threads reached {st['maxThreadsReached']}")
        eq(st["totalThreads"], 2)
        check(st["activeThreads"] >= 1, f"busy threads {st['activeThreads']}")
        eq(st["maxActiveThreads"], 2)
        check(metric("memberapi_pool_max_threads_reached_total") >= m0 + 1, "metric moved")
    finally:
        for s in held:
            s.close()
    # the queue drains; the gauges come back down
    wait_until(lambda: pool_status()["listenQueue"] == 0, 15, what="queue drained")
    st = pool_status()
    eq(st["activeThreads"], 1, "only the status request")
    text = admin("GET", "/metrics").text
    check('memberapi_pool_listen_queue{listener="public"} 0' in text, "queue gauge back to 0")
    check("memberapi_pool_listen_queue_length " in text, "queue limit gauge")
    restart()
