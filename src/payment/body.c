/* body.c: strict validation of payment input (see body.h). */
#include "payment/body.h"
#include "common/jstrict.h"
#include "common/str.h"

#include <stdio.h>
#include <string.h>

bool payment_order_id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= PAY_ORDER_ID_MIN && n <= PAY_ORDER_ID_MAX && str_charset(s, "-_");
}

bool payment_key_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n >= 1 && n <= PAY_KEY_MAX && str_charset(s, "-_.~");
}

bool payment_upper_token_valid(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

int payment_parse_create(const char *body, size_t len, int64_t max_amount, payment_create_t *out,
                         err_t *err)
{
    static const char *const fields[] = { "orderId",    "userId",  "amount",
                                          "payGateway", "payType", NULL };
    char why[JSTRICT_WHY];
    memset(out, 0, sizeof(*out));
    json_object *o = jstrict_parse(body, len, 8, why, sizeof(why));
    if (o == NULL)
        return err_set(err, ERR_INVALID_PARAMETER, "%s", why);
    int rc = -1;
    const char *oid, *gw, *pt;
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(why, sizeof(why), "the body must be a JSON object");
        goto out;
    }
    if (jstrict_only(o, fields, why, sizeof(why)) != 0 ||
        jstrict_str(o, "orderId", true, false, PAY_ORDER_ID_MAX, &oid, why, sizeof(why)) != 0 ||
        jstrict_i64(o, "userId", false, 1, INT64_MAX, &out->user_id, NULL, why, sizeof(why)) != 0 ||
        jstrict_i64(o, "amount", true, 1, max_amount, &out->amount, NULL, why, sizeof(why)) != 0 ||
        jstrict_str(o, "payGateway", true, false, PAY_GATEWAY_MAX, &gw, why, sizeof(why)) != 0 ||
        jstrict_str(o, "payType", true, false, PAY_TYPE_MAX, &pt, why, sizeof(why)) != 0)
        goto out;
    if (!payment_order_id_valid(oid)) {
        snprintf(why, sizeof(why), "field 'orderId' must be %d..%d characters of A-Z a-z 0-9 - _",
                 PAY_ORDER_ID_MIN, PAY_ORDER_ID_MAX);
        goto out;
    }
    if (!payment_upper_token_valid(gw, PAY_GATEWAY_MAX)) {
        snprintf(why, sizeof(why), "field 'payGateway' is not a known gateway");
        goto out;
    }
    if (!payment_upper_token_valid(pt, PAY_TYPE_MAX)) {
        snprintf(why, sizeof(why), "field 'payType' must be a payment type such as CARD");
        goto out;
    }
    snprintf(out->order_id, sizeof(out->order_id), "%s", oid);
    snprintf(out->gateway, sizeof(out->gateway), "%s", gw);
    snprintf(out->pay_type, sizeof(out->pay_type), "%s", pt);
    rc = 0;
out:
    json_object_put(o);
    if (rc != 0)
        err_set(err, ERR_INVALID_PARAMETER, "%s", why);
    return rc;
}
