/* test_payment_state.c: the payment state machine's transition table
 * (payment/state): every pair, the final states, the SQL guard literals. */
#include "unit.h"
#include "payment/state.h"

/* The table API.md describes, written out independently of state.c. */
static bool expected(pay_status_t f, pay_status_t t)
{
    switch (f) {
    case PAY_READY:
        return t == PAY_IN_PROGRESS || t == PAY_ABORTED || t == PAY_EXPIRED;
    case PAY_IN_PROGRESS:
        return t == PAY_IN_PROGRESS || t == PAY_DONE || t == PAY_ABORTED || t == PAY_EXPIRED ||
               t == PAY_UNKNOWN;
    case PAY_UNKNOWN:
        return t == PAY_IN_PROGRESS || t == PAY_DONE || t == PAY_ABORTED || t == PAY_EXPIRED;
    default:
        return false; /* DONE, ABORTED, EXPIRED are final */
    }
}

static void test_every_pair(void)
{
    for (int f = 0; f < PAY__COUNT; f++) {
        for (int t = 0; t < PAY__COUNT; t++) {
            bool got = pay_transition_ok((pay_status_t)f, (pay_status_t)t);
            if (got != expected((pay_status_t)f, (pay_status_t)t))
                fprintf(stderr, "\n  %s -> %s: got %d\n", pay_status_name((pay_status_t)f),
                        pay_status_name((pay_status_t)t), got);
            CU_ASSERT_EQUAL(got, expected((pay_status_t)f, (pay_status_t)t));
        }
    }
    CU_ASSERT_FALSE(pay_transition_ok(PAY_INVALID, PAY_DONE));
    CU_ASSERT_FALSE(pay_transition_ok(PAY_READY, PAY__COUNT));
}

static void test_key_properties(void)
{
    /* Never approved without a confirm attempt. */
    CU_ASSERT_FALSE(pay_transition_ok(PAY_READY, PAY_DONE));
    /* A lost answer is never a failure: UNKNOWN, not ABORTED, comes from IN_PROGRESS only. */
    CU_ASSERT_FALSE(pay_transition_ok(PAY_READY, PAY_UNKNOWN));
    for (int s = 0; s < PAY__COUNT; s++) {
        bool final = pay_status_final((pay_status_t)s);
        CU_ASSERT_EQUAL(final, s == PAY_DONE || s == PAY_ABORTED || s == PAY_EXPIRED);
        for (int t = 0; final && t < PAY__COUNT; t++)
            CU_ASSERT_FALSE(pay_transition_ok((pay_status_t)s, (pay_status_t)t));
    }
}

static void test_names(void)
{
    for (int s = 0; s < PAY__COUNT; s++)
        CU_ASSERT_EQUAL(pay_status_parse(pay_status_name((pay_status_t)s)), s);
    CU_ASSERT_EQUAL(pay_status_parse("done"), PAY_INVALID);
    CU_ASSERT_EQUAL(pay_status_parse(""), PAY_INVALID);
    CU_ASSERT_EQUAL(pay_status_parse(NULL), PAY_INVALID);
    ASSERT_STR(pay_status_name(PAY_INVALID), "INVALID");
}

static void test_sources_literal(void)
{
    char buf[PAY_SOURCES_MAX];
    pay_sources_literal(PAY_DONE, buf);
    ASSERT_STR(buf, "{IN_PROGRESS,UNKNOWN}");
    pay_sources_literal(PAY_IN_PROGRESS, buf);
    ASSERT_STR(buf, "{READY,IN_PROGRESS,UNKNOWN}");
    pay_sources_literal(PAY_EXPIRED, buf);
    ASSERT_STR(buf, "{READY,IN_PROGRESS,UNKNOWN}");
    pay_sources_literal(PAY_READY, buf);
    ASSERT_STR(buf, "{}");
}

static const unit_test_t tests[] = {
    { "every transition pair", test_every_pair },
    { "final states and key properties", test_key_properties },
    { "status names", test_names },
    { "SQL guard literals", test_sources_literal },
};

UNIT_MAIN("payment_state", tests)
