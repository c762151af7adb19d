"""test_payments_sweep.py: many payments through random gateway faults.

SWEEP_N payments (default 1,000; CI runs 1,000) from 8 client threads: most
buyers pay, some cards are declined, some buyers cancel at the gateway (fail
redirect) and some never come back (READY, later expired). The sandbox's
seeded random mode breaks 25% of the confirms (5xx, approve-then-drop,
approve-then-500, cut JSON). Clients retry only what the API says is safe to
retry (429 from nginx, 503 before anything changed). Then the reconciler
runs until nothing is open, and the books must balance:
  - every payment is final (DONE, ABORTED or EXPIRED);
  - the ledger's sum for these orders equals the sum of DONE amounts, one
    ledger row per DONE payment;
  - each member's balance equals the sum of their ledger rows;
  - an order is DONE here exactly when the gateway holds an approved
    payment for it (money taken <=> points granted)."""
import os
import random
import threading
import time

from apitest import check, eq, sql, sql1, test
from paytest import (LEASE_S, authorize, clear_faults, create, new_user, reconcile, sandbox,
                     success)

N = int(os.environ.get("SWEEP_N", "1000"))
SEED = int(os.environ.get("SWEEP_SEED", "20241001"))


def call_with_retries(fn, deadline):
    """429 (nginx's limit) and 503 (breaker open / database blip: nothing
    changed) are safe to retry; anything else is the answer."""
    while True:
        r = fn()
        if r.status not in (429, 503) or time.time() > deadline:
            return r
        time.sleep(0.05 + random.random() * 0.2)


@test
def sweep_of_payments_with_random_faults_balances_the_books():
    rng = random.Random(SEED)
    run = f"sw{int(time.time()) % 100000}"
    users = [new_user("sweep") for _ in range(20)]
    plan = []
    for i in range(N):
        x = rng.random()
        kind = "pay" if x < 0.84 else "reject" if x < 0.94 else "cancel" if x < 0.97 else "abandon"
        plan.append((f"{run}_{i:05d}", rng.choice(users), rng.choice((1000, 5000, 10000, 23000)),
                     kind))
    r = sandbox("POST", "/sim/faults/random", {"seed": SEED, "rate": 0.25, "actions": [
        "error5xx", "approve_then_drop", "approve_then_500", "truncated_json"]})
    eq(r.status, 200, repr(r))
    answers = {}
    errors = []
    lock = threading.Lock()
    deadline = time.time() + 240
    t0 = time.time()

    def one(oid, uid, amount, kind):
        c = call_with_retries(lambda: create(oid, uid, amount), deadline)
        if c.status != 201:
            raise AssertionError(f"create {oid}: {c!r}")
        if kind == "abandon":
            return "READY"
        if kind == "cancel":
            f = call_with_retries(lambda: sandbox_fail(oid), deadline)
            return f.status
        pk = authorize(oid, amount, "reject" if kind == "reject" else "pay")
        s = call_with_retries(lambda: success(oid, pk, amount), deadline)
        return s.status

    def worker(k):
        for j in range(k, N, 8):
            oid, uid, amount, kind = plan[j]
            try:
                a = one(oid, uid, amount, kind)
                with lock:
                    answers[a] = answers.get(a, 0) + 1
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(f"{oid}: {e}")

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    clear_faults()
    t_traffic = time.time() - t0
    eq(errors[:5], [], "every payment got through create/authorize")
    check(set(answers) <= {200, 400, 403, 409, 502, 504, 503, "READY"}, f"answers {answers}")

    # Readies the buyers abandoned are past the gateway's 30 minutes.
    sql(f"UPDATE payments SET requested_at = now() - interval '31 minutes' "
        f"WHERE order_id LIKE '{run}\\_%' AND status = 'READY'")
    rounds = 0
    while True:
        rounds += 1
        reconcile(RECONCILE_MIN_AGE_S=0)
        open_ = int(sql1(f"SELECT count(*) FROM payments WHERE order_id LIKE '{run}\\_%' "
                         f"AND status IN ('READY', 'IN_PROGRESS', 'UNKNOWN')"))
        if open_ == 0 or rounds >= 8:
            break
        # a claim whose holder is gone is taken over once its lease ends
        if int(sql1(f"SELECT count(*) FROM payments WHERE order_id LIKE '{run}\\_%' "
                    f"AND status = 'IN_PROGRESS' AND lease_until > now()")) > 0:
            time.sleep(min(LEASE_S, 5))
    t_total = time.time() - t0

    states = dict(sql(f"SELECT status, count(*) FROM payments WHERE order_id LIKE '{run}\\_%' "
                      f"GROUP BY status"))
    print(f"    {N} payments, answers {answers}; final {states}; {rounds} reconciler "
          f"round(s); traffic {t_traffic:.1f}s, total {t_total:.1f}s")
    eq(sum(int(v) for v in states.values()), N)
    check(set(states) <= {"DONE", "ABORTED", "EXPIRED"}, f"open payments left: {states}")

    done_sum, done_n = sql(f"SELECT coalesce(sum(amount), 0), count(*) FROM payments "
                           f"WHERE order_id LIKE '{run}\\_%' AND status = 'DONE'")[0]
    led_sum, led_n = sql(f"SELECT coalesce(sum(delta), 0), count(*) FROM point_ledger "
                         f"WHERE payment_order_id LIKE '{run}\\_%'")[0]
    eq((led_sum, led_n), (done_sum, done_n), "ledger == DONE payments")
    ids = ",".join(str(u) for u in users)
    mismatched = sql(f"SELECT u.id FROM users u LEFT JOIN point_ledger l ON l.user_id = u.id "
                     f"WHERE u.id IN ({ids}) GROUP BY u.id, u.point "
                     f"HAVING u.point <> coalesce(sum(l.delta), 0)")
    eq(mismatched, [], "balance == sum of ledger rows")

    # money taken at the gateway <=> points granted here
    gw_done = {p["orderId"] for p in sandbox("GET", "/sim/payments").json["payments"]
               if p["orderId"].startswith(run + "_") and p["status"] == "DONE"}
    ours = {r[0] for r in sql(f"SELECT order_id FROM payments WHERE order_id LIKE '{run}\\_%' "
                              f"AND status = 'DONE'")}
    eq(sorted(gw_done ^ ours)[:5], [], "DONE here exactly when approved at the gateway")
    planned = {oid: kind for oid, _, _, kind in plan}
    final = dict(sql(f"SELECT order_id, status FROM payments WHERE order_id LIKE '{run}\\_%'"))
    for oid, kind in planned.items():
        want = {"pay": "DONE", "reject": "ABORTED", "cancel": "ABORTED", "abandon": "EXPIRED"}[kind]
        if final[oid] != want:
            raise AssertionError(f"{oid} ({kind}) ended {final[oid]}")


def sandbox_fail(oid):
    """The buyer closes the widget: the gateway redirects to failUrl."""
    from paytest import fail
    return fail(f"code=PAY_PROCESS_CANCELED&message=closed&orderId={oid}", oid)
