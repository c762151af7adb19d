/* payment.h: what the payment module's files share (not a public header:
 * other modules know nothing of payments).
 *
 *   payment.c    module hooks and configuration
 *   routes.c     the HTTP routes
 *   confirm.c    a claimed payment's confirm and the recording of any
 *                gateway answer (shared by routes and the reconciler)
 *   store.c      SQL: every state change is a conditional UPDATE
 *   reconcile.c  the `reconcile` job */
#ifndef MA_PAYMENT_PAYMENT_H
#define MA_PAYMENT_PAYMENT_H

#include "common/arena.h"
#include "common/err.h"
#include "common/metrics.h"
#include "infra/db.h"
#include "payment/body.h"
#include "payment/gateway.h"
#include "payment/state.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct payment_config {
    char *public_base_url;          /* without a trailing '/' */
    int64_t max_amount;             /* PAYMENT_MAX_AMOUNT */
    int64_t ready_expiry_s;         /* PAYMENT_READY_EXPIRY_S */
    int64_t reconcile_interval_s;   /* RECONCILE_INTERVAL_S (0: not scheduled) */
    int64_t reconcile_min_age_s;    /* RECONCILE_MIN_AGE_S */
    int64_t reconcile_threads;      /* RECONCILE_THREADS */
    int64_t reconcile_budget_s;     /* RECONCILE_TIME_BUDGET_S */
    int64_t reconcile_max_failures; /* RECONCILE_MAX_FAILURES */
} payment_config_t;

extern payment_config_t payment_cfg;

/* A payments row. */
typedef struct payment_row {
    int64_t id;
    char order_id[PAY_ORDER_ID_MAX + 1];
    int64_t user_id, amount;
    pay_status_t status;
    char gateway[PAY_GATEWAY_MAX + 1];
    char pay_type[PAY_TYPE_MAX + 1];
    char payment_key[PAY_KEY_MAX + 1]; /* "" when NULL */
    char method[GW_METHOD_MAX];
    char fail_code[GW_CODE_MAX];
    char fail_reason[GW_MESSAGE_MAX];
    int64_t requested_at, approved_at, updated_at; /* epoch seconds; approved 0 = NULL */
    char attempt_key[64];
    int64_t claim_seq;
    bool lease_valid; /* IN_PROGRESS whose holder is still trusted */
    bool points_granted;
} payment_row_t;

/* ---- store.c ------------------------------------------------------------ */

void pay_store_register(void);

int pay_store_get(db_conn_t *c, const char *order_id, payment_row_t *out, bool *found, err_t *err);
/* Inserts a READY payment; *inserted false when the orderId exists (then
 * out is the stored payment). */
int pay_store_insert(db_conn_t *c, const payment_create_t *in, payment_row_t *out, bool *inserted,
                     err_t *err);
/* Claims `seen` for one confirm attempt: moves it to IN_PROGRESS with
 * payment_key/attempt_key, claim_seq + 1 and a lease of lease_ms, only if
 * it is still exactly as seen (status and claim_seq) and, when IN_PROGRESS,
 * its lease ran out. *won false when another request got there first. */
int pay_store_claim(db_conn_t *c, const payment_row_t *seen, const char *payment_key,
                    const char *attempt_key, int64_t lease_ms, payment_row_t *out, bool *won,
                    err_t *err);
/* Extends the lease of a claim still held. */
int pay_store_renew(db_conn_t *c, const payment_row_t *held, int64_t lease_ms, err_t *err);
/* Writes the outcome of a held claim: IN_PROGRESS -> to (ABORTED, EXPIRED,
 * UNKNOWN) with the reason; *applied false when the claim was lost. */
int pay_store_settle(db_conn_t *c, const payment_row_t *held, pay_status_t to, const char *code,
                     const char *reason, bool *applied, err_t *err);
/* DONE + the point grant in one transaction. DONE is the gateway's word, so
 * it is taken from any state that may become DONE, claim or not. *was_final
 * when the payment was already DONE (then only a missing grant is added) or
 * another final state (then nothing changes and err says so). */
int pay_store_done(db_conn_t *c, const payment_row_t *p, const gw_payment_t *gp,
                   int64_t *balance_after, err_t *err);
/* READY -> ABORTED from the gateway's fail redirect. */
int pay_store_abort_ready(db_conn_t *c, const char *order_id, const char *gateway, const char *code,
                          const char *message, bool *applied, err_t *err);
/* The balance recorded with the payment's grant, granting it first if a
 * DONE payment has none yet. */
int pay_store_grant_balance(db_conn_t *c, const payment_row_t *p, int64_t *balance_after,
                            err_t *err);

/* reconciler */
int pay_store_now(db_conn_t *c, char *out, size_t outlen, err_t *err);
int pay_store_expire_ready(db_conn_t *c, int64_t older_than_s, int64_t *n, err_t *err);
/* Grants one DONE payment without a grant (row lock, SKIP LOCKED); *found
 * false when none is left. */
int pay_store_repair_one(db_conn_t *c, char *order_id, bool *found, err_t *err);
/* Claims the oldest UNKNOWN payment older than min_age_s (before cutoff) or
 * IN_PROGRESS payment past its lease, skipping rows locked by other hosts. */
int pay_store_claim_stale(db_conn_t *c, const char *cutoff, int64_t min_age_s, int64_t lease_ms,
                          payment_row_t *out, bool *found, err_t *err);

/* ---- confirm.c ---------------------------------------------------------- */

/* Where a confirm attempt left a payment, and what to tell the client. */
typedef struct pay_outcome {
    pay_status_t status; /* the payment's state afterwards (IN_PROGRESS: not recorded) */
    err_t err;           /* when the client gets an error */
    bool no_answer;      /* the last gateway call got no usable answer */
    int64_t balance_after;
    payment_row_t row;
} pay_outcome_t;

/* Lease of a claim: one gateway call (or two: confirm, then a lookup after
 * renewing) plus a margin for the database. */
int64_t payment_lease_ms(const payment_gateway_t *gw);
/* The longest lease of any gateway (a reconciler claims before it knows). */
int64_t payment_max_lease_ms(void);

/* Confirms a payment this caller holds (row: IN_PROGRESS with its claim)
 * and records whatever came back. out->status PAY_INVALID: the claim was
 * lost meanwhile (answer from the stored state). */
void payment_confirm_held(db_conn_t *c, const payment_gateway_t *gw, payment_row_t *row, arena_t *a,
                          pay_outcome_t *out);
/* Settles a held payment from the gateway's record of the order (the
 * reconciler). When the gateway shows it authenticated but unconfirmed and
 * reconfirm is set, the confirm is retried with the stored
 * Idempotency-Key; allow_not_found lets "no such payment" end it ABORTED. */
void payment_settle_from_lookup(db_conn_t *c, const payment_gateway_t *gw, payment_row_t *row,
                                arena_t *a, bool reconfirm, bool allow_not_found,
                                pay_outcome_t *out);

/* ---- metrics (payment.c) ------------------------------------------------ */

enum { PM_CALL_CONFIRM, PM_CALL_LOOKUP, PM_NCALLS };
enum { PM_OUT_DONE, PM_OUT_ABORTED, PM_OUT_UNKNOWN, PM_OUT_EXPIRED, PM_OUT_UNRECORDED, PM_NOUTS };
enum {
    PM_REC_EXPIRED_READY,
    PM_REC_GRANT_REPAIRED,
    PM_REC_CLAIMED,
    PM_REC_DONE,
    PM_REC_ABORTED,
    PM_REC_EXPIRED,
    PM_REC_STILL_UNKNOWN,
    PM_REC_ERRORS,
    PM_NREC
};
extern metrics_id_t pm_gw_calls[PM_NCALLS][3]; /* [call][outcome] */
extern metrics_id_t pm_gw_latency[PM_NCALLS];
extern metrics_id_t pm_outcomes[PM_NOUTS];
extern metrics_id_t pm_config_alerts;
extern metrics_id_t pm_reconcile[PM_NREC];
extern metrics_id_t pm_rejected[4]; /* tampered, conflict, breaker_open, in_flight */

/* ---- reconcile.c -------------------------------------------------------- */

int payment_reconcile_run(void);

/* ---- routes.c ----------------------------------------------------------- */

int payment_routes_add(void);

#endif
