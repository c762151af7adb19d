/* query.c: query-string parsing and typed parameter access (see http.h).
 * Every byte here comes from the client, so the parser is strict and has a
 * fuzz target (tests/fuzz/fuzz_query.c). */
#include "http/http.h"
#include "common/str.h"

#include <stdio.h>
#include <string.h>

long http_pct_decode(const char *s, size_t n, char *out, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = str_hex_val((unsigned char)s[i + 1]),
                lo = str_hex_val((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return (long)o;
}

int http_path_check(const char *path, char *err, size_t errlen)
{
    if (path == NULL || path[0] != '/') {
        snprintf(err, errlen, "malformed path: it must start with '/'");
        return -1;
    }
    size_t n = strlen(path);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c < 0x20 || c == 0x7f) {
            snprintf(err, errlen, "malformed path: control character (%%%02X)", c);
            return -1;
        }
    }
    if (!str_utf8_valid(path, n)) {
        snprintf(err, errlen, "malformed path: not valid UTF-8");
        return -1;
    }
    return 0;
}

int http_path_decode(arena_t *a, const char *uri, const char **out, char *err, size_t errlen)
{
    *out = NULL;
    if (uri == NULL)
        uri = "/";
    const char *q = strchr(uri, '?');
    size_t n = q ? (size_t)(q - uri) : strlen(uri);
    char *buf = arena_alloc(a, n + 1);
    long len = http_pct_decode(uri, n, buf, false);
    if (len < 0) {
        snprintf(err, errlen, "malformed percent-encoding in path");
        return -1;
    }
    if (memchr(buf, '\0', (size_t)len) != NULL) {
        snprintf(err, errlen, "malformed path: it contains a NUL byte (%%00)");
        return -1;
    }
    if (http_path_check(buf, err, errlen) != 0)
        return -1;
    *out = buf;
    return 0;
}

static int decode_part(arena_t *a, const char *s, size_t n, const char **out, char *err,
                       size_t errlen, const char *what)
{
    char *buf = arena_alloc(a, n + 1);
    long len = http_pct_decode(s, n, buf, true);
    if (len < 0) {
        snprintf(err, errlen, "malformed percent-encoding in query %s", what);
        return -1;
    }
    /* A NUL would cut the C string short (and str_utf8_valid refuses it
     * too); say so instead of calling it bad UTF-8. */
    if (memchr(buf, '\0', (size_t)len) != NULL) {
        snprintf(err, errlen, "query %s contains a NUL byte (%%00)", what);
        return -1;
    }
    if (!str_utf8_valid(buf, (size_t)len)) {
        snprintf(err, errlen, "query %s is not valid UTF-8", what);
        return -1;
    }
    *out = buf;
    return 0;
}

int http_query_parse(arena_t *a, const char *qs, http_kv_t **out, size_t *n, char *err,
                     size_t errlen)
{
    *out = NULL;
    *n = 0;
    if (qs == NULL || *qs == '\0')
        return 0;
    size_t cap = 1;
    for (const char *p = qs; *p; p++)
        if (*p == '&')
            cap++;
    if (cap > HTTP_MAX_QUERY_PARAMS)
        cap = HTTP_MAX_QUERY_PARAMS;
    http_kv_t *kv = arena_alloc(a, cap * sizeof(*kv));
    size_t count = 0;
    const char *p = qs;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            if (count == HTTP_MAX_QUERY_PARAMS) {
                snprintf(err, errlen, "too many query parameters (at most %d)",
                         HTTP_MAX_QUERY_PARAMS);
                return -1;
            }
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            if (klen == 0) {
                snprintf(err, errlen, "query parameter with an empty name");
                return -1;
            }
            if (decode_part(a, p, klen, &kv[count].key, err, errlen, "name") != 0)
                return -1;
            if (eq) {
                if (decode_part(a, eq + 1, len - klen - 1, &kv[count].val, err, errlen, "value") !=
                    0)
                    return -1;
            } else {
                kv[count].val = "";
            }
            count++;
        }
        if (!end)
            break;
        p = end + 1;
    }
    *out = kv;
    *n = count;
    return 0;
}

const char *http_query_get(const http_req_t *r, const char *key, size_t *count)
{
    const char *v = NULL;
    size_t c = 0;
    for (size_t i = 0; i < r->nquery; i++) {
        if (strcmp(r->query[i].key, key) == 0) {
            if (c == 0)
                v = r->query[i].val;
            c++;
        }
    }
    if (count)
        *count = c;
    return v;
}

int http_param_str(const http_req_t *r, const char *key, const char *def, const char **out,
                   err_t *err)
{
    size_t count;
    const char *v = http_query_get(r, key, &count);
    if (count > 1)
        return err_set(err, ERR_INVALID_PARAMETER, "parameter '%s' is given more than once", key);
    *out = count ? v : def;
    return 0;
}

int http_param_i64(const http_req_t *r, const char *key, int64_t def, int64_t min, int64_t max,
                   int64_t *out, err_t *err)
{
    const char *v = NULL;
    if (http_param_str(r, key, NULL, &v, err) != 0)
        return -1;
    if (v == NULL) {
        *out = def;
        return 0;
    }
    if (str_to_i64(v, min, max, out) != 0)
        return err_set(err, ERR_INVALID_PARAMETER,
                       "parameter '%s' must be an integer between %lld and %lld", key,
                       (long long)min, (long long)max);
    return 0;
}

int http_path_id(const http_req_t *r, size_t i, const char *what, int64_t *out, err_t *err)
{
    if (i >= r->nparams || str_to_i64(r->params[i], 1, INT64_MAX, out) != 0)
        return err_set(err, ERR_INVALID_PARAMETER, "%s must be a positive 64-bit integer", what);
    return 0;
}
