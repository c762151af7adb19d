/* fcgi.c: libfcgi request <-> http_req_t (see fcgi.h). */
#include "http/fcgi.h"
#include "common/str.h"

#include <string.h>

/* A client may send a body far larger than the limit straight to the
 * FastCGI socket (nginx would have refused it); drain at most this much
 * before giving up on the connection. */
#define DRAIN_MAX (8u << 20)

static const char *param(FCGX_Request *fr, arena_t *a, const char *name)
{
    const char *v = FCGX_GetParam(name, fr->envp);
    return v ? arena_strdup(a, v) : NULL;
}

int http_fcgi_read(http_req_t *r, FCGX_Request *fr, size_t max_body)
{
    arena_t *a = r->arena;
    r->method_name = param(fr, a, "REQUEST_METHOD");
    r->method = http_method_parse(r->method_name);
    r->path = param(fr, a, "DOCUMENT_URI");
    if (r->path == NULL) {
        /* DOCUMENT_URI is decoded (nginx's $uri); REQUEST_URI is not, so the
         * same path means the same thing either way. */
        const char *uri = FCGX_GetParam("REQUEST_URI", fr->envp);
        char why[160];
        if (uri && http_path_decode(a, uri, &r->path, why, sizeof(why)) != 0)
            r->malformed = arena_strdup(a, why);
    }
    r->query_string = param(fr, a, "QUERY_STRING");
    r->content_type = param(fr, a, "CONTENT_TYPE");
    r->authorization = param(fr, a, "HTTP_AUTHORIZATION");
    r->remote_addr = param(fr, a, "REMOTE_ADDR");
    r->request_id = http_request_id_valid(param(fr, a, "HTTP_X_REQUEST_ID"));
    /* r->admin is the server's: which socket the connection came from. */

    const char *cl = FCGX_GetParam("CONTENT_LENGTH", fr->envp);
    int64_t len = 0;
    if (cl && *cl && str_to_i64(cl, 0, INT64_MAX, &len) != 0)
        len = 0;
    r->content_length = len;

    if ((uint64_t)len > max_body) {
        r->body_too_large = true;
        char sink[8192];
        size_t drained = 0;
        int n;
        while (drained < DRAIN_MAX && (n = FCGX_GetStr(sink, sizeof(sink), fr->in)) > 0)
            drained += (size_t)n;
        return FCGX_GetError(fr->in) != 0 ? -1 : 0;
    }
    /* Read to EOF even past CONTENT_LENGTH; more than max_body is 413. */
    size_t cap = (size_t)len + 1;
    char *buf = arena_alloc(a, cap + 1);
    size_t got = 0;
    for (;;) {
        if (got == cap) {
            if (cap > max_body) {
                r->body_too_large = true;
                char sink[8192];
                size_t drained = 0;
                while (drained < DRAIN_MAX && FCGX_GetStr(sink, sizeof(sink), fr->in) > 0)
                    drained += sizeof(sink);
                return FCGX_GetError(fr->in) != 0 ? -1 : 0;
            }
            size_t ncap = cap * 2 > max_body + 1 ? max_body + 1 : cap * 2;
            buf = arena_grow(a, buf, cap + 1, ncap + 1);
            cap = ncap;
        }
        int n = FCGX_GetStr(buf + got, (int)(cap - got), fr->in);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    buf[got] = '\0';
    r->body = buf;
    r->body_len = got;
    /* a read error (the read timeout: the peer stopped sending) leaves a
     * body that is not the one sent: the request must not run */
    return FCGX_GetError(fr->in) != 0 ? -1 : 0;
}

int http_fcgi_write(http_req_t *r, FCGX_Request *fr)
{
    size_t len;
    const char *bytes = http_serialize(r, &len);
    if (FCGX_PutStr(bytes, (int)len, fr->out) != (int)len)
        return -1;
    return 0;
}
