/* test_toss_parse.c: reading Toss answers (payment/gateway_toss): good,
 * malformed, partial and oversized bodies, the error-code table and its
 * retry classes, the transport results, and the approval check. */
#include "unit.h"
#include "payment/toss.h"

#include <stdlib.h>

/* A real answer of the sandbox (which renders Toss's Payment object). */
static const char DONE_BODY[] =
    "{\"mId\":\"tosspayments\",\"lastTransactionKey\":\"85fc602c55aec5811bff0a4358492a61\","
    "\"paymentKey\":\"tgen_pKWDVt1NDX0udL7MNGXz\",\"orderId\":\"ord_manual_0001\","
    "\"orderName\":\"포인트 충전\",\"taxExemptionAmount\":0,\"status\":\"DONE\","
    "\"requestedAt\":\"2024-11-24T17:11:20+09:00\",\"approvedAt\":\"2024-11-24T17:11:21+09:00\","
    "\"useEscrow\":false,\"cultureExpense\":false,\"card\":{\"issuerCode\":\"71\","
    "\"acquirerCode\":\"71\",\"number\":\"43301234****123*\",\"installmentPlanMonths\":0,"
    "\"isInterestFree\":false,\"interestPayer\":null,\"approveNo\":\"34881736\","
    "\"useCardPoint\":false,\"cardType\":\"CREDIT\",\"ownerType\":\"PERSONAL\","
    "\"acquireStatus\":\"READY\",\"amount\":10000},\"virtualAccount\":null,\"transfer\":null,"
    "\"mobilePhone\":null,\"giftCertificate\":null,\"cashReceipt\":null,\"cashReceipts\":null,"
    "\"discount\":null,\"cancels\":null,\"secret\":null,\"type\":\"NORMAL\",\"easyPay\":null,"
    "\"country\":\"KR\",\"failure\":null,\"isPartialCancelable\":true,"
    "\"receipt\":{\"url\":\"http://127.0.0.1:58092/sim/receipt/tgen_pKWDVt1NDX0udL7MNGXz\"},"
    "\"checkout\":{\"url\":\"http://127.0.0.1:58092/v1/payments/x/checkout\"},"
    "\"currency\":\"KRW\",\"totalAmount\":10000,\"balanceAmount\":10000,\"suppliedAmount\":9091,"
    "\"vat\":909,\"taxFreeAmount\":0,\"method\":\"CARD\",\"version\":\"2022-11-16\","
    "\"metadata\":null}";

static int parse(const char *s, gw_payment_t *p)
{
    char why[160];
    return toss_parse_payment(s, strlen(s), p, why, sizeof(why));
}

static void test_good_payment(void)
{
    gw_payment_t p;
    CU_ASSERT_EQUAL_FATAL(parse(DONE_BODY, &p), 0);
    ASSERT_STR(p.payment_key, "tgen_pKWDVt1NDX0udL7MNGXz");
    ASSERT_STR(p.order_id, "ord_manual_0001");
    CU_ASSERT_EQUAL(p.status, GW_PAY_DONE);
    ASSERT_STR(p.status_text, "DONE");
    CU_ASSERT_EQUAL(p.total_amount, 10000);
    ASSERT_STR(p.method, "CARD");
    CU_ASSERT_EQUAL(p.approved_at - p.requested_at, 1);
    CU_ASSERT_EQUAL(p.approved_at, 1732435881); /* 2024-11-24T08:11:21Z */
    CU_ASSERT_EQUAL(p.fail_code[0], '\0');
    /* minimal, with failure, unknown status and fields, Korean method text */
    CU_ASSERT_EQUAL(parse("{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"ABORTED\","
                          "\"totalAmount\":500.0,\"approvedAt\":null,\"method\":\"카드\","
                          "\"failure\":{\"code\":\"REJECT_CARD_COMPANY\",\"message\":\"거절\"},"
                          "\"newField\":{\"deep\":[1,2,{\"x\":null}]}}",
                          &p),
                    0);
    CU_ASSERT_EQUAL(p.status, GW_PAY_ABORTED);
    CU_ASSERT_EQUAL(p.total_amount, 500);
    CU_ASSERT_EQUAL(p.approved_at, 0);
    ASSERT_STR(p.method, "카드");
    ASSERT_STR(p.fail_code, "REJECT_CARD_COMPANY");
    ASSERT_STR(p.fail_message, "거절");
    CU_ASSERT_EQUAL(parse("{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"SOMETHING_"
                          "NEW\",\"totalAmount\":1}",
                          &p),
                    0);
    CU_ASSERT_EQUAL(p.status, GW_PAY_OTHER);
}

static void test_partial_bodies(void)
{
    /* Every cut of a good answer (what approve_then_drop or truncated_json
     * leave) is refused: a cut JSON text is never valid. */
    size_t n = strlen(DONE_BODY);
    for (size_t cut = 0; cut < n; cut++) {
        gw_payment_t p;
        char why[160];
        int rc = toss_parse_payment(DONE_BODY, cut, &p, why, sizeof(why));
        if (rc == 0)
            fprintf(stderr, "\n  accepted a cut at %zu\n", cut);
        CU_ASSERT_EQUAL(rc, -1);
    }
}

static void test_malformed_payment(void)
{
    static const char *const bad[] = {
        "",
        "null",
        "[]",
        "<html>502 Bad Gateway</html>",
        "{\"orderId\":\"order1\",\"status\":\"DONE\",\"totalAmount\":1}",      /* no key */
        "{\"paymentKey\":\"pk1\",\"status\":\"DONE\",\"totalAmount\":1}",      /* no order */
        "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"totalAmount\":1}",   /* no status */
        "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"DONE\"}", /* no amount */
        "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"DONE\",\"totalAmount\":\"1\"}",
        "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"DONE\",\"totalAmount\":-1}",
        "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"DONE\",\"totalAmount\":1.5}",
        "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"DONE\",\"totalAmount\":1e300}",
        "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":7,\"totalAmount\":1}",
        "{\"paymentKey\":\"pk/1\",\"orderId\":\"order1\",\"status\":\"DONE\",\"totalAmount\":1}",
        "{\"paymentKey\":\"pk1\",\"orderId\":\"bad\",\"status\":\"DONE\",\"totalAmount\":1}",
        "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"DONE\",\"totalAmount\":1,"
        "\"approvedAt\":\"yesterday\"}",
        "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"DONE\",\"totalAmount\":1,"
        "\"approvedAt\":12345}",
        "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"DONE\",\"totalAmount\":1,"
        "\"failure\":\"REJECT\"}",
        "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"DONE\",\"totalAmount\":1,"
        "\"method\":[\"CARD\"]}",
        /* a duplicate key could hide a second amount */
        "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"DONE\",\"totalAmount\":1,"
        "\"totalAmount\":100}",
        "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"DONE\",\"totalAmount\":1} {}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        gw_payment_t p;
        int rc = parse(bad[i], &p);
        if (rc == 0)
            fprintf(stderr, "\n  accepted: %s\n", bad[i]);
        CU_ASSERT_EQUAL(rc, -1);
    }
    /* nesting beyond 16 levels */
    char deep[256] = "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"DONE\","
                     "\"totalAmount\":1,\"x\":";
    for (int i = 0; i < 20; i++)
        strcat(deep, "[");
    for (int i = 0; i < 20; i++)
        strcat(deep, "]");
    strcat(deep, "}");
    gw_payment_t p;
    CU_ASSERT_EQUAL(parse(deep, &p), -1);
}

static void test_huge_body(void)
{
    /* A large but valid answer is read (unknown fields are skipped); an
     * answer past the client's cap never reaches the parser (TOO_LARGE). */
    size_t pad = 200 * 1024;
    size_t n = pad + 200;
    char *b = malloc(n);
    int k = snprintf(b, n,
                     "{\"paymentKey\":\"pk1\",\"orderId\":\"order1\",\"status\":\"DONE\","
                     "\"totalAmount\":1,\"blob\":\"");
    memset(b + k, 'x', pad);
    strcpy(b + k + pad, "\"}");
    gw_payment_t p;
    char why[160];
    CU_ASSERT_EQUAL(toss_parse_payment(b, strlen(b), &p, why, sizeof(why)), 0);
    free(b);
    httpc_resp_t r = { .result = HTTPC_TOO_LARGE, .status = 200, .body = "", .len = 0 };
    gw_result_t g;
    toss_interpret(&r, &g);
    CU_ASSERT_EQUAL(g.outcome, GW_NO_ANSWER);
    ASSERT_STR(g.code, "TOO_LARGE");
}

static void test_error_body(void)
{
    char code[GW_CODE_MAX], msg[GW_MESSAGE_MAX];
    const char *b = "{\"code\":\"REJECT_CARD_COMPANY\",\"message\":\"The card company declined.\"}";
    CU_ASSERT_EQUAL(toss_parse_error(b, strlen(b), code, msg), 0);
    ASSERT_STR(code, "REJECT_CARD_COMPANY");
    ASSERT_STR(msg, "The card company declined.");
    b = "{\"code\":\"X\"}";
    CU_ASSERT_EQUAL(toss_parse_error(b, strlen(b), code, msg), 0);
    ASSERT_STR(msg, "");
    /* a long Korean message is cut on a character boundary */
    char longb[2048] = "{\"code\":\"PROVIDER_ERROR\",\"message\":\"";
    for (int i = 0; i < 200; i++)
        strcat(longb, "가");
    strcat(longb, "\"}");
    CU_ASSERT_EQUAL(toss_parse_error(longb, strlen(longb), code, msg), 0);
    CU_ASSERT_TRUE(strlen(msg) < GW_MESSAGE_MAX);
    CU_ASSERT_EQUAL(strlen(msg) % 3, 0);
    static const char *const bad[] = {
        "",
        "{}",
        "{\"message\":\"m\"}",
        "{\"code\":5}",
        "{\"code\":\"lower\"}",
        "{\"code\":\"A B\"}",
        "{\"code\":\"X\",\"message\":3}",
        "<html></html>",
        "{\"code\":\"REJECT_CARD_COMPANY\",\"message\":\"cut",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_EQUAL(toss_parse_error(bad[i], strlen(bad[i]), code, msg), -1);
}

static void test_error_classes(void)
{
    /* PG_APIS.md §1.6 retry classes, code by code. */
    static const struct {
        const char *code;
        gw_class_t cls;
    } want[] = {
        { "PROVIDER_ERROR", GW_CLASS_TRANSIENT },
        { "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING", GW_CLASS_TRANSIENT },
        { "FAILED_INTERNAL_SYSTEM_PROCESSING", GW_CLASS_TRANSIENT },
        { "COMMON_ERROR", GW_CLASS_TRANSIENT },
        { "UNKNOWN_ERROR", GW_CLASS_TRANSIENT },
        { "IDEMPOTENT_REQUEST_PROCESSING", GW_CLASS_TRANSIENT },
        { "ALREADY_PROCESSED_PAYMENT", GW_CLASS_OUTCOME_UNKNOWN },
        { "UNKNOWN_PAYMENT_ERROR", GW_CLASS_OUTCOME_UNKNOWN },
        { "DUPLICATED_ORDER_ID", GW_CLASS_OUTCOME_UNKNOWN }, /* documented deviation */
        { "REJECT_CARD_PAYMENT", GW_CLASS_DECLINE },
        { "REJECT_CARD_COMPANY", GW_CLASS_DECLINE },
        { "REJECT_ACCOUNT_PAYMENT", GW_CLASS_DECLINE },
        { "INVALID_CARD_EXPIRATION", GW_CLASS_DECLINE },
        { "INVALID_CARD_NUMBER", GW_CLASS_DECLINE },
        { "INVALID_CARD_LOST_OR_STOLEN", GW_CLASS_DECLINE },
        { "INVALID_CARD_INSTALLMENT_PLAN", GW_CLASS_DECLINE },
        { "INVALID_STOPPED_CARD", GW_CLASS_DECLINE },
        { "EXCEED_MAX_CARD_INSTALLMENT_PLAN", GW_CLASS_DECLINE },
        { "EXCEED_MAX_DAILY_PAYMENT_COUNT", GW_CLASS_DECLINE },
        { "EXCEED_MAX_AUTH_COUNT", GW_CLASS_DECLINE },
        { "EXCEED_MAX_ONE_DAY_AMOUNT", GW_CLASS_DECLINE },
        { "BELOW_MINIMUM_AMOUNT", GW_CLASS_DECLINE },
        { "FDS_ERROR", GW_CLASS_DECLINE },
        { "NOT_FOUND_PAYMENT_SESSION", GW_CLASS_DECLINE },
        { "NOT_FOUND_PAYMENT", GW_CLASS_DECLINE },
        { "NOT_SUPPORTED_METHOD", GW_CLASS_DECLINE },
        { "UNAUTHORIZED_KEY", GW_CLASS_CONFIG },
        { "INVALID_API_KEY", GW_CLASS_CONFIG },
        { "INCORRECT_BASIC_AUTH_FORMAT", GW_CLASS_CONFIG },
        { "FORBIDDEN_REQUEST", GW_CLASS_CONFIG },
        { "INVALID_REQUEST", GW_CLASS_CONFIG },
        { "INVALID_ORDER_ID", GW_CLASS_CONFIG },
        { "NOT_FOUND_TERMINAL_ID", GW_CLASS_CONFIG },
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        gw_class_t got = toss_error_class(want[i].code, 400);
        if (got != want[i].cls)
            fprintf(stderr, "\n  %s: %s\n", want[i].code, gw_class_name(got));
        CU_ASSERT_EQUAL(got, want[i].cls);
    }
    /* families not in the table */
    CU_ASSERT_EQUAL(toss_error_class("REJECT_SOMETHING_NEW", 403), GW_CLASS_DECLINE);
    CU_ASSERT_EQUAL(toss_error_class("EXCEED_MAX_MONTHLY_AMOUNT", 400), GW_CLASS_DECLINE);
    CU_ASSERT_EQUAL(toss_error_class("NOT_SUPPORTED_BANK", 400), GW_CLASS_DECLINE);
    CU_ASSERT_EQUAL(toss_error_class("INVALID_CARD_COMPANY", 400), GW_CLASS_DECLINE);
    /* unknown codes: by status, never a decline on a guess */
    CU_ASSERT_EQUAL(toss_error_class("BRAND_NEW_CODE", 500), GW_CLASS_TRANSIENT);
    CU_ASSERT_EQUAL(toss_error_class("BRAND_NEW_CODE", 503), GW_CLASS_TRANSIENT);
    CU_ASSERT_EQUAL(toss_error_class("BRAND_NEW_CODE", 429), GW_CLASS_TRANSIENT);
    CU_ASSERT_EQUAL(toss_error_class("BRAND_NEW_CODE", 400), GW_CLASS_OUTCOME_UNKNOWN);
    CU_ASSERT_EQUAL(toss_error_class("BRAND_NEW_CODE", 403), GW_CLASS_OUTCOME_UNKNOWN);
    /* every table entry: a known code, a status, a class */
    for (size_t i = 0; i < toss_ncodes; i++) {
        CU_ASSERT_TRUE(toss_codes[i].cls != GW_CLASS_NONE);
        CU_ASSERT_TRUE(toss_codes[i].status >= 400 && toss_codes[i].status <= 599);
        CU_ASSERT_EQUAL(toss_error_class(toss_codes[i].code, 200), toss_codes[i].cls);
        for (size_t j = i + 1; j < toss_ncodes; j++)
            CU_ASSERT_NOT_EQUAL(strcmp(toss_codes[i].code, toss_codes[j].code), 0);
    }
}

static void interp(httpc_result_t res, long status, const char *body, gw_result_t *g)
{
    httpc_resp_t r = { .result = res, .status = status, .body = (char *)body, .len = strlen(body) };
    toss_interpret(&r, g);
}

static void test_interpret(void)
{
    gw_result_t g;
    interp(HTTPC_OK, 200, DONE_BODY, &g);
    CU_ASSERT_EQUAL(g.outcome, GW_ANSWER_PAYMENT);
    CU_ASSERT_EQUAL(g.http_status, 200);
    interp(HTTPC_TIMEOUT, 0, "", &g);
    CU_ASSERT_EQUAL(g.outcome, GW_NO_ANSWER);
    CU_ASSERT_TRUE(g.timed_out);
    ASSERT_STR(g.code, "TIMEOUT");
    static const httpc_result_t lost[] = { HTTPC_CONNECT_FAILED, HTTPC_NETWORK, HTTPC_TOO_LARGE,
                                           HTTPC_TLS, HTTPC_OTHER };
    for (size_t i = 0; i < sizeof(lost) / sizeof(lost[0]); i++) {
        interp(lost[i], 0, "", &g);
        CU_ASSERT_EQUAL(g.outcome, GW_NO_ANSWER);
        CU_ASSERT_FALSE(g.timed_out);
    }
    /* 200 with a cut body (truncated_json): unknown, not a refusal */
    char cut[200];
    memcpy(cut, DONE_BODY, 150);
    cut[150] = '\0';
    interp(HTTPC_OK, 200, cut, &g);
    CU_ASSERT_EQUAL(g.outcome, GW_NO_ANSWER);
    ASSERT_STR(g.code, "MALFORMED_ANSWER");
    interp(HTTPC_OK, 403, "{\"code\":\"REJECT_CARD_COMPANY\",\"message\":\"no\"}", &g);
    CU_ASSERT_EQUAL(g.outcome, GW_ANSWER_ERROR);
    CU_ASSERT_EQUAL(g.cls, GW_CLASS_DECLINE);
    CU_ASSERT_EQUAL(g.http_status, 403);
    interp(HTTPC_OK, 500, "{\"code\":\"FAILED_INTERNAL_SYSTEM_PROCESSING\",\"message\":\"x\"}", &g);
    CU_ASSERT_EQUAL(g.outcome, GW_ANSWER_ERROR);
    CU_ASSERT_EQUAL(g.cls, GW_CLASS_TRANSIENT);
    /* an error status without Toss's body (a proxy's page): unknown */
    interp(HTTPC_OK, 502, "<html>Bad Gateway</html>", &g);
    CU_ASSERT_EQUAL(g.outcome, GW_NO_ANSWER);
    interp(HTTPC_OK, 404, "<html>Not Found</html>", &g);
    CU_ASSERT_EQUAL(g.outcome, GW_NO_ANSWER);
    interp(HTTPC_OK, 302, "", &g);
    CU_ASSERT_EQUAL(g.outcome, GW_NO_ANSWER);
    interp(HTTPC_OK, 201, DONE_BODY, &g);
    CU_ASSERT_EQUAL(g.outcome, GW_NO_ANSWER);
}

static void test_approval_check(void)
{
    gw_payment_t p;
    CU_ASSERT_EQUAL_FATAL(parse(DONE_BODY, &p), 0);
    gw_confirm_t rq = { "tgen_pKWDVt1NDX0udL7MNGXz", "ord_manual_0001", 10000, "k" };
    char why[160];
    CU_ASSERT_EQUAL(gw_check_approval(&p, &rq, why, sizeof(why)), 0);
    gw_confirm_t other_order = { "tgen_pKWDVt1NDX0udL7MNGXz", "ord_manual_0002", 10000, "k" };
    CU_ASSERT_EQUAL(gw_check_approval(&p, &other_order, why, sizeof(why)), -1);
    gw_confirm_t other_amount = { "tgen_pKWDVt1NDX0udL7MNGXz", "ord_manual_0001", 1000, "k" };
    CU_ASSERT_EQUAL(gw_check_approval(&p, &other_amount, why, sizeof(why)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "amount"));
    gw_confirm_t other_key = { "tgen_other", "ord_manual_0001", 10000, "k" };
    CU_ASSERT_EQUAL(gw_check_approval(&p, &other_key, why, sizeof(why)), -1);
    gw_payment_t q = p;
    q.status = GW_PAY_WAITING_FOR_DEPOSIT;
    snprintf(q.status_text, sizeof(q.status_text), "WAITING_FOR_DEPOSIT");
    CU_ASSERT_EQUAL(gw_check_approval(&q, &rq, why, sizeof(why)), -1);
    q = p;
    q.approved_at = 0;
    CU_ASSERT_EQUAL(gw_check_approval(&q, &rq, why, sizeof(why)), -1);
}

static const unit_test_t tests[] = {
    { "a good Payment object", test_good_payment },
    { "every partial body is refused", test_partial_bodies },
    { "malformed Payment objects", test_malformed_payment },
    { "huge bodies", test_huge_body },
    { "error bodies", test_error_body },
    { "error codes and retry classes", test_error_classes },
    { "transport results", test_interpret },
    { "approval check", test_approval_check },
};

UNIT_MAIN("toss_parse", tests)
