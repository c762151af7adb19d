/* err.h: the one error type of the API.
 *
 * An err_t carries the API's errorType, the HTTP status, a message that is
 * safe to show to a client (no SQL, no host names, no secrets) and, for
 * gateway refusals, the gateway's code and message. Functions that can fail
 * take an err_t * and return -1 after filling it (err_set returns -1 so that
 * `return err_set(e, ...)` reads naturally); callers either handle the error
 * or return it, never both. */
#ifndef MA_COMMON_ERR_H
#define MA_COMMON_ERR_H

typedef enum {
    ERR_NONE = 0,
    ERR_NO_RESOURCE,
    ERR_INVALID_PARAMETER,
    ERR_CONFLICT,
    ERR_UNAUTHORIZED,
    ERR_FORBIDDEN,
    ERR_METHOD_NOT_ALLOWED,
    ERR_PAYLOAD_TOO_LARGE,
    ERR_UNSUPPORTED_MEDIA_TYPE,
    ERR_EXTERNAL_API,
    ERR_SERVICE_UNAVAILABLE,
    ERR_UNKNOWN,
    ERR__COUNT
} err_type_t;

typedef struct err {
    err_type_t type;
    int status; /* HTTP status; defaults to the type's */
    char message[256];
    char pg_code[64]; /* gateway error code, "" when none */
    char pg_message[256];
} err_t;

const char *err_type_name(err_type_t t); /* "NO_RESOURCE", ... per API.md */
int err_type_status(err_type_t t);       /* 404, ... */

void err_clear(err_t *e);
int err_set(err_t *e, err_type_t t, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same with an explicit HTTP status (e.g. 504 for a gateway timeout). */
int err_set_status(err_t *e, err_type_t t, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
