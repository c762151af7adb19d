/* gateway_toss.c: Toss Payments core API v1 (PG_APIS.md §1) as a payment
 * gateway strategy.
 *
 * Every call: Basic auth base64("<secret>:"), Accept-Language: en-US (English
 * messages and enum text such as method "CARD"), JSON bodies, the connect and
 * total timeouts from configuration, TLS verification (httpc), a response cap.
 * POSTs carry an Idempotency-Key the caller chose per payment attempt, so a
 * retry after an unknown outcome gets the first answer replayed rather than
 * a second approval. Answers are parsed strictly (common/jstrict) but only the
 * fields relied on are read; anything malformed, truncated or oversized is
 * GW_NO_ANSWER ("unknown"), never a refusal. */
#include "payment/toss.h"
#include "payment/body.h"
#include "common/config.h"
#include "common/jstrict.h"
#include "common/jw.h"
#include "common/ktime.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ------------------------------------------------------ */

static struct {
    char *api_base_raw, *secret_raw;
    int64_t connect_ms, timeout_ms;
} raw;

static struct {
    char api_base[520];
    char auth_header[400]; /* "Authorization: Basic ..." (a secret: never logged) */
    int64_t connect_ms, timeout_ms;
    bool ready;
} conf;

static const cfg_key_t toss_keys[] = {
    { "TOSS_API_BASE", CFG_STR, &raw.api_base_raw, "https://api.tosspayments.com", 8, 500,
      "the Toss Payments API base URL (https://, or http:// to a loopback sandbox)",
      cfg_check_url },
    { "TOSS_SECRET_KEY", CFG_SECRET, &raw.secret_raw, NULL, 1, 200,
      "the Toss Payments secret key (test_sk_... or live_sk_...)", NULL },
    { "TOSS_CONNECT_TIMEOUT_MS", CFG_INT, &raw.connect_ms, "3000", 100, 30000,
      "connect timeout of gateway calls", NULL },
    /* Below nginx's fastcgi_read_timeout (40 s) so the buyer gets our answer,
     * not nginx's; a timeout costs no money (UNKNOWN, then reconciled). */
    { "TOSS_TIMEOUT_MS", CFG_INT, &raw.timeout_ms, "15000", 500, 35000,
      "total timeout of one gateway call (connect included)", NULL },
};

static void toss_register(void)
{
    static const char *const secret_valued[] = { "TOSS_API_BASE" }; /* user:password@ */
    cfg_register(toss_keys, sizeof(toss_keys) / sizeof(toss_keys[0]));
    cfg_flag(secret_valued, 1, CFG_F_SECRET_VALUE);
    /* toss_init configures the client once, at start */
    static const char *const restart_only[] = { "TOSS_API_BASE", "TOSS_SECRET_KEY",
                                                "TOSS_CONNECT_TIMEOUT_MS", "TOSS_TIMEOUT_MS" };
    cfg_flag(restart_only, 4, CFG_F_RESTART);
}

/* The host of "host[:port][/...]" is localhost, [::1] or 127.x.y.z. */
static bool loopback_host(const char *after_scheme)
{
    char host[256];
    size_t n = strcspn(after_scheme, "/?#");
    if (n >= sizeof(host))
        return false;
    memcpy(host, after_scheme, n);
    host[n] = '\0';
    if (strncmp(host, "[::1]", 5) == 0)
        return host[5] == '\0' || host[5] == ':';
    char *colon = strchr(host, ':');
    if (colon)
        *colon = '\0';
    if (strcmp(host, "localhost") == 0)
        return true;
    unsigned a, b, c, d;
    char tail;
    return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
           c < 256 && d < 256 && strspn(host, "0123456789.") == strlen(host);
}

int toss_configure(const char *api_base, const char *secret_key, int64_t connect_timeout_ms,
                   int64_t timeout_ms, char *err, size_t errlen)
{
    conf.ready = false;
    if (api_base == NULL || cfg_check_url(api_base, err, errlen) != 0) {
        if (api_base == NULL)
            snprintf(err, errlen, "TOSS_API_BASE: missing");
        return -1;
    }
    size_t n = strlen(api_base);
    while (n > 0 && api_base[n - 1] == '/')
        n--;
    if (n >= sizeof(conf.api_base)) {
        snprintf(err, errlen, "TOSS_API_BASE: too long");
        return -1;
    }
    /* The secret key crosses the wire in every call: a live key only over
     * TLS. Plain http:// is for a sandbox: on this machine, or reached with
     * a test key (a container or network namespace named "sandbox"). */
    bool test_key = secret_key && strncmp(secret_key, "test_", 5) == 0;
    if (str_ci_prefix(api_base, "http://") && !loopback_host(api_base + 7) && !test_key) {
        snprintf(err, errlen,
                 "TOSS_API_BASE: plain http:// is only allowed to a loopback host or with a "
                 "test_ key");
        return -1;
    }
    memcpy(conf.api_base, api_base, n);
    conf.api_base[n] = '\0';
    if (secret_key == NULL || *secret_key == '\0') {
        snprintf(err, errlen, "TOSS_SECRET_KEY: missing (or TOSS_SECRET_KEY_FILE)");
        return -1;
    }
    size_t kn = strlen(secret_key);
    for (size_t i = 0; i < kn; i++) {
        if (secret_key[i] <= 0x20 || secret_key[i] >= 0x7f || secret_key[i] == ':') {
            snprintf(err, errlen, "TOSS_SECRET_KEY: expected printable ASCII without ':'");
            return -1;
        }
    }
    if (kn > 200) {
        snprintf(err, errlen, "TOSS_SECRET_KEY: longer than 200 characters");
        return -1;
    }
    /* base64("<secret>:"): the key is the user name, the password is empty
     * and the colon is mandatory (INCORRECT_BASIC_AUTH_FORMAT otherwise). */
    unsigned char cred[204];
    memcpy(cred, secret_key, kn);
    cred[kn] = ':';
    unsigned char b64[300];
    int bn = EVP_EncodeBlock(b64, cred, (int)kn + 1);
    snprintf(conf.auth_header, sizeof(conf.auth_header), "Authorization: Basic %.*s", bn,
             (const char *)b64);
    memset(cred, 0, sizeof(cred));
    if (connect_timeout_ms <= 0 || timeout_ms <= 0 || connect_timeout_ms > timeout_ms) {
        snprintf(err, errlen,
                 "TOSS_CONNECT_TIMEOUT_MS must be positive and at most TOSS_TIMEOUT_MS");
        return -1;
    }
    conf.connect_ms = connect_timeout_ms;
    conf.timeout_ms = timeout_ms;
    conf.ready = true;
    return 0;
}

static int toss_init(char *err, size_t errlen)
{
    if (raw.secret_raw == NULL || raw.secret_raw[0] == '\0') {
        /* Like a missing ADMIN_TOKEN: the server starts (other modules, and
         * `check-config` with an empty environment, work), but this gateway
         * takes no payment; its routes answer 503 and change nothing. The
         * other keys must still be valid. */
        if (toss_configure(raw.api_base_raw, "test_unconfigured", raw.connect_ms, raw.timeout_ms,
                           err, errlen) != 0)
            return -1;
        conf.ready = false;
        memset(conf.auth_header, 0, sizeof(conf.auth_header));
        log_warn("event=gateway_not_configured gateway=TOSS key=TOSS_SECRET_KEY: payments through "
                 "TOSS answer 503 until it is set");
        return 0;
    }
    return toss_configure(raw.api_base_raw, raw.secret_raw, raw.connect_ms, raw.timeout_ms, err,
                          errlen);
}

static bool toss_configured(void)
{
    return conf.ready;
}

static int64_t toss_budget_ms(void)
{
    return conf.timeout_ms;
}

/* ---- error codes (PG_APIS.md §1.6) -------------------------------------- */

#define T GW_CLASS_TRANSIENT
#define U GW_CLASS_OUTCOME_UNKNOWN
#define D GW_CLASS_DECLINE
#define C GW_CLASS_CONFIG

const toss_code_t toss_codes[] = {
    /* confirm, 400 */
    { "ALREADY_PROCESSED_PAYMENT", 400, U },
    { "PROVIDER_ERROR", 400, T },
    { "EXCEED_MAX_CARD_INSTALLMENT_PLAN", 400, D },
    { "INVALID_REQUEST", 400, C },
    { "INVALID_API_KEY", 400, C },
    { "NOT_ALLOWED_POINT_USE", 400, D },
    { "INVALID_REJECT_CARD", 400, D },
    { "BELOW_MINIMUM_AMOUNT", 400, D },
    { "INVALID_CARD_EXPIRATION", 400, D },
    { "INVALID_STOPPED_CARD", 400, D },
    { "INVALID_CARD_NUMBER", 400, D },
    { "INVALID_CARD_LOST_OR_STOLEN", 400, D },
    { "INVALID_CARD_INSTALLMENT_PLAN", 400, D },
    { "EXCEED_MAX_DAILY_PAYMENT_COUNT", 400, D },
    { "EXCEED_MAX_PAYMENT_AMOUNT", 400, D },
    { "EXCEED_MAX_AMOUNT", 400, D },
    { "NOT_SUPPORTED_INSTALLMENT_PLAN_CARD_OR_MERCHANT", 400, D },
    { "NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN", 400, D },
    { "NOT_SUPPORTED_METHOD", 400, D },
    { "NOT_SUPPORTED_CARD_TYPE", 400, D },
    { "INVALID_AUTHORIZE_AUTH", 400, D },
    { "UNAPPROVED_ORDER_ID", 400, D },
    { "CARD_PROCESSING_ERROR", 400, D },
    { "NOT_FOUND_TERMINAL_ID", 400, C },
    /* The order already has an approved payment at the gateway: whether it
     * is this one is a question for GET /orders/{orderId} (docs/payments.md:
     * a deviation from the fact sheet's "config" class, so a paid order is
     * never left unpaid). */
    { "DUPLICATED_ORDER_ID", 400, U },
    { "INVALID_ORDER_ID", 400, C },
    { "INVALID_IDEMPOTENCY_KEY", 400, C },
    { "INCORRECT_BASIC_AUTH_FORMAT", 400, C },
    { "PAY_PROCESS_CANCELED", 400, D },
    { "PAY_PROCESS_ABORTED", 400, D },
    /* 401 */
    { "UNAUTHORIZED_KEY", 401, C },
    /* 403 */
    { "REJECT_CARD_PAYMENT", 403, D },
    { "REJECT_CARD_COMPANY", 403, D },
    { "REJECT_ACCOUNT_PAYMENT", 403, D },
    { "FORBIDDEN_REQUEST", 403, C },
    { "EXCEED_MAX_AUTH_COUNT", 403, D },
    { "EXCEED_MAX_ONE_DAY_AMOUNT", 403, D },
    { "NOT_AVAILABLE_BANK", 403, D },
    { "INVALID_PASSWORD", 403, D },
    { "FDS_ERROR", 403, D },
    /* 404 */
    { "NOT_FOUND_PAYMENT", 404, D },
    { "NOT_FOUND_PAYMENT_SESSION", 404, D },
    { "NOT_FOUND", 404, C },
    /* 405, 409 */
    { "METHOD_NOT_ALLOWED", 405, C },
    { "IDEMPOTENT_REQUEST_PROCESSING", 409, T },
    /* 500 */
    { "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", 500, T },
    { "FAILED_INTERNAL_SYSTEM_PROCESSING", 500, T },
    { "UNKNOWN_PAYMENT_ERROR", 500, U },
    { "COMMON_ERROR", 500, T },
    { "UNKNOWN_ERROR", 500, T },
    /* cancel */
    { "ALREADY_CANCELED_PAYMENT", 400, D },
    { "REFUND_REJECTED", 400, D },
    { "NOT_CANCELABLE_AMOUNT", 403, D },
    { "NOT_CANCELABLE_PAYMENT", 403, D },
    { "FORBIDDEN_CONSECUTIVE_REQUEST", 403, T },
    { "EXCEED_MAX_REFUND_DUE", 403, D },
    { "FAILED_REFUND_PROCESS", 500, T },
};
const size_t toss_ncodes = sizeof(toss_codes) / sizeof(toss_codes[0]);

#undef T
#undef U
#undef D
#undef C

gw_class_t toss_error_class(const char *code, int http_status)
{
    static const char *const decline_families[] = { "REJECT_", "INVALID_CARD_", "EXCEED_MAX_",
                                                    "NOT_SUPPORTED_", NULL };
    for (size_t i = 0; code && i < toss_ncodes; i++)
        if (strcmp(toss_codes[i].code, code) == 0)
            return toss_codes[i].cls;
    for (int i = 0; code && decline_families[i]; i++)
        if (strncmp(code, decline_families[i], strlen(decline_families[i])) == 0)
            return GW_CLASS_DECLINE;
    /* Branch on the code, not the status, but an unknown code still says
     * something through its status: a server error or "busy" is worth a
     * retry; any other unknown refusal is checked with the gateway before
     * the payment is called failed. */
    if (http_status >= 500 || http_status == 409 || http_status == 429)
        return GW_CLASS_TRANSIENT;
    return GW_CLASS_OUTCOME_UNKNOWN;
}

/* ---- parsing ------------------------------------------------------------ */

/* Copies at most cap-1 bytes of UTF-8 src without cutting a character. */
static void copy_utf8(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* A Toss "number": an integer, or a double with an integral value in range. */
static int get_amount(json_object *o, const char *key, int64_t *out)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || v == NULL)
        return -1;
    if (json_object_is_type(v, json_type_int)) {
        *out = json_object_get_int64(v);
        return *out >= 0 ? 0 : -1;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (!isfinite(d) || d < 0 || d > 1e15 || floor(d) != d)
            return -1;
        *out = (int64_t)d;
        return 0;
    }
    return -1;
}

/* A timestamp member: string ISO-8601 -> epoch, null/absent -> 0. */
static int get_time(json_object *o, const char *key, bool required, int64_t *out, char *why,
                    size_t whylen)
{
    const char *s;
    *out = 0;
    if (jstrict_str(o, key, required, true, 64, &s, why, whylen) != 0)
        return -1;
    if (s && ktime_parse_iso8601(s, out) != 0) {
        snprintf(why, whylen, "field '%s' is not an ISO-8601 time", key);
        return -1;
    }
    return 0;
}

int toss_parse_payment(const char *body, size_t len, gw_payment_t *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof(*out));
    json_object *o = jstrict_parse(body, len, 16, why, whylen);
    if (o == NULL)
        return -1;
    int rc = -1;
    const char *pk, *oid, *st, *method;
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(why, whylen, "the answer is not a JSON object");
        goto out;
    }
    if (jstrict_str(o, "paymentKey", true, false, 200, &pk, why, whylen) != 0 ||
        jstrict_str(o, "orderId", true, false, PAY_ORDER_ID_MAX, &oid, why, whylen) != 0 ||
        jstrict_str(o, "status", true, false, 31, &st, why, whylen) != 0 ||
        jstrict_str(o, "method", false, true, GW_METHOD_MAX - 1, &method, why, whylen) != 0 ||
        get_time(o, "requestedAt", false, &out->requested_at, why, whylen) != 0 ||
        get_time(o, "approvedAt", false, &out->approved_at, why, whylen) != 0)
        goto out;
    if (get_amount(o, "totalAmount", &out->total_amount) != 0) {
        snprintf(why, whylen, "field 'totalAmount' must be a non-negative whole number");
        goto out;
    }
    if (!payment_key_valid(pk) || !payment_order_id_valid(oid)) {
        snprintf(why, whylen, "paymentKey or orderId has an unexpected form");
        goto out;
    }
    snprintf(out->payment_key, sizeof(out->payment_key), "%s", pk);
    snprintf(out->order_id, sizeof(out->order_id), "%s", oid);
    snprintf(out->status_text, sizeof(out->status_text), "%s", st);
    out->status = gw_pay_status_parse(st);
    if (method)
        copy_utf8(out->method, sizeof(out->method), method);
    /* failure: null or {"code","message"} (set on ABORTED/EXPIRED) */
    json_object *f;
    if (json_object_object_get_ex(o, "failure", &f) && f != NULL) {
        const char *code, *msg;
        if (!json_object_is_type(f, json_type_object) ||
            jstrict_str(f, "code", true, false, 200, &code, why, whylen) != 0 ||
            jstrict_str(f, "message", false, true, 4096, &msg, why, whylen) != 0) {
            snprintf(why, whylen, "field 'failure' is malformed");
            goto out;
        }
        copy_utf8(out->fail_code, sizeof(out->fail_code), code);
        copy_utf8(out->fail_message, sizeof(out->fail_message), msg ? msg : "");
    }
    rc = 0;
out:
    json_object_put(o);
    return rc;
}

int toss_parse_error(const char *body, size_t len, char code[GW_CODE_MAX],
                     char message[GW_MESSAGE_MAX])
{
    char why[JSTRICT_WHY];
    code[0] = message[0] = '\0';
    json_object *o = jstrict_parse(body, len, 8, why, sizeof(why));
    if (o == NULL)
        return -1;
    int rc = -1;
    const char *c, *m;
    if (json_object_is_type(o, json_type_object) &&
        jstrict_str(o, "code", true, false, GW_CODE_MAX - 1, &c, why, sizeof(why)) == 0 &&
        jstrict_str(o, "message", false, true, 4096, &m, why, sizeof(why)) == 0 &&
        payment_upper_token_valid(c, GW_CODE_MAX - 1)) {
        snprintf(code, GW_CODE_MAX, "%s", c);
        copy_utf8(message, GW_MESSAGE_MAX, m ? m : "");
        rc = 0;
    }
    json_object_put(o);
    return rc;
}

static void no_answer(gw_result_t *out, const char *code, const char *msg)
{
    out->outcome = GW_NO_ANSWER;
    out->cls = GW_CLASS_NONE;
    snprintf(out->code, sizeof(out->code), "%s", code);
    snprintf(out->message, sizeof(out->message), "%s", msg);
}

void toss_interpret(const httpc_resp_t *resp, gw_result_t *out)
{
    memset(out, 0, sizeof(*out));
    out->elapsed_ms = resp->elapsed_ms;
    if (resp->result != HTTPC_OK) {
        char code[32];
        const char *n = httpc_result_name(resp->result);
        size_t i = 0;
        for (; n[i] && i < sizeof(code) - 1; i++)
            code[i] = (char)toupper((unsigned char)n[i]);
        code[i] = '\0';
        out->timed_out = resp->result == HTTPC_TIMEOUT;
        no_answer(out, code,
                  out->timed_out ? "the payment gateway did not answer in time"
                                 : "the payment gateway's answer was lost");
        return;
    }
    out->http_status = (int)resp->status;
    char why[JSTRICT_WHY];
    if (resp->status == 200) {
        if (toss_parse_payment(resp->body, resp->len, &out->pay, why, sizeof(why)) == 0) {
            out->outcome = GW_ANSWER_PAYMENT;
            return;
        }
        log_warn("event=gateway_malformed_answer gateway=toss status=200 len=%zu why=%s", resp->len,
                 log_q(why));
        no_answer(out, "MALFORMED_ANSWER", "the payment gateway's answer was malformed");
        return;
    }
    if (resp->status >= 400 && resp->status <= 599 &&
        toss_parse_error(resp->body, resp->len, out->code, out->message) == 0) {
        out->outcome = GW_ANSWER_ERROR;
        out->cls = toss_error_class(out->code, out->http_status);
        return;
    }
    /* An error status without Toss's error body (a proxy's page, a cut
     * body) or a status Toss never sends: nothing can be concluded. */
    no_answer(out, resp->status >= 500 ? "GATEWAY_SERVER_ERROR" : "UNEXPECTED_ANSWER",
              "the payment gateway's answer was not understood");
}

/* ---- calls ---------------------------------------------------------------- */

static void call(const char *method, const char *url, const char *body, size_t body_len,
                 const char *idem_key, arena_t *a, gw_result_t *out)
{
    if (!conf.ready) {
        memset(out, 0, sizeof(*out));
        out->outcome = GW_ANSWER_ERROR;
        out->cls = GW_CLASS_CONFIG;
        snprintf(out->code, sizeof(out->code), "CLIENT_NOT_CONFIGURED");
        snprintf(out->message, sizeof(out->message), "the Toss client is not configured");
        return;
    }
    const char *hdrs[6];
    int nh = 0;
    hdrs[nh++] = conf.auth_header;
    hdrs[nh++] = "Accept: application/json";
    hdrs[nh++] = "Accept-Language: en-US";
    if (body)
        hdrs[nh++] = "Content-Type: application/json";
    if (idem_key)
        hdrs[nh++] = arena_printf(a, "Idempotency-Key: %s", idem_key);
    hdrs[nh] = NULL;
    httpc_req_t req = {
        .method = method,
        .url = url,
        .headers = hdrs,
        .body = body,
        .body_len = body_len,
        .connect_timeout_ms = conf.connect_ms,
        .timeout_ms = conf.timeout_ms,
        .max_response = TOSS_MAX_RESPONSE,
    };
    httpc_resp_t resp;
    httpc_perform(&req, a, &resp);
    toss_interpret(&resp, out);
}

/* Our own inputs are checked again before they go into a URL or a body. */
static bool refuse_input(gw_result_t *out, bool ok)
{
    if (ok)
        return false;
    memset(out, 0, sizeof(*out));
    out->outcome = GW_ANSWER_ERROR;
    out->cls = GW_CLASS_CONFIG;
    snprintf(out->code, sizeof(out->code), "CLIENT_INVALID_INPUT");
    snprintf(out->message, sizeof(out->message), "refused to send an invalid request");
    return true;
}

static void toss_confirm(const gw_confirm_t *rq, arena_t *a, gw_result_t *out)
{
    if (refuse_input(out, payment_key_valid(rq->payment_key) &&
                              payment_order_id_valid(rq->order_id) && rq->amount > 0 &&
                              rq->idempotency_key && *rq->idempotency_key &&
                              strlen(rq->idempotency_key) <= 300))
        return;
    jw_t w;
    jw_init(&w, a, 512);
    jw_obj_begin(&w);
    jw_kstr(&w, "paymentKey", rq->payment_key);
    jw_kstr(&w, "orderId", rq->order_id);
    jw_kint(&w, "amount", rq->amount);
    jw_obj_end(&w);
    char *url = arena_printf(a, "%s/v1/payments/confirm", conf.api_base);
    call("POST", url, w.buf, w.len, rq->idempotency_key, a, out);
}

static void toss_lookup_order(const char *order_id, arena_t *a, gw_result_t *out)
{
    if (refuse_input(out, payment_order_id_valid(order_id)))
        return;
    /* The orderId charset needs no escaping in a path segment. */
    char *url = arena_printf(a, "%s/v1/payments/orders/%s", conf.api_base, order_id);
    call("GET", url, NULL, 0, NULL, a, out);
}

static void toss_cancel(const char *payment_key, const char *reason, int64_t amount,
                        const char *idem_key, arena_t *a, gw_result_t *out)
{
    if (refuse_input(out, payment_key_valid(payment_key) && reason && *reason &&
                              strlen(reason) <= 200 && str_utf8_valid(reason, strlen(reason)) &&
                              amount >= 0 && idem_key && *idem_key && strlen(idem_key) <= 300))
        return;
    jw_t w;
    jw_init(&w, a, 512);
    jw_obj_begin(&w);
    jw_kstr(&w, "cancelReason", reason);
    if (amount > 0)
        jw_kint(&w, "cancelAmount", amount);
    jw_obj_end(&w);
    char *url = arena_printf(a, "%s/v1/payments/%s/cancel", conf.api_base, payment_key);
    call("POST", url, w.buf, w.len, idem_key, a, out);
}

/* Payment types whose approval is immediate (DONE at confirm). A virtual
 * account waits for a deposit (WAITING_FOR_DEPOSIT), which this service
 * does not take: points are granted on DONE only. */
static bool toss_pay_type_ok(const char *t)
{
    static const char *const ok[] = { "CARD", "EASY_PAY", "TRANSFER", "MOBILE_PHONE", NULL };
    for (int i = 0; ok[i]; i++)
        if (strcmp(ok[i], t) == 0)
            return true;
    return false;
}

const payment_gateway_t gateway_toss = {
    .name = "TOSS",
    .slug = "toss",
    .configure = toss_register,
    .init = toss_init,
    .call_budget_ms = toss_budget_ms,
    .configured = toss_configured,
    .pay_type_ok = toss_pay_type_ok,
    .confirm = toss_confirm,
    .lookup_order = toss_lookup_order,
    .cancel = toss_cancel,
};
