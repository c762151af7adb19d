/* points.h: the points module's public interface.
 *
 * A member's balance (users.point) changes only together with a row of
 * point_ledger, in one transaction, through this module. Another module (the
 * payment module) grants points only through points_grant_payment, inside
 * its own transaction on the primary, so that "payment DONE" and "points
 * granted" commit or roll back together. The ledger's unique
 * payment_order_id is what makes a grant happen at most once per payment. */
#ifndef MA_POINTS_POINTS_H
#define MA_POINTS_POINTS_H

#include "common/err.h"
#include "infra/db.h"

#include <stdbool.h>
#include <stdint.h>

/* Whether user_id exists. Returns 0 with *exists, or -1 with err. */
int points_user_exists(db_conn_t *c, int64_t user_id, bool *exists, err_t *err);

/* Grants amount (> 0) points to user_id for payment order_id, inside the
 * caller's open transaction on c (the primary). The first call for an
 * order_id adds to the balance and writes the ledger row (*granted = true);
 * any later call changes nothing (*granted = false). Either way
 * *balance_after is the balance right after this payment's grant, as
 * recorded in its ledger row. reason is stored in the ledger. Returns 0, or
 * -1 with err, after which the caller must roll back (ERR_NO_RESOURCE when
 * the user does not exist). */
int points_grant_payment(db_conn_t *c, int64_t user_id, int64_t amount, const char *order_id,
                         const char *reason, int64_t *balance_after, bool *granted, err_t *err);

/* The recorded grant of payment order_id: 0 with *found and, when found,
 * *balance_after; -1 with err on a database error. */
int points_payment_grant(db_conn_t *c, const char *order_id, bool *found, int64_t *balance_after,
                         err_t *err);

#endif
