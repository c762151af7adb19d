/* router.c: path patterns with {param} segments, 404 vs 405 (see http.h).
 * Routes are few (tens) and matched segment by segment without allocating;
 * the table is built once at start-up, before workers fork. */
#include "http/http.h"
#include "common/log.h"

#include <string.h>

#define MAX_ROUTES 128
#define MAX_SEGS   12

typedef struct {
    const http_route_t *route;
    size_t nseg;
    struct {
        const char *s;
        size_t n;
        bool param;
    } seg[MAX_SEGS];
} compiled_t;

static compiled_t table[MAX_ROUTES];
static size_t ntable;

static const struct {
    const char *name;
    unsigned m;
} methods[] = {
    { "GET", HTTP_GET },         { "HEAD", HTTP_HEAD },   { "POST", HTTP_POST },
    { "PUT", HTTP_PUT },         { "PATCH", HTTP_PATCH }, { "DELETE", HTTP_DELETE },
    { "OPTIONS", HTTP_OPTIONS },
};

unsigned http_method_parse(const char *s)
{
    if (s == NULL)
        return HTTP_OTHER;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strcmp(s, methods[i].name) == 0)
            return methods[i].m;
    return HTTP_OTHER;
}

const char *http_method_name(unsigned m)
{
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (methods[i].m == m)
            return methods[i].name;
    return "OTHER";
}

static int compile(const http_route_t *rt, compiled_t *c)
{
    const char *p = rt->pattern;
    if (p == NULL || p[0] != '/')
        return -1;
    c->route = rt;
    c->nseg = 0;
    size_t nparams = 0;
    while (*p == '/') {
        p++;
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (c->nseg == MAX_SEGS || n == 0)
            return -1;
        bool param = n >= 3 && p[0] == '{' && p[n - 1] == '}';
        if (param && ++nparams > HTTP_MAX_PARAMS)
            return -1;
        c->seg[c->nseg].s = p;
        c->seg[c->nseg].n = n;
        c->seg[c->nseg].param = param;
        c->nseg++;
        p += n;
    }
    return *p == '\0' ? 0 : -1;
}

int http_router_add(const http_route_t *routes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ntable == MAX_ROUTES || compile(&routes[i], &table[ntable]) != 0) {
            log_error("event=route_invalid pattern=%s", log_q(routes[i].pattern));
            return -1;
        }
        ntable++;
    }
    return 0;
}

void http_router_clear(void)
{
    ntable = 0;
}

size_t http_router_count(void)
{
    return ntable;
}

const http_route_t *http_router_at(size_t i)
{
    return i < ntable ? table[i].route : NULL;
}

int http_router_index(const http_route_t *r)
{
    for (size_t i = 0; i < ntable; i++)
        if (table[i].route == r)
            return (int)i;
    return -1;
}

/* Matches path against c; fills params (pointers into a copy in the arena). */
static bool match(const compiled_t *c, const char *path, const char **params, size_t *np,
                  arena_t *a)
{
    const char *p = path;
    size_t k = 0;
    for (size_t i = 0; i < c->nseg; i++) {
        if (*p != '/')
            return false;
        p++;
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 0)
            return false;
        if (c->seg[i].param) {
            if (params && a)
                params[k] = arena_strndup(a, p, n);
            k++;
        } else if (n != c->seg[i].n || memcmp(p, c->seg[i].s, n) != 0) {
            return false;
        }
        p += n;
    }
    if (*p != '\0')
        return false;
    if (np)
        *np = k;
    return true;
}

const http_route_t *http_router_match(const char *path, unsigned method, const char **params,
                                      size_t *nparams, unsigned *allow, arena_t *a)
{
    unsigned allowed = 0;
    const http_route_t *found = NULL;
    /* HEAD is served by GET routes (without a body). */
    unsigned want = method == HTTP_HEAD ? (HTTP_HEAD | HTTP_GET) : method;
    for (size_t i = 0; i < ntable; i++) {
        const compiled_t *c = &table[i];
        if (!match(c, path, NULL, NULL, NULL))
            continue;
        unsigned m = c->route->methods;
        if (m & HTTP_GET)
            m |= HTTP_HEAD;
        allowed |= m;
        if (found == NULL && (c->route->methods & want)) {
            found = c->route;
            match(c, path, params, nparams, a);
        }
    }
    if (allow)
        *allow = allowed;
    return found;
}
