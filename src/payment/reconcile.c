/* reconcile.c: the `reconcile` job (run by the master every
 * RECONCILE_INTERVAL_S, or once with `memberapi job reconcile`).
 *
 * One run:
 *   1. READY payments older than PAYMENT_READY_EXPIRY_S -> EXPIRED. Safe
 *      without asking the gateway: only our confirm approves a payment, and
 *      a READY one was never confirmed.
 *   2. DONE payments without a grant get it (the partial index
 *      payments_grant_missing; normally empty).
 *   3. UNKNOWN payments (older than RECONCILE_MIN_AGE_S) and IN_PROGRESS
 *      payments past their lease are claimed one at a time and settled from
 *      GET /v1/payments/orders/{orderId}: DONE -> DONE + grant; ABORTED,
 *      EXPIRED, not found -> that; authenticated but unconfirmed -> the
 *      confirm again under the stored Idempotency-Key; no answer -> stays
 *      UNKNOWN for the next run.
 * Several hosts may run it at once: every pick is FOR UPDATE SKIP LOCKED,
 * a claim commits a lease before the gateway is called, and every write is
 * conditional on the claim, so two runs never work on one payment and a
 * run that dies leaves a lease that simply runs out. Step 3 runs in
 * RECONCILE_THREADS threads the same way. A run stops after
 * RECONCILE_TIME_BUDGET_S or RECONCILE_MAX_FAILURES gateway failures in a row
 * (the gateway is down: the next run will try again). That budget is checked
 * between payments; a run that is still going RECONCILE_TIME_BUDGET_S plus one
 * payment's lease (payment_max_lease_ms: a gateway call and its database
 * work, each with its own deadline) later is stuck somewhere no deadline
 * covers, and its watchdog ends the process: it holds nothing that outlives
 * it (leases run out, the database rolls back), and the master starts the
 * next run at the next interval. */
#include "payment/payment.h"
#include "common/ktime.h"
#include "common/log.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "infra/httpc.h"

typedef struct {
    char cutoff[64];
    int64_t deadline_ms;
    _Atomic int64_t counts[PM_NREC];
    _Atomic int64_t failures_in_row;
    _Atomic bool stop;
} run_t;

static void bump(run_t *run, int what)
{
    atomic_fetch_add(&run->counts[what], 1);
    metrics_add(pm_reconcile[what], 1);
}

static void settle_one(run_t *run, db_conn_t *c, payment_row_t *row, arena_t *a)
{
    const payment_gateway_t *gw = gateway_by_name(row->gateway);
    if (gw == NULL || !gw->configured()) {
        /* A gateway this build does not have, or without its secret: hand
         * the payment back as UNKNOWN for a run that can ask. */
        err_t e;
        bool applied;
        log_error("event=reconcile_gateway_unavailable order_id=%s gateway=%s", row->order_id,
                  log_q(row->gateway));
        pay_store_settle(c, row, PAY_UNKNOWN, "GATEWAY_NOT_CONFIGURED",
                         "no configured gateway for this payment", &applied, &e);
        bump(run, PM_REC_ERRORS);
        return;
    }
    pay_outcome_t out;
    payment_settle_from_lookup(c, gw, row, a, true, true, &out);
    switch (out.status) {
    case PAY_DONE:
        bump(run, PM_REC_DONE);
        break;
    case PAY_ABORTED:
        bump(run, PM_REC_ABORTED);
        break;
    case PAY_EXPIRED:
        bump(run, PM_REC_EXPIRED);
        break;
    case PAY_UNKNOWN:
        bump(run, PM_REC_STILL_UNKNOWN);
        break;
    default:
        bump(run, PM_REC_ERRORS);
        break;
    }
    /* A gateway that answers nothing, again and again, is down: stop. */
    if (out.no_answer) {
        if (atomic_fetch_add(&run->failures_in_row, 1) + 1 >= payment_cfg.reconcile_max_failures)
            atomic_store(&run->stop, true);
    } else {
        atomic_store(&run->failures_in_row, 0);
    }
}

static void *settle_thread(void *arg)
{
    run_t *run = arg;
    arena_t *a = arena_new(64 * 1024);
    err_t e;
    while (!atomic_load(&run->stop) && ktime_mono_ms() < run->deadline_ms) {
        db_conn_t *c = db_get(DB_PRIMARY, &e);
        payment_row_t row;
        bool found = false;
        if (c == NULL || pay_store_claim_stale(c, run->cutoff, payment_cfg.reconcile_min_age_s,
                                               payment_max_lease_ms(), &row, &found, &e) != 0) {
            bump(run, PM_REC_ERRORS);
            atomic_store(&run->stop, true);
            break;
        }
        if (!found)
            break;
        bump(run, PM_REC_CLAIMED);
        arena_reset(a);
        settle_one(run, c, &row, a);
    }
    arena_free(a);
    db_thread_close();
    httpc_thread_close();
    return NULL;
}

typedef struct {
    int64_t hard_deadline_ms;
    _Atomic bool done;
} watchdog_t;

static void *watchdog(void *arg)
{
    watchdog_t *w = arg;
    for (;;) {
        int64_t left = w->hard_deadline_ms - ktime_mono_ms();
        if (atomic_load(&w->done))
            return NULL;
        if (left <= 0)
            break;
        int64_t step = left < 200 ? left : 200;
        struct timespec ts = { .tv_sec = step / 1000, .tv_nsec = (step % 1000) * 1000000 };
        nanosleep(&ts, NULL);
    }
    log_error("event=reconcile_killed reason=\"over its time budget plus one lease\" "
              "budget_s=%" PRId64 " lease_ms=%" PRId64,
              payment_cfg.reconcile_budget_s, payment_max_lease_ms());
    _exit(3);
}

int payment_reconcile_run(void)
{
    run_t *run = calloc(1, sizeof(*run));
    if (run == NULL)
        abort();
    int64_t t0 = ktime_mono_ms();
    run->deadline_ms = t0 + payment_cfg.reconcile_budget_s * 1000;
    /* Static: a detached watchdog may outlive this call (never the run). */
    static watchdog_t wd;
    wd.hard_deadline_ms = run->deadline_ms + payment_max_lease_ms();
    atomic_store(&wd.done, false);
    pthread_t wt;
    if (pthread_create(&wt, NULL, watchdog, &wd) == 0)
        pthread_detach(wt);
    err_t e;
    int rc = 0;
    db_conn_t *c = db_get(DB_PRIMARY, &e);
    int64_t expired = 0, repaired = 0;
    if (c == NULL || pay_store_now(c, run->cutoff, sizeof(run->cutoff), &e) != 0) {
        log_error("event=reconcile_failed step=start error=%s", log_q(e.message));
        atomic_store(&wd.done, true);
        free(run);
        return 1;
    }
    log_info("event=reconcile_start cutoff=%s", log_q(run->cutoff));

    if (pay_store_expire_ready(c, payment_cfg.ready_expiry_s, &expired, &e) != 0) {
        log_error("event=reconcile_failed step=expire error=%s", log_q(e.message));
        rc = 1;
    }
    metrics_add(pm_reconcile[PM_REC_EXPIRED_READY], expired);

    while (ktime_mono_ms() < run->deadline_ms) {
        char oid[PAY_ORDER_ID_MAX + 1];
        bool found = false;
        if (pay_store_repair_one(c, oid, &found, &e) != 0) {
            log_error("event=reconcile_failed step=grant_repair error=%s", log_q(e.message));
            rc = 1;
            break;
        }
        if (!found)
            break;
        repaired++;
        metrics_add(pm_reconcile[PM_REC_GRANT_REPAIRED], 1);
        log_warn("event=reconcile_grant_repaired order_id=%s", oid);
    }

    int n = (int)payment_cfg.reconcile_threads;
    pthread_t th[32];
    int started = 0;
    for (int i = 0; i < n && i < 32; i++)
        if (pthread_create(&th[started], NULL, settle_thread, run) == 0)
            started++;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (started == 0)
        rc = 1;

    int64_t ms = ktime_mono_ms() - t0;
    int64_t claimed = atomic_load(&run->counts[PM_REC_CLAIMED]);
    log_info("event=reconcile_done expired_ready=%" PRId64 " grants_repaired=%" PRId64
             " claimed=%" PRId64 " done=%" PRId64 " aborted=%" PRId64 " expired=%" PRId64
             " still_unknown=%" PRId64 " errors=%" PRId64 " stopped_early=%s elapsed_ms=%" PRId64,
             expired, repaired, claimed, atomic_load(&run->counts[PM_REC_DONE]),
             atomic_load(&run->counts[PM_REC_ABORTED]), atomic_load(&run->counts[PM_REC_EXPIRED]),
             atomic_load(&run->counts[PM_REC_STILL_UNKNOWN]),
             atomic_load(&run->counts[PM_REC_ERRORS]), atomic_load(&run->stop) ? "yes" : "no", ms);
    if (atomic_load(&run->counts[PM_REC_ERRORS]) > 0)
        rc = 1;
    atomic_store(&wd.done, true);
    free(run);
    db_thread_close();
    httpc_thread_close();
    return rc;
}
