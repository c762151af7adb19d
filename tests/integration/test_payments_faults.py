"""test_payments_faults.py: lost answers and lost processes.

Each gateway fault (a delay past our timeout, a 5xx, approve-then-500, a cut
JSON body, approve-then-drop) must leave the payment UNKNOWN, never ABORTED,
with no points; the reconciler then settles it DONE with exactly one grant.
A worker SIGKILLed in the middle of a confirm, and a primary restart while
a confirm is in flight, lose no payment and grant nothing twice. The SIGKILL
runs with two upstream peers in nginx, so nginx *could* resend the POST
elsewhere: it must not (fastcgi_next_upstream has no non_idempotent).

Every test restores what it changed (sandbox faults, nginx, the primary) and
waits for /ready, so the stack is healthy for whatever runs next."""
import os
import signal
import threading
import time

import apitest
from apitest import admin, api, check, eq, is_error_envelope, sql1, stack, test, wait_until
from paytest import (LEASE_S, TOSS_TIMEOUT_MS, balance, clear_faults, confirm_calls, fault,
                     ledger, new_user, paid_order, reconcile, stats, status, success, wait_ready)

BREAKER = {k: int(os.environ.get("GATEWAY_BREAKER_" + k, d)) for k, d in (
    ("SLIDING_WINDOW_SIZE", "20"), ("WAIT_DURATION_IN_OPEN_STATE_MS", "10000"),
    ("PERMITTED_NUMBER_OF_CALLS_IN_HALF_OPEN_STATE", "3"))}


def settle_and_check(oid, uid, amount):
    """The reconciler turns the payment DONE with one grant."""
    reconcile(RECONCILE_MIN_AGE_S=0)
    eq(status(oid), "DONE")
    eq(ledger(oid), [(uid, amount, amount)])
    eq(balance(uid), amount)
    reconcile(RECONCILE_MIN_AGE_S=0)  # again: nothing changes
    eq(ledger(oid), [(uid, amount, amount)])


def assert_unknown_without_points(oid, uid):
    eq(status(oid), "UNKNOWN", "unknown, never ABORTED on a guess")
    eq((balance(uid), ledger(oid)), (0, []))


@test
def delay_past_the_timeout_is_504_unknown_then_done():
    uid = new_user()
    oid, pk = paid_order(uid, 11000, "slow")
    delay = TOSS_TIMEOUT_MS + 1500
    try:
        fault("delay", oid, delayMs=delay)
        t0 = time.time()
        r = success(oid, pk, 11000)
        took = time.time() - t0
        is_error_envelope(r, 504, "EXTERNAL_API_ERROR")
        check(TOSS_TIMEOUT_MS / 1000 - 0.5 <= took < delay / 1000, f"answered after {took:.1f}s")
        assert_unknown_without_points(oid, uid)
    finally:
        clear_faults()
    # the gateway finishes its (approved) confirm after our timeout
    time.sleep((delay - TOSS_TIMEOUT_MS) / 1000 + 1)
    settle_and_check(oid, uid, 11000)
    eq(confirm_calls(oid), 1, "the lookup found it DONE: no second confirm")


@test
def each_lost_answer_is_unknown_then_done_with_one_grant():
    # error5xx approves nothing (the reconciler confirms again under the same
    # key); the others approve and lose the answer (the lookup finds DONE).
    # approve_then_drop with count 2: libcurl resends a request once when a
    # reused keep-alive connection dies before any byte, so one drop alone
    # may never be seen; two drops always are.
    cases = [("error5xx", {}, 502), ("approve_then_500", {}, 502),
             ("truncated_json", {}, 502), ("approve_then_drop", {"count": 2}, 502)]
    for action, kw, code in cases:
        uid = new_user()
        oid, pk = paid_order(uid, 5000, action.replace("_", ""))
        try:
            fault(action, oid, **kw)
            r = success(oid, pk, 5000)
            is_error_envelope(r, code, "EXTERNAL_API_ERROR")
            assert_unknown_without_points(oid, uid)
        finally:
            clear_faults()
        settle_and_check(oid, uid, 5000)
        check(confirm_calls(oid) <= 3, f"{action}: {confirm_calls(oid)} confirms")


@test
def a_single_drop_either_way_ends_done_once():
    # With one drop the client sees either the drop (UNKNOWN, 502) or, when
    # libcurl resent on a fresh connection with the same Idempotency-Key,
    # the replayed approval (200). Both must end DONE with one grant.
    uid = new_user()
    oid, pk = paid_order(uid, 6000, "drop1")
    try:
        fault("approve_then_drop", oid, count=1)
        r = success(oid, pk, 6000)
    finally:
        clear_faults()
    if r.status == 200:
        eq(r.json["data"]["pointBalance"], 6000)
        eq(stats()["confirmReplays"].get(oid), 1, "the resend was a replay of the same key")
        print("    the client saw the replayed approval (reused connection)")
    else:
        is_error_envelope(r, 502, "EXTERNAL_API_ERROR")
        assert_unknown_without_points(oid, uid)
        print("    the client saw the drop (fresh connection)")
    settle_and_check(oid, uid, 6000)


# ---- processes dying ---------------------------------------------------------

def worker_serving_one_request():
    """The pid of the worker busy with our confirm. /pool-status is itself a
    request, so sample until the count is unambiguous."""
    for _ in range(200):
        ws = admin("GET", "/pool-status?format=json&full").json["workers"]
        busy = [w for w in ws if w["activeThreads"] > 0 and w["state"] == "ready"]
        if len(busy) == 1 or (busy and max(w["activeThreads"] for w in busy) >= 2):
            return max(busy, key=lambda w: w["activeThreads"])["pid"]
        time.sleep(0.02)
    raise AssertionError("could not tell which worker serves the confirm")


def lease_left(oid):
    """Seconds until the claim's lease ends (negative: ended; the master's
    periodic reconciler may settle the payment from then on)."""
    v = sql1(f"SELECT coalesce(extract(epoch FROM lease_until - now()), -1) FROM payments "
             f"WHERE order_id = '{oid}'")
    return float(v)


def wait_lease_expired(oid):
    # (or the master's periodic reconciler got there first and settled it)
    wait_until(lambda: sql1(f"SELECT status <> 'IN_PROGRESS' OR lease_until < now() "
                            f"FROM payments WHERE order_id = '{oid}'") == "t",
               timeout=LEASE_S + 15, interval=0.5, what="the claim's lease to run out")


def workers_ready():
    st = admin("GET", "/pool-status?format=json&full").json
    return st["totalProcesses"] == len([w for w in st["workers"] if w["state"] == "ready"]) \
        and st["totalProcesses"] >= 1


@test
def sigkill_of_the_worker_in_a_confirm_loses_nothing_and_nginx_does_not_resend():
    sock = os.path.join(apitest.STACK_DIR, "run", "memberapi.sock")
    two = f"        server unix:{sock};\n        server unix:{sock};"
    uid = new_user()
    oid, pk = paid_order(uid, 9000, "kill")
    delay = min(4000, TOSS_TIMEOUT_MS - 1000)
    result = {}
    respawns = admin("GET", "/pool-status?format=json").json["respawnedWorkers"]
    stack("start_nginx", env={"STACK_UPSTREAMS": two})
    try:
        fault("delay", oid, delayMs=delay)
        t = threading.Thread(target=lambda: result.update(r=success(oid, pk, 9000)))
        t.start()
        wait_until(lambda: status(oid) == "IN_PROGRESS", timeout=10, what="IN_PROGRESS")
        pid = worker_serving_one_request()
        os.kill(pid, 9)
        t.join(30)
        r = result["r"]
        # nginx's own 502: the POST was not passed to the other peer
        is_error_envelope(r, 502, "SERVICE_UNAVAILABLE")
        time.sleep(delay / 1000 + 0.5)  # the gateway completes the confirm it got
        eq(confirm_calls(oid), 1, "one confirm: the POST was never resent")
        eq(status(oid), "IN_PROGRESS")
        eq((balance(uid), ledger(oid)), (0, []))
    finally:
        clear_faults()
        stack("start_nginx")
    wait_until(lambda: admin("GET", "/pool-status?format=json").json["respawnedWorkers"]
               > respawns, timeout=30, what="the worker to be respawned")
    wait_until(workers_ready, timeout=30, what="every worker ready")
    wait_ready()
    # the buyer's retry before the lease ends is told to wait
    if lease_left(oid) > 3:
        is_error_envelope(success(oid, pk, 9000), 409, "CONFLICT")
    wait_lease_expired(oid)
    settle_and_check(oid, uid, 9000)
    eq(confirm_calls(oid), 1)


@test
def primary_restart_during_a_confirm_loses_nothing():
    uid = new_user()
    oid, pk = paid_order(uid, 13000, "pgrst")
    delay = min(3000, TOSS_TIMEOUT_MS - 1000)
    result = {}
    try:
        fault("delay", oid, delayMs=delay)
        t = threading.Thread(target=lambda: result.update(r=success(oid, pk, 13000)))
        t.start()
        wait_until(lambda: status(oid) == "IN_PROGRESS", timeout=10, what="IN_PROGRESS")
        t_stop = time.time()
        stack('stop_pg "$PGDATA_PRIMARY"')
        check(time.time() - t_stop < delay / 1000, "the primary stopped before the answer")
        t.join(60)
    finally:
        clear_faults()
        stack("start_primary")
    wait_ready()
    r = result["r"]
    # approved by the gateway, not recordable while the primary was down
    is_error_envelope(r, 503, "SERVICE_UNAVAILABLE")
    if lease_left(oid) > 0:
        eq(status(oid), "IN_PROGRESS")
        eq((balance(uid), ledger(oid)), (0, []))
    wait_lease_expired(oid)
    settle_and_check(oid, uid, 13000)
    eq(confirm_calls(oid), 1)


def gateway_breaker():
    return api("GET", "/ready").json["breakers"]["gateway"]["state"]


@test
def open_gateway_breaker_fails_fast_and_leaves_the_payment_unchanged():
    # Every confirm fails (a gateway answering 500 to everything) until the
    # breaker opens; then a success call is refused before anything changes.
    uid = new_user()
    unknown = []
    r = oid = pk = None
    fault("error5xx", None, count=-1)
    try:
        for _ in range(BREAKER["SLIDING_WINDOW_SIZE"] + 5):
            oid, pk = paid_order(uid, 1000, "brk")
            r = success(oid, pk, 1000, retry_breaker=False)
            if r.status == 503:
                break
            is_error_envelope(r, 502, "EXTERNAL_API_ERROR")
            unknown.append(oid)
    finally:
        clear_faults()
    is_error_envelope(r, 503, "SERVICE_UNAVAILABLE")
    eq(gateway_breaker(), "OPEN")
    eq((status(oid), confirm_calls(oid)), ("READY", 0), "refused before any change")
    # after the open wait a trial call goes through: the buyer's retry works
    time.sleep(BREAKER["WAIT_DURATION_IN_OPEN_STATE_MS"] / 1000 + 0.5)
    eq(success(oid, pk, 1000, retry_breaker=False).status, 200)
    for _ in range(BREAKER["PERMITTED_NUMBER_OF_CALLS_IN_HALF_OPEN_STATE"]):
        o, k = paid_order(uid, 1000, "brk")
        eq(success(o, k, 1000, retry_breaker=False).status, 200)
    eq(gateway_breaker(), "CLOSED", "healthy trial calls close it again")
    reconcile(RECONCILE_MIN_AGE_S=0)
    eq(sql1("SELECT count(*) FROM payments WHERE order_id IN (%s) AND status <> 'DONE'"
            % ",".join(f"'{o}'" for o in unknown)), "0")
    eq(balance(uid), 1000 * (len(unknown) + 1 + BREAKER["PERMITTED_NUMBER_OF_CALLS_IN_HALF_OPEN_STATE"]))


def _children(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


@test
def a_reconciler_run_that_hangs_is_killed_by_the_master_and_run_again():
    # A run whose whole process hangs (here: SIGSTOP, which stops its own
    # watchdog thread too) is ended by the master past the job's bound
    # (RECONCILE_TIME_BUDGET_S + one lease + 2 s), and the next run happens.
    env = {"RECONCILE_INTERVAL_S": "1", "RECONCILE_TIME_BUDGET_S": "1", "TOSS_TIMEOUT_MS": "1000",
           "TOSS_CONNECT_TIMEOUT_MS": "500"}
    apitest.restart_pool(env=env, ready=True)
    try:
        master = apitest.pid_of("pool")
        workers = {w["pid"] for w in apitest.pool_status()["workers"]}
        job = wait_until(lambda: next((p for p in _children(master) if p not in workers), None),
                         10, interval=0.01, what="a reconciler run (a child of the master)")
        off = apitest.log_size()
        os.kill(job, signal.SIGSTOP)
        t0 = time.time()
        line = wait_until(lambda: next((ln for ln in apitest.log_since(off).splitlines()
                                        if "event=job_killed job=reconcile" in ln), None),
                          30, interval=0.1, what="the master killing the stopped run")
        took = time.time() - t0
        check(f"pid={job}" in line, line)
        check(took < 25, f"killed after {took:.1f} s")
        wait_until(lambda: not os.path.exists(f"/proc/{job}"), 5, what="the run gone")
        wait_until(lambda: "event=reconcile_done" in apitest.log_since(off).split(
            "event=job_killed", 1)[-1], 15, interval=0.2, what="a later run completing")
    finally:
        apitest.restart_pool(ready=True)
