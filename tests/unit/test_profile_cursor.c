/* test_profile_cursor.c: the profile list's parsers: sort orders
 * (profile_sort.c) and the signed keyset cursor (profile_cursor.c), with
 * every kind of damage a client could do to a cursor. */
#include "unit.h"
#include "common/crypto.h"
#include "profile/profile.h"

#include <stdio.h>

static const char KEY[] = "unit-test-cursor-secret-0123456789abcdef";

static void setup_key(void)
{
    profile_cursor_set_key(KEY, sizeof(KEY) - 1);
}

static void test_sort_parse(void)
{
    profile_sort_t s;
    CU_ASSERT_EQUAL(profile_sort_parse(NULL, &s), 0);
    CU_ASSERT_EQUAL(s, PROFILE_SORT_CREATED_DESC);
    static const struct {
        const char *in;
        profile_sort_t want;
    } ok[] = {
        { "createdAt,desc", PROFILE_SORT_CREATED_DESC },
        { "createdAt,asc", PROFILE_SORT_CREATED_ASC },
        { "name,asc", PROFILE_SORT_NAME_ASC },
        { "name,desc", PROFILE_SORT_NAME_DESC },
        { "viewCount,desc", PROFILE_SORT_VIEWS_DESC },
        { "viewCount,asc", PROFILE_SORT_VIEWS_ASC },
        { "name,ASC", PROFILE_SORT_NAME_ASC },
        { "viewCount,Desc", PROFILE_SORT_VIEWS_DESC },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        CU_ASSERT_EQUAL(profile_sort_parse(ok[i].in, &s), 0);
        CU_ASSERT_EQUAL(s, ok[i].want);
    }
    static const char *const bad[] = {
        "",
        "name",
        "name,",
        ",asc",
        "Name,asc",
        "NAME,asc",
        "name,asc,id",
        "name, asc",
        " name,asc",
        "name,ascending",
        "viewcount,asc",
        "created_at,desc",
        "id,asc",
        "name;asc",
        "name,asc ",
        "createdAt",
        "createdAt,",
        "createdAt,up",
        ",",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (profile_sort_parse(bad[i], &s) == 0)
            fprintf(stderr, "\n  accepted bad sort '%s'\n", bad[i]);
        CU_ASSERT_EQUAL(profile_sort_parse(bad[i], &s), -1);
    }
    ASSERT_STR(profile_sort_name(PROFILE_SORT_NAME_DESC), "name,desc");
    ASSERT_STR(profile_sort_name(PROFILE_SORT_CREATED_DESC), "createdAt,desc");
    CU_ASSERT_TRUE(profile_sort_by_name(PROFILE_SORT_NAME_ASC));
    CU_ASSERT_FALSE(profile_sort_by_name(PROFILE_SORT_VIEWS_ASC));
}

static profile_cursor_t make(profile_sort_t s, int64_t id, int64_t offset, int64_t key,
                             const char *name)
{
    profile_cursor_t c;
    memset(&c, 0, sizeof(c));
    c.sort = s;
    c.id = id;
    c.offset = offset;
    c.key = key;
    if (name) {
        c.name_len = strlen(name);
        memcpy(c.name, name, c.name_len + 1);
    }
    return c;
}

static void test_roundtrip_every_sort(void)
{
    setup_key();
    profile_cursor_t in[] = {
        make(PROFILE_SORT_CREATED_DESC, 42, 10, 1727751600123456LL, NULL),
        make(PROFILE_SORT_CREATED_ASC, 1, 0, -2208988800LL * 1000000, NULL),
        make(PROFILE_SORT_NAME_ASC, 7, 500000, 0, "김민지"),
        make(PROFILE_SORT_NAME_DESC, INT64_MAX, 3, 0, "Kim Minji 1004"),
        make(PROFILE_SORT_VIEWS_DESC, 99, 1000, 0, NULL),
        make(PROFILE_SORT_VIEWS_ASC, 5, 20, INT64_MAX, NULL),
        /* the shortest cursors: one-byte names (found by fuzz_cursor) */
        make(PROFILE_SORT_NAME_ASC, 8, 1, 0, "Z"),
        make(PROFILE_SORT_NAME_DESC, 9, 2, 0, "1"),
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        char enc[PROFILE_CURSOR_MAX];
        int n = profile_cursor_encode(&in[i], enc, sizeof(enc));
        CU_ASSERT_TRUE_FATAL(n > 0);
        CU_ASSERT_EQUAL((size_t)n, strlen(enc));
        /* URL-safe without escaping: base64url, no padding */
        CU_ASSERT_EQUAL(
            strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
            strlen(enc));
        profile_cursor_t out;
        const char *why = NULL;
        CU_ASSERT_EQUAL_FATAL(profile_cursor_decode(enc, in[i].sort, &out, &why), 0);
        CU_ASSERT_EQUAL(out.sort, in[i].sort);
        CU_ASSERT_EQUAL(out.id, in[i].id);
        CU_ASSERT_EQUAL(out.offset, in[i].offset);
        if (profile_sort_by_name(in[i].sort)) {
            CU_ASSERT_EQUAL(out.name_len, in[i].name_len);
            ASSERT_STR(out.name, in[i].name);
        } else {
            CU_ASSERT_EQUAL(out.key, in[i].key);
        }
        CU_ASSERT_EQUAL(memcmp(out.tag, in[i].tag, PROFILE_CURSOR_TAG_LEN), 0);
    }
}

static void test_longest_name(void)
{
    setup_key();
    /* 100 four-byte characters: the longest name the table accepts */
    char name[PROFILE_NAME_MAX_BYTES + 1];
    for (int i = 0; i < 100; i++)
        memcpy(name + 4 * i, "\xf0\x9f\x98\x80", 4);
    name[PROFILE_NAME_MAX_BYTES] = '\0';
    profile_cursor_t c = make(PROFILE_SORT_NAME_ASC, 3, 9, 0, name);
    char enc[PROFILE_CURSOR_MAX];
    CU_ASSERT_TRUE_FATAL(profile_cursor_encode(&c, enc, sizeof(enc)) > 0);
    profile_cursor_t out;
    const char *why;
    CU_ASSERT_EQUAL(profile_cursor_decode(enc, PROFILE_SORT_NAME_ASC, &out, &why), 0);
    CU_ASSERT_EQUAL(out.name_len, PROFILE_NAME_MAX_BYTES);
    /* an output buffer too small is refused, not overrun */
    char small[40];
    CU_ASSERT_EQUAL(profile_cursor_encode(&c, small, sizeof(small)), -1);
}

static void test_encode_refuses_bad_fields(void)
{
    setup_key();
    char enc[PROFILE_CURSOR_MAX];
    profile_cursor_t bad[] = {
        make(PROFILE_SORT_CREATED_DESC, 0, 0, 0, NULL),                        /* id 0 */
        make(PROFILE_SORT_CREATED_DESC, 1, -1, 0, NULL),                       /* offset < 0 */
        make(PROFILE_SORT_CREATED_DESC, 1, 0, 253402300800LL * 1000000, NULL), /* year 10000 */
        make(PROFILE_SORT_CREATED_ASC, 1, 0, -2208988801LL * 1000000, NULL),   /* before 1900 */
        make(PROFILE_SORT_VIEWS_ASC, 1, 0, -1, NULL),                          /* views < 0 */
        make(PROFILE_SORT_NAME_ASC, 1, 0, 0, ""),                              /* empty name */
        make(PROFILE_SORT_NAME_ASC, 1, 0, 0, "\xff\xfe"),                      /* not UTF-8 */
        make((profile_sort_t)PROFILE_SORT__COUNT, 1, 0, 0, NULL),              /* no such sort */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_EQUAL(profile_cursor_encode(&bad[i], enc, sizeof(enc)), -1);
}

static void test_every_single_character_change_is_refused(void)
{
    setup_key();
    profile_cursor_t c = make(PROFILE_SORT_NAME_ASC, 1234, 40, 0, "이서연");
    char enc[PROFILE_CURSOR_MAX];
    int n = profile_cursor_encode(&c, enc, sizeof(enc));
    CU_ASSERT_TRUE_FATAL(n > 0);
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int refused = 0, tried = 0;
    for (int i = 0; i < n; i++) {
        char orig = enc[i];
        for (const char *a = alphabet; *a; a++) {
            if (*a == orig)
                continue;
            enc[i] = *a;
            profile_cursor_t out;
            const char *why = NULL;
            tried++;
            if (profile_cursor_decode(enc, PROFILE_SORT_NAME_ASC, &out, &why) != 0) {
                refused++;
                CU_ASSERT_PTR_NOT_NULL(why);
            }
        }
        enc[i] = orig;
    }
    CU_ASSERT_EQUAL(refused, tried);
}

static void test_truncated_extended_and_garbage(void)
{
    setup_key();
    profile_cursor_t c = make(PROFILE_SORT_VIEWS_DESC, 77, 30, 12, NULL);
    char enc[PROFILE_CURSOR_MAX];
    int n = profile_cursor_encode(&c, enc, sizeof(enc));
    CU_ASSERT_TRUE_FATAL(n > 0);
    profile_cursor_t out;
    const char *why;
    for (int len = 0; len < n; len++) {
        char cut[PROFILE_CURSOR_MAX];
        memcpy(cut, enc, (size_t)len);
        cut[len] = '\0';
        CU_ASSERT_EQUAL(profile_cursor_decode(cut, PROFILE_SORT_VIEWS_DESC, &out, &why), -1);
    }
    char longer[PROFILE_CURSOR_MAX + 8];
    snprintf(longer, sizeof(longer), "%sAAAA", enc);
    CU_ASSERT_EQUAL(profile_cursor_decode(longer, PROFILE_SORT_VIEWS_DESC, &out, &why), -1);
    snprintf(longer, sizeof(longer), "%s=", enc);
    CU_ASSERT_EQUAL(profile_cursor_decode(longer, PROFILE_SORT_VIEWS_DESC, &out, &why), -1);
    static const char *const garbage[] = {
        "",
        "x",
        "null",
        "%00",
        "AQ==",
        "!!!!!!",
        "../etc/passwd",
        "AQAAAAAAAAAnDgAAAAAAAAADAAZhAEIXlUBOSUxa897EkQ-81cDeLBh8"
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
        CU_ASSERT_EQUAL(profile_cursor_decode(garbage[i], PROFILE_SORT_VIEWS_DESC, &out, &why), -1);
    CU_ASSERT_EQUAL(profile_cursor_decode(NULL, PROFILE_SORT_VIEWS_DESC, &out, &why), -1);
    char huge[4096];
    memset(huge, 'A', sizeof(huge) - 1);
    huge[sizeof(huge) - 1] = '\0';
    CU_ASSERT_EQUAL(profile_cursor_decode(huge, PROFILE_SORT_VIEWS_DESC, &out, &why), -1);
}

static void test_other_sort_and_other_key(void)
{
    setup_key();
    profile_cursor_t c = make(PROFILE_SORT_VIEWS_DESC, 77, 30, 12, NULL);
    char enc[PROFILE_CURSOR_MAX];
    CU_ASSERT_TRUE_FATAL(profile_cursor_encode(&c, enc, sizeof(enc)) > 0);
    profile_cursor_t out;
    const char *why = NULL;
    /* the same integer key means something else in the other direction */
    CU_ASSERT_EQUAL(profile_cursor_decode(enc, PROFILE_SORT_VIEWS_ASC, &out, &why), -1);
    ASSERT_STR(why, "parameter 'cursor' belongs to another sort order");
    CU_ASSERT_EQUAL(profile_cursor_decode(enc, PROFILE_SORT_CREATED_DESC, &out, &why), -1);
    /* a cursor signed with another secret */
    profile_cursor_set_key("another-secret-of-at-least-32-chars!", 36);
    CU_ASSERT_EQUAL(profile_cursor_decode(enc, PROFILE_SORT_VIEWS_DESC, &out, &why), -1);
    ASSERT_STR(why, "parameter 'cursor' was not issued by this server or was altered");
    setup_key();
    CU_ASSERT_EQUAL(profile_cursor_decode(enc, PROFILE_SORT_VIEWS_DESC, &out, &why), 0);
}

/* Someone who knows the secret could sign anything: fields are still
 * range-checked after the tag. */
static void test_signed_but_invalid_fields(void)
{
    setup_key();
    struct {
        unsigned char p[32];
        size_t n;
    } cases[] = {
        /* version 2 */
        { { 2, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5 }, 26 },
        /* sort 9 */
        { { 1, 9, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5 }, 26 },
        /* id 0 */
        { { 1, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5 }, 26 },
        /* negative offset */
        { { 1, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5 }, 26 },
        /* negative view count */
        { { 1, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0, 5 }, 26 },
        /* int key one byte short */
        { { 1, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5 }, 25 },
        /* name length 5 but 2 bytes present */
        { { 1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 'a', 'b', 0, 0, 0, 0 },
          22 },
        /* name length 0 */
        { { 1, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, 26 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        unsigned char buf[64], mac[CRYPTO_MAC_LEN];
        memcpy(buf, cases[i].p, cases[i].n);
        crypto_hmac_sha256(KEY, sizeof(KEY) - 1, buf, cases[i].n, mac);
        memcpy(buf + cases[i].n, mac, PROFILE_CURSOR_TAG_LEN);
        char enc[128];
        crypto_b64url_encode(buf, cases[i].n + PROFILE_CURSOR_TAG_LEN, enc);
        profile_cursor_t out;
        const char *why = NULL;
        profile_sort_t expect =
            (profile_sort_t)(cases[i].p[1] < PROFILE_SORT__COUNT ? cases[i].p[1] : 4);
        if (profile_cursor_decode(enc, expect, &out, &why) == 0)
            fprintf(stderr, "\n  accepted case %zu\n", i);
        CU_ASSERT_EQUAL(profile_cursor_decode(enc, expect, &out, &why), -1);
    }
}

static const unit_test_t tests[] = {
    { "sort orders parse strictly", test_sort_parse },
    { "cursor round trip for every sort", test_roundtrip_every_sort },
    { "cursor with the longest name", test_longest_name },
    { "encode refuses out-of-range fields", test_encode_refuses_bad_fields },
    { "every single-character change is refused", test_every_single_character_change_is_refused },
    { "truncated, extended and garbage cursors", test_truncated_extended_and_garbage },
    { "cursor of another sort or another secret", test_other_sort_and_other_key },
    { "signed but invalid fields are refused", test_signed_but_invalid_fields },
};

UNIT_MAIN("profile cursor and sort", tests)
