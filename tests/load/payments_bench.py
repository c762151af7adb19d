#!/usr/bin/env python3
"""payments_bench.py: the payment benchmarks (run through tests/load/payments.sh).

  A. create + confirm throughput: N payments (POST /api/v1/payments, then
     POST /api/v1/payments/success/toss) from C client processes with
     keep-alive, against the gateway sandbox with no injected fault. The
     buyer's step at the gateway (minting the paymentKey) happens before the
     clock starts. Through nginx, at a benchmark-only location without the
     production rate limit (removed afterwards). For scale, the same number of
     confirms sent straight to the sandbox (the gateway's own ceiling here).
  B. the reconciler on M UNKNOWN payments: half were approved at the gateway
     (the lookup finds DONE), half only authenticated (the reconciler
     confirms again under the stored Idempotency-Key); one
     `memberapi job reconcile` run, timed, then every payment must be DONE with
     one ledger row.

  tests/load/payments.sh [--short] [--payments N] [--concurrency C]
                         [--unknown M] [--threads T]
Needs a running stack (scripts/run) and the environment it was started with:
the pool is restarted with the periodic reconciler off for the measurement,
then restarted as it was. Loopback only; bounded in requests and time; stops
by itself. Prints the figures and the command that reproduces them.
"""
import argparse
import base64
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
import http.client

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import apitest  # noqa: E402
import paytest  # noqa: E402

BENCH_PREFIX = "/bench-payments"
CONF_NAME = "payments-bench"


def nginx_location(add):
    """A copy of the payment location without limit_req, for the benchmark."""
    f = os.path.join(apitest.STACK_DIR, "nginx", f"extra-public-{CONF_NAME}.conf")
    if add:
        with open(f, "w") as fh:
            fh.write(f"location {BENCH_PREFIX}/ {{\n"
                     f"    rewrite ^{BENCH_PREFIX}(/api/v1/payments.*)$ $1 break;\n"
                     f"    include {apitest.ROOT}/nginx/fastcgi.conf;\n"
                     f"    fastcgi_pass memberapi;\n}}\n")
    elif os.path.exists(f):
        os.remove(f)
    subprocess.run(["nginx", "-p", os.path.join(apitest.STACK_DIR, "nginx"), "-c",
                    os.path.join(apitest.STACK_DIR, "nginx", "nginx.conf"), "-s", "reload"],
                   check=True)
    time.sleep(0.7)


def restart_pool(quiet):
    """The pool again, with the master's periodic reconciler off while the
    benchmark measures (quiet) or as configured (afterwards): a periodic run
    settling the same payments would share the work and flatter figure B."""
    extra = "RECONCILE_INTERVAL_S=0 " if quiet else ""
    subprocess.run(["bash", "-c", '. "$ROOT/scripts/lib/stack.sh"; '
                    f'stop_pid "$RUN/pool.pid" TERM 20; {extra}start_pool'],
                   env=dict(os.environ, ROOT=apitest.ROOT, MEMBERAPI_BIN=POOL_BIN), check=True)
    paytest.wait_ready()


def running_pool_binary():
    """The binary the stack's pool runs now: restarts keep it (a sanitizer or
    a release build, whatever MEMBERAPI_BIN says in this environment)."""
    with open(os.path.join(apitest.STACK_DIR, "run", "pool.pid")) as f:
        return os.readlink(f"/proc/{int(f.read().strip())}/exe")


POOL_BIN = None


AUTH = "Basic " + base64.b64encode((apitest.TOSS_SECRET_KEY + ":").encode()).decode()


class Conn:
    """One keep-alive connection; reopened when the server closes it."""

    def __init__(self, port):
        self.port = port
        self.c = None

    def req(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                h = dict(headers or {})
                data = None
                if body is not None:
                    data = json.dumps(body).encode()
                    h["Content-Type"] = "application/json"
                self.c.request(method, path, body=data, headers=h)
                r = self.c.getresponse()
                raw = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, raw
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise
        raise AssertionError("unreachable")


def mint(job):
    """Authenticates orders at the sandbox; optionally confirms them there
    under key (the gateway approved, the answer never reached us)."""
    orders, confirm_half = job
    sb = Conn(paytest.SANDBOX_PORT)
    out = []
    for i, (oid, amount) in enumerate(orders):
        st, raw = sb.req("POST", "/sim/authorize", {"orderId": oid, "amount": amount,
                                                    "outcome": "pay"}, {"Authorization": AUTH})
        assert st == 200, raw
        pk = json.loads(raw)["paymentKey"]
        key = f"bench-{oid}"
        if confirm_half and i % 2 == 0:
            st, raw = sb.req("POST", "/v1/payments/confirm",
                             {"paymentKey": pk, "orderId": oid, "amount": amount},
                             {"Authorization": AUTH, "Idempotency-Key": key})
            assert st == 200, raw
        out.append((oid, amount, pk, key))
    return out


def split(xs, n):
    return [xs[i::n] for i in range(n)]


def pay(job):
    """create + success for each order; returns per-payment latencies (s)."""
    items, uid, token = job
    api = Conn(apitest.HTTP_PORT)
    auth = {"Authorization": "Bearer " + token}  # the member's JWT (minted once)
    lat, succ = [], []
    for oid, amount, pk, _ in items:
        t0 = time.perf_counter()
        st, raw = api.req("POST", f"{BENCH_PREFIX}/api/v1/payments",
                          {"orderId": oid, "userId": uid, "amount": amount,
                           "payGateway": "TOSS", "payType": "CARD"}, auth)
        assert st == 201, raw
        t1 = time.perf_counter()
        st, raw = api.req("POST", f"{BENCH_PREFIX}/api/v1/payments/success/toss"
                                  f"?paymentKey={pk}&orderId={oid}&amount={amount}", headers=auth)
        assert st == 200, raw
        t2 = time.perf_counter()
        lat.append(t2 - t0)
        succ.append(t2 - t1)
    return lat, succ


def direct_confirm(items):
    sb = Conn(paytest.SANDBOX_PORT)
    for oid, amount, pk, key in items:
        st, raw = sb.req("POST", "/v1/payments/confirm",
                         {"paymentKey": pk, "orderId": oid, "amount": amount},
                         {"Authorization": AUTH, "Idempotency-Key": key + "-d"})
        assert st == 200, raw


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] * 1000


def bench_throughput(n, c, tag):
    uid = paytest.new_user("bench")
    orders = [(f"{tag}a_{i:06d}", 10000) for i in range(n)]
    with mp.Pool(min(8, c)) as p:
        minted = [x for part in p.map(mint, [(o, False) for o in split(orders, min(8, c))])
                  for x in part]
    nginx_location(True)
    try:
        token = apitest.member_token(uid)
        with mp.Pool(c) as p:
            t0 = time.perf_counter()
            res = p.map(pay, [(part, uid, token) for part in split(minted, c)])
            wall = time.perf_counter() - t0
    finally:
        nginx_location(False)
    lat = [x for r in res for x in r[0]]
    succ = [x for r in res for x in r[1]]
    done = int(apitest.sql1(f"SELECT count(*) FROM payments WHERE order_id LIKE '{tag}a\\_%' "
                            f"AND status = 'DONE'"))
    granted = int(apitest.sql1(f"SELECT count(*) FROM point_ledger "
                               f"WHERE payment_order_id LIKE '{tag}a\\_%'"))
    assert done == n and granted == n, (done, granted)
    # the gateway alone: as many confirms, same concurrency, straight to the sandbox
    orders2 = [(f"{tag}d_{i:06d}", 10000) for i in range(n)]
    with mp.Pool(min(8, c)) as p:
        minted2 = [x for part in p.map(mint, [(o, False) for o in split(orders2, min(8, c))])
                   for x in part]
    with mp.Pool(c) as p:
        t0 = time.perf_counter()
        p.map(direct_confirm, split(minted2, c))
        wall_gw = time.perf_counter() - t0
    return {
        "n": n, "c": c, "wall": wall, "rate": n / wall,
        "p50": pct(lat, 50), "p99": pct(lat, 99), "succ_p50": pct(succ, 50),
        "succ_p99": pct(succ, 99), "mean": statistics.mean(lat) * 1000,
        "gw_rate": n / wall_gw,
    }


def bench_reconciler(m, threads, tag):
    users = [paytest.new_user("bench-rec") for _ in range(100)]
    orders = [(f"{tag}r_{i:06d}", 5000) for i in range(m)]
    with mp.Pool(8) as p:
        minted = [x for part in p.map(mint, [(o, True) for o in split(orders, 8)]) for x in part]
    rows = "".join(f"{oid}\t{users[i % len(users)]}\t{amount}\tUNKNOWN\tTOSS\tCARD\t{pk}\t{key}\n"
                   for i, (oid, amount, pk, key) in enumerate(minted))
    subprocess.run(["psql", apitest.DATABASE_URL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
                    "COPY payments (order_id, user_id, amount, status, gateway, pay_type, "
                    "payment_key, attempt_key) FROM STDIN"],
                   input=rows, text=True, check=True)
    apitest.sql(f"UPDATE payments SET updated_at = now() - interval '1 minute' "
                f"WHERE order_id LIKE '{tag}r\\_%'")
    stats0 = paytest.stats()
    t0 = time.perf_counter()
    paytest.reconcile(RECONCILE_MIN_AGE_S=0, RECONCILE_THREADS=threads,
                      RECONCILE_TIME_BUDGET_S=3600)
    wall = time.perf_counter() - t0
    stats1 = paytest.stats()
    done = int(apitest.sql1(f"SELECT count(*) FROM payments WHERE order_id LIKE '{tag}r\\_%' "
                            f"AND status = 'DONE'"))
    granted = int(apitest.sql1(f"SELECT count(*) FROM point_ledger "
                               f"WHERE payment_order_id LIKE '{tag}r\\_%'"))
    assert done == m and granted == m, (done, granted)
    return {"m": m, "threads": threads, "wall": wall, "rate": m / wall,
            "lookups": stats1["lookups"] - stats0["lookups"],
            "confirms": stats1["confirmCallsTotal"] - stats0["confirmCallsTotal"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true", help="small sizes for CI")
    ap.add_argument("--payments", type=int)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--unknown", type=int)
    ap.add_argument("--threads", type=int, default=4)
    a = ap.parse_args()
    n = a.payments or (300 if a.short else 3000)
    m = a.unknown or (500 if a.short else 10000)
    if apitest.api("GET", "/ready").status != 200:
        sys.exit("payments.sh: the stack is not ready (scripts/run)")
    tag = f"bn{int(time.time()) % 1000000}"
    global POOL_BIN
    POOL_BIN = running_pool_binary()
    paytest.MEMBERAPI_BIN = POOL_BIN  # the reconciler run too
    binary = POOL_BIN
    print(f"payments benchmark: pool {binary}, WORKERS={os.environ.get('WORKERS', 'nproc')}, "
          f"{os.cpu_count()} CPUs", flush=True)
    restart_pool(True)
    try:
        t = bench_throughput(n, a.concurrency, tag)
        r = bench_reconciler(m, a.threads, tag)
    finally:
        restart_pool(False)
    print(f"A. create+confirm: {t['n']} payments, concurrency {t['c']}: "
          f"{t['rate']:.0f} payments/s ({t['wall']:.1f}s); per payment p50 {t['p50']:.1f} ms, "
          f"p99 {t['p99']:.1f} ms; success call p50 {t['succ_p50']:.1f} ms, "
          f"p99 {t['succ_p99']:.1f} ms", flush=True)
    print(f"   the sandbox alone: {t['gw_rate']:.0f} confirms/s at the same concurrency",
          flush=True)
    print(f"B. reconciler: {r['m']} UNKNOWN payments settled DONE in {r['wall']:.1f}s = "
          f"{r['rate']:.0f} payments/s with RECONCILE_THREADS={r['threads']} "
          f"({r['lookups']} lookups, {r['confirms']} re-confirms)", flush=True)
    args = " ".join(sys.argv[1:])
    print(f"reproduce: tests/load/payments.sh {args}".rstrip())


if __name__ == "__main__":
    main()
