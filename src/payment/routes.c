/* routes.c: the payment routes (API.md "Payments (point top-up)").
 *
 *   POST /api/v1/payments                      create (idempotent per orderId)
 *   GET  /api/v1/payments/{orderId}            current state (poll after 502/504)
 *   POST /api/v1/payments/success/{gateway}    confirm, from the front end
 *   GET  /api/v1/payments/success/{gateway}    the same, as the gateway's
 *                                              successUrl redirect lands
 *   GET  /api/v1/payments/fail/{gateway}       the gateway's failUrl redirect
 *   GET  /internal/v1/payments/{orderId}       current state, for support (admin)
 *
 * Every public route here is a member route (API.md "Members and
 * authorization"): a member token (401 without), the payment's owner only
 * (403 for another member's payment). Create takes the user from the token.
 * The gateway's redirects reach the API through the front end's pages
 * (pay-success.html, pay-fail.html), which carry the member's token.
 *
 * The success route is safe to repeat: a DONE payment answers its recorded
 * result, an in-flight one 409, and the claim (a conditional UPDATE) lets
 * exactly one request per attempt call the gateway. */
#include "payment/payment.h"
#include "auth/auth.h"
#include "points/points.h"
#include "common/crypto.h"
#include "common/ktime.h"
#include "common/log.h"
#include "common/str.h"
#include "http/http.h"
#include "server/srv.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* ---- answers ------------------------------------------------------------ */

static void kst_or_null(jw_t *w, const char *key, int64_t epoch)
{
    jw_key(w, key);
    if (epoch <= 0) {
        jw_null(w);
        return;
    }
    char buf[KTIME_BUFSZ];
    ktime_format_kst(epoch, buf);
    jw_str(w, buf);
}

static void str_or_null(jw_t *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_str_or_null(w, s && *s ? s : NULL);
}

/* PaymentResponse: create's fields plus what happened since. */
static void payment_answer(http_req_t *r, int status, const payment_row_t *p)
{
    const payment_gateway_t *gw = gateway_by_name(p->gateway);
    const char *slug = gw ? gw->slug : "";
    char created[KTIME_BUFSZ];
    ktime_format_kst(p->requested_at, created);
    jw_t *w = http_ok_begin(r, status, NULL);
    jw_obj_begin(w);
    jw_kstr(w, "orderId", p->order_id);
    jw_kint(w, "amount", p->amount);
    jw_kstr(w, "payGateway", p->gateway);
    jw_kstr(w, "payType", p->pay_type);
    jw_kint(w, "userId", p->user_id);
    jw_kstr(w, "status", pay_status_name(p->status));
    jw_kstr(w, "createdAt", created);
    jw_kstr(w, "successUrl",
            arena_printf(r->arena, "%s/success/%s", payment_cfg.public_base_url, slug));
    jw_kstr(w, "failUrl", arena_printf(r->arena, "%s/fail/%s", payment_cfg.public_base_url, slug));
    str_or_null(w, "method", p->method);
    kst_or_null(w, "approvedAt", p->approved_at);
    str_or_null(w, "failCode", p->fail_code);
    str_or_null(w, "failMessage", p->fail_reason);
    jw_obj_end(w);
    http_ok_end(r);
}

/* The success answer of a DONE payment: built only from stored values, so
 * a repeat is byte-for-byte the first answer. */
static void done_answer(http_req_t *r, const payment_row_t *p, int64_t balance_after)
{
    jw_t *w = http_ok_begin(r, 200, NULL);
    jw_obj_begin(w);
    jw_kstr(w, "orderId", p->order_id);
    jw_kint(w, "amount", p->amount);
    str_or_null(w, "method", p->method);
    jw_kstr(w, "status", "DONE");
    kst_or_null(w, "requestedAt", p->requested_at);
    kst_or_null(w, "approvedAt", p->approved_at);
    jw_kint(w, "pointBalance", balance_after);
    jw_obj_end(w);
    http_ok_end(r);
}

/* ---- POST /api/v1/payments ---------------------------------------------- */

/* 0 when member owns p, else answers 403. */
static int owner_only(http_req_t *r, int64_t member, const payment_row_t *p)
{
    err_t e;
    char what[96];
    snprintf(what, sizeof(what), "payment %s", p->order_id);
    if (auth_owner(member, p->user_id, what, &e) == 0)
        return 0;
    http_error(r, &e);
    return -1;
}

static void create(http_req_t *r)
{
    err_t e;
    payment_create_t in;
    db_conn_t *c;
    int64_t member;
    if (auth_member_required(r, &member, &e) != 0 ||
        payment_parse_create(r->body, r->body_len, payment_cfg.max_amount, &in, &e) != 0) {
        http_error(r, &e);
        return;
    }
    /* A member pays for themselves: userId is the token's, when given. */
    if (in.user_id == 0)
        in.user_id = member;
    if (auth_owner(member, in.user_id, "payments for another user", &e) != 0) {
        http_error(r, &e);
        return;
    }
    const payment_gateway_t *gw = gateway_by_name(in.gateway);
    if (gw == NULL) {
        http_fail(r, ERR_INVALID_PARAMETER, "payGateway '%s' is not supported", in.gateway);
        return;
    }
    if (!gw->configured()) {
        http_fail(r, ERR_SERVICE_UNAVAILABLE, "payment gateway %s is not configured", gw->name);
        return;
    }
    if (!gw->pay_type_ok(in.pay_type)) {
        http_fail(r, ERR_INVALID_PARAMETER, "payType '%s' is not supported by %s", in.pay_type,
                  gw->name);
        return;
    }
    bool exists = false, inserted = false;
    payment_row_t p;
    if ((c = db_get(DB_PRIMARY, &e)) == NULL ||
        points_user_exists(c, in.user_id, &exists, &e) != 0) {
        http_error(r, &e);
        return;
    }
    if (!exists) {
        http_fail(r, ERR_NO_RESOURCE, "user %" PRId64 " does not exist", in.user_id);
        return;
    }
    if (pay_store_insert(c, &in, &p, &inserted, &e) != 0) {
        http_error(r, &e);
        return;
    }
    if (inserted) {
        log_info("event=payment_created order_id=%s user_id=%" PRId64 " amount=%" PRId64
                 " gateway=%s",
                 p.order_id, p.user_id, p.amount, p.gateway);
        payment_answer(r, 201, &p);
        return;
    }
    /* The same orderId again: a retry of the same request is answered with
     * the stored payment; anything else is a different payment. */
    if (p.user_id == in.user_id && p.amount == in.amount && strcmp(p.gateway, in.gateway) == 0 &&
        strcmp(p.pay_type, in.pay_type) == 0) {
        payment_answer(r, 200, &p);
        return;
    }
    metrics_add(pm_rejected[1], 1);
    http_fail(r, ERR_CONFLICT, "orderId %s already exists with a different body", in.order_id);
}

/* ---- GET /api/v1/payments/{orderId} ------------------------------------- */

static int path_order_id(http_req_t *r, const char **oid)
{
    *oid = r->nparams > 0 ? r->params[0] : NULL;
    if (!payment_order_id_valid(*oid)) {
        http_fail(r, ERR_INVALID_PARAMETER, "orderId must be %d..%d characters of A-Z a-z 0-9 - _",
                  PAY_ORDER_ID_MIN, PAY_ORDER_ID_MAX);
        return -1;
    }
    return 0;
}

static void payment_read(http_req_t *r, bool admin)
{
    err_t e;
    const char *oid;
    db_conn_t *c;
    payment_row_t p;
    bool found = false;
    int64_t member = 0;
    if (admin ? auth_admin(r, &e) != 0 : auth_member_required(r, &member, &e) != 0) {
        http_error(r, &e);
        return;
    }
    if (path_order_id(r, &oid) != 0)
        return;
    if ((c = db_get(DB_PRIMARY, &e)) == NULL || pay_store_get(c, oid, &p, &found, &e) != 0) {
        http_error(r, &e);
        return;
    }
    if (!found) {
        http_fail(r, ERR_NO_RESOURCE, "payment %s does not exist", oid);
        return;
    }
    if (!admin && owner_only(r, member, &p) != 0)
        return;
    payment_answer(r, 200, &p);
}

static void get_payment(http_req_t *r)
{
    payment_read(r, false);
}

static void admin_get_payment(http_req_t *r)
{
    payment_read(r, true);
}

/* ---- success ------------------------------------------------------------- */

/* Answers a payment nobody may confirm now, from its stored state. */
static void answer_state(http_req_t *r, db_conn_t *c, const payment_row_t *p,
                         const char *payment_key)
{
    err_t e;
    switch (p->status) {
    case PAY_DONE:
        if (strcmp(p->payment_key, payment_key) != 0) {
            metrics_add(pm_rejected[1], 1);
            http_fail(r, ERR_CONFLICT, "payment %s is already DONE with another paymentKey",
                      p->order_id);
            return;
        }
        int64_t bal;
        if (pay_store_grant_balance(c, p, &bal, &e) != 0) {
            http_error(r, &e);
            return;
        }
        done_answer(r, p, bal);
        return;
    case PAY_ABORTED:
    case PAY_EXPIRED:
        metrics_add(pm_rejected[1], 1);
        err_set(&e, ERR_CONFLICT, "payment %s is %s%s%s%s; start a new payment", p->order_id,
                pay_status_name(p->status), p->fail_code[0] ? " (" : "", p->fail_code,
                p->fail_code[0] ? ")" : "");
        http_error(r, &e);
        return;
    case PAY_IN_PROGRESS:
        metrics_add(pm_rejected[3], 1);
        http_fail(r, ERR_CONFLICT,
                  "a confirmation of payment %s is in progress; poll GET /api/v1/payments/%s",
                  p->order_id, p->order_id);
        return;
    case PAY_UNKNOWN:
        metrics_add(pm_rejected[1], 1);
        http_fail(r, ERR_CONFLICT,
                  "payment %s has an attempt with another paymentKey whose outcome is not "
                  "known yet",
                  p->order_id);
        return;
    default:
        http_fail(r, ERR_CONFLICT, "payment %s cannot be confirmed now", p->order_id);
        return;
    }
}

/* A UUIDv4 as the Idempotency-Key of a new confirm attempt. */
static void new_attempt_key(char out[37])
{
    unsigned char b[16];
    crypto_random(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* HEAD is answered by GET routes; a link checker's HEAD must neither
 * confirm nor abort a payment. */
static bool refuse_head(http_req_t *r, const char *allow)
{
    if (r->method != HTTP_HEAD)
        return false;
    http_header(r, "Allow", allow);
    http_fail(r, ERR_METHOD_NOT_ALLOWED, "method HEAD is not allowed here");
    return true;
}

static void success(http_req_t *r)
{
    err_t e;
    const char *pk = NULL, *oid = NULL;
    int64_t amount = 0, member;
    err_clear(&e);
    if (refuse_head(r, "GET, POST"))
        return;
    if (auth_member_required(r, &member, &e) != 0) {
        http_error(r, &e);
        return;
    }
    const payment_gateway_t *gw = r->nparams > 0 ? gateway_by_slug(r->params[0]) : NULL;
    if (gw == NULL) {
        http_fail(r, ERR_NO_RESOURCE, "unknown payment gateway");
        return;
    }
    if (http_param_str(r, "paymentKey", NULL, &pk, &e) != 0 ||
        http_param_str(r, "orderId", NULL, &oid, &e) != 0 ||
        http_param_i64(r, "amount", -1, 1, PAY_AMOUNT_HARD_MAX, &amount, &e) != 0) {
        http_error(r, &e);
        return;
    }
    if (pk == NULL || oid == NULL || amount < 0) {
        http_fail(r, ERR_INVALID_PARAMETER,
                  "parameters paymentKey, orderId and amount are required");
        return;
    }
    if (!payment_key_valid(pk)) {
        http_fail(r, ERR_INVALID_PARAMETER,
                  "parameter 'paymentKey' must be 1..%d characters of A-Z a-z 0-9 - _ . ~",
                  PAY_KEY_MAX);
        return;
    }
    if (!payment_order_id_valid(oid)) {
        http_fail(r, ERR_INVALID_PARAMETER,
                  "parameter 'orderId' must be %d..%d characters of A-Z a-z 0-9 - _",
                  PAY_ORDER_ID_MIN, PAY_ORDER_ID_MAX);
        return;
    }
    db_conn_t *c = db_get(DB_PRIMARY, &e);
    if (c == NULL) {
        http_error(r, &e);
        return;
    }
    /* A lost race means someone else moved the payment: look again and
     * answer from what they did (bounded: every loop saw a new claim). */
    for (int round = 0; round < 3; round++) {
        payment_row_t p, held;
        bool found = false, won = false;
        if (pay_store_get(c, oid, &p, &found, &e) != 0) {
            http_error(r, &e);
            return;
        }
        if (!found) {
            http_fail(r, ERR_NO_RESOURCE, "payment %s does not exist", oid);
            return;
        }
        if (owner_only(r, member, &p) != 0)
            return;
        if (strcmp(p.gateway, gw->name) != 0) {
            http_fail(r, ERR_INVALID_PARAMETER, "payment %s is not a %s payment", oid, gw->name);
            return;
        }
        /* Rule 1: the amount first. A mismatch is tampering (or a bug in the
         * front end): nothing is called, nothing changes. */
        if (amount != p.amount) {
            metrics_add(pm_rejected[0], 1);
            log_warn("event=payment_amount_mismatch order_id=%s stored=%" PRId64 " given=%" PRId64,
                     oid, p.amount, amount);
            http_fail(r, ERR_INVALID_PARAMETER, "amount does not match payment %s", oid);
            return;
        }
        bool retry = p.status == PAY_UNKNOWN || (p.status == PAY_IN_PROGRESS && !p.lease_valid);
        if (p.status != PAY_READY && !retry) {
            answer_state(r, c, &p, pk);
            return;
        }
        if (retry && strcmp(p.payment_key, pk) != 0) {
            answer_state(r, c, &p, pk);
            return;
        }
        /* A new attempt gets a fresh Idempotency-Key; a retry of an attempt
         * whose outcome is unknown reuses its key, so the gateway replays
         * the first answer instead of approving twice. */
        char key[37];
        const char *attempt = p.attempt_key;
        if (!retry || attempt[0] == '\0') {
            new_attempt_key(key);
            attempt = key;
        }
        if (!gw->configured()) {
            http_fail(r, ERR_SERVICE_UNAVAILABLE,
                      "payment gateway %s is not configured; payment %s is unchanged", gw->name,
                      oid);
            return;
        }
        /* Fail fast before anything changes: an OPEN breaker leaves the
         * payment as it was and the buyer may retry within the gateway's
         * 10-minute confirm window (docs/payments.md). */
        breaker_t *br = &srv_shm->breakers[SRV_BREAKER_GATEWAY];
        breaker_ticket_t t;
        if (!breaker_acquire(br, ktime_mono_ms(), &t)) {
            metrics_add(pm_rejected[2], 1);
            http_fail(r, ERR_SERVICE_UNAVAILABLE,
                      "the payment gateway is unavailable; payment %s is unchanged, retry "
                      "shortly",
                      oid);
            return;
        }
        if (pay_store_claim(c, &p, pk, attempt, payment_lease_ms(gw), &held, &won, &e) != 0) {
            breaker_release(br, t, ktime_mono_ms());
            http_error(r, &e);
            return;
        }
        if (!won) {
            breaker_release(br, t, ktime_mono_ms());
            continue;
        }
        int64_t t0 = ktime_mono_ms();
        pay_outcome_t out;
        payment_confirm_held(c, gw, &held, r->arena, &out);
        int64_t t1 = ktime_mono_ms();
        /* The gateway's health: it answered (any refusal included) or not. */
        bool healthy = !(out.err.type == ERR_EXTERNAL_API && out.err.status >= 502);
        breaker_record(br, t, t1, t1 - t0, healthy);
        if (out.status == PAY_DONE) {
            payment_row_t d;
            if (pay_store_get(c, oid, &d, &found, &e) != 0 || !found) {
                http_error(r, &e);
                return;
            }
            done_answer(r, &d, out.balance_after);
            return;
        }
        if (out.status == PAY_INVALID && out.err.type == ERR_NONE) {
            /* Our claim was taken over meanwhile: answer from the state. */
            if (pay_store_get(c, oid, &p, &found, &e) != 0) {
                http_error(r, &e);
                return;
            }
            answer_state(r, c, &p, pk);
            return;
        }
        http_error(r, &out.err);
        return;
    }
    http_fail(r, ERR_CONFLICT, "payment %s is being confirmed concurrently", oid);
}

/* ---- GET /api/v1/payments/fail/{gateway} -------------------------------- */

static void fail_redirect(http_req_t *r)
{
    err_t e;
    const char *code = NULL, *msg = NULL, *oid = NULL;
    int64_t member;
    if (refuse_head(r, "GET"))
        return;
    if (auth_member_required(r, &member, &e) != 0) {
        http_error(r, &e);
        return;
    }
    const payment_gateway_t *gw = r->nparams > 0 ? gateway_by_slug(r->params[0]) : NULL;
    if (gw == NULL) {
        http_fail(r, ERR_NO_RESOURCE, "unknown payment gateway");
        return;
    }
    if (http_param_str(r, "code", NULL, &code, &e) != 0 ||
        http_param_str(r, "message", NULL, &msg, &e) != 0 ||
        http_param_str(r, "orderId", NULL, &oid, &e) != 0) {
        http_error(r, &e);
        return;
    }
    if (code == NULL || !payment_upper_token_valid(code, GW_CODE_MAX - 1)) {
        http_fail(r, ERR_INVALID_PARAMETER,
                  "parameter 'code' is required: up to %d characters of A-Z 0-9 _",
                  GW_CODE_MAX - 1);
        return;
    }
    if (msg && strlen(msg) > 500) {
        http_fail(r, ERR_INVALID_PARAMETER, "parameter 'message' is longer than 500 bytes");
        return;
    }
    if (oid && !payment_order_id_valid(oid)) {
        http_fail(r, ERR_INVALID_PARAMETER,
                  "parameter 'orderId' must be %d..%d characters of A-Z a-z 0-9 - _",
                  PAY_ORDER_ID_MIN, PAY_ORDER_ID_MAX);
        return;
    }
    if (oid) {
        /* Only a READY payment: a redirect cannot undo a confirm in flight
         * or a result already recorded. */
        db_conn_t *c = db_get(DB_PRIMARY, &e);
        bool applied = false, found = false;
        payment_row_t p;
        if (c == NULL || pay_store_get(c, oid, &p, &found, &e) != 0) {
            http_error(r, &e);
            return;
        }
        /* Another member's order: 403, nothing changes. An unknown one
         * changes nothing either and gets the usual answer. */
        if (found && owner_only(r, member, &p) != 0)
            return;
        if (found && pay_store_abort_ready(c, oid, gw->name, code, msg, &applied, &e) != 0) {
            http_error(r, &e);
            return;
        }
        log_info("event=payment_fail_redirect order_id=%s code=%s aborted=%s", oid, code,
                 applied ? "yes" : "no");
    }
    err_set_status(&e, ERR_EXTERNAL_API, 400, "the payment was not completed: %s", code);
    snprintf(e.pg_code, sizeof(e.pg_code), "%s", code);
    snprintf(e.pg_message, sizeof(e.pg_message), "%.255s", msg ? msg : "");
    jw_t *w = http_error_begin(r, &e);
    jw_key(w, "data");
    jw_obj_begin(w);
    jw_kstr(w, "code", code);
    jw_key(w, "message");
    jw_str_or_null(w, msg);
    jw_key(w, "orderId");
    jw_str_or_null(w, oid);
    jw_obj_end(w);
    http_error_end(r);
}

static const http_route_t routes[] = {
    { HTTP_POST, "/api/v1/payments", create, HTTP_ROUTE_JSON_BODY, "payment_create" },
    { HTTP_POST | HTTP_GET, "/api/v1/payments/success/{gateway}", success, 0, "payment_success" },
    { HTTP_GET, "/api/v1/payments/fail/{gateway}", fail_redirect, 0, "payment_fail" },
    { HTTP_GET, "/api/v1/payments/{orderId}", get_payment, 0, "payment_get" },
    { HTTP_GET, "/internal/v1/payments/{orderId}", admin_get_payment, HTTP_ROUTE_ADMIN,
      "payment_get_admin" },
};

int payment_routes_add(void)
{
    return http_router_add(routes, sizeof(routes) / sizeof(routes[0]));
}
