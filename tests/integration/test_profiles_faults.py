"""test_profiles_faults.py: the profile endpoints under apache-bench load while
a dependency fails (issue 3, item 5):

  - Redis stopped: zero non-2xx, the Redis breaker opens, the replica serves;
    Redis started again: the breaker closes through HALF_OPEN;
  - Redis frozen with SIGSTOP: the same, with bounded latency (Redis calls
    time out in milliseconds); SIGCONT always follows, even on failure;
  - the replica stopped: the primary serves, zero errors, the replica breaker
    opens, and closes again once the replica is back;
  - the primary restarted: view flushes are retried and none is lost;
  - the pool reloaded twice (SIGHUP) under load: the draining workers flush
    their buffers, no view is lost.

Each test is short (< 30 s), stops and starts parts only through
scripts/lib/stack.sh and recorded pids, and leaves the stack as it found it
(every part running, breakers CLOSED). Latency bounds are loose enough for
the ASan build: they separate "bounded by timeouts" from "hung for the whole
fault", not fast from slow.
"""
import concurrent.futures
import functools
import os
import random
import re
import signal
import threading
import time

from apitest import (REPLICA_URL, STACK_DIR, HTTP_PORT, ab, admin, api, check, eq, pid_of,
                     restart_pool, sql, sql1, stack, test, wait_until)

BASE = "/api/v1/profiles"
URL = f"http://127.0.0.1:{HTTP_PORT}"


def every_view_counts(fn):
    """Runs the test with VIEW_DEDUP_WINDOW_S=0: it counts one client's raw
    views of one profile (no view lost, none twice), not the repeat-view rule
    (test_members.py)."""
    @functools.wraps(fn)
    def wrapped():
        restart_pool({"VIEW_DEDUP_WINDOW_S": "0"}, ready=True)
        try:
            fn()
        finally:
            restart_pool(ready=True)
    return wrapped


def all_metrics():
    out = {}
    for line in admin("GET", "/metrics").text.splitlines():
        if line.startswith("memberapi_"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def m(ms, name, **labels):
    if labels:
        name += "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"
    return ms.get(name, 0.0)


def breaker(name):
    return api("GET", "/ready").json["breakers"][name]["state"]


def ab_failures(res):
    """Connect/receive/exception failures (a different body length is not an
    error: viewCount grows while the test runs)."""
    mm = re.search(r"\(Connect: (\d+), Receive: (\d+), Length: (\d+), Exceptions: (\d+)\)",
                   res["raw"])
    if not mm:
        return 0
    return int(mm.group(1)) + int(mm.group(2)) + int(mm.group(4))


class Background:
    """ab runs against a few URLs in threads while the test breaks something."""

    def __init__(self, paths, seconds, c=8):
        self.results = {}
        self.threads = [threading.Thread(target=self._run, args=(p, seconds, c)) for p in paths]

    def _run(self, path, seconds, c):
        try:
            self.results[path] = ab(URL + path, c=c, seconds=seconds, n=2000000)
        except Exception as e:  # noqa: BLE001 - reported by check_clean
            self.results[path] = e

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        for t in self.threads:
            t.join()

    def check_clean(self):
        for path, res in self.results.items():
            check(not isinstance(res, Exception), f"ab on {path}: {res}")
            check(res["complete"] > 0, f"ab on {path} completed requests")
            eq(res["non2xx"], 0.0, f"non-2xx responses for {path} ({res['complete']:.0f} done)")
            eq(ab_failures(res), 0, f"failed requests for {path}")


class _Readers:
    """`workers` threads running self._run while the with-block runs."""

    def __enter__(self):
        self.ex = concurrent.futures.ThreadPoolExecutor(self.workers)
        self.futs = [self.ex.submit(self._run) for _ in range(self.workers)]
        return self

    def __exit__(self, *exc):
        for f in self.futs:
            f.result()
        self.ex.shutdown()


class Misses(_Readers):
    """Reads of random ids (mostly cache misses, so they reach PostgreSQL)."""

    def __init__(self, seconds, workers=4):
        self.seconds = seconds
        self.workers = workers
        self.max_id = int(sql1("SELECT max(id) FROM profiles", REPLICA_URL))
        self.statuses = []
        self.lock = threading.Lock()

    def _run(self):
        end = time.time() + self.seconds
        rng = random.Random()
        while time.time() < end:
            pid = rng.randint(1, self.max_id)
            st = api("GET", f"{BASE}/{pid}", timeout=10).status
            with self.lock:
                self.statuses.append(st)

    def check_clean(self):
        check(len(self.statuses) > 0, "reads were made")
        bad = [s for s in self.statuses if s not in (200, 404)]
        eq(bad, [], f"errors among {len(self.statuses)} random-id reads")


class Exact(_Readers):
    """Reads one path for a while and counts exactly how many answered 200."""

    def __init__(self, path, seconds, workers=4):
        self.path, self.seconds, self.workers = path, seconds, workers
        self.ok = 0
        self.other = []
        self.lock = threading.Lock()

    def _run(self):
        end = time.time() + self.seconds
        while time.time() < end:
            st = api("GET", self.path, timeout=20).status
            with self.lock:
                if st == 200:
                    self.ok += 1
                else:
                    self.other.append(st)


def drive_until_closed(name, timeout=30):
    """Sends reads (which go through the breaker) until it is CLOSED again."""
    max_id = int(sql1("SELECT max(id) FROM profiles", REPLICA_URL))
    rng = random.Random()

    def closed():
        for _ in range(20):
            api("GET", f"{BASE}/{rng.randint(1, max_id)}")
            api("GET", f"{BASE}?size=5&page={rng.randint(0, 500)}")
        return breaker(name) == "CLOSED"

    wait_until(closed, timeout=timeout, interval=0.2, what=f"{name} breaker CLOSED")


def redis_running():
    try:
        os.kill(pid_of("redis"), 0)
        return True
    except (OSError, ValueError):
        return False


def ensure_redis():
    if not redis_running():
        stack("start_redis")
    drive_until_closed("redis")


def hot_paths():
    pid = int(sql1("SELECT min(id) FROM profiles", REPLICA_URL))
    return [f"{BASE}/{pid}", f"{BASE}?size=20&sort=name,asc"]


@test
def redis_stopped_then_started():
    ensure_redis()
    m0 = all_metrics()
    with Background(hot_paths(), seconds=8) as bg, Misses(seconds=8) as misses:
        time.sleep(1.5)
        stack("stop_pid", os.path.join(STACK_DIR, "run", "redis.pid"), "TERM", "10")
        wait_until(lambda: breaker("redis") == "OPEN", timeout=5, what="redis breaker OPEN")
        time.sleep(1.0)
        m1 = all_metrics()
    bg.check_clean()
    misses.check_clean()
    check(m(m1, "memberapi_profile_db_reads_total", kind="detail", role="replica")
          > m(m0, "memberapi_profile_db_reads_total", kind="detail", role="replica"),
          "the replica served reads while Redis was down")
    check(m(m1, "memberapi_profile_cache_total", kind="detail", result="bypass")
          > m(m0, "memberapi_profile_cache_total", kind="detail", result="bypass"),
          "reads skipped Redis")
    stack("start_redis")
    drive_until_closed("redis")
    m2 = all_metrics()
    check(m(m2, "memberapi_breaker_transitions_total", breaker="redis", to="half_open")
          > m(m0, "memberapi_breaker_transitions_total", breaker="redis", to="half_open"),
          "the breaker went through HALF_OPEN")
    check(m(m2, "memberapi_breaker_transitions_total", breaker="redis", to="closed")
          > m(m0, "memberapi_breaker_transitions_total", breaker="redis", to="closed"),
          "and closed")


@test
def redis_frozen_with_sigstop():
    ensure_redis()
    pid = pid_of("redis")
    m0 = all_metrics()
    try:
        with Background(hot_paths(), seconds=8, c=8) as bg, Misses(seconds=8) as misses:
            time.sleep(1.5)
            os.kill(pid, signal.SIGSTOP)
            wait_until(lambda: breaker("redis") == "OPEN", timeout=5, what="redis breaker OPEN")
            time.sleep(3.0)
            os.kill(pid, signal.SIGCONT)
    finally:
        os.kill(pid, signal.SIGCONT)
    bg.check_clean()
    misses.check_clean()
    for path, res in bg.results.items():
        # Redis was frozen for about 4 s: without timeouts a request would
        # have waited for all of it.
        check(res["max"] < 1500, f"{path}: slowest request {res['max']:.0f} ms (bounded)")
        check(res["p99"] < 500, f"{path}: p99 {res['p99']:.0f} ms")
    m1 = all_metrics()
    check(m(m1, "memberapi_breaker_transitions_total", breaker="redis", to="open")
          > m(m0, "memberapi_breaker_transitions_total", breaker="redis", to="open"),
          "the breaker opened")
    drive_until_closed("redis")


@test
def replica_stopped_then_started():
    ensure_redis()
    replica_dir = os.path.join(STACK_DIR, "pg", "replica")
    m0 = all_metrics()
    try:
        with Background(hot_paths(), seconds=8) as bg, Misses(seconds=8, workers=6) as misses:
            time.sleep(1.5)
            stack("stop_pg", replica_dir)
            wait_until(lambda: breaker("replica") == "OPEN", timeout=5,
                       what="replica breaker OPEN")
            time.sleep(1.0)
            m1 = all_metrics()
    finally:
        stack("start_replica")
    bg.check_clean()
    misses.check_clean()
    check(m(m1, "memberapi_profile_db_reads_total", kind="detail", role="primary")
          > m(m0, "memberapi_profile_db_reads_total", kind="detail", role="primary"),
          "the primary served reads while the replica was down")
    wait_until(lambda: api("GET", "/ready").json["components"]["replica"]["status"] == "UP",
               timeout=20, what="replica UP")
    drive_until_closed("replica")


@test
@every_view_counts
def primary_restarted_views_are_not_lost():
    ensure_redis()
    user = int(sql1("INSERT INTO users (name) VALUES ('profile-fault-test') RETURNING id"))
    rows = sql(f"INSERT INTO profiles (name, user_id) VALUES ('장애시험', {user}) RETURNING id")
    pid = int(rows[0][0])
    primary_dir = os.path.join(STACK_DIR, "pg", "primary")
    try:
        wait_until(lambda: sql1(f"SELECT count(*) FROM profiles WHERE id = {pid}", REPLICA_URL)
                   == "1", timeout=10, what="replica has the profile")
        m0 = all_metrics()
        # ab gives the load; the exact count of 200s for the fixture profile
        # comes from our own client (ab -t abandons its last in-flight
        # requests, which the server still served and recorded).
        with Background(hot_paths(), seconds=9, c=8) as bg, Exact(f"{BASE}/{pid}", 9) as ex:
            time.sleep(2.0)
            try:
                stack("stop_pg", primary_dir)
                time.sleep(2.0)
            finally:
                stack("start_primary")
        bg.check_clean()
        eq(ex.other, [], "every read of the fixture profile answered 200")
        served = ex.ok
        check(served > 0, "reads were served")

        def count():
            return int(sql1(f"SELECT count(*) FROM profile_views WHERE profile_id = {pid}"))

        wait_until(lambda: count() >= served, timeout=25, interval=0.5,
                   what=f"{served} view rows after the restart")
        time.sleep(1.0)
        eq(count(), served, "view rows: one per 200, none lost, none twice")
        eq(int(sql1(f"SELECT view_count FROM profiles WHERE id = {pid}")), served, "view_count")
        m1 = all_metrics()
        check(m(m1, "memberapi_profile_view_flush_failures_total")
              > m(m0, "memberapi_profile_view_flush_failures_total"),
              "flushes failed while the primary was down (and were retried)")
        eq(m(m1, "memberapi_profile_views_dropped_total")
           - m(m0, "memberapi_profile_views_dropped_total"), 0.0, "nothing dropped")
    finally:
        sql(f"DELETE FROM profile_views WHERE profile_id = {pid}")
        sql(f"DELETE FROM profiles WHERE id = {pid}")
        sql(f"DELETE FROM users WHERE id = {user}")
    wait_until(lambda: api("GET", "/ready").status == 200, timeout=20, what="/ready 200")


@test
@every_view_counts
def reload_loses_no_view():
    # SIGHUP: a new generation of workers starts, the old one drains and its
    # worker_stop flushes the views still in its buffer.
    user = int(sql1("INSERT INTO users (name) VALUES ('profile-fault-test') RETURNING id"))
    rows = sql(f"INSERT INTO profiles (name, user_id) VALUES ('재시작시험', {user}) RETURNING id")
    pid = int(rows[0][0])
    try:
        wait_until(lambda: sql1(f"SELECT count(*) FROM profiles WHERE id = {pid}", REPLICA_URL)
                   == "1", timeout=10, what="replica has the profile")
        gen0 = admin("GET", "/pool-status?format=json").json["generation"]
        with Exact(f"{BASE}/{pid}", 6, workers=6) as ex:
            time.sleep(1.5)
            os.kill(pid_of("pool"), signal.SIGHUP)
            time.sleep(2.5)
            os.kill(pid_of("pool"), signal.SIGHUP)
        eq(ex.other, [], "every read answered 200 across two reloads")
        check(admin("GET", "/pool-status?format=json").json["generation"] >= gen0 + 2,
              "two reloads happened")

        def count():
            return int(sql1(f"SELECT count(*) FROM profile_views WHERE profile_id = {pid}"))

        wait_until(lambda: count() >= ex.ok, timeout=15, interval=0.3, what=f"{ex.ok} rows")
        time.sleep(1.0)
        eq(count(), ex.ok, "view rows equal the 200s")
        eq(int(sql1(f"SELECT view_count FROM profiles WHERE id = {pid}")), ex.ok, "view_count")
    finally:
        sql(f"DELETE FROM profile_views WHERE profile_id = {pid}")
        sql(f"DELETE FROM profiles WHERE id = {pid}")
        sql(f"DELETE FROM users WHERE id = {user}")
