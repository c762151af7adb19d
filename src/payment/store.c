/* store.c: the payments table (see payment.h).
 *
 * The state machine lives here: each move is one conditional UPDATE whose
 * WHERE clause is the move's precondition (the source state, the claim
 * sequence the caller holds, an expired lease), so of two racing requests
 * exactly one sees its row come back. Nothing here holds a transaction open
 * across a gateway call: a claim commits before the call, the outcome is
 * written after it. Queries go to the primary. */
#include "payment/payment.h"
#include "points/points.h"
#include "common/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define COLS                                                                                       \
    "id, order_id, user_id, amount, status, gateway, pay_type, payment_key, method, fail_code, "   \
    "fail_reason, floor(extract(epoch FROM requested_at))::bigint, "                               \
    "coalesce(floor(extract(epoch FROM approved_at))::bigint, 0), "                                \
    "floor(extract(epoch FROM updated_at))::bigint, attempt_key, claim_seq, "                      \
    "(status = 'IN_PROGRESS' AND lease_until IS NOT NULL AND lease_until > now()), "               \
    "points_granted"

enum {
    ST_GET,
    ST_INSERT,
    ST_CLAIM,
    ST_RENEW,
    ST_SETTLE,
    ST_DONE,
    ST_MARK_GRANTED,
    ST_ABORT_READY,
    ST_NOW,
    ST_EXPIRE_READY,
    ST_REPAIR_PICK,
    ST_CLAIM_UNKNOWN,
    ST_CLAIM_LEASE,
    ST_LOCK_DONE,
};

static const db_stmt_t stmts[] = {
    [ST_GET] = { "pay_get", "SELECT " COLS " FROM payments WHERE order_id = $1", 1, DB_RETRY },
    [ST_INSERT] = { "pay_insert",
                    "INSERT INTO payments (order_id, user_id, amount, gateway, pay_type) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (order_id) DO NOTHING "
                    "RETURNING " COLS,
                    5, 0 },
    /* $1 id, $2 paymentKey, $3 attempt key, $4 lease ms, $5 seen claim_seq,
     * $6 seen status. A READY or UNKNOWN row is free; an IN_PROGRESS one only
     * once its holder's lease ran out. */
    [ST_CLAIM] = { "pay_claim",
                   "UPDATE payments SET status = 'IN_PROGRESS', payment_key = $2, "
                   "attempt_key = $3, claim_seq = claim_seq + 1, lease_until = now() + "
                   "$4::bigint * interval '1 millisecond', updated_at = now() "
                   "WHERE id = $1 AND claim_seq = $5 AND status = $6 "
                   "AND status IN ('READY', 'UNKNOWN', 'IN_PROGRESS') "
                   "AND (status <> 'IN_PROGRESS' OR lease_until < now()) RETURNING " COLS,
                   6, 0 },
    [ST_RENEW] = { "pay_renew",
                   "UPDATE payments SET lease_until = now() + $3::bigint * interval "
                   "'1 millisecond' WHERE id = $1 AND claim_seq = $2 AND status = 'IN_PROGRESS'",
                   3, 0 },
    /* $3 target state: the caller checked it against the transition table. */
    [ST_SETTLE] = { "pay_settle",
                    "UPDATE payments SET status = $3, fail_code = $4, fail_reason = $5, "
                    "lease_until = NULL, updated_at = now() "
                    "WHERE id = $1 AND claim_seq = $2 AND status = 'IN_PROGRESS'",
                    5, 0 },
    /* $5: the states the transition table lets become DONE. */
    [ST_DONE] = { "pay_done",
                  "UPDATE payments SET status = 'DONE', payment_key = $2, method = $3, "
                  "approved_at = to_timestamp($4::bigint), fail_code = NULL, fail_reason = NULL, "
                  "lease_until = NULL, points_granted = true, updated_at = now() "
                  "WHERE id = $1 AND status = ANY ($5::text[]) RETURNING user_id, amount",
                  5, 0 },
    [ST_MARK_GRANTED] = { "pay_mark_granted",
                          "UPDATE payments SET points_granted = true WHERE id = $1", 1, 0 },
    [ST_ABORT_READY] = { "pay_abort_ready",
                         "UPDATE payments SET status = 'ABORTED', fail_code = $3, "
                         "fail_reason = $4, updated_at = now() "
                         "WHERE order_id = $1 AND gateway = $2 AND status = 'READY'",
                         4, 0 },
    [ST_NOW] = { "pay_now", "SELECT now()::text", 0, DB_RETRY },
    [ST_EXPIRE_READY] = { "pay_expire_ready",
                          "UPDATE payments SET status = 'EXPIRED', fail_code = 'PAYMENT_EXPIRED', "
                          "fail_reason = 'not confirmed in time', updated_at = now() "
                          "WHERE id IN (SELECT id FROM payments WHERE status = 'READY' "
                          "AND requested_at < now() - $1::bigint * interval '1 second' "
                          "ORDER BY requested_at LIMIT 1000 FOR UPDATE SKIP LOCKED) "
                          "AND status = 'READY'",
                          1, 0 },
    [ST_REPAIR_PICK] = { "pay_repair_pick",
                         "SELECT " COLS " FROM payments WHERE status = 'DONE' "
                         "AND NOT points_granted ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED",
                         0, 0 },
    [ST_CLAIM_UNKNOWN] = { "pay_claim_unknown",
                           "UPDATE payments SET status = 'IN_PROGRESS', claim_seq = claim_seq + 1, "
                           "lease_until = now() + $3::bigint * interval '1 millisecond', "
                           "reconcile_count = reconcile_count + 1, updated_at = now() "
                           "WHERE id = (SELECT id FROM payments WHERE status = 'UNKNOWN' "
                           "AND updated_at < $1::timestamptz - $2::bigint * interval '1 second' "
                           "ORDER BY updated_at LIMIT 1 FOR UPDATE SKIP LOCKED) "
                           "AND status = 'UNKNOWN' RETURNING " COLS,
                           3, 0 },
    [ST_CLAIM_LEASE] = { "pay_claim_lease",
                         "UPDATE payments SET claim_seq = claim_seq + 1, "
                         "lease_until = now() + $2::bigint * interval '1 millisecond', "
                         "reconcile_count = reconcile_count + 1, updated_at = now() "
                         "WHERE id = (SELECT id FROM payments WHERE status = 'IN_PROGRESS' "
                         "AND lease_until < now() AND updated_at < $1::timestamptz "
                         "ORDER BY lease_until LIMIT 1 FOR UPDATE SKIP LOCKED) "
                         "AND status = 'IN_PROGRESS' AND lease_until < now() RETURNING " COLS,
                         2, 0 },
    [ST_LOCK_DONE] = { "pay_lock_done",
                       "SELECT " COLS " FROM payments WHERE id = $1 AND status = 'DONE' "
                       "FOR UPDATE",
                       1, 0 },
};

void pay_store_register(void)
{
    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
}

static void cpy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static void row_from(const PGresult *res, int i, payment_row_t *p)
{
    memset(p, 0, sizeof(*p));
    p->id = db_i64(res, i, 0);
    cpy(p->order_id, sizeof(p->order_id), db_str(res, i, 1));
    p->user_id = db_i64(res, i, 2);
    p->amount = db_i64(res, i, 3);
    p->status = pay_status_parse(db_str(res, i, 4));
    cpy(p->gateway, sizeof(p->gateway), db_str(res, i, 5));
    cpy(p->pay_type, sizeof(p->pay_type), db_str(res, i, 6));
    cpy(p->payment_key, sizeof(p->payment_key), db_str(res, i, 7));
    cpy(p->method, sizeof(p->method), db_str(res, i, 8));
    cpy(p->fail_code, sizeof(p->fail_code), db_str(res, i, 9));
    cpy(p->fail_reason, sizeof(p->fail_reason), db_str(res, i, 10));
    p->requested_at = db_i64(res, i, 11);
    p->approved_at = db_i64(res, i, 12);
    p->updated_at = db_i64(res, i, 13);
    cpy(p->attempt_key, sizeof(p->attempt_key), db_str(res, i, 14));
    p->claim_seq = db_i64(res, i, 15);
    p->lease_valid = db_str(res, i, 16) && db_str(res, i, 16)[0] == 't';
    p->points_granted = db_str(res, i, 17) && db_str(res, i, 17)[0] == 't';
}

/* Runs st; 0 with *found (and *out from the first row), or -1. */
static int one_row(db_conn_t *c, int st, const char *const *p, payment_row_t *out, bool *found,
                   err_t *err)
{
    PGresult *res = db_exec(c, &stmts[st], p, err);
    if (res == NULL)
        return -1;
    *found = PQntuples(res) > 0;
    if (*found)
        row_from(res, 0, out);
    PQclear(res);
    return 0;
}

typedef struct {
    char s[24];
} num_t;

static num_t num(int64_t v)
{
    num_t n;
    snprintf(n.s, sizeof(n.s), "%" PRId64, v);
    return n;
}

int pay_store_get(db_conn_t *c, const char *order_id, payment_row_t *out, bool *found, err_t *err)
{
    const char *p[] = { order_id };
    return one_row(c, ST_GET, p, out, found, err);
}

int pay_store_insert(db_conn_t *c, const payment_create_t *in, payment_row_t *out, bool *inserted,
                     err_t *err)
{
    num_t uid = num(in->user_id), amt = num(in->amount);
    const char *p[] = { in->order_id, uid.s, amt.s, in->gateway, in->pay_type };
    if (one_row(c, ST_INSERT, p, out, inserted, err) != 0)
        return -1;
    if (*inserted)
        return 0;
    bool found = false;
    if (pay_store_get(c, in->order_id, out, &found, err) != 0)
        return -1;
    /* Inserted and deleted in between cannot happen (rows are never
     * deleted); be explicit rather than answer with an empty row. */
    return found ? 0 : err_set(err, ERR_UNKNOWN, "internal error");
}

int pay_store_claim(db_conn_t *c, const payment_row_t *seen, const char *payment_key,
                    const char *attempt_key, int64_t lease_ms, payment_row_t *out, bool *won,
                    err_t *err)
{
    if (!pay_transition_ok(seen->status, PAY_IN_PROGRESS)) {
        *won = false;
        return 0;
    }
    num_t id = num(seen->id), lease = num(lease_ms), seq = num(seen->claim_seq);
    const char *p[] = { id.s,    payment_key, attempt_key,
                        lease.s, seq.s,       pay_status_name(seen->status) };
    return one_row(c, ST_CLAIM, p, out, won, err);
}

int pay_store_renew(db_conn_t *c, const payment_row_t *held, int64_t lease_ms, err_t *err)
{
    num_t id = num(held->id), seq = num(held->claim_seq), lease = num(lease_ms);
    const char *p[] = { id.s, seq.s, lease.s };
    return db_exec_cmd(c, &stmts[ST_RENEW], p, err) < 0 ? -1 : 0;
}

int pay_store_settle(db_conn_t *c, const payment_row_t *held, pay_status_t to, const char *code,
                     const char *reason, bool *applied, err_t *err)
{
    *applied = false;
    if (!pay_transition_ok(PAY_IN_PROGRESS, to) || to == PAY_DONE || to == PAY_IN_PROGRESS) {
        log_error("event=payment_bad_transition order_id=%s to=%s", held->order_id,
                  pay_status_name(to));
        return err_set(err, ERR_UNKNOWN, "internal error");
    }
    num_t id = num(held->id), seq = num(held->claim_seq);
    const char *p[] = { id.s, seq.s, pay_status_name(to), code && *code ? code : NULL,
                        reason && *reason ? reason : NULL };
    int64_t n = db_exec_cmd(c, &stmts[ST_SETTLE], p, err);
    if (n < 0)
        return -1;
    *applied = n == 1;
    return 0;
}

/* Grants the points of DONE payment p (row locked by the caller's
 * transaction) and flags it; the ledger's unique reference keeps it to one. */
static int grant(db_conn_t *c, const payment_row_t *p, int64_t *balance_after, err_t *err)
{
    bool granted = false;
    char reason[64];
    snprintf(reason, sizeof(reason), "%s top-up", p->gateway);
    if (points_grant_payment(c, p->user_id, p->amount, p->order_id, reason, balance_after, &granted,
                             err) != 0)
        return -1;
    if (granted)
        log_info("event=points_granted order_id=%s user_id=%" PRId64 " amount=%" PRId64
                 " balance=%" PRId64,
                 p->order_id, p->user_id, p->amount, *balance_after);
    return 0;
}

int pay_store_done(db_conn_t *c, const payment_row_t *p, const gw_payment_t *gp,
                   int64_t *balance_after, err_t *err)
{
    char sources[PAY_SOURCES_MAX];
    pay_sources_literal(PAY_DONE, sources);
    num_t id = num(p->id), at = num(gp->approved_at);
    const char *pk = gp->payment_key[0] ? gp->payment_key : p->payment_key;
    const char *par[] = { id.s, pk, gp->method[0] ? gp->method : NULL, at.s, sources };
    if (db_begin(c, err) != 0)
        return -1;
    PGresult *res = db_exec(c, &stmts[ST_DONE], par, err);
    if (res == NULL)
        goto rollback;
    bool moved = PQntuples(res) == 1;
    PQclear(res);
    if (moved) {
        if (grant(c, p, balance_after, err) != 0)
            goto rollback;
        return db_commit(c, err);
    }
    /* Not movable: already DONE (another request or the reconciler won;
     * make sure of its grant) or in another final state. */
    bool found = false;
    payment_row_t now;
    const char *lp[] = { id.s };
    if (one_row(c, ST_LOCK_DONE, lp, &now, &found, err) != 0)
        goto rollback;
    if (!found) {
        db_rollback(c);
        bool f2 = false;
        if (pay_store_get(c, p->order_id, &now, &f2, err) == 0 && f2)
            log_error("event=payment_approved_but_final order_id=%s status=%s: the gateway "
                      "approved a payment recorded as final; needs an operator",
                      p->order_id, pay_status_name(now.status));
        return err_set(err, ERR_CONFLICT, "payment %s is %s", p->order_id,
                       f2 ? pay_status_name(now.status) : "gone");
    }
    if (grant(c, &now, balance_after, err) != 0)
        goto rollback;
    if (!now.points_granted && db_exec_cmd(c, &stmts[ST_MARK_GRANTED], lp, err) < 0)
        goto rollback;
    return db_commit(c, err);
rollback:
    db_rollback(c);
    return -1;
}

int pay_store_grant_balance(db_conn_t *c, const payment_row_t *p, int64_t *balance_after,
                            err_t *err)
{
    bool found = false;
    if (points_payment_grant(c, p->order_id, &found, balance_after, err) != 0)
        return -1;
    if (found)
        return 0;
    /* DONE without a grant (set by hand, or an older version): grant now,
     * under the row lock, exactly as the reconciler would. */
    num_t id = num(p->id);
    const char *lp[] = { id.s };
    payment_row_t now;
    if (db_begin(c, err) != 0)
        return -1;
    if (one_row(c, ST_LOCK_DONE, lp, &now, &found, err) != 0 || !found ||
        grant(c, &now, balance_after, err) != 0 ||
        db_exec_cmd(c, &stmts[ST_MARK_GRANTED], lp, err) < 0) {
        db_rollback(c);
        return found ? -1 : err_set(err, ERR_UNKNOWN, "internal error");
    }
    return db_commit(c, err);
}

int pay_store_abort_ready(db_conn_t *c, const char *order_id, const char *gateway, const char *code,
                          const char *message, bool *applied, err_t *err)
{
    const char *p[] = { order_id, gateway, code, message && *message ? message : NULL };
    int64_t n = db_exec_cmd(c, &stmts[ST_ABORT_READY], p, err);
    if (n < 0)
        return -1;
    *applied = n == 1;
    return 0;
}

/* ---- reconciler ---------------------------------------------------------- */

int pay_store_now(db_conn_t *c, char *out, size_t outlen, err_t *err)
{
    PGresult *res = db_exec(c, &stmts[ST_NOW], NULL, err);
    if (res == NULL)
        return -1;
    snprintf(out, outlen, "%s", db_str(res, 0, 0));
    PQclear(res);
    return 0;
}

int pay_store_expire_ready(db_conn_t *c, int64_t older_than_s, int64_t *n, err_t *err)
{
    num_t age = num(older_than_s);
    const char *p[] = { age.s };
    *n = 0;
    for (;;) {
        int64_t k = db_exec_cmd(c, &stmts[ST_EXPIRE_READY], p, err);
        if (k < 0)
            return -1;
        *n += k;
        if (k < 1000)
            return 0;
    }
}

int pay_store_repair_one(db_conn_t *c, char *order_id, bool *found, err_t *err)
{
    payment_row_t p;
    int64_t bal;
    *found = false;
    if (db_begin(c, err) != 0)
        return -1;
    if (one_row(c, ST_REPAIR_PICK, NULL, &p, found, err) != 0)
        goto rollback;
    if (!*found) {
        db_rollback(c);
        return 0;
    }
    num_t id = num(p.id);
    const char *lp[] = { id.s };
    if (grant(c, &p, &bal, err) != 0 || db_exec_cmd(c, &stmts[ST_MARK_GRANTED], lp, err) < 0)
        goto rollback;
    snprintf(order_id, PAY_ORDER_ID_MAX + 1, "%s", p.order_id);
    return db_commit(c, err);
rollback:
    db_rollback(c);
    return -1;
}

int pay_store_claim_stale(db_conn_t *c, const char *cutoff, int64_t min_age_s, int64_t lease_ms,
                          payment_row_t *out, bool *found, err_t *err)
{
    num_t age = num(min_age_s), lease = num(lease_ms);
    const char *pu[] = { cutoff, age.s, lease.s };
    *found = false;
    if (one_row(c, ST_CLAIM_UNKNOWN, pu, out, found, err) != 0)
        return -1;
    if (*found)
        return 0;
    const char *pl[] = { cutoff, lease.s };
    return one_row(c, ST_CLAIM_LEASE, pl, out, found, err);
}
