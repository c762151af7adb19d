/* body.h: validation of what clients send to the payment routes: the create
 * body, order ids, payment keys, amounts. Pure functions (no database, no
 * gateway) so unit tests and the fuzz harness exercise them directly. */
#ifndef MA_PAYMENT_BODY_H
#define MA_PAYMENT_BODY_H

#include "common/err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PAY_ORDER_ID_MIN    6
#define PAY_ORDER_ID_MAX    64
#define PAY_KEY_MAX         200 /* Toss: paymentKey is at most 200 characters */
#define PAY_GATEWAY_MAX     16
#define PAY_TYPE_MAX        32
#define PAY_AMOUNT_HARD_MAX 1000000000000LL /* ceiling of PAYMENT_MAX_AMOUNT */

/* POST /api/v1/payments */
typedef struct payment_create {
    char order_id[PAY_ORDER_ID_MAX + 1];
    int64_t user_id;
    int64_t amount;
    char gateway[PAY_GATEWAY_MAX + 1]; /* payGateway, e.g. "TOSS" (not yet looked up) */
    char pay_type[PAY_TYPE_MAX + 1];   /* payType, e.g. "CARD" */
} payment_create_t;

/* Parses the create body strictly: a JSON object with exactly orderId
 * (string), userId (integer >= 1), amount (integer 1..max_amount), payGateway
 * and payType (strings of A-Z, 0-9, _). Returns 0, or -1 with err
 * INVALID_PARAMETER naming the field. */
int payment_parse_create(const char *body, size_t len, int64_t max_amount, payment_create_t *out,
                         err_t *err);

/* 6..64 characters of A-Z a-z 0-9 - _ (the gateway's rule). */
bool payment_order_id_valid(const char *s);
/* 1..200 characters of A-Z a-z 0-9 - _ . ~ (URL-safe, as the gateway mints). */
bool payment_key_valid(const char *s);
/* 1..max characters of A-Z 0-9 _ (payGateway, payType, gateway error codes). */
bool payment_upper_token_valid(const char *s, size_t max);

#endif
