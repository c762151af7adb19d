/* test_jstrict.c: the strict JSON layer in front of json-c (common/jstrict):
 * what json-c alone would accept but a payment API must refuse. */
#include "unit.h"
#include "common/jstrict.h"

#include <stdint.h>
#include <stdlib.h>

static json_object *parse(const char *s)
{
    char why[JSTRICT_WHY];
    return jstrict_parse(s, strlen(s), 8, why, sizeof(why));
}

static void accepts(const char *s)
{
    json_object *o = parse(s);
    if (o == NULL)
        fprintf(stderr, "\n  refused: %s\n", s);
    CU_ASSERT_PTR_NOT_NULL(o);
    json_object_put(o);
}

static void refuses(const char *s)
{
    json_object *o = parse(s);
    if (o != NULL)
        fprintf(stderr, "\n  accepted: %s\n", s);
    CU_ASSERT_PTR_NULL(o);
    json_object_put(o);
}

static void test_grammar(void)
{
    accepts("{}");
    accepts(" {\"a\": 1, \"b\": [true, false, null, -0.5e+3, \"x\\u00e9\\n\"]} \r\n");
    accepts("[]");
    accepts("\"s\"");
    accepts("{\"a\":-9223372036854775808,\"b\":9223372036854775807}");
    refuses("");
    refuses("   ");
    refuses("{'a':1}");     /* json-c takes single quotes */
    refuses("{\"a\":NaN}"); /* and NaN */
    refuses("{\"a\":Infinity}");
    refuses("{\"a\":01}");
    refuses("{\"a\":1.}");
    refuses("{\"a\":.5}");
    refuses("{\"a\":+1}");
    refuses("{\"a\":1,}");
    refuses("[1,]");
    refuses("{\"a\":1} x");
    refuses("{\"a\":1}{}");
    refuses("{\"a\":1");
    refuses("{\"a\":\"unterminated}");
    refuses("{\"a\":\"tab\there\"}");
    refuses("{\"a\":\"\\x\"}");
    refuses("{\"a\":\"\\u12\"}");
    refuses("{a:1}");
    refuses("{\"a\" 1}");
    refuses("tru");
    refuses("nul");
}

static void test_overflow_and_nul(void)
{
    /* json-c clamps these to INT64_MAX/MIN without telling anyone. */
    refuses("{\"a\":9223372036854775808}");
    refuses("{\"a\":-9223372036854775809}");
    refuses("{\"a\":99999999999999999999}");
    refuses("{\"a\":\"x\\u0000y\"}");
    const char nul[] = "{\"a\":\"x\0y\"}";
    char why[JSTRICT_WHY];
    CU_ASSERT_PTR_NULL(jstrict_parse(nul, sizeof(nul) - 1, 8, why, sizeof(why)));
    CU_ASSERT_PTR_NULL(jstrict_parse("\xff{}", 3, 8, why, sizeof(why)));
    CU_ASSERT_PTR_NULL(jstrict_parse("\xef\xbb\xbf{}", 5, 8, why, sizeof(why))); /* BOM */
}

static void test_duplicates(void)
{
    refuses("{\"a\":1,\"a\":2}");
    refuses("{\"a\":1,\"\\u0061\":2}"); /* same name, other spelling */
    refuses("{\"x\":{\"a\":{},\"a\":2}}");
    refuses("[{\"b\":1},{\"a\":1,\"a\":1}]");
    refuses("{\"a\":{\"x\":1},\"a\":2}");
    accepts("{\"a\":{\"a\":1},\"b\":{\"a\":2}}");
    accepts("[{\"a\":1},{\"a\":1}]");
}

static void test_depth(void)
{
    char why[JSTRICT_WHY];
    const char *deep = "[[[[[[[[[1]]]]]]]]]"; /* 9 levels */
    CU_ASSERT_PTR_NULL(jstrict_parse(deep, strlen(deep), 8, why, sizeof(why)));
    json_object *o = jstrict_parse(deep, strlen(deep), 9, why, sizeof(why));
    CU_ASSERT_PTR_NOT_NULL(o);
    json_object_put(o);
    /* 100,000 brackets: refused by depth, no stack exhaustion */
    size_t n = 100000;
    char *big = malloc(n);
    memset(big, '[', n);
    CU_ASSERT_PTR_NULL(jstrict_parse(big, n, 64, why, sizeof(why)));
    free(big);
}

static void test_members(void)
{
    char why[JSTRICT_WHY];
    json_object *o = parse("{\"s\":\"abc\",\"i\":42,\"d\":1.0,\"n\":null,\"b\":true,"
                           "\"neg\":-5,\"big\":\"0123456789\"}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    const char *s;
    int64_t v;
    bool present;
    CU_ASSERT_EQUAL(jstrict_str(o, "s", true, false, 10, &s, why, sizeof(why)), 0);
    ASSERT_STR(s, "abc");
    CU_ASSERT_EQUAL(jstrict_str(o, "big", true, false, 5, &s, why, sizeof(why)), -1);
    CU_ASSERT_EQUAL(jstrict_str(o, "i", true, false, 10, &s, why, sizeof(why)), -1);
    ASSERT_STR(why, "field 'i' must be a string");
    CU_ASSERT_EQUAL(jstrict_str(o, "missing", true, false, 10, &s, why, sizeof(why)), -1);
    ASSERT_STR(why, "field 'missing' is required");
    CU_ASSERT_EQUAL(jstrict_str(o, "missing", false, false, 10, &s, why, sizeof(why)), 0);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_EQUAL(jstrict_str(o, "n", false, true, 10, &s, why, sizeof(why)), 0);
    CU_ASSERT_PTR_NULL(s);
    CU_ASSERT_EQUAL(jstrict_str(o, "n", false, false, 10, &s, why, sizeof(why)), -1);
    CU_ASSERT_EQUAL(jstrict_i64(o, "i", true, 1, 100, &v, &present, why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(v, 42);
    CU_ASSERT_TRUE(present);
    CU_ASSERT_EQUAL(jstrict_i64(o, "i", true, 1, 41, &v, NULL, why, sizeof(why)), -1);
    CU_ASSERT_EQUAL(jstrict_i64(o, "d", true, 0, 10, &v, NULL, why, sizeof(why)), -1);
    ASSERT_STR(why, "field 'd' must be an integer");
    CU_ASSERT_EQUAL(jstrict_i64(o, "b", true, 0, 10, &v, NULL, why, sizeof(why)), -1);
    CU_ASSERT_EQUAL(jstrict_i64(o, "s", true, 0, 10, &v, NULL, why, sizeof(why)), -1);
    CU_ASSERT_EQUAL(jstrict_i64(o, "n", true, 0, 10, &v, NULL, why, sizeof(why)), -1);
    CU_ASSERT_EQUAL(jstrict_i64(o, "neg", true, 0, 10, &v, NULL, why, sizeof(why)), -1);
    CU_ASSERT_EQUAL(jstrict_i64(o, "missing", false, 0, 10, &v, &present, why, sizeof(why)), 0);
    CU_ASSERT_FALSE(present);
    static const char *const allowed[] = { "s", "i", "d", "n", "b", "neg", "big", NULL };
    static const char *const fewer[] = { "s", "i", NULL };
    CU_ASSERT_EQUAL(jstrict_only(o, allowed, why, sizeof(why)), 0);
    CU_ASSERT_EQUAL(jstrict_only(o, fewer, why, sizeof(why)), -1);
    ASSERT_STR(why, "unknown field 'd'");
    json_object_put(o);
}

static const unit_test_t tests[] = {
    { "grammar", test_grammar },
    { "integer overflow and NUL", test_overflow_and_nul },
    { "duplicate member names", test_duplicates },
    { "nesting depth", test_depth },
    { "typed members", test_members },
};

UNIT_MAIN("jstrict", tests)
