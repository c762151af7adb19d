/* response.c: API.md's envelopes and the FastCGI response bytes (see http.h). */
#include "http/http.h"
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int code;
    const char *name;   /* envelope "status" (Spring's HttpStatus names) */
    const char *reason; /* status line */
} statuses[] = {
    { 200, "OK", "OK" },
    { 201, "CREATED", "Created" },
    { 202, "ACCEPTED", "Accepted" },
    { 204, "NO_CONTENT", "No Content" },
    { 400, "BAD_REQUEST", "Bad Request" },
    { 401, "UNAUTHORIZED", "Unauthorized" },
    { 403, "FORBIDDEN", "Forbidden" },
    { 404, "NOT_FOUND", "Not Found" },
    { 405, "METHOD_NOT_ALLOWED", "Method Not Allowed" },
    { 408, "REQUEST_TIMEOUT", "Request Timeout" },
    { 409, "CONFLICT", "Conflict" },
    { 413, "PAYLOAD_TOO_LARGE", "Payload Too Large" },
    { 414, "URI_TOO_LONG", "URI Too Long" },
    { 415, "UNSUPPORTED_MEDIA_TYPE", "Unsupported Media Type" },
    { 422, "UNPROCESSABLE_ENTITY", "Unprocessable Entity" },
    { 429, "TOO_MANY_REQUESTS", "Too Many Requests" },
    { 500, "INTERNAL_SERVER_ERROR", "Internal Server Error" },
    { 502, "BAD_GATEWAY", "Bad Gateway" },
    { 503, "SERVICE_UNAVAILABLE", "Service Unavailable" },
    { 504, "GATEWAY_TIMEOUT", "Gateway Timeout" },
};

static int status_index(int code)
{
    for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
        if (statuses[i].code == code)
            return (int)i;
    return -1;
}

const char *http_status_name(int status)
{
    int i = status_index(status);
    return i < 0 ? (status < 500 ? "BAD_REQUEST" : "INTERNAL_SERVER_ERROR") : statuses[i].name;
}

const char *http_status_reason(int status)
{
    int i = status_index(status);
    return i < 0 ? "Unknown" : statuses[i].reason;
}

void http_header(http_req_t *r, const char *name, const char *value)
{
    /* Values come from this program; CR/LF would split the header block. */
    if (strpbrk(value, "\r\n") || strpbrk(name, "\r\n:"))
        return;
    jw_append(&r->headers, name, strlen(name));
    jw_append(&r->headers, ": ", 2);
    jw_append(&r->headers, value, strlen(value));
    jw_append(&r->headers, "\r\n", 2);
}

static void start_body(http_req_t *r, int status, const char *type)
{
    r->status = status;
    r->resp_type = type;
    r->responded = true;
    r->out.len = 0;
    r->out.depth = 0;
    r->out.after_key = false;
    r->out.need_comma[0] = false;
    if (r->out.buf)
        r->out.buf[0] = '\0';
}

jw_t *http_ok_begin(http_req_t *r, int status, const char *message)
{
    jw_t *w = &r->out;
    start_body(r, status, "application/json; charset=utf-8");
    jw_obj_begin(w);
    jw_kint(w, "code", status);
    jw_kstr(w, "status", http_status_name(status));
    jw_kstr(w, "message", message ? message : http_status_name(status));
    jw_key(w, "data");
    return w;
}

void http_ok_end(http_req_t *r)
{
    jw_obj_end(&r->out);
}

jw_t *http_error_begin(http_req_t *r, const err_t *e)
{
    jw_t *w = &r->out;
    int status = e->status >= 400 && e->status <= 599 ? e->status : err_type_status(e->type);
    start_body(r, status, "application/json; charset=utf-8");
    /* RFC 6750 3 / RFC 7235 3.1: a 401 names the scheme to use. */
    if (e->type == ERR_UNAUTHORIZED && status == 401)
        http_header(r, "WWW-Authenticate", "Bearer realm=\"memberapi\"");
    jw_obj_begin(w);
    jw_kint(w, "code", status);
    jw_kstr(w, "status", http_status_name(status));
    jw_kstr(w, "errorType", err_type_name(e->type));
    jw_kstr(w, "errorMessage", e->message[0] ? e->message : http_status_name(status));
    jw_kstr(w, "requestId", r->request_id ? r->request_id : "");
    if (e->pg_code[0]) {
        jw_kstr(w, "pgCode", e->pg_code);
        jw_kstr(w, "pgMessage", e->pg_message);
    }
    return w;
}

void http_error_end(http_req_t *r)
{
    jw_obj_end(&r->out);
}

void http_error(http_req_t *r, const err_t *e)
{
    http_error_begin(r, e);
    http_error_end(r);
}

void http_fail(http_req_t *r, err_type_t t, const char *fmt, ...)
{
    err_t e;
    err_clear(&e);
    va_list ap;
    va_start(ap, fmt);
    e.type = t;
    e.status = err_type_status(t);
    vsnprintf(e.message, sizeof(e.message), fmt, ap);
    va_end(ap);
    http_error(r, &e);
}

void http_text(http_req_t *r, int status, const char *content_type, const char *body, size_t n)
{
    start_body(r, status, content_type);
    jw_append(&r->out, body, n);
}

void http_page_begin(jw_t *w, int64_t page, int64_t size, int64_t total, bool has_next,
                     const char *next_cursor)
{
    jw_obj_begin(w);
    jw_kint(w, "page", page);
    jw_kint(w, "size", size);
    jw_kint(w, "totalElements", total);
    jw_kint(w, "totalPages", size > 0 ? (total + size - 1) / size : 0);
    jw_kbool(w, "hasNext", has_next);
    jw_kstr(w, "nextCursor", next_cursor);
    jw_key(w, "contents");
    jw_arr_begin(w);
}

void http_page_end(jw_t *w)
{
    jw_arr_end(w);
    jw_obj_end(w);
}

const char *http_serialize(http_req_t *r, size_t *len)
{
    jw_t h;
    jw_init(&h, r->arena, 256 + r->headers.len + r->out.len);
    char line[160];
    int n = snprintf(line, sizeof(line), "Status: %d %s\r\nContent-Type: %s\r\n", r->status,
                     http_status_reason(r->status),
                     r->resp_type ? r->resp_type : "application/json; charset=utf-8");
    jw_append(&h, line, (size_t)n);
    if (r->request_id) {
        jw_append(&h, "X-Request-Id: ", 14);
        jw_append(&h, r->request_id, strlen(r->request_id));
        jw_append(&h, "\r\n", 2);
    }
    n = snprintf(line, sizeof(line), "Content-Length: %zu\r\n", r->out.len);
    jw_append(&h, line, (size_t)n);
    if (r->headers.len)
        jw_append(&h, r->headers.buf, r->headers.len);
    jw_append(&h, "\r\n", 2);
    if (r->method != HTTP_HEAD && r->out.len)
        jw_append(&h, r->out.buf, r->out.len);
    *len = h.len;
    return h.buf;
}
