/* gateway.c: the registry of payment gateways (see gateway.h). Adding a
 * gateway is its own file plus one line in payment_gateways[]. */
#include "payment/gateway.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

extern const payment_gateway_t gateway_toss;

const payment_gateway_t *const payment_gateways[] = {
    &gateway_toss,
    NULL,
};

const payment_gateway_t *gateway_by_name(const char *name)
{
    for (const payment_gateway_t *const *g = payment_gateways; name && *g; g++)
        if (strcmp((*g)->name, name) == 0)
            return *g;
    return NULL;
}

const payment_gateway_t *gateway_by_slug(const char *slug)
{
    for (const payment_gateway_t *const *g = payment_gateways; slug && *g; g++)
        if (strcmp((*g)->slug, slug) == 0)
            return *g;
    return NULL;
}

const char *gw_class_name(gw_class_t c)
{
    switch (c) {
    case GW_CLASS_TRANSIENT:
        return "transient";
    case GW_CLASS_OUTCOME_UNKNOWN:
        return "outcome_unknown";
    case GW_CLASS_DECLINE:
        return "decline";
    case GW_CLASS_CONFIG:
        return "config";
    default:
        return "none";
    }
}

static const char *const pay_names[] = {
    [GW_PAY_OTHER] = "OTHER",
    [GW_PAY_READY] = "READY",
    [GW_PAY_IN_PROGRESS] = "IN_PROGRESS",
    [GW_PAY_WAITING_FOR_DEPOSIT] = "WAITING_FOR_DEPOSIT",
    [GW_PAY_DONE] = "DONE",
    [GW_PAY_CANCELED] = "CANCELED",
    [GW_PAY_PARTIAL_CANCELED] = "PARTIAL_CANCELED",
    [GW_PAY_ABORTED] = "ABORTED",
    [GW_PAY_EXPIRED] = "EXPIRED",
};

const char *gw_pay_status_name(gw_pay_status_t s)
{
    return (s >= 0 && (size_t)s < sizeof(pay_names) / sizeof(pay_names[0])) ? pay_names[s]
                                                                            : "OTHER";
}

gw_pay_status_t gw_pay_status_parse(const char *s)
{
    for (size_t i = 1; s && i < sizeof(pay_names) / sizeof(pay_names[0]); i++)
        if (strcmp(pay_names[i], s) == 0)
            return (gw_pay_status_t)i;
    return GW_PAY_OTHER;
}

int gw_check_approval(const gw_payment_t *p, const gw_confirm_t *req, char *why, size_t whylen)
{
    if (p->status != GW_PAY_DONE)
        snprintf(why, whylen, "status %s, not DONE", p->status_text);
    else if (strcmp(p->order_id, req->order_id) != 0)
        snprintf(why, whylen, "the answer is for another orderId");
    else if (strcmp(p->payment_key, req->payment_key) != 0)
        snprintf(why, whylen, "the answer is for another paymentKey");
    else if (p->total_amount != req->amount)
        snprintf(why, whylen, "approved amount %" PRId64 " differs from %" PRId64, p->total_amount,
                 req->amount);
    else if (p->approved_at <= 0)
        snprintf(why, whylen, "the answer has no approval time");
    else
        return 0;
    return -1;
}
