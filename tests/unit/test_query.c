/* test_query.c: query-string parsing and typed parameters (http/query.c). */
#include "unit.h"
#include "http/http.h"

static arena_t *A;

static int parse(const char *qs, http_kv_t **kv, size_t *n)
{
    char err[160];
    return http_query_parse(A, qs, kv, n, err, sizeof(err));
}

static void test_basic(void)
{
    http_kv_t *kv;
    size_t n;
    CU_ASSERT_EQUAL(parse("page=1&size=20&sort=name%2Casc", &kv, &n), 0);
    CU_ASSERT_EQUAL(n, 3);
    ASSERT_STR(kv[0].key, "page");
    ASSERT_STR(kv[0].val, "1");
    ASSERT_STR(kv[2].val, "name,asc");
    CU_ASSERT_EQUAL(parse("", &kv, &n), 0);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(parse(NULL, &kv, &n), 0);
    CU_ASSERT_EQUAL(n, 0);
}

static void test_decoding(void)
{
    http_kv_t *kv;
    size_t n;
    CU_ASSERT_EQUAL(parse("q=a+b%20c&k%3Dx=%26", &kv, &n), 0);
    ASSERT_STR(kv[0].val, "a b c");
    ASSERT_STR(kv[1].key, "k=x");
    ASSERT_STR(kv[1].val, "&");
    /* Korean, percent-encoded UTF-8 */
    CU_ASSERT_EQUAL(parse("message=%EC%B7%A8%EC%86%8C", &kv, &n), 0);
    ASSERT_STR(kv[0].val, "취소");
    /* lower-case hex is fine */
    CU_ASSERT_EQUAL(parse("x=%c3%a9", &kv, &n), 0);
    ASSERT_STR(kv[0].val, "é");
}

static void test_flags_and_empty(void)
{
    http_kv_t *kv;
    size_t n;
    CU_ASSERT_EQUAL(parse("a&b=&&c=1&", &kv, &n), 0);
    CU_ASSERT_EQUAL(n, 3);
    ASSERT_STR(kv[0].key, "a");
    ASSERT_STR(kv[0].val, "");
    ASSERT_STR(kv[1].val, "");
    ASSERT_STR(kv[2].val, "1");
}

static void test_bad_encodings(void)
{
    http_kv_t *kv;
    size_t n;
    CU_ASSERT_EQUAL(parse("a=%G1", &kv, &n), -1);
    CU_ASSERT_EQUAL(parse("a=%4", &kv, &n), -1);
    CU_ASSERT_EQUAL(parse("a=%", &kv, &n), -1);
    CU_ASSERT_EQUAL(parse("a%=1", &kv, &n), -1);
    CU_ASSERT_EQUAL(parse("a=%00", &kv, &n), -1);       /* NUL */
    CU_ASSERT_EQUAL(parse("a=%FF%FE", &kv, &n), -1);    /* not UTF-8 */
    CU_ASSERT_EQUAL(parse("a=%C0%AF", &kv, &n), -1);    /* overlong */
    CU_ASSERT_EQUAL(parse("a=%ED%A0%80", &kv, &n), -1); /* surrogate */
    CU_ASSERT_EQUAL(parse("=1", &kv, &n), -1);          /* empty name */
}

static void test_too_many(void)
{
    char qs[1024] = "";
    for (int i = 0; i < HTTP_MAX_QUERY_PARAMS + 1; i++)
        strcat(qs, "a=1&");
    http_kv_t *kv;
    size_t n;
    CU_ASSERT_EQUAL(parse(qs, &kv, &n), -1);
}

static void req_with(http_req_t *r, const char *qs)
{
    http_req_init(r, A);
    char err[160];
    CU_ASSERT_EQUAL_FATAL(http_query_parse(A, qs, &r->query, &r->nquery, err, sizeof(err)), 0);
}

static void test_repeated_keys(void)
{
    http_req_t r;
    req_with(&r, "page=1&page=2&size=3");
    size_t count;
    ASSERT_STR(http_query_get(&r, "page", &count), "1");
    CU_ASSERT_EQUAL(count, 2);
    err_t e;
    int64_t v;
    CU_ASSERT_EQUAL(http_param_i64(&r, "page", 0, 0, 100, &v, &e), -1);
    CU_ASSERT_EQUAL(e.type, ERR_INVALID_PARAMETER);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "more than once"));
    CU_ASSERT_EQUAL(http_param_i64(&r, "size", 10, 1, 100, &v, &e), 0);
    CU_ASSERT_EQUAL(v, 3);
}

static void test_param_i64(void)
{
    http_req_t r;
    err_t e;
    int64_t v;
    req_with(&r, "a=10&b=-1&c=abc&d=1.5&e=%2B5&f=007&g=99999999999999999999&h=");
    CU_ASSERT_EQUAL(http_param_i64(&r, "a", 0, 0, 100, &v, &e), 0);
    CU_ASSERT_EQUAL(v, 10);
    CU_ASSERT_EQUAL(http_param_i64(&r, "missing", 7, 0, 100, &v, &e), 0);
    CU_ASSERT_EQUAL(v, 7);
    CU_ASSERT_EQUAL(http_param_i64(&r, "b", 0, 0, 100, &v, &e), -1);
    CU_ASSERT_EQUAL(http_param_i64(&r, "c", 0, 0, 100, &v, &e), -1);
    CU_ASSERT_EQUAL(http_param_i64(&r, "d", 0, 0, 100, &v, &e), -1);
    CU_ASSERT_EQUAL(http_param_i64(&r, "e", 0, 0, 100, &v, &e), -1);
    CU_ASSERT_EQUAL(http_param_i64(&r, "f", 0, 0, 100, &v, &e), -1);
    CU_ASSERT_EQUAL(http_param_i64(&r, "g", 0, 0, INT64_MAX, &v, &e), -1);
    CU_ASSERT_EQUAL(http_param_i64(&r, "h", 0, 0, 100, &v, &e), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "'h'"));
}

static void test_path_id(void)
{
    http_req_t r;
    http_req_init(&r, A);
    err_t e;
    int64_t v;
    const char *cases_bad[] = { "0", "-1", "abc", "1e3", "9223372036854775808", "", "01" };
    r.nparams = 1;
    for (size_t i = 0; i < sizeof(cases_bad) / sizeof(cases_bad[0]); i++) {
        r.params[0] = cases_bad[i];
        CU_ASSERT_EQUAL(http_path_id(&r, 0, "profile id", &v, &e), -1);
        CU_ASSERT_EQUAL(e.status, 400);
    }
    r.params[0] = "9223372036854775807";
    CU_ASSERT_EQUAL(http_path_id(&r, 0, "profile id", &v, &e), 0);
    CU_ASSERT_EQUAL(v, INT64_MAX);
}

static void test_pct_decode(void)
{
    char out[32];
    CU_ASSERT_EQUAL(http_pct_decode("a%2Fb+c", 7, out, false), 5);
    ASSERT_STR(out, "a/b+c");
    CU_ASSERT_EQUAL(http_pct_decode("a%2", 3, out, false), -1);
}

static void test_nul_is_named(void)
{
    http_kv_t *kv;
    size_t n;
    char err[160];
    CU_ASSERT_EQUAL(http_query_parse(A, "page=1%00", &kv, &n, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "query value contains a NUL byte"));
    CU_ASSERT_EQUAL(http_query_parse(A, "pa%00ge=1", &kv, &n, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "query name contains a NUL byte"));
    /* a bad escape is named as such, even next to a NUL */
    CU_ASSERT_EQUAL(http_query_parse(A, "a=%00%zz", &kv, &n, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "malformed percent-encoding in query value"));
    CU_ASSERT_EQUAL(http_query_parse(A, "a=%FF", &kv, &n, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not valid UTF-8"));
}

static void test_path_check(void)
{
    char err[160];
    const char *good[] = { "/", "/api/v1/profiles/1", "/a b", "/%zz", "/\xea\xb9\x80", "//x" };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        CU_ASSERT_EQUAL(http_path_check(good[i], err, sizeof(err)), 0);
    const char *bad[] = { NULL,       "",       "api/v1", "?x=1",  "/a\nb",     "/a\rb",
                          "/a\tb",    "/a\x01", "/a\x7f", "/\xff", "/\xc0\xaf", "/\xed\xa0\x80",
                          "/\xea\xb9" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        CU_ASSERT_EQUAL(http_path_check(bad[i], err, sizeof(err)), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "malformed path"));
    }
    CU_ASSERT_EQUAL(http_path_check("/a\nb", err, sizeof(err)), -1);
    ASSERT_STR(err, "malformed path: control character (%0A)");
}

static void test_path_decode(void)
{
    const char *p;
    char err[160];
    CU_ASSERT_EQUAL(http_path_decode(A, "/a%20b/%EA%B9%80?x=%zz", &p, err, sizeof(err)), 0);
    ASSERT_STR(p, "/a b/\xea\xb9\x80"); /* the query is not the path's business */
    CU_ASSERT_EQUAL(http_path_decode(A, "/a+b", &p, err, sizeof(err)), 0);
    ASSERT_STR(p, "/a+b"); /* '+' is a space only in a query */
    CU_ASSERT_EQUAL(http_path_decode(A, NULL, &p, err, sizeof(err)), 0);
    ASSERT_STR(p, "/");
    CU_ASSERT_EQUAL(http_path_decode(A, "%2Fx", &p, err, sizeof(err)), 0);
    ASSERT_STR(p, "/x");

    CU_ASSERT_EQUAL(http_path_decode(A, "/api/v1/profiles/1%00x", &p, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NULL(p);
    ASSERT_STR(err, "malformed path: it contains a NUL byte (%00)");
    const char *escapes[] = { "/a%zz", "/a%4", "/a%", "/a%4?x", "/%%41" };
    for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
        CU_ASSERT_EQUAL(http_path_decode(A, escapes[i], &p, err, sizeof(err)), -1);
        ASSERT_STR(err, "malformed percent-encoding in path");
    }
    const char *bad[] = { "", "x/y", "/%0A", "/%FF", "/%C0%AF", "/%7F", "?/x" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CU_ASSERT_EQUAL(http_path_decode(A, bad[i], &p, err, sizeof(err)), -1);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, "malformed path"));
    }
}

static const unit_test_t tests[] = {
    { "basic", test_basic },
    { "percent-decoding", test_decoding },
    { "flags and empty pairs", test_flags_and_empty },
    { "bad encodings are rejected", test_bad_encodings },
    { "too many parameters", test_too_many },
    { "repeated keys", test_repeated_keys },
    { "integer parameters", test_param_i64 },
    { "path ids", test_path_id },
    { "pct_decode", test_pct_decode },
    { "a NUL in the query is named", test_nul_is_named },
    { "path check: '/', UTF-8, no control characters", test_path_check },
    { "raw path decoding", test_path_decode },
};

int main(void)
{
    A = arena_new(4096);
    int rc = unit_run("query", tests, sizeof(tests) / sizeof(tests[0]));
    arena_free(A);
    return rc;
}
