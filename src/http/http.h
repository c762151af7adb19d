/* http.h: the request object, the router and the response writer.
 *
 * nginx speaks HTTP; the worker sees a FastCGI request. fcgi.c turns that
 * into an http_req_t (method, path, decoded query, a few headers, the body),
 * http_dispatch() validates and routes it to a module's handler, and the
 * handler answers with API.md's envelopes through http_ok_* / http_error*.
 * Everything a request allocates lives in r->arena and is freed when the
 * request ends. This layer knows nothing of FastCGI except in fcgi.c, so the
 * router and the envelopes are unit-tested without a socket. */
#ifndef MA_HTTP_HTTP_H
#define MA_HTTP_HTTP_H

#include "common/arena.h"
#include "common/err.h"
#include "common/jw.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    HTTP_GET = 1u << 0,
    HTTP_HEAD = 1u << 1,
    HTTP_POST = 1u << 2,
    HTTP_PUT = 1u << 3,
    HTTP_PATCH = 1u << 4,
    HTTP_DELETE = 1u << 5,
    HTTP_OPTIONS = 1u << 6,
    HTTP_OTHER = 1u << 7,
};

/* Route flags */
#define HTTP_ROUTE_JSON_BODY 0x1u /* a JSON body is expected: 415 otherwise */
#define HTTP_ROUTE_ADMIN     0x2u /* only on the admin listener (404 elsewhere) */

#define HTTP_MAX_PARAMS       4
#define HTTP_REQUEST_ID_MAX   128
#define HTTP_MAX_QUERY_PARAMS 64

typedef struct http_kv {
    const char *key;
    const char *val;
} http_kv_t;

struct http_req;
typedef void (*http_handler_fn)(struct http_req *r);

typedef struct http_route {
    unsigned methods;
    const char *pattern; /* "/api/v1/profiles/{id}": literal and {param} segments */
    http_handler_fn handler;
    unsigned flags;
    const char *name; /* stable label for logs and metrics */
} http_route_t;

typedef struct http_req {
    arena_t *arena;

    /* request */
    unsigned method;
    const char *method_name;
    const char *path;
    const char *query_string;
    http_kv_t *query;
    size_t nquery;
    const char *params[HTTP_MAX_PARAMS]; /* path parameters, in pattern order */
    size_t nparams;
    const char *content_type;
    int64_t content_length;
    const char *authorization;
    const char *request_id;
    const char *remote_addr;
    bool admin; /* arrived on the admin listener */
    const char *body;
    size_t body_len;
    bool body_too_large;
    const char *malformed; /* why the request itself is unreadable (400), set by the reader */
    const http_route_t *route;
    int64_t start_us; /* monotonic */

    /* response */
    int status;
    const char *resp_type;
    jw_t out;     /* response body */
    jw_t headers; /* extra "Name: value\r\n" lines */
    bool responded;

    /* Work to run after the response has been sent (e.g. recording a view):
     * called once by the server after FCGX_Finish_r; arg lives in the arena. */
    void (*after)(void *arg);
    void *after_arg;
} http_req_t;

/* ---- request lifecycle (fcgi.c fills the fields, then these) ---- */

/* Resets r for a new request using arena a. */
void http_req_init(http_req_t *r, arena_t *a);

/* Validates X-Request-Id (1..128 of [A-Za-z0-9._~:+/=-]); returns it or NULL. */
const char *http_request_id_valid(const char *id);
/* A new random request id (32 hex chars) in the arena. */
const char *http_request_id_new(arena_t *a);

/* Routes r and runs the handler; afterwards r has a response (an error
 * envelope if the handler wrote none). Body limits and content types are
 * checked here. */
void http_dispatch(http_req_t *r);

/* ---- query parameters ---- */

/* Parses an application/x-www-form-urlencoded query string: '&'-separated,
 * '+' is a space, %XX decoded; keys and values must decode to valid UTF-8
 * without NUL. Returns 0, or -1 with a client-safe message in err. */
int http_query_parse(arena_t *a, const char *qs, http_kv_t **out, size_t *n, char *err,
                     size_t errlen);

/* A decoded request path the router may see: it starts with '/', is valid
 * UTF-8 and has no control characters (NUL, CR, LF, ... DEL); nginx hands
 * over its decoded $uri and a path like "/a%0Ab" would otherwise reach
 * handlers and logs. Returns 0, or -1 with a client-safe message in err. */
int http_path_check(const char *path, char *err, size_t errlen);

/* The path of a raw request URI ("/a%20b?x=1" -> "/a b"), for a request
 * without DOCUMENT_URI: percent-decoded ('+' stays '+'), and then as
 * http_path_check; a bad escape or %00 is an error. *out is in the arena.
 * Returns 0, or -1 with a client-safe message in err. */
int http_path_decode(arena_t *a, const char *uri, const char **out, char *err, size_t errlen);

/* Percent-decodes s[0..n) into out (which has room for n+1); '+' -> ' ' when
 * plus_space. Returns the decoded length or -1 on a bad escape. */
long http_pct_decode(const char *s, size_t n, char *out, bool plus_space);

/* The value of a query parameter, NULL when absent. A parameter given more
 * than once is an error for the http_param_* helpers (400). */
const char *http_query_get(const http_req_t *r, const char *key, size_t *count);

/* Integer parameter in [min,max]; absent -> def. Returns 0 or -1 with err
 * (INVALID_PARAMETER naming the parameter). */
int http_param_i64(const http_req_t *r, const char *key, int64_t def, int64_t min, int64_t max,
                   int64_t *out, err_t *err);
/* String parameter; absent -> def (may be NULL). -1 with err when repeated. */
int http_param_str(const http_req_t *r, const char *key, const char *def, const char **out,
                   err_t *err);

/* Path parameter i (0-based) as a positive int64 (1..INT64_MAX), else err
 * INVALID_PARAMETER "<what> must be a positive 64-bit integer". */
int http_path_id(const http_req_t *r, size_t i, const char *what, int64_t *out, err_t *err);

/* ---- router ---- */

/* Adds routes (static storage). Returns -1 on a malformed pattern. */
int http_router_add(const http_route_t *routes, size_t n);
void http_router_clear(void);
/* Registered routes, in order (for metrics). */
size_t http_router_count(void);
const http_route_t *http_router_at(size_t i);
/* Position of r in the table, or -1. */
int http_router_index(const http_route_t *r);
/* The route for (path, method) with its parameters; NULL when none. *allow
 * gets the methods of every route whose pattern matches the path (0 when the
 * path matches nothing: 404; non-zero: 405). */
const http_route_t *http_router_match(const char *path, unsigned method, const char **params,
                                      size_t *nparams, unsigned *allow, arena_t *a);
unsigned http_method_parse(const char *s);
const char *http_method_name(unsigned m);

/* ---- responses ---- */

const char *http_status_name(int status);   /* "NOT_FOUND" (the envelope's status) */
const char *http_status_reason(int status); /* "Not Found" (the status line) */

void http_header(http_req_t *r, const char *name, const char *value);

/* Success envelope: {"code":S,"status":"...","message":"...","data": <you write one value>}.
 * message NULL means the status name. Then call http_ok_end. */
jw_t *http_ok_begin(http_req_t *r, int status, const char *message);
void http_ok_end(http_req_t *r);

/* Error envelope per API.md. */
void http_error(http_req_t *r, const err_t *e);
/* The error envelope left open so the caller may add members (e.g. "data");
 * then http_error_end. */
jw_t *http_error_begin(http_req_t *r, const err_t *e);
void http_error_end(http_req_t *r);
/* Shorthand: http_error with a freshly set error. */
void http_fail(http_req_t *r, err_type_t t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A non-JSON response (metrics, status text). body is copied. */
void http_text(http_req_t *r, int status, const char *content_type, const char *body, size_t n);

/* Pagination result: writes {"page","size","totalElements","totalPages",
 * "hasNext","nextCursor","contents":[ then the caller writes the elements and
 * calls http_page_end. */
void http_page_begin(jw_t *w, int64_t page, int64_t size, int64_t total, bool has_next,
                     const char *next_cursor);
void http_page_end(jw_t *w);

/* The whole response as FastCGI stdout bytes ("Status: ...\r\n...\r\n\r\nbody"),
 * built in the arena; HEAD requests get no body. */
const char *http_serialize(http_req_t *r, size_t *len);

#endif
