/* test_profile_cursor.c: the profile list's parsers: sort orders
 * (profile_sort.c) and the signed keyset cursor (profile_cursor.c), with
 * every kind of damage a client could do to a cursor. */
#include "unit.h"
#include "common/crypto.h"
#include "profile/profile.h"
#include "common/arena.h"

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
        make((profile_sort_t)(PROFILE_CURSOR_VIEW_LOG + 1), 1, 0, 0, NULL),    /* no such sort */
        make((profile_sort_t)PROFILE_CURSOR_VIEW_LOG, 1, 0, -2208988801LL * 1000000, NULL),
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
        /* version 3 */
        { { 3, 4, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5 }, 26 },
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

/* The search binding: a cursor carries (a digest of) its q, and the list
 * refuses it with another q or none (API.md "Search"). */
static void test_bind_to_q(void)
{
    setup_key();
    profile_cursor_t c = make(PROFILE_SORT_NAME_ASC, 12, 10, 0, "김민지");
    profile_cursor_bind(&c, "김");
    char enc[PROFILE_CURSOR_MAX];
    CU_ASSERT_TRUE_FATAL(profile_cursor_encode(&c, enc, sizeof(enc)) > 0);
    profile_cursor_t out;
    const char *why;
    CU_ASSERT_EQUAL_FATAL(profile_cursor_decode(enc, PROFILE_SORT_NAME_ASC, &out, &why), 0);
    CU_ASSERT_TRUE(profile_cursor_bound(&out, "김"));
    CU_ASSERT_FALSE(profile_cursor_bound(&out, "김민"));
    CU_ASSERT_FALSE(profile_cursor_bound(&out, "Kim"));
    CU_ASSERT_FALSE(profile_cursor_bound(&out, NULL));
    CU_ASSERT_FALSE(profile_cursor_bound(&out, ""));
    /* without q: only without q */
    profile_cursor_t d = make(PROFILE_SORT_VIEWS_DESC, 5, 10, 7, NULL);
    profile_cursor_bind(&d, NULL);
    CU_ASSERT_TRUE_FATAL(profile_cursor_encode(&d, enc, sizeof(enc)) > 0);
    CU_ASSERT_EQUAL_FATAL(profile_cursor_decode(enc, PROFILE_SORT_VIEWS_DESC, &out, &why), 0);
    CU_ASSERT_TRUE(profile_cursor_bound(&out, NULL));
    CU_ASSERT_FALSE(profile_cursor_bound(&out, "a"));
    /* q plain characters: '%' and '_' are not wildcards of one another */
    profile_cursor_bind(&c, "a%");
    CU_ASSERT_TRUE_FATAL(profile_cursor_encode(&c, enc, sizeof(enc)) > 0);
    CU_ASSERT_EQUAL_FATAL(profile_cursor_decode(enc, PROFILE_SORT_NAME_ASC, &out, &why), 0);
    CU_ASSERT_FALSE(profile_cursor_bound(&out, "a_"));
    CU_ASSERT_TRUE(profile_cursor_bound(&out, "a%"));
}

/* A version-1 cursor (no bind field) issued before search existed still
 * continues its list without q. */
static void test_version_1_still_read(void)
{
    setup_key();
    unsigned char buf[64], mac[CRYPTO_MAC_LEN];
    unsigned char p[26] = { 1, 4, 0, 0, 0,  0, 0, 0, 0, 9, 0, 0, 0,
                            0, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 3 };
    memcpy(buf, p, sizeof(p));
    crypto_hmac_sha256(KEY, sizeof(KEY) - 1, buf, sizeof(p), mac);
    memcpy(buf + sizeof(p), mac, PROFILE_CURSOR_TAG_LEN);
    char enc[128];
    crypto_b64url_encode(buf, sizeof(p) + PROFILE_CURSOR_TAG_LEN, enc);
    profile_cursor_t out;
    const char *why;
    CU_ASSERT_EQUAL_FATAL(profile_cursor_decode(enc, PROFILE_SORT_VIEWS_DESC, &out, &why), 0);
    CU_ASSERT_EQUAL(out.id, 9);
    CU_ASSERT_EQUAL(out.offset, 20);
    CU_ASSERT_EQUAL(out.key, 3);
    CU_ASSERT_TRUE(profile_cursor_bound(&out, NULL));
    CU_ASSERT_FALSE(profile_cursor_bound(&out, "x"));
}

/* The owner's view log has its own cursor kind, bound to the profile. */
static void test_view_log_cursor(void)
{
    setup_key();
    profile_cursor_t c =
        make((profile_sort_t)PROFILE_CURSOR_VIEW_LOG, 777, 40, 1764000000123456LL, NULL);
    profile_cursor_bind(&c, "42");
    char enc[PROFILE_CURSOR_MAX];
    CU_ASSERT_TRUE_FATAL(profile_cursor_encode(&c, enc, sizeof(enc)) > 0);
    profile_cursor_t out;
    const char *why;
    CU_ASSERT_EQUAL_FATAL(
        profile_cursor_decode(enc, (profile_sort_t)PROFILE_CURSOR_VIEW_LOG, &out, &why), 0);
    CU_ASSERT_EQUAL(out.key, 1764000000123456LL);
    CU_ASSERT_EQUAL(out.id, 777);
    CU_ASSERT_TRUE(profile_cursor_bound(&out, "42"));
    CU_ASSERT_FALSE(profile_cursor_bound(&out, "43"));
    /* not a list cursor, and a list cursor is not a view-log cursor */
    CU_ASSERT_EQUAL(profile_cursor_decode(enc, PROFILE_SORT_CREATED_DESC, &out, &why), -1);
    profile_cursor_t l = make(PROFILE_SORT_CREATED_DESC, 777, 40, 1764000000123456LL, NULL);
    CU_ASSERT_TRUE_FATAL(profile_cursor_encode(&l, enc, sizeof(enc)) > 0);
    CU_ASSERT_EQUAL(profile_cursor_decode(enc, (profile_sort_t)PROFILE_CURSOR_VIEW_LOG, &out, &why),
                    -1);
}

static void name_ok(const char *in, const char *want)
{
    arena_t *a = arena_new(1024);
    const char *out = NULL, *why = NULL;
    int rc = profile_name_clean(in, strlen(in), a, &out, &why);
    if (rc != 0)
        fprintf(stderr, "\n  refused good name '%s': %s\n", in, why);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc == 0)
        ASSERT_STR(out, want);
    arena_free(a);
}

static void name_bad(const char *in, size_t n)
{
    arena_t *a = arena_new(1024);
    const char *out = NULL, *why = NULL;
    if (profile_name_clean(in, n, a, &out, &why) == 0)
        fprintf(stderr, "\n  accepted bad name '%s'\n", out);
    CU_ASSERT_EQUAL(profile_name_clean(in, n, a, &out, &why), -1);
    CU_ASSERT_PTR_NOT_NULL(why);
    arena_free(a);
}

static void test_name_rules(void)
{
    name_ok("김민지", "김민지");
    name_ok("  김민지\t ", "김민지");
    name_ok("\xe3\x80\x80김 민지\xc2\xa0", "김 민지"); /* U+3000 and U+00A0 trimmed */
    name_ok("a", "a");
    name_ok("Kim Minji 1004", "Kim Minji 1004");
    name_ok("%_\\", "%_\\");
    /* 50 code points of 4 bytes: the longest */
    char fifty[50 * 4 + 3];
    for (int i = 0; i < 50; i++)
        memcpy(fifty + 4 * i, "\xf0\x9f\x98\x80", 4);
    fifty[200] = '\0';
    name_ok(fifty, fifty);
    char sp[60];
    snprintf(sp, sizeof(sp), " %s ", "가나다");
    name_ok(sp, "가나다");
    /* 51 code points, empty, white space only */
    char many[52];
    memset(many, 'x', 51);
    many[51] = '\0';
    name_bad(many, 51);
    name_bad("", 0);
    name_bad("   ", 3);
    name_bad("\xe3\x80\x80", 3);
    /* control characters inside: C0, DEL, C1 (U+0085 inside, U+009F) */
    name_bad("a\tb", 3);
    name_bad("a\nb", 3);
    name_bad("a\x7f", 2);
    name_bad("a\xc2\x85"
             "b",
             4);
    name_bad("a\xc2\x9f"
             "b",
             4);
    name_bad("a\x01", 2);
    /* NUL, invalid UTF-8, overlong, surrogate */
    name_bad("a\0b", 3);
    name_bad("\xff", 1);
    name_bad("\xc0\xaf", 2);
    name_bad("\xed\xa0\x80", 3);
    /* 50 code points and trailing spaces are fine, 51 before trimming also */
    char fifty_sp[60];
    memset(fifty_sp, 'y', 50);
    memcpy(fifty_sp + 50, "  ", 3);
    char fifty_y[51];
    memset(fifty_y, 'y', 50);
    fifty_y[50] = '\0';
    name_ok(fifty_sp, fifty_y);
}

static void test_prefix_rules(void)
{
    const char *why;
    CU_ASSERT_EQUAL(profile_prefix_valid("김", &why), 0);
    CU_ASSERT_EQUAL(profile_prefix_valid("%", &why), 0);
    CU_ASSERT_EQUAL(profile_prefix_valid(" ", &why), 0); /* literal: a space is a character */
    CU_ASSERT_EQUAL(profile_prefix_valid("", &why), -1);
    CU_ASSERT_EQUAL(profile_prefix_valid("\xff", &why), -1);
    char s[50 * 3 + 4];
    for (int i = 0; i < 50; i++)
        memcpy(s + 3 * i, "\xea\xb0\x80", 3);
    s[150] = '\0';
    CU_ASSERT_EQUAL(profile_prefix_valid(s, &why), 0);
    memcpy(s + 150, "a", 2);
    CU_ASSERT_EQUAL(profile_prefix_valid(s, &why), -1);

    arena_t *a = arena_new(4096);
    ASSERT_STR(profile_prefix_upper("abc", a), "abd");
    ASSERT_STR(profile_prefix_upper("김", a), "깁"); /* U+AE40 -> U+AE41 */
    ASSERT_STR(profile_prefix_upper("a\x7f", a), "a\xc2\x80");
    ASSERT_STR(profile_prefix_upper("\xed\x9f\xbf", a), "\xee\x80\x80"); /* U+D7FF -> U+E000 */
    ASSERT_STR(profile_prefix_upper("a\xf4\x8f\xbf\xbf", a), "b");       /* U+10FFFF dropped */
    const char *top = profile_prefix_upper("\xf4\x8f\xbf\xbf", a);
    CU_ASSERT_EQUAL(strlen(top), 4 + 101 * 4);
    CU_ASSERT_TRUE(strncmp(top, "\xf4\x8f\xbf\xbf\xf4\x8f\xbf\xbf", 8) == 0);
    arena_free(a);
}

static const unit_test_t tests[] = {
    { "a cursor is bound to its search q", test_bind_to_q },
    { "version-1 cursors are still read", test_version_1_still_read },
    { "the view log's cursor", test_view_log_cursor },
    { "profile names: trimming, length, controls", test_name_rules },
    { "search prefixes and their upper bound", test_prefix_rules },
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
