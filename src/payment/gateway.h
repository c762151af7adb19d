/* gateway.h: the payment gateway strategy.
 *
 * A gateway is a struct of function pointers (confirm, lookup by orderId,
 * cancel, and what create needs), chosen by the payment's payGateway. The
 * payment module knows gateways only through this header and the registry
 * in gateway.c: KakaoPay later is one new file (gateway_kakao.c defining
 * `const payment_gateway_t gateway_kakao`) plus one line in that registry.
 *
 * Every call fills a gw_result_t saying precisely what came back, because
 * the state machine must tell three things apart:
 *   GW_ANSWER_PAYMENT  a complete, well-formed payment object
 *   GW_ANSWER_ERROR    a complete, well-formed refusal (code, message, HTTP
 *                      status) with the code's retry class
 *   GW_NO_ANSWER       nothing usable: connect failure, timeout, dropped
 *                      connection, a truncated, malformed or oversized body,
 *                      an error status without a well-formed error body.
 *                      The gateway may or may not have acted: "unknown".
 * Functions are called from request threads and reconciler threads at once;
 * implementations keep no mutable state outside their arguments (the HTTP
 * client's handle is per thread). */
#ifndef MA_PAYMENT_GATEWAY_H
#define MA_PAYMENT_GATEWAY_H

#include "common/arena.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What to do about a refusal (PG_APIS.md §1.6, docs/payments.md). */
typedef enum {
    GW_CLASS_NONE = 0,        /* not a refusal */
    GW_CLASS_TRANSIENT,       /* retry later with the same Idempotency-Key */
    GW_CLASS_OUTCOME_UNKNOWN, /* ask the gateway (lookup by orderId) first */
    GW_CLASS_DECLINE,         /* final: the buyer starts a new payment */
    GW_CLASS_CONFIG,          /* our configuration or a bug: alert, do not retry */
} gw_class_t;

typedef enum { GW_ANSWER_PAYMENT, GW_ANSWER_ERROR, GW_NO_ANSWER } gw_outcome_t;

/* The gateway's view of a payment (Toss §1.5 statuses, mapped). */
typedef enum {
    GW_PAY_OTHER = 0, /* a status this program does not know */
    GW_PAY_READY,
    GW_PAY_IN_PROGRESS,
    GW_PAY_WAITING_FOR_DEPOSIT,
    GW_PAY_DONE,
    GW_PAY_CANCELED,
    GW_PAY_PARTIAL_CANCELED,
    GW_PAY_ABORTED,
    GW_PAY_EXPIRED,
} gw_pay_status_t;

#define GW_CODE_MAX    64
#define GW_MESSAGE_MAX 256
#define GW_METHOD_MAX  48

typedef struct gw_payment {
    char payment_key[201];
    char order_id[65];
    gw_pay_status_t status;
    char status_text[32];
    int64_t total_amount;
    char method[GW_METHOD_MAX]; /* "" when null */
    int64_t requested_at;       /* epoch seconds; 0 when absent */
    int64_t approved_at;        /* epoch seconds; 0 when null */
    char fail_code[GW_CODE_MAX];
    char fail_message[GW_MESSAGE_MAX];
} gw_payment_t;

typedef struct gw_result {
    gw_outcome_t outcome;
    gw_class_t cls;  /* GW_ANSWER_ERROR: the code's class */
    int http_status; /* the gateway's HTTP status, 0 when none came */
    bool timed_out;  /* GW_NO_ANSWER because no answer came in time */
    int64_t elapsed_ms;
    char code[GW_CODE_MAX];       /* error code; for GW_NO_ANSWER a short reason */
    char message[GW_MESSAGE_MAX]; /* error message (UTF-8, truncated) */
    gw_payment_t pay;             /* GW_ANSWER_PAYMENT */
} gw_result_t;

typedef struct gw_confirm {
    const char *payment_key;
    const char *order_id;
    int64_t amount;
    const char *idempotency_key; /* one per payment attempt, reused on retry */
} gw_confirm_t;

typedef struct payment_gateway {
    const char *name; /* payGateway value: "TOSS" */
    const char *slug; /* path segment of /success/{gateway} and /fail/{gateway}: "toss" */
    /* Registers the gateway's configuration keys (before cfg_load). */
    void (*configure)(void);
    /* After cfg_load: checks this gateway's configuration. 0 or -1 + err. */
    int (*init)(char *err, size_t errlen);
    /* The longest one call may take (connect + answer), for claim leases. */
    int64_t (*call_budget_ms)(void);
    /* Whether it can take payments (its secret is set). */
    bool (*configured)(void);
    /* create: whether the gateway takes payType (e.g. "CARD"). */
    bool (*pay_type_ok)(const char *pay_type);
    /* Approves an authenticated payment. */
    void (*confirm)(const gw_confirm_t *req, arena_t *a, gw_result_t *out);
    /* The gateway's record of an order (GET /v1/payments/orders/{orderId}). */
    void (*lookup_order)(const char *order_id, arena_t *a, gw_result_t *out);
    /* Cancels (refunds) amount of an approved payment; amount 0 = all. */
    void (*cancel)(const char *payment_key, const char *reason, int64_t amount,
                   const char *idempotency_key, arena_t *a, gw_result_t *out);
} payment_gateway_t;

/* By payGateway ("TOSS") or by route slug ("toss"); NULL when unknown. */
const payment_gateway_t *gateway_by_name(const char *name);
const payment_gateway_t *gateway_by_slug(const char *slug);
/* The registry, NULL-terminated (for init and docs). */
extern const payment_gateway_t *const payment_gateways[];

/* 0 when p is the approval of exactly what req asked (status DONE, same
 * paymentKey, orderId and amount, an approval time); -1 with why. A confirm
 * answer that fails this is never taken as an approval. */
int gw_check_approval(const gw_payment_t *p, const gw_confirm_t *req, char *why, size_t whylen);

const char *gw_class_name(gw_class_t c);            /* "transient", ... */
const char *gw_pay_status_name(gw_pay_status_t s);  /* "DONE", ... */
gw_pay_status_t gw_pay_status_parse(const char *s); /* GW_PAY_OTHER when unknown */

#endif
