/* test_payment_body.c: validation of payment input (payment/body): the
 * create body, orderId, paymentKey, amount limits. */
#include "unit.h"
#include "payment/body.h"

#define MAXAMT 10000000

static int parse(const char *s, payment_create_t *p, err_t *e)
{
    return payment_parse_create(s, strlen(s), MAXAMT, p, e);
}

static void test_good(void)
{
    payment_create_t p;
    err_t e;
    CU_ASSERT_EQUAL_FATAL(parse("{\"orderId\": \"ord_20241001_0001\", \"userId\": 1, "
                                "\"amount\": 10000, \"payGateway\": \"TOSS\", "
                                "\"payType\": \"CARD\"}",
                                &p, &e),
                          0);
    ASSERT_STR(p.order_id, "ord_20241001_0001");
    CU_ASSERT_EQUAL(p.user_id, 1);
    CU_ASSERT_EQUAL(p.amount, 10000);
    ASSERT_STR(p.gateway, "TOSS");
    ASSERT_STR(p.pay_type, "CARD");
    /* bounds: 1 and the configured maximum; orderId 6 and 64 characters */
    CU_ASSERT_EQUAL(parse("{\"orderId\":\"abc-_9\",\"userId\":9223372036854775807,\"amount\":1,"
                          "\"payGateway\":\"KAKAO\",\"payType\":\"EASY_PAY\"}",
                          &p, &e),
                    0);
    char body[256];
    snprintf(body, sizeof(body),
             "{\"orderId\":\"%s\",\"userId\":2,\"amount\":%d,\"payGateway\":\"TOSS\","
             "\"payType\":\"CARD\"}",
             "A123456789B123456789C123456789D123456789E123456789F123456789GHIJ", MAXAMT);
    CU_ASSERT_EQUAL(parse(body, &p, &e), 0);
    CU_ASSERT_EQUAL(strlen(p.order_id), 64);
}

/* userId may be omitted: the route takes the member from the token. */
static void test_user_omitted(void)
{
    payment_create_t c;
    err_t e;
    static const char body[] =
        "{\"orderId\":\"order1\",\"amount\":100,\"payGateway\":\"TOSS\",\"payType\":\"CARD\"}";
    CU_ASSERT_EQUAL_FATAL(payment_parse_create(body, sizeof(body) - 1, 10000000, &c, &e), 0);
    CU_ASSERT_EQUAL(c.user_id, 0);
    CU_ASSERT_EQUAL(c.amount, 100);
}

static void test_bad(void)
{
    static const char *const bad[] = {
        "",
        "null",
        "[]",
        "\"x\"",
        /* missing each field */
        "{\"userId\":1,\"amount\":100,\"payGateway\":\"TOSS\",\"payType\":\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"payGateway\":\"TOSS\",\"payType\":\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":100,\"payType\":\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":100,\"payGateway\":\"TOSS\"}",
        /* wrong types */
        "{\"orderId\":1234567,\"userId\":1,\"amount\":100,\"payGateway\":\"TOSS\",\"payType\":"
        "\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":\"1\",\"amount\":100,\"payGateway\":\"TOSS\","
        "\"payType\":\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":\"100\",\"payGateway\":\"TOSS\","
        "\"payType\":\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":100.0,\"payGateway\":\"TOSS\",\"payType\":"
        "\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":1e4,\"payGateway\":\"TOSS\",\"payType\":"
        "\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":true,\"payGateway\":\"TOSS\",\"payType\":"
        "\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":null,\"payGateway\":\"TOSS\",\"payType\":"
        "\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":100,\"payGateway\":[\"TOSS\"],\"payType\":"
        "\"CARD\"}",
        /* out of range */
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":0,\"payGateway\":\"TOSS\",\"payType\":"
        "\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":-100,\"payGateway\":\"TOSS\",\"payType\":"
        "\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":10000001,\"payGateway\":\"TOSS\","
        "\"payType\":\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":99999999999999999999,\"payGateway\":"
        "\"TOSS\",\"payType\":\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":0,\"amount\":100,\"payGateway\":\"TOSS\",\"payType\":"
        "\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":-1,\"amount\":100,\"payGateway\":\"TOSS\",\"payType\":"
        "\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":9223372036854775808,\"amount\":100,\"payGateway\":"
        "\"TOSS\",\"payType\":\"CARD\"}",
        /* orderId rule */
        "{\"orderId\":\"short\",\"userId\":1,\"amount\":100,\"payGateway\":\"TOSS\",\"payType\":"
        "\"CARD\"}",
        "{\"orderId\":\"order "
        "1\",\"userId\":1,\"amount\":100,\"payGateway\":\"TOSS\",\"payType\":\"CARD\"}",
        "{\"orderId\":\"order/"
        "1\",\"userId\":1,\"amount\":100,\"payGateway\":\"TOSS\",\"payType\":\"CARD\"}",
        "{\"orderId\":\"주문번호12345\",\"userId\":1,\"amount\":100,\"payGateway\":\"TOSS\","
        "\"payType\":\"CARD\"}",
        "{\"orderId\":\"A123456789B123456789C123456789D123456789E123456789F123456789GHIJK\","
        "\"userId\":1,\"amount\":100,\"payGateway\":\"TOSS\",\"payType\":\"CARD\"}",
        /* gateway and type tokens */
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":100,\"payGateway\":\"toss\",\"payType\":"
        "\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":100,\"payGateway\":\"\",\"payType\":"
        "\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":100,\"payGateway\":\"TOSS\",\"payType\":"
        "\"ca rd\"}",
        /* strictness */
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":100,\"payGateway\":\"TOSS\",\"payType\":"
        "\"CARD\",\"extra\":1}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":100,\"amount\":1,\"payGateway\":\"TOSS\","
        "\"payType\":\"CARD\"}",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":100,\"payGateway\":\"TOSS\",\"payType\":"
        "\"CARD\"}x",
        "{\"orderId\":\"order1\",\"userId\":1,\"amount\":100,\"payGateway\":\"TOSS\",\"payType\":"
        "\"CARD\"",
        "{'orderId':'order1','userId':1,'amount':100,'payGateway':'TOSS','payType':'CARD'}",
        "{\"orderId\":\"order1\\u0000\",\"userId\":1,\"amount\":100,\"payGateway\":\"TOSS\","
        "\"payType\":\"CARD\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        payment_create_t p;
        err_t e;
        int rc = parse(bad[i], &p, &e);
        if (rc == 0)
            fprintf(stderr, "\n  accepted: %s\n", bad[i]);
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT_EQUAL(e.type, ERR_INVALID_PARAMETER);
        CU_ASSERT_EQUAL(e.status, 400);
        CU_ASSERT_TRUE(e.message[0] != '\0');
    }
    /* the message names the field */
    payment_create_t p;
    err_t e;
    parse("{\"orderId\":\"order1\",\"userId\":1,\"amount\":0,\"payGateway\":\"TOSS\","
          "\"payType\":\"CARD\"}",
          &p, &e);
    CU_ASSERT_PTR_NOT_NULL(strstr(e.message, "amount"));
}

static void test_validators(void)
{
    CU_ASSERT_TRUE(payment_order_id_valid("abcdef"));
    CU_ASSERT_TRUE(payment_order_id_valid("ord_2024-10-01_0001"));
    CU_ASSERT_FALSE(payment_order_id_valid("abcde"));
    CU_ASSERT_FALSE(payment_order_id_valid(""));
    CU_ASSERT_FALSE(payment_order_id_valid(NULL));
    CU_ASSERT_FALSE(payment_order_id_valid("abc.def"));
    CU_ASSERT_FALSE(payment_order_id_valid("abcdef\n"));
    CU_ASSERT_FALSE(payment_order_id_valid("../../x"));
    CU_ASSERT_TRUE(payment_key_valid("tgen_20240101abcDEF"));
    CU_ASSERT_TRUE(payment_key_valid("a"));
    CU_ASSERT_TRUE(payment_key_valid("5zJ4xY7m0kODnyRpQWGrN2xqGlNvLrKwv1M9ENjbeoPaZdL6.~-_"));
    CU_ASSERT_FALSE(payment_key_valid(""));
    CU_ASSERT_FALSE(payment_key_valid("a/b"));
    CU_ASSERT_FALSE(payment_key_valid("a b"));
    CU_ASSERT_FALSE(payment_key_valid("a%2Fb"));
    char k[202];
    memset(k, 'k', 200);
    k[200] = '\0';
    CU_ASSERT_TRUE(payment_key_valid(k));
    k[200] = 'k';
    k[201] = '\0';
    CU_ASSERT_FALSE(payment_key_valid(k));
    CU_ASSERT_TRUE(payment_upper_token_valid("REJECT_CARD_COMPANY", 63));
    CU_ASSERT_FALSE(payment_upper_token_valid("reject", 63));
    CU_ASSERT_FALSE(payment_upper_token_valid("ABC", 2));
    CU_ASSERT_FALSE(payment_upper_token_valid("", 5));
}

static const unit_test_t tests[] = {
    { "valid create bodies", test_good },
    { "invalid create bodies", test_bad },
    { "userId omitted: taken from the token", test_user_omitted },
    { "orderId, paymentKey and token rules", test_validators },
};

UNIT_MAIN("payment_body", tests)
