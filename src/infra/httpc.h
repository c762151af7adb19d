/* httpc.h: outgoing HTTPS calls (payment gateways) with libcurl.
 *
 * One easy handle per thread, reused so that connections to the gateway are
 * kept alive; TLS verification is always on; connect and total timeouts are
 * per call; the response body is capped. The result says precisely what
 * happened on the wire, because a payment must tell "refused" (an answer)
 * from "unknown" (no answer, or a broken one). */
#ifndef MA_INFRA_HTTPC_H
#define MA_INFRA_HTTPC_H

#include "common/arena.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    HTTPC_OK = 0,         /* a complete HTTP response arrived (any status) */
    HTTPC_CONNECT_FAILED, /* never connected: the request was not sent */
    HTTPC_TIMEOUT,        /* sent (maybe), no complete answer in time */
    HTTPC_NETWORK,        /* connection broke after sending, or empty reply */
    HTTPC_TOO_LARGE,      /* the response exceeded the cap */
    HTTPC_TLS,            /* certificate or handshake failure */
    HTTPC_OTHER,
} httpc_result_t;

typedef struct httpc_resp {
    httpc_result_t result;
    long status;
    char *body; /* arena, NUL-terminated; "" when none */
    size_t len;
    int curl_code;
    int64_t elapsed_ms;
} httpc_resp_t;

typedef struct httpc_req {
    const char *method; /* "GET" / "POST" */
    const char *url;
    const char *const *headers; /* NULL-terminated "Name: value" lines */
    const char *body;
    size_t body_len;
    int64_t connect_timeout_ms;
    int64_t timeout_ms;
    size_t max_response; /* bytes; 0 = 1 MiB */
} httpc_req_t;

/* Once per process before threads. */
int httpc_global_init(void);
void httpc_global_cleanup(void);

/* Performs the request on this thread's handle. Always fills out. */
void httpc_perform(const httpc_req_t *req, arena_t *a, httpc_resp_t *out);

const char *httpc_result_name(httpc_result_t r);

void httpc_thread_close(void);

#endif
