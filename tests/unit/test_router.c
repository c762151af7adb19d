/* test_router.c: routing, 404 vs 405 with Allow, admin-only routes, body
 * checks, and the response a dispatch produces (http/router.c, dispatch.c). */
#include "unit.h"
#include "http/http.h"

static arena_t *A;
static const char *last;

static void h_list(http_req_t *r)
{
    last = "list";
    jw_t *w = http_ok_begin(r, 200, NULL);
    jw_null(w);
    http_ok_end(r);
}
static void h_detail(http_req_t *r)
{
    last = "detail";
    jw_t *w = http_ok_begin(r, 200, NULL);
    jw_str(w, r->params[0]);
    http_ok_end(r);
}
static void h_create(http_req_t *r)
{
    last = "create";
    jw_t *w = http_ok_begin(r, 201, NULL);
    jw_strn(w, r->body ? r->body : "", r->body_len);
    http_ok_end(r);
}
static void h_admin(http_req_t *r)
{
    last = "admin";
    http_text(r, 200, "text/plain", "ok", 2);
}
static void h_silent(http_req_t *r)
{
    (void)r;
    last = "silent";
}
static void h_two(http_req_t *r)
{
    last = "two";
    jw_t *w = http_ok_begin(r, 200, NULL);
    jw_arr_begin(w);
    jw_str(w, r->params[0]);
    jw_str(w, r->params[1]);
    jw_arr_end(w);
    http_ok_end(r);
}

static const http_route_t routes[] = {
    { HTTP_GET, "/api/v1/profiles", h_list, 0, "list" },
    { HTTP_GET, "/api/v1/profiles/{id}", h_detail, 0, "detail" },
    { HTTP_POST, "/api/v1/payments", h_create, HTTP_ROUTE_JSON_BODY, "create" },
    { HTTP_PATCH, "/internal/v1/users/points", h_admin, HTTP_ROUTE_ADMIN, "admin" },
    { HTTP_GET, "/silent", h_silent, 0, "silent" },
    { HTTP_GET, "/a/{x}/b/{y}", h_two, 0, "two" },
};

static http_req_t *mk(const char *method, const char *path)
{
    static http_req_t r;
    arena_reset(A);
    http_req_init(&r, A);
    r.method_name = method;
    r.method = http_method_parse(method);
    r.path = path;
    r.request_id = "rid-1";
    last = NULL;
    return &r;
}

static void test_match(void)
{
    http_req_t *r = mk("GET", "/api/v1/profiles");
    http_dispatch(r);
    ASSERT_STR(last, "list");
    CU_ASSERT_EQUAL(r->status, 200);
    r = mk("GET", "/api/v1/profiles/42");
    http_dispatch(r);
    ASSERT_STR(last, "detail");
    ASSERT_STR(r->params[0], "42");
    r = mk("GET", "/a/1/b/2");
    http_dispatch(r);
    ASSERT_STR(last, "two");
    ASSERT_STR(r->out.buf,
               "{\"code\":200,\"status\":\"OK\",\"message\":\"OK\",\"data\":[\"1\",\"2\"]}");
}

static void test_404(void)
{
    const char *paths[] = { "/api/v1/profile",   "/api/v1/profiles/",  "/api/v1/profiles/1/x", "/",
                            "//api/v1/profiles", "/api/v1/profiles//1" };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        http_req_t *r = mk("GET", paths[i]);
        http_dispatch(r);
        CU_ASSERT_PTR_NULL(last);
        CU_ASSERT_EQUAL(r->status, 404);
        CU_ASSERT_PTR_NOT_NULL(strstr(r->out.buf, "\"errorType\":\"NO_RESOURCE\""));
        CU_ASSERT_PTR_NOT_NULL(strstr(r->out.buf, "\"requestId\":\"rid-1\""));
    }
}

static void test_405_allow(void)
{
    http_req_t *r = mk("DELETE", "/api/v1/profiles/7");
    http_dispatch(r);
    CU_ASSERT_EQUAL(r->status, 405);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->headers.buf, "Allow: GET, HEAD\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(r->out.buf, "\"errorType\":\"METHOD_NOT_ALLOWED\""));
    r = mk("GET", "/api/v1/payments");
    http_dispatch(r);
    CU_ASSERT_EQUAL(r->status, 405);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->headers.buf, "Allow: POST\r\n"));
    r = mk("BREW", "/api/v1/payments");
    http_dispatch(r);
    CU_ASSERT_EQUAL(r->status, 405);
}

static void test_head(void)
{
    http_req_t *r = mk("HEAD", "/api/v1/profiles/9");
    http_dispatch(r);
    ASSERT_STR(last, "detail");
    size_t len;
    const char *bytes = http_serialize(r, &len);
    CU_ASSERT_PTR_NOT_NULL(strstr(bytes, "Content-Length: "));
    /* headers only */
    CU_ASSERT_EQUAL(strcmp(bytes + len - 4, "\r\n\r\n"), 0);
}

static void test_admin_only(void)
{
    http_req_t *r = mk("PATCH", "/internal/v1/users/points");
    http_dispatch(r);
    CU_ASSERT_EQUAL(r->status, 404);
    CU_ASSERT_PTR_NULL(last);
    r = mk("PATCH", "/internal/v1/users/points");
    r->admin = true;
    r->content_type = "application/json";
    http_dispatch(r);
    ASSERT_STR(last, "admin");
}

static void test_content_type(void)
{
    const char *bad[] = { NULL, "text/plain", "application/jsonx",
                          "application/json; charset=latin1", "application/x-www-form-urlencoded" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        http_req_t *r = mk("POST", "/api/v1/payments");
        r->content_type = bad[i];
        r->body = "{}";
        r->body_len = 2;
        http_dispatch(r);
        CU_ASSERT_EQUAL(r->status, 415);
        CU_ASSERT_PTR_NULL(last);
    }
    const char *good[] = { "application/json", "application/json; charset=utf-8",
                           "Application/JSON;charset=UTF-8",
                           "application/json; charset=\"utf-8\"" };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        http_req_t *r = mk("POST", "/api/v1/payments");
        r->content_type = good[i];
        r->body = "{}";
        r->body_len = 2;
        http_dispatch(r);
        CU_ASSERT_EQUAL(r->status, 201);
    }
}

static void test_too_large(void)
{
    http_req_t *r = mk("POST", "/api/v1/payments");
    r->body_too_large = true;
    http_dispatch(r);
    CU_ASSERT_EQUAL(r->status, 413);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->out.buf, "PAYLOAD_TOO_LARGE"));
    CU_ASSERT_PTR_NULL(last);
}

static void test_bad_query(void)
{
    http_req_t *r = mk("GET", "/api/v1/profiles");
    r->query_string = "page=%ZZ";
    http_dispatch(r);
    CU_ASSERT_EQUAL(r->status, 400);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->out.buf, "INVALID_PARAMETER"));
}

static void test_malformed_path(void)
{
    /* Refused before routing: not a 404, not the handler, not a 413. */
    const char *paths[] = { "", "api/v1/profiles", "/api/v1/profiles/1\n", "/api/v1/\xff",
                            "/api/v1/profiles/\x01" };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        http_req_t *r = mk("GET", paths[i]);
        r->body_too_large = true;
        http_dispatch(r);
        CU_ASSERT_PTR_NULL(last);
        CU_ASSERT_EQUAL(r->status, 400);
        CU_ASSERT_PTR_NOT_NULL(strstr(r->out.buf, "\"errorType\":\"INVALID_PARAMETER\""));
        CU_ASSERT_PTR_NOT_NULL(strstr(r->out.buf, "malformed path"));
    }
    /* what the reader found (a raw URI with %00) is answered as it said */
    http_req_t *r = mk("GET", NULL);
    r->malformed = "malformed path: it contains a NUL byte (%00)";
    http_dispatch(r);
    CU_ASSERT_EQUAL(r->status, 400);
    CU_ASSERT_PTR_NULL(last);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->out.buf, "NUL byte"));
    ASSERT_STR(r->path, "/");
}

static void test_no_response(void)
{
    http_req_t *r = mk("GET", "/silent");
    http_dispatch(r);
    ASSERT_STR(last, "silent");
    CU_ASSERT_EQUAL(r->status, 500);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->out.buf, "UNKNOWN_ERROR"));
}

static void test_bad_patterns(void)
{
    static const http_route_t bad1[] = { { HTTP_GET, "no-slash", h_list, 0, "x" } };
    static const http_route_t bad2[] = { { HTTP_GET, "/a//b", h_list, 0, "x" } };
    CU_ASSERT_EQUAL(http_router_add(bad1, 1), -1);
    CU_ASSERT_EQUAL(http_router_add(bad2, 1), -1);
}

static void test_request_id(void)
{
    CU_ASSERT_PTR_NOT_NULL(http_request_id_valid("abc-123_x.y~z:1+2/3="));
    CU_ASSERT_PTR_NULL(http_request_id_valid(""));
    CU_ASSERT_PTR_NULL(http_request_id_valid("a b"));
    CU_ASSERT_PTR_NULL(http_request_id_valid("a\r\nX-Evil: 1"));
    CU_ASSERT_PTR_NULL(http_request_id_valid("a\"b"));
    char longid[130];
    memset(longid, 'a', 129);
    longid[129] = '\0';
    CU_ASSERT_PTR_NULL(http_request_id_valid(longid));
    longid[128] = '\0';
    CU_ASSERT_PTR_NOT_NULL(http_request_id_valid(longid));
    const char *a = http_request_id_new(A), *b = http_request_id_new(A);
    CU_ASSERT_EQUAL(strlen(a), 32);
    CU_ASSERT_PTR_NOT_NULL(http_request_id_valid(a));
    CU_ASSERT_NOT_EQUAL(strcmp(a, b), 0);
}

static const unit_test_t tests[] = {
    { "routes match with parameters", test_match },
    { "unknown paths are 404", test_404 },
    { "wrong methods are 405 with Allow", test_405_allow },
    { "HEAD runs GET without a body", test_head },
    { "admin-only routes hide on the public listener", test_admin_only },
    { "JSON routes check the content type (415)", test_content_type },
    { "too large bodies are 413", test_too_large },
    { "malformed queries are 400", test_bad_query },
    { "malformed paths are 400 before routing", test_malformed_path },
    { "a handler without a response gives 500", test_no_response },
    { "malformed patterns are refused", test_bad_patterns },
    { "request ids", test_request_id },
};

int main(void)
{
    A = arena_new(4096);
    if (http_router_add(routes, sizeof(routes) / sizeof(routes[0])) != 0)
        return 2;
    int rc = unit_run("router", tests, sizeof(tests) / sizeof(tests[0]));
    arena_free(A);
    return rc;
}
