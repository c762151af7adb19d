/* test_envelope.c: API.md's envelopes, the page result, escaping and the
 * FastCGI response bytes (http/response.c, common/jw.c, common/err.c). */
#include "unit.h"
#include "http/http.h"

#include <json-c/json.h>

static arena_t *A;

static http_req_t *mk(void)
{
    static http_req_t r;
    arena_reset(A);
    http_req_init(&r, A);
    r.method = HTTP_GET;
    r.request_id = "req-7";
    return &r;
}

static json_object *parse(const http_req_t *r)
{
    json_object *o = json_tokener_parse(r->out.buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    return o;
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static void test_success(void)
{
    http_req_t *r = mk();
    jw_t *w = http_ok_begin(r, 201, NULL);
    jw_obj_begin(w);
    jw_kint(w, "id", 1);
    jw_kstr(w, "name", "김민지");
    jw_obj_end(w);
    http_ok_end(r);
    ASSERT_STR(r->out.buf,
               "{\"code\":201,\"status\":\"CREATED\",\"message\":\"CREATED\",\"data\":{\"id\":"
               "1,\"name\":\"김민지\"}}");
}

static void test_error_types(void)
{
    struct {
        err_type_t t;
        int status;
        const char *type, *st;
    } cases[] = {
        { ERR_NO_RESOURCE, 404, "NO_RESOURCE", "NOT_FOUND" },
        { ERR_INVALID_PARAMETER, 400, "INVALID_PARAMETER", "BAD_REQUEST" },
        { ERR_CONFLICT, 409, "CONFLICT", "CONFLICT" },
        { ERR_UNAUTHORIZED, 401, "UNAUTHORIZED", "UNAUTHORIZED" },
        { ERR_FORBIDDEN, 403, "FORBIDDEN", "FORBIDDEN" },
        { ERR_METHOD_NOT_ALLOWED, 405, "METHOD_NOT_ALLOWED", "METHOD_NOT_ALLOWED" },
        { ERR_PAYLOAD_TOO_LARGE, 413, "PAYLOAD_TOO_LARGE", "PAYLOAD_TOO_LARGE" },
        { ERR_UNSUPPORTED_MEDIA_TYPE, 415, "UNSUPPORTED_MEDIA_TYPE", "UNSUPPORTED_MEDIA_TYPE" },
        { ERR_EXTERNAL_API, 502, "EXTERNAL_API_ERROR", "BAD_GATEWAY" },
        { ERR_SERVICE_UNAVAILABLE, 503, "SERVICE_UNAVAILABLE", "SERVICE_UNAVAILABLE" },
        { ERR_UNKNOWN, 500, "UNKNOWN_ERROR", "INTERNAL_SERVER_ERROR" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        http_req_t *r = mk();
        err_t e;
        err_set(&e, cases[i].t, "thing %d went wrong", 7);
        http_error(r, &e);
        CU_ASSERT_EQUAL(r->status, cases[i].status);
        json_object *o = parse(r);
        json_object *code;
        CU_ASSERT_TRUE(json_object_object_get_ex(o, "code", &code));
        CU_ASSERT_EQUAL(json_object_get_int(code), cases[i].status);
        ASSERT_STR(jstr(o, "status"), cases[i].st);
        ASSERT_STR(jstr(o, "errorType"), cases[i].type);
        ASSERT_STR(jstr(o, "errorMessage"), "thing 7 went wrong");
        ASSERT_STR(jstr(o, "requestId"), "req-7");
        CU_ASSERT_PTR_NULL(jstr(o, "pgCode"));
        json_object_put(o);
    }
}

static void test_gateway_error(void)
{
    http_req_t *r = mk();
    err_t e;
    err_set_status(&e, ERR_EXTERNAL_API, 403, "the card was refused");
    snprintf(e.pg_code, sizeof(e.pg_code), "REJECT_CARD_COMPANY");
    snprintf(e.pg_message, sizeof(e.pg_message), "카드사 거절 \"limit\"");
    jw_t *w = http_error_begin(r, &e);
    jw_key(w, "data");
    jw_obj_begin(w);
    jw_kstr(w, "orderId", "ord_1");
    jw_obj_end(w);
    http_error_end(r);
    CU_ASSERT_EQUAL(r->status, 403);
    json_object *o = parse(r);
    ASSERT_STR(jstr(o, "status"), "FORBIDDEN");
    ASSERT_STR(jstr(o, "errorType"), "EXTERNAL_API_ERROR");
    ASSERT_STR(jstr(o, "pgCode"), "REJECT_CARD_COMPANY");
    ASSERT_STR(jstr(o, "pgMessage"), "카드사 거절 \"limit\"");
    json_object *d;
    CU_ASSERT_TRUE(json_object_object_get_ex(o, "data", &d));
    ASSERT_STR(jstr(d, "orderId"), "ord_1");
    json_object_put(o);
}

static void test_page(void)
{
    http_req_t *r = mk();
    jw_t *w = http_ok_begin(r, 200, NULL);
    http_page_begin(w, 0, 10, 1234, true, "abc");
    jw_int(w, 1);
    jw_int(w, 2);
    http_page_end(w);
    http_ok_end(r);
    json_object *o = parse(r), *d, *v;
    CU_ASSERT_TRUE(json_object_object_get_ex(o, "data", &d));
    CU_ASSERT_TRUE(json_object_object_get_ex(d, "totalPages", &v));
    CU_ASSERT_EQUAL(json_object_get_int(v), 124);
    CU_ASSERT_TRUE(json_object_object_get_ex(d, "contents", &v));
    CU_ASSERT_EQUAL(json_object_array_length(v), 2);
    ASSERT_STR(jstr(d, "nextCursor"), "abc");
    json_object_put(o);
    r = mk();
    w = http_ok_begin(r, 200, NULL);
    http_page_begin(w, 3, 10, 0, false, NULL);
    http_page_end(w);
    http_ok_end(r);
    CU_ASSERT_PTR_NOT_NULL(strstr(r->out.buf,
                                  "\"totalPages\":0,\"hasNext\":false,\"nextCursor\":null,"
                                  "\"contents\":[]"));
}

static void test_escaping(void)
{
    jw_t w;
    arena_reset(A);
    jw_init(&w, A, 8);
    jw_arr_begin(&w);
    jw_str(&w, "q\"b\\s\n\r\t\x01/");
    jw_strn(&w, "bad\xff\xfe utf8 \xed\xa0\x80", 14);
    jw_int(&w, INT64_MIN);
    jw_int(&w, INT64_MAX);
    jw_bool(&w, true);
    jw_null(&w);
    jw_arr_end(&w);
    ASSERT_STR(w.buf, "[\"q\\\"b\\\\s\\n\\r\\t\\u0001/\",\"bad\xEF\xBF\xBD\xEF\xBF\xBD utf8 "
                      "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\",-9223372036854775808,"
                      "9223372036854775807,true,null]");
    json_object *o = json_tokener_parse(w.buf);
    CU_ASSERT_PTR_NOT_NULL(o);
    json_object_put(o);
}

static void test_serialize(void)
{
    http_req_t *r = mk();
    http_fail(r, ERR_NO_RESOURCE, "profile %d does not exist", 7);
    http_header(r, "Cache-Control", "no-store");
    http_header(r, "X-Evil", "a\r\nSet-Cookie: x"); /* refused */
    size_t len;
    const char *b = http_serialize(r, &len);
    static const char head[] = "Status: 404 Not Found\r\nContent-Type: application/json; "
                               "charset=utf-8\r\nX-Request-Id: req-7\r\n";
    CU_ASSERT_EQUAL(strncmp(b, head, sizeof(head) - 1), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(b, "Cache-Control: no-store\r\n"));
    CU_ASSERT_PTR_NULL(strstr(b, "Set-Cookie"));
    const char *body = strstr(b, "\r\n\r\n") + 4;
    char cl[48];
    snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", strlen(body));
    CU_ASSERT_PTR_NOT_NULL(strstr(b, cl));
    CU_ASSERT_PTR_NOT_NULL(strstr(body, "profile 7 does not exist"));
}

static void test_status_names(void)
{
    ASSERT_STR(http_status_name(200), "OK");
    ASSERT_STR(http_status_name(429), "TOO_MANY_REQUESTS");
    ASSERT_STR(http_status_name(504), "GATEWAY_TIMEOUT");
    ASSERT_STR(http_status_reason(413), "Payload Too Large");
}

static const unit_test_t tests[] = {
    { "success envelope", test_success },
    { "every error type with its status", test_error_types },
    { "gateway errors carry pgCode and pgMessage", test_gateway_error },
    { "page result", test_page },
    { "JSON escaping and invalid UTF-8", test_escaping },
    { "FastCGI response bytes", test_serialize },
    { "status names", test_status_names },
};

int main(void)
{
    A = arena_new(2048);
    int rc = unit_run("envelope", tests, sizeof(tests) / sizeof(tests[0]));
    arena_free(A);
    return rc;
}
