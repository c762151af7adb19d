/* adjust.h: the operator's point adjustment body
 *   {"userId": 1, "amount": -500, "reason": "...", "idempotencyKey": "..."}
 * parsed strictly (separate from the module so the unit tests and the fuzz
 * harness reach it without a database). */
#ifndef MA_POINTS_ADJUST_H
#define MA_POINTS_ADJUST_H

#include "common/err.h"

#include <stddef.h>
#include <stdint.h>

#define POINTS_ADJUST_MAX   1000000000000LL /* |amount| limit: 10^12 points */
#define POINTS_REASON_MAX   400             /* bytes of UTF-8 */
#define POINTS_IDEM_KEY_MAX 100

typedef struct points_adjust {
    int64_t user_id;
    int64_t amount; /* non-zero, may be negative */
    char reason[POINTS_REASON_MAX + 1];
    char idempotency_key[POINTS_IDEM_KEY_MAX + 1];
} points_adjust_t;

/* 0, or -1 with err INVALID_PARAMETER naming the problem. */
int points_parse_adjust(const char *body, size_t len, points_adjust_t *out, err_t *err);

/* idempotencyKey: 1..100 characters of [A-Za-z0-9._:-]. */
int points_idempotency_key_valid(const char *key);

#endif
