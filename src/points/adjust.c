/* adjust.c: strict parsing of the operator's adjustment body (see adjust.h). */
#include "points/adjust.h"
#include "common/jstrict.h"
#include "common/str.h"

#include <stdio.h>
#include <string.h>

int points_idempotency_key_valid(const char *key)
{
    size_t n = strlen(key);
    return n >= 1 && n <= POINTS_IDEM_KEY_MAX && str_charset(key, "._:-");
}

int points_parse_adjust(const char *body, size_t len, points_adjust_t *out, err_t *err)
{
    static const char *const fields[] = { "userId", "amount", "reason", "idempotencyKey", NULL };
    char why[JSTRICT_WHY];
    memset(out, 0, sizeof(*out));
    json_object *o = jstrict_parse(body, len, 8, why, sizeof(why));
    if (o == NULL)
        return err_set(err, ERR_INVALID_PARAMETER, "%s", why);
    int rc = -1;
    const char *reason, *key;
    if (!json_object_is_type(o, json_type_object)) {
        snprintf(why, sizeof(why), "the body must be a JSON object");
        goto out;
    }
    if (jstrict_only(o, fields, why, sizeof(why)) != 0 ||
        jstrict_i64(o, "userId", true, 1, INT64_MAX, &out->user_id, NULL, why, sizeof(why)) != 0 ||
        jstrict_i64(o, "amount", true, -POINTS_ADJUST_MAX, POINTS_ADJUST_MAX, &out->amount, NULL,
                    why, sizeof(why)) != 0 ||
        jstrict_str(o, "reason", true, false, POINTS_REASON_MAX, &reason, why, sizeof(why)) != 0 ||
        jstrict_str(o, "idempotencyKey", true, false, POINTS_IDEM_KEY_MAX, &key, why,
                    sizeof(why)) != 0)
        goto out;
    if (out->amount == 0) {
        snprintf(why, sizeof(why), "field 'amount' must not be 0");
        goto out;
    }
    if (strspn(reason, " \t\r\n") == strlen(reason)) {
        snprintf(why, sizeof(why), "field 'reason' must not be blank");
        goto out;
    }
    if (!points_idempotency_key_valid(key)) {
        snprintf(why, sizeof(why),
                 "field 'idempotencyKey' must be 1..%d characters of A-Z a-z 0-9 . _ : -",
                 POINTS_IDEM_KEY_MAX);
        goto out;
    }
    snprintf(out->reason, sizeof(out->reason), "%s", reason);
    snprintf(out->idempotency_key, sizeof(out->idempotency_key), "%s", key);
    rc = 0;
out:
    json_object_put(o);
    if (rc != 0)
        err_set(err, ERR_INVALID_PARAMETER, "%s", why);
    return rc;
}
