/* toss.h: the Toss Payments v1 gateway (gateway_toss.c), its configuration
 * and the pieces unit tests and the fuzz harness reach directly: parsing of
 * the gateway's answers and the error-code table (PG_APIS.md §1.6). */
#ifndef MA_PAYMENT_TOSS_H
#define MA_PAYMENT_TOSS_H

#include "payment/gateway.h"
#include "infra/httpc.h"

#include <stddef.h>
#include <stdint.h>

#define TOSS_MAX_RESPONSE (256u * 1024u) /* a Payment object is ~2 KiB; more is broken */

extern const payment_gateway_t gateway_toss;

/* Sets the client's configuration (the module does it from TOSS_* keys
 * after cfg_load; tests call it directly). api_base must be https://, or
 * http:// to a loopback host (the sandbox). The secret key must be printable
 * ASCII without ':' (Basic auth's separator). Returns 0 or -1 with err. */
int toss_configure(const char *api_base, const char *secret_key, int64_t connect_timeout_ms,
                   int64_t timeout_ms, char *err, size_t errlen);

/* A Payment object (§1.4). Unknown fields are ignored; a field this
 * program relies on with the wrong type, a missing one, or text that is not
 * strict JSON makes it malformed: -1 with why. */
int toss_parse_payment(const char *body, size_t len, gw_payment_t *out, char *why, size_t whylen);

/* An error body {"code": "...", "message": "..."}: 0 with code (A-Z0-9_,
 * GW_CODE_MAX) and message (UTF-8 truncated to GW_MESSAGE_MAX), else -1. */
int toss_parse_error(const char *body, size_t len, char code[GW_CODE_MAX],
                     char message[GW_MESSAGE_MAX]);

/* The retry class of an error code; a code not in the table is classed by
 * family (REJECT_*, INVALID_CARD_*, EXCEED_MAX_*, NOT_SUPPORTED_* decline),
 * then by status (5xx, 409, 429 transient; other: ask the gateway first). */
gw_class_t toss_error_class(const char *code, int http_status);

/* One HTTP exchange with the gateway turned into a result (see gateway.h). */
void toss_interpret(const httpc_resp_t *resp, gw_result_t *out);

/* The documented codes with their status and class (docs, tests). */
typedef struct toss_code {
    const char *code;
    int status;
    gw_class_t cls;
} toss_code_t;
extern const toss_code_t toss_codes[];
extern const size_t toss_ncodes;

#endif
