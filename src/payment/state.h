/* state.h: the payment state machine (API.md "Payments").
 *
 *   READY ──success──> IN_PROGRESS ──approved──> DONE
 *     │                  │  │  └──refused──────> ABORTED
 *     │                  │  └──no answer───────> UNKNOWN ──retry/reconciler──> IN_PROGRESS
 *     ├──fail redirect──> ABORTED                   └──reconciler──> DONE | ABORTED | EXPIRED
 *     └──30 min─────────> EXPIRED
 *
 * The database holds the state; every change is a conditional UPDATE whose
 * WHERE clause names the states this table allows as sources, so two
 * requests can never both make the same move. This table is the reference
 * the code and its unit test check those moves against. */
#ifndef MA_PAYMENT_STATE_H
#define MA_PAYMENT_STATE_H

#include <stdbool.h>

typedef enum {
    PAY_INVALID = -1,
    PAY_READY = 0,
    PAY_IN_PROGRESS,
    PAY_DONE,
    PAY_ABORTED,
    PAY_EXPIRED,
    PAY_UNKNOWN,
    PAY__COUNT
} pay_status_t;

const char *pay_status_name(pay_status_t s);  /* "READY", ...; "INVALID" otherwise */
pay_status_t pay_status_parse(const char *s); /* PAY_INVALID when unknown or NULL */

/* DONE, ABORTED and EXPIRED never change again. */
bool pay_status_final(pay_status_t s);

/* Whether the state machine allows from -> to. IN_PROGRESS -> IN_PROGRESS
 * is the takeover of a claim whose holder's lease ran out. */
bool pay_transition_ok(pay_status_t from, pay_status_t to);

/* The states that may move to `to`, as a PostgreSQL text[] literal
 * ("{IN_PROGRESS,UNKNOWN}") for a conditional UPDATE's guard. */
#define PAY_SOURCES_MAX 96
void pay_sources_literal(pay_status_t to, char out[PAY_SOURCES_MAX]);

#endif
