/* fuzz_query.c: libFuzzer target for the query-string parser, the
 * percent-decoder and the path checks (src/http/query.c), the first code to
 * see a client's bytes. Invariants checked beyond "no crash": every decoded
 * key and value is valid UTF-8 without NUL, the typed accessors agree with
 * the parsed pairs, and a path that decodes starts with '/', has no control
 * character and is valid UTF-8 (so http_path_check accepts it).
 * Built by tests/fuzz/run.sh (clang -fsanitize=fuzzer,address,undefined). */
#include "common/str.h"
#include "http/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static arena_t *a;
    if (a == NULL)
        a = arena_new(16384);
    arena_reset(a);
    char *qs = arena_strndup(a, (const char *)data, size);

    http_kv_t *kv;
    size_t n;
    char err[160];
    if (http_query_parse(a, qs, &kv, &n, err, sizeof(err)) == 0) {
        http_req_t r;
        memset(&r, 0, sizeof(r));
        r.arena = a;
        r.query = kv;
        r.nquery = n;
        for (size_t i = 0; i < n; i++) {
            if (!str_utf8_valid(kv[i].key, strlen(kv[i].key)) ||
                !str_utf8_valid(kv[i].val, strlen(kv[i].val)) || kv[i].key[0] == '\0')
                abort();
            size_t count;
            if (http_query_get(&r, kv[i].key, &count) == NULL || count == 0)
                abort();
            err_t e;
            int64_t v;
            int rc = http_param_i64(&r, kv[i].key, 0, INT64_MIN, INT64_MAX, &v, &e);
            if (rc != 0 && e.type != ERR_INVALID_PARAMETER)
                abort();
        }
    } else if (err[0] == '\0') {
        abort(); /* an error always says why */
    }

    char *out = arena_alloc(a, size + 1);
    long len = http_pct_decode(qs, strlen(qs), out, true);
    if (len > (long)strlen(qs))
        abort();

    /* The same bytes as a raw request URI (REQUEST_URI) and as a decoded one. */
    const char *path = NULL;
    err[0] = '\0';
    if (http_path_decode(a, qs, &path, err, sizeof(err)) == 0) {
        size_t pn = strlen(path);
        if (path[0] != '/' || !str_utf8_valid(path, pn))
            abort();
        for (size_t i = 0; i < pn; i++)
            if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
                abort();
        if (http_path_check(path, err, sizeof(err)) != 0)
            abort();
    } else if (path != NULL || err[0] == '\0') {
        abort();
    }
    err[0] = '\0';
    if (http_path_check(qs, err, sizeof(err)) != 0 && err[0] == '\0')
        abort();
    return 0;
}
