#!/usr/bin/env python3
"""faults.py: the body of tests/fault/run.sh (see there).

Per scenario, while the load runs:
  - ab, concurrency C: GET /api/v1/profiles/{pid} (one profile per scenario,
    so its new view rows can be counted exactly)
  - ab, concurrency C/2: GET /api/v1/profiles?size=10&sort=name,asc (cached)
  - MISS_READERS threads at MISS_RATE/s each: list pages that miss the cache
    (random page, size and sort), so they need the replica, or the primary
    when the replica is away: "the reads that have another source"
  - P threads at 12 payments/s each: create a payment, authorize it at the
    gateway sandbox, confirm it (POST /api/v1/payments/success/toss), read
    the balance (primary only), over and over, for one fresh user (a 429 is
    repeated, as a client would)
  - a probe of /health every 100 ms, and a monitor of /pool-status and
    /metrics every 250 ms (breaker states, which server answered reads)
Most scenarios run D seconds with the fault in the middle third. A freeze
scenario (SIGSTOP of a server and, for PostgreSQL, of every process of it;
or a network black hole) runs PRE s, then the fault for F s (15; --short 6),
then the breaker's wait plus a margin, so that the return to normal is seen
under load. The pool runs with VIEW_DEDUP_WINDOW_S=0 (every view counts:
raw view throughput, not the repeat-view rule). Afterwards the view buffers drain, the clients of payments still
READY (their confirm was refused with 503 while the gateway breaker was
open) confirm again, the reconciler runs until every payment is final, and
the books are checked:
  lost writes   = detail 200s without their view row + payments not final
                  + DONE payments without their grant
  double grants = payments with more than one ledger row + ledger rows of
                  payments that are not DONE + balance != sum of DONE amounts
A crash (SIGKILL) may lose the killed worker's buffer, one flush interval of
views, plus the batch it was writing if that had not committed (the bound
docs/profiles.md documents): two intervals of at most the whole load's view
rate. Those are shown apart and checked against that bound. The verdict per
scenario checks errors against what that fault allows; a freeze scenario
also checks (see freeze_checks): /health always 200 within HEALTH_MS; no
request longer than its deadline (deadlines()) plus MARGIN_MS; reads with
another source all served; writes that need a frozen primary answered with
a 503 envelope; back to normal within the breaker's wait plus
RECOVERY_MARGIN_MS after the fault ends; a graceful stop during a primary
freeze over within STOP_TIMEOUT_MS; a reconciler run that hangs ended after
its time budget and a later run completing."""
import argparse
import concurrent.futures
import datetime
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "load"))
import apitest  # noqa: E402
from apitest import api, sql, sql1, stack  # noqa: E402
import benchlib  # noqa: E402
import paytest  # noqa: E402

URL = f"http://127.0.0.1:{apitest.HTTP_PORT}"
THREADS = int(os.environ.get("THREADS", "16"))
FLUSH_MS = 200
# The suite's pool: short gateway and database deadlines (so a 6 s freeze is
# longer than any deadline), the master's reconciler off (settle() runs it),
# a short gateway breaker wait (the return to normal is seen within the load).
# VIEW_DEDUP_WINDOW_S=0: the load is one client address re-reading one
# profile; every 200 must be a view row for "lost writes" to mean anything,
# so the repeat-view rule (docs/profiles.md "Counting views") is off here.
FAULT_ENV = {"TOSS_TIMEOUT_MS": "2000", "TOSS_CONNECT_TIMEOUT_MS": "1000", "RECONCILE_MIN_AGE_S": "0",
             "RECONCILE_INTERVAL_S": "0", "DB_READ_TIMEOUT_MS": "1000", "DB_WRITE_TIMEOUT_MS": "2000",
             "STOP_TIMEOUT_MS": "4000", "GATEWAY_BREAKER_WAIT_DURATION_IN_OPEN_STATE_MS": "4000",
             "VIEW_DEDUP_WINDOW_S": "0"}
HEALTH_MS = 1000          # /health is "fast": no I/O, one thread
MARGIN_MS = 1000          # over a deadline: scheduling on 2 shared cores
RECOVERY_MARGIN_MS = 2000  # over a breaker's wait: its half-open trial calls
JOB_MARGIN_MS = 1500      # over the reconciler's budget: the master's tick
MISS_READERS, MISS_RATE = 4, 40.0
SORTS = ["createdAt,desc", "createdAt,asc", "name,asc", "name,desc", "viewCount,desc",
         "viewCount,asc"]
# Kinds of request the clients record, and the deadline (deadlines()) each has.
READ_KINDS = ("detail", "list", "alt-read")
PRIMARY_KINDS = ("create", "points", "confirm")


# ---- the pool's configuration ----------------------------------------------------

def pool_config(env):
    """Every key's value as the pool sees it (`memberapi check-config` with
    the stack's environment, the pool's file and env): {KEY: str}."""
    extra = " ".join(f"{k}={v}" for k, v in env.items())
    cmd = ('. "$ROOT/scripts/lib/stack.sh"; set -a; . "$STACK_DIR/pool.env"; set +a; '
           f'LOG_FILE= {extra} exec "$MEMBERAPI_BIN" check-config')
    r = subprocess.run(["bash", "-c", cmd], env=dict(os.environ, ROOT=apitest.ROOT,
                                                     MEMBERAPI_BIN=paytest.MEMBERAPI_BIN),
                       capture_output=True, text=True, timeout=30)
    cfg = {}
    for line in (r.stdout + r.stderr).splitlines():
        if "event=config " in line:
            kv = dict(f.split("=", 1) for f in line.split() if "=" in f)
            cfg[kv.get("key")] = kv.get("value")
    return cfg


def ms(cfg, key, fallback):
    """A duration key in ms (a key the binary does not have: the suite's value)."""
    v = cfg.get(key)
    return int(v) if v is not None and v.lstrip("-").isdigit() else int(fallback)


def deadlines(cfg):
    """The longest a request of each kind may take (ms), from the pool's
    deadlines: a read may time out on the replica and then on the primary
    (DB_READ_TIMEOUT_MS each, connect included); a request that needs the
    primary ends at its first timeout (a write or whole transaction:
    DB_WRITE_TIMEOUT_MS); a confirm may also wait for the gateway
    (TOSS_TIMEOUT_MS). Plus MARGIN_MS."""
    read = ms(cfg, "DB_READ_TIMEOUT_MS", FAULT_ENV["DB_READ_TIMEOUT_MS"])
    write = ms(cfg, "DB_WRITE_TIMEOUT_MS", FAULT_ENV["DB_WRITE_TIMEOUT_MS"])
    toss = ms(cfg, "TOSS_TIMEOUT_MS", FAULT_ENV["TOSS_TIMEOUT_MS"])
    d = {k: 2 * read + MARGIN_MS for k in READ_KINDS}
    d.update(create=max(read, write) + MARGIN_MS, points=max(read, write) + MARGIN_MS,
             confirm=toss + write + MARGIN_MS)
    return d


# ---- the load ----------------------------------------------------------------

class Recorder:
    """Every request the Python clients make: (kind, start, seconds, status,
    envelope: the body is API.md's error envelope with that status)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rows = []

    def add(self, kind, t0, status, envelope=True):
        with self.lock:
            self.rows.append((kind, t0, time.time() - t0, status, envelope))

    def of(self, *kinds):
        with self.lock:
            return [r for r in self.rows if r[0] in kinds]


def is_envelope(status, body):
    try:
        j = json.loads(body)
    except ValueError:
        return False
    return isinstance(j, dict) and j.get("code") == status and bool(j.get("errorType"))


class Conn:
    """A kept-alive HTTP connection (a fresh one when the server closed it)."""

    def __init__(self, port, timeout=60):
        self.port, self.timeout, self.c = port, timeout, None

    def get(self, path):
        for _ in range(2):
            fresh = self.c is None
            if fresh:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.c.request("GET", path)
                r = self.c.getresponse()
                body = r.read()
                if (r.getheader("Connection") or "").lower() == "close":
                    self.close()
                return r.status, body
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if fresh:
                    raise
            except Exception:
                self.close()
                raise
        raise ConnectionError("unreachable")

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None


def paced(until, rate, fn):
    while time.time() < until:
        t0 = time.time()
        fn()
        time.sleep(max(0.0, 1.0 / rate - (time.time() - t0)))


def miss_reader(until, rec, nprofiles):
    """List pages that miss the cache: they need the replica (or, when it is
    away, the primary)."""
    conn = Conn(apitest.HTTP_PORT)

    def one():
        size = random.randint(1, 100)
        page = random.randrange(max(1, nprofiles // size))
        path = f"/api/v1/profiles?page={page}&size={size}&sort={random.choice(SORTS)}"
        t0 = time.time()
        try:
            status, body = conn.get(path)
            rec.add("alt-read", t0, status, status < 300 or is_envelope(status, body))
        except Exception:  # noqa: BLE001 - a broken connection is an error of this load
            rec.add("alt-read", t0, 599, False)
    paced(until, MISS_RATE, one)
    conn.close()


def health_probe(until, rec):
    conn = Conn(apitest.HTTP_PORT)

    def one():
        t0 = time.time()
        try:
            status, _ = conn.get("/health")
            rec.add("health", t0, status)
        except Exception:  # noqa: BLE001 - no answer is a failed probe
            rec.add("health", t0, 599, False)
    paced(until, 10.0, one)
    conn.close()


MONITORED = ('memberapi_profile_db_reads_total{kind="list",role="replica"}',
             'memberapi_profile_db_reads_total{kind="detail",role="replica"}',
             'memberapi_profile_cache_total{kind="list",result="hit"}',
             'memberapi_profile_cache_total{kind="list",result="miss"}',
             'memberapi_profile_cache_total{kind="detail",result="hit"}',
             'memberapi_profile_cache_total{kind="detail",result="miss"}',
             'memberapi_http_requests_total{route="profile_detail",code="200"}')


def monitor(until, samples, stop):
    """Every 250 ms: (time, {breaker: state}, {worker pids}, {metric: value})."""
    while time.time() < until and not stop.is_set():
        t = time.time()
        breakers, workers, m = {}, set(), {}
        try:
            ps = apitest.admin("GET", "/pool-status?format=json&full", timeout=2).json
            breakers = {k: v["state"] for k, v in ps["breakers"].items()}
            workers = {w["pid"] for w in ps["workers"]}
            for line in apitest.admin("GET", "/metrics", timeout=2).text.splitlines():
                name, _, v = line.rpartition(" ")
                if name in MONITORED:
                    m[name] = float(v)
        except Exception:  # noqa: BLE001 - a missed sample is only a gap
            pass
        samples.append((t, breakers, workers, m))
        time.sleep(max(0.0, 0.25 - (time.time() - t)))


def children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                st = f.read()
        except OSError:
            continue
        if int(st[st.rindex(")") + 2:].split()[1]) == ppid:
            out.append(int(d))
    return out


def job_watch(until, samples, jobs, stop):
    """The master's children that are not workers (its job runs): pid ->
    [first seen, last seen], every 100 ms."""
    while time.time() < until and not stop.is_set():
        try:
            master = apitest.pid_of("pool")
        except (OSError, ValueError):
            master = None
        workers = set()
        for s in reversed(samples[-8:]):
            workers |= s[2]
        if master:
            now = time.time()
            for pid in children(master):
                if pid not in workers:
                    jobs.setdefault(pid, [now, now])[1] = now
        time.sleep(0.1)


class Payer:
    """Top-ups in a loop until `until`, paced at RATE payments/s (the nginx
    rate limit on the payment routes is not the fault under test; a 429 is
    counted as throttled and the call repeated, as a client would). Counts
    requests and non-2xx answers, and records each call's time."""

    RATE = 12.0

    STOCK = 20

    def __init__(self, uid, until, base_amount, rec, stock_until=None):
        self.uid, self.until, self.amount, self.rec = uid, until, base_amount, rec
        self.requests = self.errors = self.throttled = 0
        self.orders = []
        self.lock = threading.Lock()
        # With stock_until: until then, up to STOCK authorized payments are
        # kept unconfirmed, and confirmed first afterwards, so confirms reach
        # the gateway while the buyers' own step there (authorize) cannot.
        self.stock_until, self.stock = stock_until, []

    def confirm(self, oid, pk, amount):
        self.call("confirm", lambda: paytest.success(oid, pk, amount, timeout=60,
                                                     retry_breaker=False))

    def call(self, kind, fn):
        """fn() until it is not a 429 (bounded by the end of the load)."""
        while True:
            t0 = time.time()
            try:
                r = fn()
            except Exception:
                self.rec.add(kind, t0, 599, False)
                raise
            if r.status != 429 or time.time() > self.until:
                self.rec.add(kind, t0, r.status,
                             r.status < 300 or (r.json or {}).get("code") == r.status)
                self.count(r.status)
                return r
            with self.lock:
                self.throttled += 1
            time.sleep(0.05)

    def run(self):
        while time.time() < self.until:
            t0 = time.time()
            oid = paytest.order_id("flt")
            amount = self.amount
            try:
                if self.stock and t0 >= self.stock_until:
                    self.confirm(*self.stock.pop(0))
                    time.sleep(max(0.0, 1.0 / self.RATE - (time.time() - t0)))
                    continue
                r = self.call("create", lambda: paytest.create(oid, self.uid, amount))
                if r.status == 201:
                    pk = paytest.authorize(oid, amount)
                    with self.lock:
                        self.orders.append((oid, pk, amount))
                    if self.stock_until and t0 < self.stock_until and len(self.stock) < self.STOCK:
                        self.stock.append((oid, pk, amount))
                    else:
                        self.confirm(oid, pk, amount)
                self.call("points", lambda: api("GET", f"/api/v1/users/{self.uid}/points",
                                                headers=apitest.member(self.uid), timeout=60))
            except Exception:  # noqa: BLE001 - a broken connection is an error of this load
                self.count(599)
            time.sleep(max(0.0, 1.0 / self.RATE - (time.time() - t0)))

    def count(self, status):
        with self.lock:
            self.requests += 1
            if status >= 300:
                self.errors += 1


def run_load(pid, timeline, c, payers, fault_on, fault_off, watch_jobs=False, stock=False):
    """The mixed load: timeline = (before, fault, after) seconds; afterwards
    the clients of READY payments retry their confirm (confirm_abandoned).
    stock: the payers keep payments to confirm during the fault (Payer)."""
    pre, dur, post = timeline
    seconds = pre + dur + post
    until = time.time() + seconds
    uid = paytest.new_user("fault-test")
    apitest.member_token(uid)  # minted before any fault, cached for the whole load
    nprofiles = int(sql1("SELECT count(*) FROM profiles"))
    rec, samples, jobruns, stop = Recorder(), [], {}, threading.Event()
    jobs = []
    with concurrent.futures.ThreadPoolExecutor(8 + payers + MISS_READERS) as ex:
        jobs.append(ex.submit(benchlib.ab_run, f"{URL}/api/v1/profiles/{pid}", c, seconds=seconds))
        jobs.append(ex.submit(benchlib.ab_run, f"{URL}/api/v1/profiles?size=10&sort=name,asc",
                              max(1, c // 2), seconds=seconds))
        ps = [Payer(uid, until, 1000 + i, rec, until - dur - post if stock else None)
              for i in range(payers)]
        for p in ps:
            jobs.append(ex.submit(p.run))
        for _ in range(MISS_READERS):
            jobs.append(ex.submit(miss_reader, until, rec, nprofiles))
        jobs.append(ex.submit(health_probe, until, rec))
        side = [ex.submit(monitor, until + 30, samples, stop)]
        if watch_jobs:
            side.append(ex.submit(job_watch, until + 30, samples, jobruns, stop))
        try:
            time.sleep(pre)
            t_on = time.time()
            fault_on()
            time.sleep(max(0.0, t_on + dur - time.time()))
        finally:
            t_off = time.time()
            fault_off()
        detail, lists = jobs[0].result(), jobs[1].result()
        for j in jobs[2:]:
            j.result()
        t_end = time.time()
        stop.set()
        for j in side:
            j.result()
    orders = [o for p in ps for o in p.orders]
    retried = confirm_abandoned(uid, orders)
    misses = rec.of("alt-read")
    return {"retried": retried,
        "uid": uid, "orders": orders, "rec": rec, "samples": samples, "jobruns": jobruns,
        "t_on": t_on, "t_off": t_off, "t_end": t_end, "seconds": seconds,
        "ab_max_ms": max(detail["max"], lists["max"]),
        "requests": int(detail["complete"] + lists["complete"] + len(misses)
                        + sum(p.requests for p in ps)),
        "read_errors": int(detail["failed"] + detail["non2xx"] + lists["failed"] + lists["non2xx"]
                           + sum(1 for r in misses if r[3] != 200)),
        "detail_ok": int(detail["complete"] - detail["non2xx"] - detail["failed"]),
        "pay_errors": sum(p.errors for p in ps),
        "throttled": sum(p.throttled for p in ps),
    }


# ---- settling and the books ----------------------------------------------------

def metric(name):
    for line in apitest.admin("GET", "/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def detail_200s():
    return metric('memberapi_http_requests_total{route="profile_detail",code="200"}')


def confirm_abandoned(uid, orders):
    """A payment still READY after the load is one whose confirm was refused
    without an attempt (503: the gateway breaker was open, or 429): its
    client retries the confirm, as API.md tells it to."""
    ready = set(r[0] for r in sql(
        f"SELECT order_id FROM payments WHERE user_id = {int(uid)} AND status = 'READY'"))
    for oid, pk, amount in orders:
        if oid in ready:
            paytest.success(oid, pk, amount, timeout=30, retry_breaker=True)
    return len(ready)


def settle(uid, reconcile_env):
    """Runs the reconciler until every payment of uid is final (or 75 s).
    A payment still READY here is a checkout its buyer never finished (e.g.
    a create whose answer a stopping pool never sent): the client does not
    know it, nothing confirms it, and the reconciler expires it as in
    production, here after PAYMENT_READY_EXPIRY_S = 60 s (its minimum). Safe:
    only our confirm approves a payment (reconcile.c), and the books below
    still count every DONE payment and grant."""
    reconcile_env = dict(reconcile_env, PAYMENT_READY_EXPIRY_S="60")
    deadline = time.time() + 75
    while True:
        open_ = int(sql1(f"SELECT count(*) FROM payments WHERE user_id = {uid} "
                         f"AND status NOT IN ('DONE', 'ABORTED', 'EXPIRED')"))
        if open_ == 0 or time.time() > deadline:
            return open_
        leased = int(sql1(f"SELECT count(*) FROM payments WHERE user_id = {uid} AND "
                          f"status = 'IN_PROGRESS' AND lease_until > now()"))
        if leased:
            time.sleep(1.0)
        paytest.reconcile(check_rc=False, **reconcile_env)


def books(uid):
    not_final = int(sql1(f"SELECT count(*) FROM payments WHERE user_id = {uid} "
                         f"AND status NOT IN ('DONE', 'ABORTED', 'EXPIRED')"))
    ungranted = int(sql1(f"SELECT count(*) FROM payments p WHERE user_id = {uid} AND status = 'DONE' "
                         f"AND NOT EXISTS (SELECT 1 FROM point_ledger l "
                         f"WHERE l.payment_order_id = p.order_id)"))
    doubled = int(sql1(f"SELECT count(*) FROM (SELECT payment_order_id FROM point_ledger "
                       f"WHERE user_id = {uid} AND payment_order_id IS NOT NULL "
                       f"GROUP BY 1 HAVING count(*) > 1) d"))
    stray = int(sql1(f"SELECT count(*) FROM point_ledger l JOIN payments p "
                     f"ON p.order_id = l.payment_order_id WHERE l.user_id = {uid} "
                     f"AND p.status <> 'DONE'"))
    done_sum, ledger_sum, balance = (int(x) for x in sql(
        f"SELECT (SELECT coalesce(sum(amount), 0) FROM payments WHERE user_id = {uid} "
        f"AND status = 'DONE'), (SELECT coalesce(sum(delta), 0) FROM point_ledger "
        f"WHERE user_id = {uid}), (SELECT point FROM users WHERE id = {uid})")[0])
    mismatch = int(not (done_sum == ledger_sum == balance))
    return {"not_final": not_final, "ungranted": ungranted,
            "double": doubled + stray + mismatch, "done_sum": done_sum}


# ---- the scenarios ---------------------------------------------------------------

def redis_pid_file():
    return os.path.join(apitest.STACK_DIR, "run", "redis.pid")


def pg_dir(which):
    return os.path.join(apitest.STACK_DIR, "pg", which)


def nothing():
    pass


def kill_a_worker():
    w = apitest.pool_status()["workers"][0]
    os.kill(w["pid"], signal.SIGKILL)


def sandbox_fault(action, **kw):
    def on():
        paytest.fault(action, count=-1, **kw)
    return on


def restart_primary():
    stack("stop_pg", pg_dir("primary"))
    time.sleep(1.0)
    stack("start_primary")


# Processes this run stopped (SIGSTOP), continued by thaw_all() in reverse
# order (a postmaster's children before it), also when a scenario breaks.
FROZEN = []


def freeze(pids):
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
        FROZEN.append(pid)


def freeze_pg(which):
    """Freezes a PostgreSQL server: its postmaster (the pid in the data dir's
    postmaster.pid) first, so that it forks nothing new, then every child of
    it (backends, walsender/receiver, checkpointer...: found by parent pid)
    until no unfrozen child is left."""
    with open(os.path.join(pg_dir(which), "postmaster.pid")) as f:
        pm = int(f.readline())
    freeze([pm])
    while True:
        new = [p for p in children(pm) if p not in FROZEN]
        if not new:
            return
        freeze(new)


def thaw_all():
    while FROZEN:
        try:
            os.kill(FROZEN.pop(), signal.SIGCONT)
        except ProcessLookupError:
            pass


HOSTS = ". \"$ROOT/tests/lib/hosts.sh\"; "


def blackhole_setup(cfg_env):
    stack(HOSTS + "replica_host_up")
    cfg_env["DATABASE_REPLICA_URL"] = stack(HOSTS + "replica_host_url").strip()


def blackhole_teardown():
    stack(HOSTS + "hosts_down")


def pid_gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


class StopInFreeze:
    """Freezes the primary, then a graceful stop of the pool (SIGTERM to its
    master) measured until the master is gone; at the end of the freeze the
    primary continues and the pool starts again."""

    def __init__(self):
        self.stop_ms = self.t_signal = self.t_ready = None
        self.env = FAULT_ENV

    def on(self):
        freeze_pg("primary")
        time.sleep(1.0)
        master = apitest.pid_of("pool")
        self.t_signal = time.time()
        os.kill(master, signal.SIGTERM)
        while not pid_gone(master) and time.time() < self.t_signal + 60:
            time.sleep(0.02)
        self.stop_ms = (time.time() - self.t_signal) * 1000

    def off(self):
        thaw_all()
        stack("start_pool; wait_ready 60", env=self.env)
        self.t_ready = time.time()


def sc(name, on, off, read_allow, pay_allow, crash=False, **kw):
    """A scenario: the fault's start and end, the read and payment errors it
    allows ("any" or a count), whether it is a crash; freeze=KIND makes it a
    freeze scenario (timeline, checks; KIND says what "back to normal" is:
    replica, primary, redis, gateway); env: the pool's extra configuration
    for it; setup(env)/teardown(): around it; stop: a StopInFreeze;
    reconcile: the master runs the reconciler every second during it;
    stock: payments authorized before the fault are confirmed during it."""
    return dict(name=name, on=on, off=off, read_allow=read_allow, pay_allow=pay_allow,
                crash=crash, **kw)


def scenarios():
    stop = StopInFreeze()
    pid = apitest.pid_of
    return [
        sc("baseline", nothing, nothing, 0, 0),
        sc("worker SIGKILL", kill_a_worker, nothing, THREADS, THREADS, crash=True),
        sc("Redis stopped", lambda: stack("stop_pid", redis_pid_file(), "TERM", "10"),
           lambda: stack("start_redis"), 0, 0),
        sc("Redis frozen (SIGSTOP)", lambda: freeze([pid("redis")]), thaw_all, 0, 0, freeze="redis"),
        sc("replica stopped", lambda: stack("stop_pg", pg_dir("replica")),
           lambda: stack("start_replica"), 0, 0),
        sc("replica frozen (SIGSTOP)", lambda: freeze_pg("replica"), thaw_all, 0, 0,
           freeze="replica"),
        sc("replica black hole (netns)", lambda: stack(HOSTS + "replica_blackhole on"),
           lambda: stack(HOSTS + "replica_blackhole off"), 0, 0, freeze="replica",
           setup=blackhole_setup, teardown=blackhole_teardown),
        sc("primary restarted", restart_primary, nothing, 0, "any"),
        sc("primary frozen (SIGSTOP)", lambda: freeze_pg("primary"), thaw_all, 0, "any",
           freeze="primary", reconcile=True,
           env={"RECONCILE_INTERVAL_S": "1", "RECONCILE_TIME_BUDGET_S": "2"}),
        sc("graceful stop, primary frozen", stop.on, stop.off, "any", "any", crash=True,
           freeze="primary", stop=stop),
        sc("gateway delay > timeout", sandbox_fault("delay", delayMs=3000), paytest.clear_faults,
           0, "any"),
        sc("gateway 5xx", sandbox_fault("error5xx"), paytest.clear_faults, 0, "any"),
        sc("gateway drop after approve", sandbox_fault("approve_then_drop"), paytest.clear_faults,
           0, "any"),
        sc("gateway frozen (SIGSTOP)", lambda: freeze([pid("sandbox")]), thaw_all, 0, "any",
           freeze="gateway", stock=True),
        sc("one backend host down", None, None, 0, THREADS, crash=True),
        sc("burst 10x concurrency", nothing, nothing, 0, "any"),
    ]


def backend_host_down(timeline, c, payers, pid):
    """Two pools on their own test hosts behind nginx; one is killed."""
    h = HOSTS
    stack(h + "hosts_up", 2)
    try:
        stack(h + "gw_start")
        for k in (1, 2):
            stack(h + "host_pool_start", k, *(f"{a}={b}" for a, b in FAULT_ENV.items()))
        ip = lambda k: stack(h + "host_ip", k).strip()  # noqa: E731
        stack(h + "nginx_upstreams", f"{ip(1)}:9000 {ip(2)}:9000")
        gw = f"http://{stack(h + 'echo $GW_IP').strip()}:8090"
        saved = paytest.SANDBOX_PORT, paytest.sandbox
        paytest.sandbox = lambda m, p, b=None, auth=False, timeout=30: apitest.request(
            8090, m, p, b, {"Authorization": paytest._AUTH} if auth else {}, timeout,
            host=gw.split("//")[1].split(":")[0])
        try:
            rows0 = int(sql1(f"SELECT count(*) FROM profile_views WHERE profile_id = {pid}"))
            load = run_load(pid, timeline, c, payers, lambda: stack(h + "host_pool_kill", 1),
                            nothing)
            apitest.wait_until(lambda: metric("memberapi_profile_view_buffer_depth") == 0, 60,
                               interval=0.3, what="view buffers drained")
            time.sleep(FLUSH_MS / 1000.0)
            open_ = settle(load["uid"], dict(FAULT_ENV, TOSS_API_BASE=gw))
        finally:
            paytest.SANDBOX_PORT, paytest.sandbox = saved
        rows = int(sql1(f"SELECT count(*) FROM profile_views WHERE profile_id = {pid}")) - rows0
        # The pools' counters died with host 1: the 200s ab received stand
        # for the served views, short by the up to c requests `ab -t`
        # abandons in flight at its end (served and recorded, not counted).
        return load, rows, open_, load["detail_ok"], c
    finally:
        stack(h + "nginx_upstreams", "")
        stack(h + "hosts_down")


# ---- the checks of a freeze scenario -------------------------------------------

def wait_ms(kind, cfg):
    key = {"redis": "REDIS", "gateway": "GATEWAY"}.get(kind, "REPLICA")
    return ms(cfg, f"{key}_BREAKER_WAIT_DURATION_IN_OPEN_STATE_MS", 5000)


REPLICA_READS = MONITORED[:2]
REDIS_ANSWERS = MONITORED[2:6]


def back_to_normal(kind, load):
    """Seconds from the end of the fault until the dependency serves again
    (its breaker CLOSED and calls reaching it, or a write through) and no
    request of the kinds it serves fails any more; None: not within the load."""
    t_off, rec = load["t_off"], load["rec"]
    after = [s for s in load["samples"] if s[0] >= t_off and s[3]]

    def first(pred, names=()):
        for prev, cur in zip(after, after[1:]):
            if pred(cur) and (not names or sum(cur[3].get(n, 0) for n in names)
                              > sum(prev[3].get(n, 0) for n in names)):
                return cur[0]
        return None

    def first_ok(kinds, status):
        oks = [r[1] + r[2] for r in rec.of(*kinds) if r[1] >= t_off and r[3] == status]
        return min(oks) if oks else None

    if kind == "replica":
        t, kinds = first(lambda s: s[1].get("replica") == "CLOSED", REPLICA_READS), READ_KINDS
    elif kind == "redis":
        t, kinds = first(lambda s: s[1].get("redis") == "CLOSED", REDIS_ANSWERS), READ_KINDS
    elif kind == "gateway":
        a, b = first(lambda s: s[1].get("gateway") == "CLOSED"), first_ok(("confirm",), 200)
        t, kinds = (max(a, b) if a and b else None), ("confirm",)
    else:
        t, kinds = first_ok(("create",), 201), PRIMARY_KINDS + READ_KINDS
    if t is None:
        return None
    fails = [r[1] + r[2] for r in rec.of(*kinds) if r[1] >= t_off and r[3] >= 300]
    return max([t] + fails) - t_off


def log_runs(offset, t0):
    """Reconciler runs the pool logged since `offset` of its log:
    [(time, pid, 'start'|'done')]."""
    out = []
    with open(os.path.join(apitest.STACK_DIR, "log", "memberapi.log"), errors="replace") as f:
        f.seek(offset)
        for line in f:
            for ev in ("start", "done"):
                if f"event=reconcile_{ev} " in line:
                    kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
                    t = datetime.datetime.strptime(kv["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                        tzinfo=datetime.timezone.utc).timestamp()
                    if t >= t0:
                        out.append((t, int(kv["pid"]), ev))
    return out


def freeze_checks(s, load, cfg, log_offset):
    """The freeze scenario's checks: (figures, [failures])."""
    kind, rec, fails = s["freeze"], load["rec"], []
    dl = deadlines(cfg)
    t_on, t_off = load["t_on"], load["t_off"]
    stop = s.get("stop")
    stop_limit = ms(cfg, "STOP_TIMEOUT_MS", FAULT_ENV["STOP_TIMEOUT_MS"])
    if stop:
        # a request that reached the pool's socket while it stopped waits for
        # the stop (then nginx answers 502): the stop's deadline is its own
        dl = {k: max(v, stop_limit + MARGIN_MS) for k, v in dl.items()}
    # /health: always 200 and fast (not while the pool itself is stopped: a
    # probe in flight at the signal or sent before the pool is back).
    probes = [r for r in rec.of("health")
              if not (stop and stop.t_signal and r[1] + r[2] >= stop.t_signal
                      and r[1] <= (stop.t_ready or 1e12))]
    hbad = sum(1 for r in probes if r[3] != 200)
    hmax = max((r[2] for r in probes), default=0) * 1000
    if hbad or hmax > HEALTH_MS:
        fails.append(f"/health: {hbad} not 200, slowest {hmax:.0f} ms (bound {HEALTH_MS})")
    # No request longer than its deadline.
    longest = {"ab": load["ab_max_ms"]}
    if load["ab_max_ms"] > dl["detail"]:
        fails.append(f"an ab read took {load['ab_max_ms']:.0f} ms (bound {dl['detail']})")
    for k, bound in dl.items():
        worst = max((r[2] for r in rec.of(k)), default=0) * 1000
        longest[k] = worst
        if worst > bound:
            fails.append(f"a {k} took {worst:.0f} ms (bound {bound})")
    # Requests that need the frozen primary: a 503 envelope, not nginx's page.
    if kind == "primary" and not stop:
        bad = [r for r in rec.of(*PRIMARY_KINDS) if r[3] >= 500 and (r[3] != 503 or not r[4])]
        if bad:
            fails.append(f"{len(bad)} answers of requests needing the primary were not 503 "
                         f"envelopes (statuses {sorted(set(r[3] for r in bad))})")
    # Back to normal within the breaker's wait.
    back = back_to_normal(kind, load)
    bound = wait_ms(kind, cfg) + RECOVERY_MARGIN_MS
    if back is None or back * 1000 > bound:
        br = {"primary": "replica"}.get(kind, kind)
        seen = []
        for x in load["samples"]:
            if x[0] >= t_off and x[1].get(br) and (not seen or seen[-1] != x[1][br]):
                seen.append(x[1][br])
        fails.append(f"not back to normal within {bound} ms of the fault's end"
                     + (f" ({back * 1000:.0f} ms)" if back is not None else "")
                     + f" ({br} breaker after it: {' > '.join(seen)})")
    notes = []
    if stop:
        notes.append(f"stop took {stop.stop_ms:.0f} ms (STOP_TIMEOUT_MS {stop_limit})")
        if stop.stop_ms > stop_limit + MARGIN_MS:
            fails.append(f"graceful stop took {stop.stop_ms:.0f} ms "
                         f"(bound {stop_limit} + {MARGIN_MS})")
    if s.get("reconcile"):
        # a run past its budget is ended by its watchdog one payment's lease
        # later (a gateway call + 5 s of database work: docs/payments.md)
        budget = ms(cfg, "RECONCILE_TIME_BUDGET_S", 300) * 1000
        limit = budget + ms(cfg, "TOSS_TIMEOUT_MS", FAULT_ENV["TOSS_TIMEOUT_MS"]) + 5000
        runs = load["jobruns"]
        apitest.wait_until(lambda: any(e == "done" and t > t_off for t, _, e in
                                       log_runs(log_offset, t_off)), 20, interval=0.5,
                           what="a reconciler run completing after the freeze")
        logged = log_runs(log_offset, t_on)
        in_freeze = {p for p, (a, b) in runs.items() if b >= t_on and a <= t_off} | {
            p for t, p, e in logged if e == "start" and t_on <= t <= t_off}
        longest_job = max((b - a for a, b in runs.values()), default=0) * 1000
        notes.append(f"reconciler: {len(in_freeze)} runs in the freeze, longest "
                     f"{longest_job:.0f} ms (budget {budget}, ended by {limit})")
        if not in_freeze:
            fails.append("no reconciler run during the freeze")
        if longest_job > limit + JOB_MARGIN_MS:
            fails.append(f"a reconciler run lasted {longest_job:.0f} ms (ended by {limit})")
    figures = {"alt_p99": alt_p99(load), "longest": max(longest.values()), "health_max": hmax,
               "back": back, "notes": notes}
    return figures, fails


def alt_p99(load):
    """p99 (ms) of the cache-missing reads started while the fault was on."""
    during = sorted(r[2] for r in load["rec"].of("alt-read")
                    if load["t_on"] <= r[1] <= load["t_off"])
    return during[min(len(during) - 1, int(len(during) * 0.99))] * 1000 if during else 0


def plain(load):
    """The figures of a scenario that is not a freeze (shown, not checked)."""
    rec = load["rec"]
    return {"alt_p99": alt_p99(load),
            "longest": max([load["ab_max_ms"]] + [r[2] * 1000 for r in rec.rows
                                                  if r[0] != "health"]),
            "health_max": max((r[2] for r in rec.of("health")), default=0) * 1000,
            "back": None, "notes": []}


def log_size():
    try:
        return os.path.getsize(os.path.join(apitest.STACK_DIR, "log", "memberapi.log"))
    except OSError:
        return 0


def run_scenario(s, a, c, payers, pid, base_cfg):
    name, on, off = s["name"], s["on"], s["off"]
    fz = s.get("freeze")
    if fz:
        rest = (wait_ms(fz, base_cfg) + RECOVERY_MARGIN_MS) / 1000.0 + 1.0
        timeline = (3.0 if a.short else 5.0, a.freeze, rest)
    else:
        timeline = (a.seconds / 3, a.seconds / 3, a.seconds / 3)
    if name == "one backend host down":
        load, rows, open_, served, slack = backend_host_down(timeline, c, payers, pid)
        cfg, figures, ffails = base_cfg, plain(load), []
    else:
        slack = 0
        if name.startswith("burst"):
            c, payers = c * 10, payers * 10
        env = dict(FAULT_ENV, **s.get("env", {}))
        try:
            if s.get("setup"):
                s["setup"](env)
            if env != FAULT_ENV:
                apitest.restart_pool(env, ready=True)
            if s.get("stop"):
                s["stop"].env = env
            cfg = pool_config(env) if env != FAULT_ENV else base_cfg
            offset = log_size()
            served0 = detail_200s()
            rows0 = int(sql1(f"SELECT count(*) FROM profile_views WHERE profile_id = {pid}"))
            try:
                load = run_load(pid, timeline, c, payers, on, off, watch_jobs=s.get("reconcile"),
                                stock=s.get("stock"))
            finally:
                thaw_all()
                paytest.clear_faults()
            apitest.wait_until(lambda: metric("memberapi_profile_view_buffer_depth") == 0, 60,
                               interval=0.3, what="view buffers drained")
            time.sleep(FLUSH_MS / 1000.0)
            figures, ffails = freeze_checks(s, load, cfg, offset) if fz else (plain(load), [])
            if s.get("stop"):
                # the pool restarted: its counters with it; ab's 200s stand for
                # the served views (see backend_host_down)
                served, slack = load["detail_ok"], c
            else:
                served = detail_200s() - served0
            rows = int(sql1(f"SELECT count(*) FROM profile_views WHERE profile_id = {pid}")) - rows0
            open_ = settle(load["uid"], FAULT_ENV)
        finally:
            if env != FAULT_ENV:
                apitest.restart_pool(FAULT_ENV, ready=True)
            if s.get("teardown"):
                s["teardown"]()
    b = books(load["uid"])
    lost_views = max(0, int(served - rows))
    extra_views = max(0, int(rows - served - slack))
    view_rate = served / load["seconds"]
    crash = s["crash"]
    if s.get("stop"):
        # documented bound of a stop while the primary is unreachable: the
        # views buffered since the outage began (served from the freeze to the
        # signal: the counter's last sample before it plus one sampling
        # interval's worth, the samples being 250 ms apart), plus the c
        # requests in flight
        inside = [x[3].get(MONITORED[6]) for x in load["samples"]
                  if x[3] and load["t_on"] <= x[0] <= s["stop"].t_signal]
        before = [x[3].get(MONITORED[6]) for x in load["samples"] if x[3] and x[0] < load["t_on"]]
        gap = inside[-1] - inside[-2] if len(inside) > 1 else 0
        crash_allow = int((inside[-1] + gap if inside else 0) - (before[-1] if before else 0)) + c
    else:
        # docs/profiles.md's crash bound: one interval buffered + one batch in
        # flight, of the killed process's views (at most the whole load's rate)
        crash_allow = int(view_rate * 2 * FLUSH_MS / 1000.0) + 1 if crash else 0
    lost = b["not_final"] + b["ungranted"] + (lost_views if not crash else 0)
    doubles = b["double"] + extra_views
    errors = load["read_errors"] + load["pay_errors"]
    ok = ((s["read_allow"] == "any" or load["read_errors"] <= s["read_allow"])
          and (s["pay_allow"] == "any" or load["pay_errors"] <= s["pay_allow"])
          and lost == 0 and doubles == 0 and open_ == 0
          and (not crash or lost_views <= crash_allow) and not ffails)
    notes = list(ffails)
    if figures:
        notes += figures["notes"]
    if crash:
        notes.append(f"crash lost {lost_views} views (bound {crash_allow})")
    if load["throttled"]:
        notes.append(f"{load['throttled']} 429s repeated")
    if load["retried"]:
        notes.append(f"{load['retried']} confirms retried")
    if open_:
        notes.append(f"{open_} payments not final")
    note = "; ".join(notes)
    return {"name": name, "requests": load["requests"], "errors": errors,
            "read_errors": load["read_errors"], "pay_errors": load["pay_errors"],
            "lost": lost, "doubles": doubles, "payments": len(load["orders"]),
            "done_points": b["done_sum"], "ok": ok, "note": note, "fig": figures}


def fmt_ms(v):
    return "-" if v is None else f"{v:,.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true", help="CI: a few seconds per scenario")
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--freeze", type=float, default=None,
                    help="seconds of each freeze (15; --short: 6)")
    ap.add_argument("--only", default=None, help="comma list of scenario names (prefixes)")
    a = ap.parse_args()
    cmd = "tests/fault/run.sh" + (" --short" if a.short else "") + (
        f" --seconds {a.seconds:g}" if a.seconds else "") + (
        f" --freeze {a.freeze:g}" if a.freeze else "") + (f" --only '{a.only}'" if a.only else "")
    a.seconds = a.seconds or (4.5 if a.short else 15)
    a.freeze = a.freeze or (6 if a.short else 15)
    c, payers = 16, 3
    chosen = [s for s in scenarios() if not a.only
              or any(s["name"].startswith(x.strip()) for x in a.only.split(","))]
    print(f"fault suite: {len(chosen)} scenarios x {a.seconds:g}s (freezes {a.freeze:g}s), "
          f"reads c={c} + {MISS_READERS} missing the cache, payers={payers}")
    print("reproduce: " + cmd)
    apitest.restart_pool(FAULT_ENV, ready=True)
    base_cfg = pool_config(FAULT_ENV)
    print("deadlines (ms): " + ", ".join(f"{k} {v}" for k, v in deadlines(base_cfg).items()))
    results = []
    try:
        base_pid = int(sql1("SELECT min(id) FROM profiles"))
        for i, s in enumerate(chosen):
            t0 = time.time()
            try:
                res = run_scenario(s, a, c, payers, base_pid + 3 + i, base_cfg)
            except Exception as e:  # noqa: BLE001 - a broken scenario is a failed row
                thaw_all()
                res = {"name": s["name"], "requests": 0, "errors": 0, "read_errors": 0,
                       "pay_errors": 0, "lost": 0, "doubles": 0, "payments": 0,
                       "done_points": 0, "ok": False, "note": f"aborted: {e}", "fig": None}
            res["secs"] = time.time() - t0
            results.append(res)
            print(f"  {'ok  ' if res['ok'] else 'FAIL'} {res['name']} ({res['secs']:.0f}s) "
                  f"{res['note']}", flush=True)
            apitest.wait_until(lambda: api("GET", "/ready").status == 200, 60, what="ready again")
    finally:
        thaw_all()
        paytest.clear_faults()
        apitest.restart_pool(ready=True)
    print()
    print(f"  {'scenario':<32}{'requests':>9}{'errors':>8}{'(reads':>8}{'pays)':>7}"
          f"{'alt p99':>9}{'longest':>9}{'health':>8}{'normal':>8}"
          f"{'lost':>6}{'double':>8}{'payments':>10}  verdict")
    print(f"  {'':<32}{'':>9}{'':>8}{'':>8}{'':>7}{'ms':>9}{'ms':>9}{'ms':>8}{'s':>8}")
    for r in results:
        f = r["fig"] or {}
        back = f.get("back")
        print(f"  {r['name']:<32}{r['requests']:>9}{r['errors']:>8}{r['read_errors']:>8}"
              f"{r['pay_errors']:>7}{fmt_ms(f.get('alt_p99')):>9}{fmt_ms(f.get('longest')):>9}"
              f"{fmt_ms(f.get('health_max')):>8}{'-' if back is None else f'{back:.1f}':>8}"
              f"{r['lost']:>6}{r['doubles']:>8}{r['payments']:>10}  "
              f"{'ok' if r['ok'] else 'FAIL'} {r['note']}")
    passed = sum(1 for r in results if r["ok"])
    print(f"fault: {passed} passed, {len(results) - passed} failed")
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()
