/* points.c: the points module: balances and the point ledger.
 *
 *   GET   /api/v1/users/{id}/points                  balance       (member {id})
 *   GET   /api/v1/users/{id}/points/history           ledger, newest first (member {id})
 *   GET   /internal/v1/users/{id}/points             balance, for support (admin)
 *   PATCH /internal/v1/users/points                   operator adjustment (admin)
 *
 * Every query goes to the primary: a balance read right after a top-up must
 * see the top-up, which a lagging replica would not. Every balance change is
 * one transaction that locks the user's row, writes a ledger row carrying the
 * new balance and updates users.point, so the ledger replays the balance. */
#include "points/points.h"
#include "points/adjust.h"
#include "auth/auth.h"
#include "common/ktime.h"
#include "common/log.h"
#include "common/metrics.h"
#include "http/http.h"
#include "server/module.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define HISTORY_PAGE_MAX 100000

enum {
    ST_USER,
    ST_USER_LOCK,
    ST_ADD,
    ST_GRANT_INSERT,
    ST_GRANT_GET,
    ST_HISTORY_COUNT,
    ST_HISTORY,
    ST_ADJ_BY_KEY,
    ST_ADJ_INSERT,
};

static const db_stmt_t stmts[] = {
    [ST_USER] = { "points_user", "SELECT point FROM users WHERE id = $1", 1, DB_RETRY },
    [ST_USER_LOCK] = { "points_user_lock", "SELECT point FROM users WHERE id = $1 FOR UPDATE", 1,
                       0 },
    [ST_ADD] = { "points_add",
                 "UPDATE users SET point = point + $2, updated_at = now() WHERE id = $1 "
                 "RETURNING point",
                 2, 0 },
    /* ON CONFLICT on the unique payment reference: a second grant of one
     * payment inserts nothing and returns no row. */
    [ST_GRANT_INSERT] = { "points_grant_insert",
                          "INSERT INTO point_ledger (user_id, delta, reason, payment_order_id, "
                          "balance_after) VALUES ($1, $2, $3, $4, $5) "
                          "ON CONFLICT (payment_order_id) DO NOTHING RETURNING id",
                          5, 0 },
    [ST_GRANT_GET] = { "points_grant_get",
                       "SELECT balance_after FROM point_ledger WHERE payment_order_id = $1", 1,
                       DB_RETRY },
    [ST_HISTORY_COUNT] = { "points_history_count",
                           "SELECT count(*) FROM point_ledger WHERE user_id = $1", 1, DB_RETRY },
    [ST_HISTORY] = { "points_history",
                     "SELECT id, delta, reason, payment_order_id, "
                     "floor(extract(epoch FROM created_at))::bigint FROM point_ledger "
                     "WHERE user_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3",
                     3, DB_RETRY },
    [ST_ADJ_BY_KEY] = { "points_adj_by_key",
                        "SELECT id, user_id, delta, reason, balance_after, "
                        "floor(extract(epoch FROM created_at))::bigint FROM point_ledger "
                        "WHERE idempotency_key = $1",
                        1, DB_RETRY },
    [ST_ADJ_INSERT] = { "points_adj_insert",
                        "INSERT INTO point_ledger (user_id, delta, reason, idempotency_key, "
                        "balance_after) VALUES ($1, $2, $3, $4, $5) "
                        "RETURNING id, floor(extract(epoch FROM created_at))::bigint",
                        5, 0 },
};

static metrics_id_t m_adjust[4]; /* applied, replayed, below_zero, no_user */
static metrics_id_t m_grants;

/* ---- public interface (points.h) ---------------------------------------- */

int points_user_exists(db_conn_t *c, int64_t user_id, bool *exists, err_t *err)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, user_id);
    const char *p[] = { id };
    PGresult *res = db_exec(c, &stmts[ST_USER], p, err);
    if (res == NULL)
        return -1;
    *exists = PQntuples(res) == 1;
    PQclear(res);
    return 0;
}

int points_payment_grant(db_conn_t *c, const char *order_id, bool *found, int64_t *balance_after,
                         err_t *err)
{
    const char *p[] = { order_id };
    PGresult *res = db_exec(c, &stmts[ST_GRANT_GET], p, err);
    if (res == NULL)
        return -1;
    *found = PQntuples(res) == 1;
    if (*found)
        *balance_after = db_i64(res, 0, 0);
    PQclear(res);
    return 0;
}

/* Locks the user's row; -1 with NO_RESOURCE when there is none. */
static int lock_user(db_conn_t *c, const char *id, int64_t *point, err_t *err)
{
    const char *p[] = { id };
    PGresult *res = db_exec(c, &stmts[ST_USER_LOCK], p, err);
    if (res == NULL)
        return -1;
    bool found = PQntuples(res) == 1;
    if (found)
        *point = db_i64(res, 0, 0);
    PQclear(res);
    return found ? 0 : err_set(err, ERR_NO_RESOURCE, "user %s does not exist", id);
}

int points_grant_payment(db_conn_t *c, int64_t user_id, int64_t amount, const char *order_id,
                         const char *reason, int64_t *balance_after, bool *granted, err_t *err)
{
    char uid[24], amt[24], after[24];
    int64_t point = 0;
    *granted = false;
    snprintf(uid, sizeof(uid), "%" PRId64, user_id);
    snprintf(amt, sizeof(amt), "%" PRId64, amount);
    /* The row lock orders concurrent grants to one member, so the balance
     * written into each ledger row is the balance that grant produced. */
    if (lock_user(c, uid, &point, err) != 0)
        return -1;
    snprintf(after, sizeof(after), "%" PRId64, point + amount);
    const char *ins[] = { uid, amt, reason, order_id, after };
    PGresult *res = db_exec(c, &stmts[ST_GRANT_INSERT], ins, err);
    if (res == NULL)
        return -1;
    bool inserted = PQntuples(res) == 1;
    PQclear(res);
    if (!inserted) {
        bool found = false;
        if (points_payment_grant(c, order_id, &found, balance_after, err) != 0)
            return -1;
        if (!found)
            return err_set(err, ERR_UNKNOWN, "internal error");
        return 0;
    }
    const char *add[] = { uid, amt };
    res = db_exec(c, &stmts[ST_ADD], add, err);
    if (res == NULL)
        return -1;
    *balance_after = db_i64(res, 0, 0);
    PQclear(res);
    *granted = true;
    metrics_add(m_grants, 1);
    return 0;
}

/* ---- GET /api/v1/users/{id}/points -------------------------------------- */

/* The user's balance from the primary; -1 with NO_RESOURCE when absent. */
static int balance(db_conn_t *c, int64_t uid, int64_t *point, err_t *err)
{
    char id[24];
    snprintf(id, sizeof(id), "%" PRId64, uid);
    const char *p[] = { id };
    PGresult *res = db_exec(c, &stmts[ST_USER], p, err);
    if (res == NULL)
        return -1;
    bool found = PQntuples(res) == 1;
    if (found)
        *point = db_i64(res, 0, 0);
    PQclear(res);
    return found ? 0 : err_set(err, ERR_NO_RESOURCE, "user %" PRId64 " does not exist", uid);
}

/* A member route about user {id}: the token (401), the path (400), then
 * ownership (403); existence (404) is the caller's query. */
static int own_user(http_req_t *r, int64_t *uid, err_t *e)
{
    int64_t member;
    if (auth_member_required(r, &member, e) != 0 || http_path_id(r, 0, "user id", uid, e) != 0)
        return -1;
    char what[48];
    snprintf(what, sizeof(what), "user %" PRId64 "'s points", *uid);
    return auth_owner(member, *uid, what, e);
}

static void points_answer(http_req_t *r, bool admin)
{
    err_t e;
    int64_t uid = 0, point = 0;
    db_conn_t *c;
    if ((admin ? (auth_admin(r, &e) != 0 || http_path_id(r, 0, "user id", &uid, &e) != 0)
               : own_user(r, &uid, &e) != 0) ||
        (c = db_get(DB_PRIMARY, &e)) == NULL || balance(c, uid, &point, &e) != 0) {
        http_error(r, &e);
        return;
    }
    jw_t *w = http_ok_begin(r, 200, NULL);
    jw_obj_begin(w);
    jw_kint(w, "userId", uid);
    jw_kint(w, "point", point);
    jw_obj_end(w);
    http_ok_end(r);
}

static void get_points(http_req_t *r)
{
    points_answer(r, false);
}

/* GET /internal/v1/users/{id}/points: the same answer for support staff. */
static void admin_get_points(http_req_t *r)
{
    points_answer(r, true);
}

/* ---- GET /api/v1/users/{id}/points/history ------------------------------ */

static void get_history(http_req_t *r)
{
    err_t e;
    int64_t uid, page, size, point, total;
    db_conn_t *c;
    if (own_user(r, &uid, &e) != 0 ||
        http_param_i64(r, "page", 0, 0, HISTORY_PAGE_MAX, &page, &e) != 0 ||
        http_param_i64(r, "size", 10, 1, 100, &size, &e) != 0 ||
        (c = db_get(DB_PRIMARY, &e)) == NULL || balance(c, uid, &point, &e) != 0) {
        http_error(r, &e);
        return;
    }
    char id[24], lim[24], off[24];
    snprintf(id, sizeof(id), "%" PRId64, uid);
    snprintf(lim, sizeof(lim), "%" PRId64, size);
    snprintf(off, sizeof(off), "%" PRId64, page * size);
    const char *pc[] = { id };
    PGresult *res = db_exec(c, &stmts[ST_HISTORY_COUNT], pc, &e);
    if (res == NULL) {
        http_error(r, &e);
        return;
    }
    total = db_i64(res, 0, 0);
    PQclear(res);
    const char *ph[] = { id, lim, off };
    res = db_exec(c, &stmts[ST_HISTORY], ph, &e);
    if (res == NULL) {
        http_error(r, &e);
        return;
    }
    jw_t *w = http_ok_begin(r, 200, NULL);
    /* Offset paging: the history of one member is short, and new rows land
     * on page 0, so a client reading forward sees at most a shifted row. */
    http_page_begin(w, page, size, total, (page + 1) * size < total, NULL);
    for (int i = 0; i < PQntuples(res); i++) {
        char when[KTIME_BUFSZ];
        ktime_format_kst(db_i64(res, i, 4), when);
        jw_obj_begin(w);
        jw_kint(w, "id", db_i64(res, i, 0));
        jw_kint(w, "delta", db_i64(res, i, 1));
        jw_kstr(w, "reason", db_str(res, i, 2));
        jw_key(w, "paymentOrderId");
        jw_str_or_null(w, db_str(res, i, 3));
        jw_kstr(w, "createdAt", when);
        jw_obj_end(w);
    }
    PQclear(res);
    http_page_end(w);
    http_ok_end(r);
}

/* ---- PATCH /internal/v1/users/points ------------------------------------ */

typedef struct {
    int64_t ledger_id, user_id, delta, balance_after, created_at;
    const char *reason;
} adj_row_t;

static void adjust_answer(http_req_t *r, const adj_row_t *a, const char *key, bool replayed)
{
    char when[KTIME_BUFSZ];
    ktime_format_kst(a->created_at, when);
    if (replayed)
        http_header(r, "Idempotent-Replayed", "true");
    jw_t *w = http_ok_begin(r, 200, NULL);
    jw_obj_begin(w);
    jw_kint(w, "ledgerId", a->ledger_id);
    jw_kint(w, "userId", a->user_id);
    jw_kint(w, "amount", a->delta);
    jw_kint(w, "point", a->balance_after);
    jw_kstr(w, "reason", a->reason);
    jw_kstr(w, "idempotencyKey", key);
    jw_kstr(w, "createdAt", when);
    jw_obj_end(w);
    http_ok_end(r);
}

/* The adjustment recorded under in's key: 1 found and the same request
 * (answered with the first result), 0 none, -1 error. The same key with
 * another user, amount or reason is another adjustment, not a retry: -1 with
 * err CONFLICT (409), like a payment created again with a different body. */
static int replay(http_req_t *r, db_conn_t *c, const points_adjust_t *in, err_t *e)
{
    const char *p[] = { in->idempotency_key };
    PGresult *res = db_exec(c, &stmts[ST_ADJ_BY_KEY], p, e);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    adj_row_t a = {
        .ledger_id = db_i64(res, 0, 0),
        .user_id = db_i64(res, 0, 1),
        .delta = db_i64(res, 0, 2),
        .reason = arena_strdup(r->arena, db_str(res, 0, 3)),
        .balance_after = db_i64(res, 0, 4),
        .created_at = db_i64(res, 0, 5),
    };
    PQclear(res);
    if (a.user_id != in->user_id || a.delta != in->amount || strcmp(a.reason, in->reason) != 0)
        return err_set(e, ERR_CONFLICT,
                       "idempotencyKey %s was already used for another adjustment (a different "
                       "userId, amount or reason); use a new key",
                       in->idempotency_key);
    metrics_add(m_adjust[1], 1);
    adjust_answer(r, &a, in->idempotency_key, true);
    return 1;
}

static void patch_points(http_req_t *r)
{
    err_t e;
    points_adjust_t in;
    db_conn_t *c;
    if (auth_admin(r, &e) != 0 || points_parse_adjust(r->body, r->body_len, &in, &e) != 0 ||
        (c = db_get(DB_PRIMARY, &e)) == NULL) {
        http_error(r, &e);
        return;
    }
    /* A repeated request answers the first result and changes nothing. */
    int rc = replay(r, c, &in, &e);
    if (rc != 0) {
        if (rc < 0)
            http_error(r, &e);
        return;
    }
    char uid[24], amt[24], after[24];
    int64_t point = 0;
    snprintf(uid, sizeof(uid), "%" PRId64, in.user_id);
    snprintf(amt, sizeof(amt), "%" PRId64, in.amount);
    if (db_begin(c, &e) != 0)
        goto fail;
    if (lock_user(c, uid, &point, &e) != 0) {
        if (e.type == ERR_NO_RESOURCE)
            metrics_add(m_adjust[3], 1);
        goto rollback;
    }
    if (point + in.amount < 0) {
        metrics_add(m_adjust[2], 1);
        err_set(&e, ERR_CONFLICT,
                "the balance of user %" PRId64 " is %" PRId64 "; an adjustment of %" PRId64
                " would make it negative",
                in.user_id, point, in.amount);
        goto rollback;
    }
    snprintf(after, sizeof(after), "%" PRId64, point + in.amount);
    const char *ins[] = { uid, amt, in.reason, in.idempotency_key, after };
    PGresult *res = db_exec(c, &stmts[ST_ADJ_INSERT], ins, &e);
    if (res == NULL) {
        bool dup = strcmp(db_sqlstate(c), DB_UNIQUE_VIOLATION) == 0;
        db_rollback(c);
        /* The same key committed by a concurrent request: answer its result. */
        if (dup && replay(r, c, &in, &e) > 0)
            return;
        goto fail;
    }
    adj_row_t a = {
        .ledger_id = db_i64(res, 0, 0),
        .user_id = in.user_id,
        .delta = in.amount,
        .reason = in.reason,
        .balance_after = point + in.amount,
        .created_at = db_i64(res, 0, 1),
    };
    PQclear(res);
    const char *add[] = { uid, amt };
    if ((res = db_exec(c, &stmts[ST_ADD], add, &e)) == NULL)
        goto rollback;
    PQclear(res);
    if (db_commit(c, &e) != 0)
        goto fail;
    metrics_add(m_adjust[0], 1);
    log_info("event=points_adjusted user_id=%" PRId64 " amount=%" PRId64 " balance=%" PRId64
             " ledger_id=%" PRId64 " key=%s",
             in.user_id, in.amount, a.balance_after, a.ledger_id, log_q(in.idempotency_key));
    adjust_answer(r, &a, in.idempotency_key, false);
    return;
rollback:
    db_rollback(c);
fail:
    http_error(r, &e);
}

/* ---- module ------------------------------------------------------------- */

static const http_route_t routes[] = {
    { HTTP_GET, "/api/v1/users/{id}/points", get_points, 0, "points_balance" },
    { HTTP_GET, "/api/v1/users/{id}/points/history", get_history, 0, "points_history" },
    { HTTP_GET, "/internal/v1/users/{id}/points", admin_get_points, HTTP_ROUTE_ADMIN,
      "points_balance_admin" },
    { HTTP_PATCH, "/internal/v1/users/points", patch_points,
      HTTP_ROUTE_JSON_BODY | HTTP_ROUTE_ADMIN, "points_adjust" },
};

static int points_init(char *err, size_t errlen)
{
    db_register(stmts, sizeof(stmts) / sizeof(stmts[0]));
    if (http_router_add(routes, sizeof(routes) / sizeof(routes[0])) != 0) {
        snprintf(err, errlen, "points: bad route");
        return -1;
    }
    static const char *const results[4] = { "result=\"applied\"", "result=\"replayed\"",
                                            "result=\"below_zero\"", "result=\"no_user\"" };
    for (int i = 0; i < 4; i++)
        m_adjust[i] = metrics_register("memberapi_points_adjustments_total", results[i],
                                       METRICS_COUNTER, "Operator point adjustments by result");
    m_grants = metrics_register("memberapi_points_payment_grants_total", "", METRICS_COUNTER,
                                "Points granted for payments (first grant of each payment)");
    return 0;
}

const srv_module_t points_module = {
    .name = "points",
    .init = points_init,
};
