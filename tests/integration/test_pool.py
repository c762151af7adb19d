"""test_pool.py: the worker pool's life cycle under load: a worker killed
with SIGKILL is replaced and only its in-flight requests fail; a graceful
reload (SIGHUP) under load fails no request; workers are recycled after
MAX_REQUESTS without a failed request; the respawn brake engages when
workers die in a loop; slow requests are logged and counted; a graceful stop
(SIGTERM) lets an in-flight request finish. These tests restart the pool;
they leave it running with the stack's configuration."""
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import apitest  # noqa: E402
from apitest import (HTTP_PORT, STACK_DIR, ab, api, check, eq, log_since, log_size,  # noqa: E402
                     pid_of, pool_status, test, wait_until)
import fcgi_client  # noqa: E402

THREADS = int(os.environ.get("THREADS", "16"))
SOCK = os.path.join(STACK_DIR, "run", "memberapi.sock")
URL = f"http://127.0.0.1:{HTTP_PORT}"


def ready_workers():
    return [w for w in pool_status()["workers"] if w["state"] == "ready"]


def restart_pool(**env):
    """Restarts the pool with extra configuration (none: the stack's own)."""
    apitest.restart_pool(env)
    n = int(os.environ.get("WORKERS", os.cpu_count()))
    wait_until(lambda: len(ready_workers()) == n, 15, what="workers ready")


def in_background(fn):
    box = {}
    t = threading.Thread(target=lambda: box.setdefault("r", fn()))
    t.start()
    return t, box






@test
def sigkill_of_a_worker_under_load_loses_only_its_in_flight_requests():
    before = pool_status()
    victim = before["workers"][0]
    t, box = in_background(lambda: ab(URL + "/ready", c=16, seconds=4, keepalive=True))
    time.sleep(1.5)
    os.kill(victim["pid"], signal.SIGKILL)
    t.join()
    res = box["r"]
    lost = int(res["failed"] + res["non2xx"])
    check(res["complete"] > 100, f"load too small: {res['complete']}")
    check(lost <= THREADS, f"{lost} requests failed; at most the killed worker's {THREADS} threads were in flight")
    after = wait_until(lambda: (lambda s: s if len([w for w in s["workers"] if w["state"] == "ready"])
                                == before["totalProcesses"] else None)(pool_status()), 10,
                       what="replacement worker")
    pids = {w["pid"] for w in after["workers"]}
    check(victim["pid"] not in pids, "the killed worker is gone")
    eq(after["respawnedWorkers"], before["respawnedWorkers"] + 1, "respawn counted")
    # and the pool serves fully again
    res = ab(URL + "/health", n=2000, c=16)
    eq(int(res["failed"] + res["non2xx"]), 0, "errors after the respawn")


@test
def graceful_reload_under_load_fails_no_request():
    before = pool_status()
    master = pid_of("pool")
    t, box = in_background(lambda: ab(URL + "/ready", c=32, seconds=6, keepalive=True))
    time.sleep(1.0)
    os.kill(master, signal.SIGHUP)
    time.sleep(2.0)
    os.kill(master, signal.SIGHUP)
    t.join()
    res = box["r"]
    check(res["complete"] > 100, "load ran")
    eq(int(res["failed"]), 0, "failed requests during reloads")
    eq(int(res["non2xx"]), 0, "non-2xx responses during reloads")
    after = wait_until(lambda: (lambda s: s if s["generation"] == before["generation"] + 2 and all(
        w["generation"] == s["generation"] for w in s["workers"]) else None)(pool_status()), 15,
        what="old generation drained")
    old = {w["pid"] for w in before["workers"]}
    check(not old & {w["pid"] for w in after["workers"]}, "every worker was replaced")
    eq(after["reloads"], before["reloads"] + 2)
    eq(pid_of("pool"), master, "the master stays")


@test
def workers_are_recycled_after_max_requests_without_errors():
    restart_pool(MAX_REQUESTS=300)
    try:
        res = ab(URL + "/health", n=3000, c=16)
        eq(int(res["failed"] + res["non2xx"]), 0, "errors while recycling")
        st = pool_status()
        check(st["recycledWorkers"] >= 5, f"recycled {st['recycledWorkers']}")
        check(all(w["requests"] <= 300 + THREADS for w in st["workers"]), "a worker served past its limit")
        eq(st["respawnedWorkers"], 0, "recycling is not a crash")
    finally:
        restart_pool()


@test
def respawn_brake_engages_when_workers_die_in_a_loop():
    restart_pool(RESPAWN_BURST=3, RESPAWN_WINDOW_S=30)
    try:
        off = log_size()
        for _ in range(4):
            pid = ready_workers()[0]["pid"]
            os.kill(pid, signal.SIGKILL)
            wait_until(lambda: pid not in {w["pid"] for w in ready_workers()}, 5, what="death seen")
            time.sleep(0.3)
        wait_until(lambda: "event=respawn_brake" in log_since(off), 5, what="respawn brake log")
        check("delay_ms=1000" in log_since(off), "first brake delay is 1 s")
        n = int(os.environ.get("WORKERS", os.cpu_count()))
        wait_until(lambda: len(ready_workers()) == n, 10, what="workers back after the brake")
    finally:
        restart_pool()


@test
def slow_requests_are_logged_and_counted():
    restart_pool(SLOW_REQUEST_MS=1)
    try:
        off = log_size()
        for _ in range(5):
            api("GET", "/ready")
        st = pool_status()
        check(st["slowRequests"] >= 1, "slow requests counted")
        wait_until(lambda: "event=slow_request" in log_since(off) and "route=ready" in log_since(off),
                   5, what="slow request log line")
    finally:
        restart_pool()


@test
def graceful_stop_finishes_the_request_in_flight():
    master = pid_of("pool")
    # A request whose body is still arriving is in flight in a worker thread.
    req = fcgi_client.Request(SOCK, {"REQUEST_METHOD": "GET", "DOCUMENT_URI": "/health",
                                     "QUERY_STRING": "", "CONTENT_LENGTH": "10",
                                     "API_LISTENER": "public"})
    req.send_body(b"01234", last=False)
    time.sleep(0.3)
    os.kill(master, signal.SIGTERM)
    time.sleep(1.0)
    try:
        os.kill(master, 0)
    except ProcessLookupError:
        raise AssertionError("the pool exited with a request in flight")
    req.send_body(b"56789", last=True)
    out = req.response()
    check(out is not None and out.startswith(b"Status: 200"), f"in-flight request answered: {out!r}")
    check(b'{"status":"UP"}' in out)

    def gone():
        try:
            os.kill(master, 0)
            return False
        except ProcessLookupError:
            return True
    wait_until(gone, 15, what="pool exit after the drain")
    check(not os.path.exists(SOCK), "socket removed on stop")
    restart_pool()
    eq(api("GET", "/health").status, 200)
