/* confirm.c: a held payment's confirm and the recording of what the gateway
 * said, shared by the success route and the reconciler.
 *
 * The rule everything here follows: a payment becomes final only on a
 * definite answer. An approval that matches the payment -> DONE with its
 * grant; a well-formed refusal that is final (decline, configuration) ->
 * ABORTED; the gateway's own record of the order saying ABORTED/EXPIRED ->
 * that. Anything else (no answer, a broken answer, a transient error, an
 * answer about another payment) -> UNKNOWN, for a retry with the same
 * Idempotency-Key or the reconciler's lookup. */
#include "payment/payment.h"
#include "common/log.h"
#include "common/ktime.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define LEASE_MARGIN_MS 5000 /* database work around the gateway call */

int64_t payment_lease_ms(const payment_gateway_t *gw)
{
    return gw->call_budget_ms() + LEASE_MARGIN_MS;
}

int64_t payment_max_lease_ms(void)
{
    int64_t m = 0;
    for (const payment_gateway_t *const *g = payment_gateways; *g; g++)
        if (payment_lease_ms(*g) > m)
            m = payment_lease_ms(*g);
    return m;
}

static void count_call(int call, const gw_result_t *r)
{
    int o = r->outcome == GW_ANSWER_PAYMENT ? 0 : r->outcome == GW_ANSWER_ERROR ? 1 : 2;
    metrics_add(pm_gw_calls[call][o], 1);
    metrics_observe_us(pm_gw_latency[call], r->elapsed_ms * 1000);
}

static const char *outcome_name(gw_outcome_t o)
{
    return o == GW_ANSWER_PAYMENT ? "payment" : o == GW_ANSWER_ERROR ? "error" : "no_answer";
}

static void log_call(const char *call, const payment_row_t *row, const gw_result_t *r)
{
    log_info("event=gateway_call call=%s gateway=%s order_id=%s claim=%" PRId64
             " result=%s status=%d code=%s class=%s gw_status=%s elapsed_ms=%" PRId64,
             call, row->gateway, row->order_id, row->claim_seq, outcome_name(r->outcome),
             r->http_status, log_q(r->code[0] ? r->code : "-"), gw_class_name(r->cls),
             log_q(r->outcome == GW_ANSWER_PAYMENT ? r->pay.status_text : "-"), r->elapsed_ms);
}

static void ext_err(err_t *e, int status, const gw_result_t *r, const char *fmt, const char *oid)
{
    err_set_status(e, ERR_EXTERNAL_API, status, fmt, oid);
    if (r && r->outcome == GW_ANSWER_ERROR) {
        snprintf(e->pg_code, sizeof(e->pg_code), "%s", r->code);
        snprintf(e->pg_message, sizeof(e->pg_message), "%s", r->message);
    }
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* DONE + grant. A lost database is retried for a moment: the gateway has
 * taken the buyer's money, the record is worth a short wait. Past that the
 * claim stays IN_PROGRESS and the reconciler records it after the lease. */
static void record_done(db_conn_t *c, payment_row_t *row, const gw_payment_t *gp,
                        pay_outcome_t *out)
{
    err_t e;
    int64_t bal = 0;
    for (int attempt = 0;; attempt++) {
        if (pay_store_done(c, row, gp, &bal, &e) == 0) {
            out->status = PAY_DONE;
            out->balance_after = bal;
            metrics_add(pm_outcomes[PM_OUT_DONE], 1);
            log_info("event=payment_done order_id=%s amount=%" PRId64 " balance=%" PRId64,
                     row->order_id, row->amount, bal);
            return;
        }
        if (e.type != ERR_SERVICE_UNAVAILABLE || attempt == 3)
            break;
        sleep_ms(250LL << attempt);
    }
    if (e.type == ERR_CONFLICT) {
        out->status = PAY_INVALID; /* final elsewhere; the caller re-reads */
        out->err = e;
        return;
    }
    metrics_add(pm_outcomes[PM_OUT_UNRECORDED], 1);
    log_error("event=payment_done_unrecorded order_id=%s: approved by the gateway, not yet "
              "recorded (the reconciler will)",
              row->order_id);
    out->status = PAY_IN_PROGRESS;
    err_set(&out->err, ERR_SERVICE_UNAVAILABLE,
            "payment %s was approved but could not be recorded yet; it will be, poll "
            "GET /api/v1/payments/%s",
            row->order_id, row->order_id);
}

/* IN_PROGRESS (ours) -> to. When the claim was lost meanwhile, out->status
 * is PAY_INVALID and the caller answers from the stored state. */
static void record(db_conn_t *c, const payment_row_t *row, pay_status_t to, const char *code,
                   const char *reason, pay_outcome_t *out)
{
    err_t e;
    bool applied = false;
    if (pay_store_settle(c, row, to, code, reason, &applied, &e) != 0) {
        metrics_add(pm_outcomes[PM_OUT_UNRECORDED], 1);
        log_warn("event=payment_outcome_unrecorded order_id=%s outcome=%s", row->order_id,
                 pay_status_name(to));
        out->status = PAY_IN_PROGRESS;
        return;
    }
    if (!applied) {
        log_info("event=payment_claim_lost order_id=%s claim=%" PRId64, row->order_id,
                 row->claim_seq);
        out->status = PAY_INVALID;
        return;
    }
    out->status = to;
    int m = to == PAY_ABORTED   ? PM_OUT_ABORTED
            : to == PAY_EXPIRED ? PM_OUT_EXPIRED
                                : PM_OUT_UNKNOWN;
    metrics_add(pm_outcomes[m], 1);
    log_info("event=payment_%s order_id=%s code=%s reason=%s",
             to == PAY_ABORTED   ? "aborted"
             : to == PAY_EXPIRED ? "expired"
                                 : "unknown",
             row->order_id, log_q(code && *code ? code : "-"), log_q(reason ? reason : ""));
}

static void unknown(db_conn_t *c, const payment_row_t *row, const gw_result_t *r, int status,
                    pay_outcome_t *out)
{
    record(c, row, PAY_UNKNOWN, r->code, r->message, out);
    ext_err(&out->err, status, r->outcome == GW_ANSWER_ERROR ? r : NULL,
            "the outcome of payment %s is not known yet; it will be settled with the gateway, "
            "poll GET /api/v1/payments/{orderId}",
            row->order_id);
}

static void config_alert(const payment_row_t *row, const gw_result_t *r)
{
    if (r->outcome == GW_ANSWER_ERROR && r->cls == GW_CLASS_CONFIG) {
        metrics_add(pm_config_alerts, 1);
        log_error("event=gateway_config_error gateway=%s order_id=%s code=%s status=%d: check "
                  "the gateway configuration (key, base URL)",
                  row->gateway, row->order_id, log_q(r->code), r->http_status);
    }
}

static void lookup_and_settle(db_conn_t *c, const payment_gateway_t *gw, payment_row_t *row,
                              arena_t *a, bool reconfirm, bool allow_not_found,
                              const gw_result_t *why, pay_outcome_t *out);

/* What a confirm answer means for the held payment. */
static void apply_confirm(db_conn_t *c, const payment_gateway_t *gw, payment_row_t *row,
                          const gw_confirm_t *rq, const gw_result_t *r, arena_t *a,
                          pay_outcome_t *out)
{
    char why[160];
    switch (r->outcome) {
    case GW_ANSWER_PAYMENT:
        if (gw_check_approval(&r->pay, rq, why, sizeof(why)) == 0) {
            record_done(c, row, &r->pay, out);
            return;
        }
        /* Never an approval: the answer is not about what was asked. */
        log_error("event=gateway_answer_mismatch order_id=%s why=%s", row->order_id, log_q(why));
        gw_result_t u = *r;
        u.outcome = GW_NO_ANSWER;
        snprintf(u.code, sizeof(u.code), "UNEXPECTED_ANSWER");
        snprintf(u.message, sizeof(u.message), "%s", why);
        unknown(c, row, &u, 502, out);
        return;
    case GW_ANSWER_ERROR:
        switch (r->cls) {
        case GW_CLASS_DECLINE:
        case GW_CLASS_CONFIG: {
            config_alert(row, r);
            record(c, row, PAY_ABORTED, r->code, r->message, out);
            int st = r->http_status;
            if (st != 400 && st != 401 && st != 403 && st != 404)
                st = st >= 500 ? 502 : 400;
            ext_err(&out->err, st, r, "the payment gateway refused payment %s", row->order_id);
            return;
        }
        case GW_CLASS_OUTCOME_UNKNOWN:
            /* "Ask first" (ALREADY_PROCESSED_PAYMENT, ...): the gateway's
             * record of the order says what happened. */
            lookup_and_settle(c, gw, row, a, false, false, r, out);
            return;
        default:
            unknown(c, row, r, 502, out);
            return;
        }
    case GW_NO_ANSWER:
        unknown(c, row, r, r->timed_out ? 504 : 502, out);
        return;
    }
}

static void confirm_call(db_conn_t *c, const payment_gateway_t *gw, payment_row_t *row, arena_t *a,
                         pay_outcome_t *out)
{
    gw_confirm_t rq = {
        .payment_key = row->payment_key,
        .order_id = row->order_id,
        .amount = row->amount,
        .idempotency_key = row->attempt_key,
    };
    gw_result_t r;
    gw->confirm(&rq, a, &r);
    out->no_answer = r.outcome == GW_NO_ANSWER;
    count_call(PM_CALL_CONFIRM, &r);
    log_call("confirm", row, &r);
    apply_confirm(c, gw, row, &rq, &r, a, out);
}

void payment_confirm_held(db_conn_t *c, const payment_gateway_t *gw, payment_row_t *row, arena_t *a,
                          pay_outcome_t *out)
{
    memset(out, 0, sizeof(*out));
    err_clear(&out->err);
    confirm_call(c, gw, row, a, out);
}

/* why: the confirm answer that sent us here (NULL for the reconciler). */
static void lookup_and_settle(db_conn_t *c, const payment_gateway_t *gw, payment_row_t *row,
                              arena_t *a, bool reconfirm, bool allow_not_found,
                              const gw_result_t *why, pay_outcome_t *out)
{
    err_t e;
    if (why && pay_store_renew(c, row, payment_lease_ms(gw), &e) != 0) {
        unknown(c, row, why, 502, out);
        return;
    }
    gw_result_t r;
    gw->lookup_order(row->order_id, a, &r);
    out->no_answer = r.outcome == GW_NO_ANSWER;
    count_call(PM_CALL_LOOKUP, &r);
    log_call("lookup", row, &r);
    const gw_result_t *blame = why ? why : &r; /* what the client is told on UNKNOWN */
    if (r.outcome == GW_ANSWER_PAYMENT && strcmp(r.pay.order_id, row->order_id) == 0) {
        const gw_payment_t *p = &r.pay;
        switch (p->status) {
        case GW_PAY_DONE:
            if (p->total_amount == row->amount && p->approved_at > 0) {
                record_done(c, row, p, out);
                return;
            }
            log_error("event=gateway_answer_mismatch order_id=%s why=\"approved amount %" PRId64
                      " differs from %" PRId64 "\"",
                      row->order_id, p->total_amount, row->amount);
            break;
        case GW_PAY_ABORTED:
        case GW_PAY_EXPIRED: {
            pay_status_t to = p->status == GW_PAY_ABORTED ? PAY_ABORTED : PAY_EXPIRED;
            const char *code = p->fail_code[0] ? p->fail_code : pay_status_name(to);
            record(c, row, to, code, p->fail_message, out);
            err_set(&out->err, ERR_EXTERNAL_API, "payment %s was not approved by the gateway",
                    row->order_id);
            out->err.status = 400;
            snprintf(out->err.pg_code, sizeof(out->err.pg_code), "%s", code);
            snprintf(out->err.pg_message, sizeof(out->err.pg_message), "%s", p->fail_message);
            return;
        }
        case GW_PAY_CANCELED:
        case GW_PAY_PARTIAL_CANCELED:
            /* Approved, then refunded at the gateway before we recorded it:
             * the buyer has the money back, so no points. */
            record(c, row, PAY_ABORTED, "PAYMENT_CANCELED",
                   "canceled at the gateway before it was recorded here", out);
            err_set(&out->err, ERR_EXTERNAL_API, "payment %s was canceled at the gateway",
                    row->order_id);
            out->err.status = 400;
            return;
        case GW_PAY_IN_PROGRESS:
            /* Authenticated, never confirmed (e.g. a 5xx that approved
             * nothing): the same confirm again, under the same key. */
            if (reconfirm) {
                confirm_call(c, gw, row, a, out);
                return;
            }
            break;
        default:
            break;
        }
        unknown(c, row, blame, 502, out);
        return;
    }
    if (r.outcome == GW_ANSWER_ERROR && allow_not_found && r.cls == GW_CLASS_DECLINE &&
        r.http_status == 404 && strcmp(r.code, "NOT_FOUND_PAYMENT") == 0) {
        /* The gateway has no payment for this order: nothing was
         * authenticated, so nothing can ever be approved. */
        record(c, row, PAY_ABORTED, r.code, r.message, out);
        ext_err(&out->err, 404, &r, "the payment gateway has no payment %s", row->order_id);
        return;
    }
    config_alert(row, &r);
    if (r.outcome == GW_ANSWER_PAYMENT)
        log_error("event=gateway_answer_mismatch order_id=%s why=\"lookup answered for "
                  "another order\" gw_order_id=%s",
                  row->order_id, log_q(r.pay.order_id));
    unknown(c, row, blame, blame->timed_out ? 504 : 502, out);
}

void payment_settle_from_lookup(db_conn_t *c, const payment_gateway_t *gw, payment_row_t *row,
                                arena_t *a, bool reconfirm, bool allow_not_found,
                                pay_outcome_t *out)
{
    memset(out, 0, sizeof(*out));
    err_clear(&out->err);
    lookup_and_settle(c, gw, row, a, reconfirm, allow_not_found, NULL, out);
}
