/* dispatch.c: from a parsed request to a handler's response (see http.h).
 * The checks run in the order a client can act on: a malformed path (400),
 * body size, route (404), method (405 with Allow), listener, query syntax
 * (400), content type (415). */
#include "http/http.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/str.h"

#include <string.h>

void http_req_init(http_req_t *r, arena_t *a)
{
    memset(r, 0, sizeof(*r));
    r->arena = a;
    r->content_length = -1;
    jw_init(&r->out, a, 1024);
    jw_init(&r->headers, a, 128);
}

const char *http_request_id_valid(const char *id)
{
    if (id == NULL)
        return NULL;
    size_t n = strlen(id);
    if (n == 0 || n > HTTP_REQUEST_ID_MAX || !str_charset(id, "._~:+/=-"))
        return NULL;
    return id;
}

const char *http_request_id_new(arena_t *a)
{
    static const char hex[] = "0123456789abcdef";
    char *s = arena_alloc(a, 33);
    uint64_t x = crypto_fast_rand(), y = crypto_fast_rand();
    for (int i = 0; i < 16; i++) {
        s[i] = hex[(x >> (4 * i)) & 15];
        s[16 + i] = hex[(y >> (4 * i)) & 15];
    }
    s[32] = '\0';
    return s;
}

static bool is_json_type(const char *ct)
{
    if (ct == NULL || !str_ci_prefix(ct, "application/json"))
        return false;
    const char *p = ct + strlen("application/json");
    while (*p == ' ')
        p++;
    if (*p == '\0')
        return true;
    if (*p != ';')
        return false;
    p++;
    while (*p == ' ')
        p++;
    /* the only parameter JSON has is charset, and it must be UTF-8 */
    if (!str_ci_prefix(p, "charset="))
        return false;
    p += 8;
    if (*p == '"')
        p++;
    return str_ci_prefix(p, "utf-8");
}

static void allow_header(http_req_t *r, unsigned allow)
{
    char buf[96] = "";
    static const unsigned order[] = { HTTP_GET,   HTTP_HEAD,   HTTP_POST,   HTTP_PUT,
                                      HTTP_PATCH, HTTP_DELETE, HTTP_OPTIONS };
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        if (allow & order[i]) {
            if (buf[0])
                strcat(buf, ", ");
            strcat(buf, http_method_name(order[i]));
        }
    }
    http_header(r, "Allow", buf);
}

void http_dispatch(http_req_t *r)
{
    if (r->request_id == NULL)
        r->request_id = http_request_id_new(r->arena);
    if (r->path == NULL && r->malformed == NULL)
        r->path = "/";

    /* A path that cannot be routed is refused before anything else, as nginx
     * refuses a bad request line before it reads the body. */
    char why[160];
    if (r->malformed == NULL && http_path_check(r->path, why, sizeof(why)) != 0)
        r->malformed = arena_strdup(r->arena, why);
    if (r->malformed != NULL) {
        if (r->path == NULL)
            r->path = "/";
        http_fail(r, ERR_INVALID_PARAMETER, "%s", r->malformed);
        return;
    }

    if (r->body_too_large) {
        http_fail(r, ERR_PAYLOAD_TOO_LARGE, "request body is larger than the limit");
        return;
    }

    unsigned allow = 0;
    r->route = http_router_match(r->path, r->method, r->params, &r->nparams, &allow, r->arena);
    if (r->route != NULL && (r->route->flags & HTTP_ROUTE_ADMIN) && !r->admin) {
        r->route = NULL;
        allow = 0;
    }
    if (r->route == NULL) {
        if (allow == 0) {
            http_fail(r, ERR_NO_RESOURCE, "no resource at this path");
        } else {
            allow_header(r, allow);
            http_fail(r, ERR_METHOD_NOT_ALLOWED, "method %s is not allowed here",
                      r->method_name ? r->method_name : http_method_name(r->method));
        }
        return;
    }

    if (http_query_parse(r->arena, r->query_string, &r->query, &r->nquery, why, sizeof(why)) != 0) {
        http_fail(r, ERR_INVALID_PARAMETER, "%s", why);
        return;
    }

    if ((r->route->flags & HTTP_ROUTE_JSON_BODY) && !is_json_type(r->content_type)) {
        http_fail(r, ERR_UNSUPPORTED_MEDIA_TYPE,
                  "Content-Type must be application/json; charset=utf-8");
        return;
    }

    r->route->handler(r);

    if (!r->responded) {
        log_error("event=handler_no_response route=%s", r->route->name);
        http_fail(r, ERR_UNKNOWN, "internal error");
    }
}
