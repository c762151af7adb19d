/* test_time.c: Korea-time formatting independent of TZ, ISO-8601 parsing
 * (common/ktime.c). */
#include "unit.h"
#include "common/ktime.h"

#include <stdlib.h>
#include <time.h>

static void fmt(int64_t t, const char *want)
{
    char out[KTIME_BUFSZ];
    ktime_format_kst(t, out);
    ASSERT_STR(out, want);
}

static void test_format(void)
{
    fmt(0, "1970-01-01 09:00:00");
    fmt(1727751600, "2024-10-01 12:00:00"); /* 03:00 UTC */
    fmt(1727794799, "2024-10-01 23:59:59");
    fmt(1727794800, "2024-10-02 00:00:00"); /* crosses the day in Korea, not in UTC */
    fmt(951836400, "2000-03-01 00:00:00");  /* leap year 2000 */
    fmt(1709218800, "2024-03-01 00:00:00");
    fmt(1709132400, "2024-02-29 00:00:00");
    fmt(4102412400, "2100-01-01 00:00:00");
    fmt(-32400, "1970-01-01 00:00:00");
    fmt(-1, "1970-01-01 08:59:59");
}

static void test_tz_independent(void)
{
    /* the machine's zone must not matter */
    const char *zones[] = { "UTC", "America/New_York", "Asia/Seoul", "Pacific/Chatham",
                            "Nowhere/X" };
    for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
        setenv("TZ", zones[i], 1);
        tzset();
        fmt(1727751600, "2024-10-01 12:00:00");
    }
    unsetenv("TZ");
    tzset();
}

static void test_every_day(void)
{
    /* 1970..2400 day by day against the inverse conversion */
    for (int64_t d = 0; d < 157000; d += 1) {
        int64_t y;
        unsigned m, dd;
        ktime_civil_from_days(d, &y, &m, &dd);
        if (ktime_days_from_civil(y, m, dd) != d) {
            CU_FAIL("civil round trip");
            return;
        }
    }
    CU_PASS("round trip");
}

static void test_parse(void)
{
    int64_t t;
    CU_ASSERT_EQUAL(ktime_parse_iso8601("2024-01-15T10:30:05+09:00", &t), 0);
    CU_ASSERT_EQUAL(t, 1705282205);
    CU_ASSERT_EQUAL(ktime_parse_iso8601("2024-01-15T01:30:05Z", &t), 0);
    CU_ASSERT_EQUAL(t, 1705282205);
    CU_ASSERT_EQUAL(ktime_parse_iso8601("2024-01-15T01:30:05.123456Z", &t), 0);
    CU_ASSERT_EQUAL(t, 1705282205);
    CU_ASSERT_EQUAL(ktime_parse_iso8601("2024-01-14T20:30:05-05:00", &t), 0);
    CU_ASSERT_EQUAL(t, 1705282205);
    /* KakaoPay: no offset means Korea time */
    CU_ASSERT_EQUAL(ktime_parse_iso8601("2024-01-15T10:30:05", &t), 0);
    CU_ASSERT_EQUAL(t, 1705282205);
    const char *bad[] = { "",
                          "2024-01-15",
                          "2024-13-01T00:00:00Z",
                          "2024-01-15T25:00:00Z",
                          "2024-01-15T10:30:05+0900",
                          "2024-01-15T10:30:05+09:00x",
                          "2024/01/15T10:30:05Z",
                          "2024-01-15T10:30:05.Z",
                          "abcd-01-15T10:30:05Z" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_EQUAL(ktime_parse_iso8601(bad[i], &t), -1);
    CU_ASSERT_EQUAL(ktime_parse_iso8601(NULL, &t), -1);
}

static void test_clocks(void)
{
    int64_t a = ktime_mono_ms(), b = ktime_mono_ms();
    CU_ASSERT_TRUE(b >= a);
    CU_ASSERT_TRUE(ktime_now_us() > 1700000000LL * 1000000);
}

static const unit_test_t tests[] = {
    { "Korea-time formatting", test_format },
    { "independent of TZ", test_tz_independent },
    { "civil date round trip", test_every_day },
    { "ISO-8601 parsing", test_parse },
    { "clocks", test_clocks },
};

UNIT_MAIN("time", tests)
