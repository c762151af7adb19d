/* test_points_adjust.c: the operator's point adjustment body (points/adjust). */
#include "unit.h"
#include "points/adjust.h"

static int parse(const char *s, points_adjust_t *a, err_t *e)
{
    return points_parse_adjust(s, strlen(s), a, e);
}

static void test_good(void)
{
    points_adjust_t a;
    err_t e;
    CU_ASSERT_EQUAL_FATAL(parse("{\"userId\":7,\"amount\":-500,\"reason\":\"환불 정정\","
                                "\"idempotencyKey\":\"ops-2024.10:01_a\"}",
                                &a, &e),
                          0);
    CU_ASSERT_EQUAL(a.user_id, 7);
    CU_ASSERT_EQUAL(a.amount, -500);
    ASSERT_STR(a.reason, "환불 정정");
    ASSERT_STR(a.idempotency_key, "ops-2024.10:01_a");
    CU_ASSERT_EQUAL(parse("{\"idempotencyKey\":\"k\",\"reason\":\"r\",\"amount\":1000000000000,"
                          "\"userId\":9223372036854775807}",
                          &a, &e),
                    0);
    CU_ASSERT_EQUAL(a.amount, POINTS_ADJUST_MAX);
}

static void test_bad(void)
{
    static const char *const bad[] = {
        "",
        "[]",
        "{\"userId\":1,\"amount\":5,\"reason\":\"r\"}",                              /* no key */
        "{\"userId\":1,\"amount\":0,\"reason\":\"r\",\"idempotencyKey\":\"k\"}",     /* zero */
        "{\"userId\":0,\"amount\":5,\"reason\":\"r\",\"idempotencyKey\":\"k\"}",     /* user 0 */
        "{\"userId\":\"1\",\"amount\":5,\"reason\":\"r\",\"idempotencyKey\":\"k\"}", /* string */
        "{\"userId\":1,\"amount\":5.0,\"reason\":\"r\",\"idempotencyKey\":\"k\"}",   /* double */
        "{\"userId\":1,\"amount\":1000000000001,\"reason\":\"r\",\"idempotencyKey\":\"k\"}",
        "{\"userId\":1,\"amount\":5,\"reason\":\"  \",\"idempotencyKey\":\"k\"}",  /* blank */
        "{\"userId\":1,\"amount\":5,\"reason\":\"r\",\"idempotencyKey\":\"a b\"}", /* space */
        "{\"userId\":1,\"amount\":5,\"reason\":\"r\",\"idempotencyKey\":\"\"}",
        "{\"userId\":1,\"amount\":5,\"reason\":\"r\",\"idempotencyKey\":\"k\",\"x\":1}", /* extra */
        "{\"userId\":1,\"amount\":5,\"amount\":-5,\"reason\":\"r\",\"idempotencyKey\":\"k\"}",
        "{\"userId\":1,\"amount\":5,\"reason\":\"r\",\"idempotencyKey\":\"k\"} trailing",
        "{\"userId\":1,\"amount\":5,\"reason\":null,\"idempotencyKey\":\"k\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        points_adjust_t a;
        err_t e;
        int rc = parse(bad[i], &a, &e);
        if (rc == 0)
            fprintf(stderr, "\n  accepted: %s\n", bad[i]);
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT_EQUAL(e.type, ERR_INVALID_PARAMETER);
        CU_ASSERT_EQUAL(e.status, 400);
    }
    char longkey[200];
    memset(longkey, 'k', 101);
    longkey[101] = '\0';
    char body[400];
    snprintf(body, sizeof(body),
             "{\"userId\":1,\"amount\":5,\"reason\":\"r\",\"idempotencyKey\":\"%s\"}", longkey);
    points_adjust_t a;
    err_t e;
    CU_ASSERT_EQUAL(parse(body, &a, &e), -1);
}

static const unit_test_t tests[] = {
    { "valid bodies", test_good },
    { "invalid bodies", test_bad },
};

UNIT_MAIN("points_adjust", tests)
