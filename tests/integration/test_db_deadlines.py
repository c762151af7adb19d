"""test_db_deadlines.py: a frozen PostgreSQL server never freezes the pool
(issue 10, point 1). A frozen server is simulated the way a hung VM looks
from the client: SIGSTOP to its postmaster and every child of it (the
backends, found by parent pid with pgrep -P), so TCP still accepts but
nothing answers; SIGCONT always follows in a finally block.

  - replica frozen for 8 s under 8 clients reading list pages that miss the
    cache: every read answers 200 (the ones caught on the replica time out
    after DB_READ_TIMEOUT_MS and are re-run on the primary), the replica
    breaker opens within about two seconds, reads keep being served by the
    primary, /health stays 200 and fast; after SIGCONT the breaker closes
    and the replica serves again;
  - primary frozen (pool restarted with short DB_*_TIMEOUT_MS to keep the
    test short): POST /api/v1/payments and GET /api/v1/users/{id}/points
    answer a 503 SERVICE_UNAVAILABLE envelope within their deadline instead
    of waiting for nginx's 504, /health stays fast; after SIGCONT both work
    again.

Latency bounds are loose enough for the ASan build: they separate "bounded
by the deadline" from "hung for the whole freeze".
"""
import os
import random
import re
import signal
import subprocess
import threading
import time

import apitest
from apitest import (REPLICA_URL, STACK_DIR, admin, api, check, eq, is_error_envelope,
                     restart_pool, sql1, test, wait_until)

BASE = "/api/v1/profiles"
READ_TIMEOUT_S = 1.0  # the default DB_READ_TIMEOUT_MS
FREEZE_S = 8.0


def postmaster(which):
    """The pid of the stack's `which` server (from its postmaster.pid)."""
    with open(os.path.join(STACK_DIR, "pg", which, "postmaster.pid")) as f:
        return int(f.readline().strip())


def freeze(which):
    """SIGSTOPs the postmaster, then every child it has (listed after the
    stop: a stopped postmaster forks no new backend). Returns the pids, for
    thaw()."""
    master = postmaster(which)
    pids = [master]
    signal_all(pids, signal.SIGSTOP)
    r = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
    children = [int(p) for p in r.stdout.split()]
    signal_all(children, signal.SIGSTOP)
    return pids + children


def signal_all(pids, sig):
    for p in pids:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


def metric(name):
    for line in admin("GET", "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def replica_breaker_state():
    return metric('memberapi_breaker_state{breaker="replica"}')


def replica_list_reads():
    return metric('memberapi_profile_db_reads_total{kind="list",role="replica"}')


class ListReaders:
    """`workers` threads reading random list pages (cache misses) until
    stopped; each read is kept as (start, duration, status)."""

    def __init__(self, workers=8):
        self.max_page = int(sql1("SELECT count(*) FROM profiles", REPLICA_URL)) // 5 - 1
        self.reads = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run) for _ in range(workers)]

    def _run(self):
        rng = random.Random()
        while not self.stop.is_set():
            # a random page and size: almost never in Redis or the near cache
            size = rng.randint(2, 9)
            page = rng.randint(0, self.max_page)
            t0 = time.time()
            try:
                st = api("GET", f"{BASE}?size={size}&page={page}", timeout=30).status
            except Exception as e:  # noqa: BLE001 - a broken request is a failed read
                st = repr(e)
            with self.lock:
                self.reads.append((t0, time.time() - t0, st))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


class HealthProbe:
    """Polls /health every 100 ms; keeps (status, duration)."""

    def __init__(self):
        self.probes = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self):
        while not self.stop.is_set():
            t0 = time.time()
            try:
                st = api("GET", "/health", timeout=10).status
            except Exception as e:  # noqa: BLE001
                st = repr(e)
            self.probes.append((st, time.time() - t0))
            time.sleep(0.1)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()

    def check_fast(self):
        check(len(self.probes) >= 5, f"/health was probed ({len(self.probes)})")
        bad = [p for p in self.probes if p[0] != 200]
        eq(bad, [], "/health answers other than 200")
        slowest = max(d for _, d in self.probes)
        # a /health waiting on a database would take DB_READ_TIMEOUT_MS at least
        check(slowest < 0.9, f"/health stays fast: slowest {slowest * 1000:.0f} ms")


def drive_until_replica_closed(timeout=30):
    max_page = int(sql1("SELECT count(*) FROM profiles", REPLICA_URL)) // 5 - 1
    rng = random.Random()

    def closed():
        for _ in range(20):
            api("GET", f"{BASE}?size=5&page={rng.randint(0, max_page)}")
        return replica_breaker_state() == 0

    wait_until(closed, timeout=timeout, interval=0.2, what="replica breaker CLOSED")


@test
def replica_frozen_reads_go_to_the_primary():
    drive_until_replica_closed()
    pids = [postmaster("replica")]
    opened_after = None
    try:
        with HealthProbe() as health, ListReaders() as readers:
            time.sleep(2.0)
            t_freeze = time.time()
            pids = freeze("replica")
            wait_until(lambda: replica_breaker_state() == 1, timeout=6, interval=0.05,
                       what="replica breaker OPEN")
            opened_after = time.time() - t_freeze
            time.sleep(max(0.0, FREEZE_S - (time.time() - t_freeze)))
            t_thaw = time.time()
            signal_all(pids, signal.SIGCONT)
            time.sleep(1.0)
    finally:
        signal_all(pids, signal.SIGCONT)
    reads = readers.reads
    failed = [r for r in reads if r[2] != 200]
    eq(failed[:5], [], f"failed reads among {len(reads)}")
    # the breaker opened within about two seconds of the freeze (its trigger
    # is the first reads timing out after DB_READ_TIMEOUT_MS; slack for ASan)
    check(opened_after < 3.5, f"replica breaker opened {opened_after:.1f} s after the freeze")
    # reads kept being served, by the primary, for the rest of the freeze
    during = [r for r in reads if t_freeze + 3.0 <= r[0] and r[0] + r[1] <= t_thaw]
    check(len(during) >= 5 * (t_thaw - t_freeze - 3.0),
          f"{len(during)} reads in the {t_thaw - t_freeze - 3.0:.1f} s after the breaker "
          "opened (served by the primary)")
    # nobody waited for the freeze: at most the replica's deadline and the
    # primary's read
    slowest = max(r[1] for r in reads)
    check(slowest < 2 * READ_TIMEOUT_S + 2.0, f"slowest read {slowest:.1f} s (bounded)")
    health.check_fast()
    print(f"  replica frozen {t_thaw - t_freeze:.1f} s: {len(reads)} reads, all 200; breaker "
          f"OPEN after {opened_after:.2f} s; slowest read {slowest:.2f} s; "
          f"{len(during) / (t_thaw - t_freeze - 3.0):.0f} reads/s from the primary; "
          f"/health slowest {max(d for _, d in health.probes) * 1000:.0f} ms", flush=True)
    # after SIGCONT: the breaker closes again and the replica serves
    before = replica_list_reads()
    drive_until_replica_closed()
    wait_until(lambda: (api("GET", f"{BASE}?size=3&page={random.randint(0, 3000)}").status == 200
                        and replica_list_reads() > before),
               timeout=10, what="the replica serves list reads again")


PRIMARY_ENV = {"DB_READ_TIMEOUT_MS": "600", "DB_WRITE_TIMEOUT_MS": "1500"}


def new_user():
    return int(sql1("INSERT INTO users (name) VALUES ('deadline-test') RETURNING id"))


def create_payment(uid, tag):
    oid = f"dl_{tag}_{time.time_ns() % 10**12}_{random.randrange(10**6):06d}"
    return api("POST", "/api/v1/payments",
               {"orderId": oid, "userId": uid, "amount": 1000, "payGateway": "TOSS",
                "payType": "CARD"}, headers=apitest.member(uid), timeout=60)


def points(uid, timeout=30):
    return api("GET", f"/api/v1/users/{uid}/points", headers=apitest.member(uid), timeout=timeout)


def timed(fn):
    t0 = time.time()
    r = fn()
    return r, time.time() - t0


@test
def primary_frozen_writes_answer_503_within_the_deadline():
    restart_pool(env=PRIMARY_ENV, ready=True)
    uid = new_user()
    apitest.member_token(uid)  # minted before the freeze (minting does no I/O anyway)
    try:
        # warm: every thread may have a connection; both answer normally
        eq(create_payment(uid, "warm").status, 201, "payment create before the freeze")
        eq(points(uid).status, 200, "points before the freeze")
        pids = [postmaster("primary")]
        try:
            with HealthProbe() as health:
                pids = freeze("primary")
                time.sleep(0.2)
                answers = []
                # 0.4 s apart: past the worker's 250 ms backoff after a
                # timeout, so each call may be the one that probes the
                # server and waits its whole deadline (the others fail fast)
                for i in range(3):
                    answers.append(("GET points", 0.6) + timed(
                        lambda: points(uid, timeout=60)))
                    time.sleep(0.4)
                    answers.append(("POST payments", 1.5) + timed(lambda: create_payment(uid, i)))
                    time.sleep(0.4)
            signal_all(pids, signal.SIGCONT)
        finally:
            signal_all(pids, signal.SIGCONT)
        for what, deadline, r, took in answers:
            is_error_envelope(r, 503, "SERVICE_UNAVAILABLE")
            # the deadline (plus a connect attempt bounded by it) and slack
            # for the ASan build; nginx's own answer would take 40 s
            check(took < 2 * deadline + 1.5, f"{what}: 503 after {took:.1f} s "
                  f"(deadline {deadline} s)")
        health.check_fast()
        print("  primary frozen: " + ", ".join(f"{w} 503 in {t:.2f} s" for w, _, _, t in answers),
              flush=True)
        # after SIGCONT both work again
        wait_until(lambda: points(uid).status == 200, timeout=15,
                   interval=0.2, what="points served again")
        wait_until(lambda: create_payment(uid, "after").status == 201, timeout=15, interval=0.2,
                   what="payments created again")
    finally:
        restart_pool(ready=True)


def pool_log_since(offset):
    with open(os.path.join(STACK_DIR, "log", "memberapi.log"), errors="replace") as f:
        f.seek(offset)
        return f.read()


def pool_log_size():
    return os.path.getsize(os.path.join(STACK_DIR, "log", "memberapi.log"))


def alive(pid):
    """Running (a zombie waiting for its reaper has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


STOP_ENV = {"STOP_TIMEOUT_MS": "4000", "DB_WRITE_TIMEOUT_MS": "1500", "DB_READ_TIMEOUT_MS": "600"}


@test
def stop_during_primary_freeze_ends_within_stop_timeout():
    restart_pool(env=STOP_ENV, ready=True)
    pid = int(sql1("SELECT min(id) FROM profiles", REPLICA_URL))
    pids = [postmaster("primary")]
    try:
        pids = freeze("primary")
        # views of details served from the cache or the replica wait in the
        # workers' buffers: their flush cannot reach the frozen primary
        for _ in range(20):
            eq(api("GET", f"{BASE}/{pid}").status, 200, "detail while the primary is frozen")
        time.sleep(0.5)
        master = apitest.pid_of("pool")
        offset = pool_log_size()
        t0 = time.time()
        os.kill(master, signal.SIGTERM)
        wait_until(lambda: not alive(master), timeout=15, interval=0.05, what="the pool stopped")
        took = time.time() - t0
        log = pool_log_since(offset)
    finally:
        signal_all(pids, signal.SIGCONT)
    check(took < 4.0 + 1.0, f"the pool stopped {took:.1f} s after SIGTERM (STOP_TIMEOUT_MS 4000)")
    check("reason=stop_timeout" not in log, "no worker had to be killed at the stop timeout")
    lost = [int(v) for v in re.findall(r"event=profile_views_lost views=(\d+)", log)]
    check(lost and sum(lost) > 0, "the flush gave up and logged the views it could not write")
    print(f"  stop with the primary frozen: {took:.1f} s, {sum(lost)} views reported lost",
          flush=True)
    restart_pool(ready=True)


@test
def reconciler_run_is_bounded_with_the_primary_frozen():
    pids = [postmaster("primary")]
    env = dict(os.environ, ROOT=apitest.ROOT, DB_READ_TIMEOUT_MS="500", DB_WRITE_TIMEOUT_MS="1000",
               DB_CONNECT_TIMEOUT_S="1")
    binary = os.environ.get("MEMBERAPI_BIN", os.path.join(
        os.environ.get("BUILD_DIR", os.path.join(apitest.ROOT, "build")), "src", "memberapi"))
    cmd = ('. "$ROOT/scripts/lib/stack.sh"; set -a; . "$STACK_DIR/pool.env"; set +a; '
           'LOG_FILE=- exec "$BIN" job reconcile')
    try:
        pids = freeze("primary")
        t0 = time.time()
        r = subprocess.run(["bash", "-c", cmd], env=dict(env, BIN=binary), capture_output=True,
                           text=True, timeout=60)
        took = time.time() - t0
    finally:
        signal_all(pids, signal.SIGCONT)
    check(r.returncode != 0, "a run that could not reach the database reports failure")
    check(took < 5.0, f"the run ended {took:.1f} s after it started (deadlines 0.5/1 s)")
    check("reconcile_failed" in r.stderr, f"the run logged why: {r.stderr[-300:]}")


if __name__ == "__main__":
    apitest.run()
