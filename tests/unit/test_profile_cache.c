/* test_profile_cache.c: the profile cache's keys (versioned, one namespace
 * per kind, the generation in every key) and the cache-aside path when Redis
 * is not there (profile_cache.c). The Redis paths themselves are exercised
 * by tests/integration/test_profiles*.py against a real Redis. */
#include "unit.h"
#include "profile/profile.h"

static void test_detail_key(void)
{
    char k[PROFILE_KEY_MAX];
    CU_ASSERT_EQUAL(profile_key_detail(k, sizeof(k), 1, 42), (int)strlen("profile:v1:g1:d:42"));
    ASSERT_STR(k, "profile:v1:g1:d:42");
    profile_key_detail(k, sizeof(k), 7, INT64_MAX);
    ASSERT_STR(k, "profile:v1:g7:d:9223372036854775807");
}

static void test_page_keys_differ_by_every_part(void)
{
    char a[PROFILE_KEY_MAX], b[PROFILE_KEY_MAX];
    profile_key_page(a, sizeof(a), 1, PROFILE_SORT_NAME_ASC, 10, 3, NULL);
    ASSERT_STR(a, "profile:v1:g1:l:name,asc:10:3");
    profile_key_page(b, sizeof(b), 1, PROFILE_SORT_NAME_DESC, 10, 3, NULL);
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
    profile_key_page(b, sizeof(b), 1, PROFILE_SORT_NAME_ASC, 100, 3, NULL);
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
    profile_key_page(b, sizeof(b), 1, PROFILE_SORT_NAME_ASC, 10, 4, NULL);
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
    profile_key_page(b, sizeof(b), 2, PROFILE_SORT_NAME_ASC, 10, 3, NULL);
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
    /* "page 1 of size 10" and "page 11 of size 0..." cannot collide */
    profile_key_page(a, sizeof(a), 1, PROFILE_SORT_VIEWS_ASC, 1, 11, NULL);
    profile_key_page(b, sizeof(b), 1, PROFILE_SORT_VIEWS_ASC, 11, 1, NULL);
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
}

static void test_cursor_key(void)
{
    unsigned char tag[PROFILE_CURSOR_TAG_LEN];
    for (int i = 0; i < PROFILE_CURSOR_TAG_LEN; i++)
        tag[i] = (unsigned char)(i * 17);
    char k[PROFILE_KEY_MAX];
    profile_key_cursor(k, sizeof(k), 3, PROFILE_SORT_CREATED_DESC, 20, tag, NULL);
    ASSERT_STR(k, "profile:v1:g3:c:createdAt,desc:20:00112233445566778899aabbccddeeff");
    /* a cursor page never shares a key with an offset page */
    char p[PROFILE_KEY_MAX];
    profile_key_page(p, sizeof(p), 3, PROFILE_SORT_CREATED_DESC, 20, 0, NULL);
    CU_ASSERT_STRING_NOT_EQUAL(k, p);
}

static void test_small_buffers(void)
{
    char k[12];
    CU_ASSERT_EQUAL(profile_key_detail(k, sizeof(k), 1, 123456789), -1);
    CU_ASSERT_EQUAL(profile_key_page(k, sizeof(k), 1, PROFILE_SORT_NAME_ASC, 10, 1, NULL), -1);
    unsigned char tag[PROFILE_CURSOR_TAG_LEN] = { 0 };
    CU_ASSERT_EQUAL(profile_key_cursor(k, sizeof(k), 1, PROFILE_SORT_NAME_ASC, 10, tag, NULL), -1);
    /* the longest key there can be fits PROFILE_KEY_MAX (with ":lock") */
    char big[PROFILE_KEY_MAX];
    memset(tag, 0xff, sizeof(tag));
    int n = profile_key_cursor(big, sizeof(big), 1000000000, PROFILE_SORT_VIEWS_DESC, 100, tag,
                               "\xf4\x8f\xbf\xbf any search prefix at all");
    CU_ASSERT_TRUE(n > 0 && n + 5 < PROFILE_KEY_MAX);
}

/* A search page is its own key, one per q, whatever q holds. */
static void test_search_keys(void)
{
    char a[PROFILE_KEY_MAX], b[PROFILE_KEY_MAX], c[PROFILE_KEY_MAX];
    profile_key_page(a, sizeof(a), 1, PROFILE_SORT_NAME_ASC, 10, 0, NULL);
    profile_key_page(b, sizeof(b), 1, PROFILE_SORT_NAME_ASC, 10, 0, "김");
    profile_key_page(c, sizeof(c), 1, PROFILE_SORT_NAME_ASC, 10, 0, "김민");
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
    CU_ASSERT_STRING_NOT_EQUAL(b, c);
    CU_ASSERT_TRUE(strncmp(b, "profile:v1:g1:l:name,asc:10:0:q", 31) == 0);
    CU_ASSERT_EQUAL(strlen(b), strlen("profile:v1:g1:l:name,asc:10:0:q") + 16);
    /* a colon in q cannot forge another key's shape: it is digested */
    profile_key_page(c, sizeof(c), 1, PROFILE_SORT_NAME_ASC, 10, 0, "x:10:1");
    CU_ASSERT_PTR_NULL(strchr(c + 31, ':'));
    unsigned char tag[PROFILE_CURSOR_TAG_LEN] = { 0 };
    profile_key_cursor(a, sizeof(a), 1, PROFILE_SORT_NAME_ASC, 10, tag, NULL);
    profile_key_cursor(b, sizeof(b), 1, PROFILE_SORT_NAME_ASC, 10, tag, "김");
    CU_ASSERT_STRING_NOT_EQUAL(a, b);
}

static int loads;

static int fake_load(void *ctx, arena_t *a, const char **json, size_t *len, bool *found, err_t *err)
{
    (void)err;
    loads++;
    *found = *(bool *)ctx;
    *json = *found ? arena_strdup(a, "{\"id\":1}") : NULL;
    *len = *found ? 8 : 0;
    return 0;
}

/* No Redis configured (rds_configure never called): every read goes to the
 * loader, exactly once, and its answer is returned unchanged. */
static void test_without_redis_reads_through(void)
{
    arena_t *a = arena_new(4096);
    const char *json;
    size_t len;
    bool found, exists = true;
    err_t e;
    profile_cfg.cache = true;
    loads = 0;
    CU_ASSERT_EQUAL(profile_cache_fetch(PROFILE_KIND_DETAIL, "k", 60, fake_load, &exists, a, &json,
                                        &len, &found, &e),
                    0);
    CU_ASSERT_EQUAL(loads, 1);
    CU_ASSERT_TRUE(found);
    CU_ASSERT_EQUAL(len, 8);
    exists = false;
    CU_ASSERT_EQUAL(profile_cache_fetch(PROFILE_KIND_DETAIL, "k", 60, fake_load, &exists, a, &json,
                                        &len, &found, &e),
                    0);
    CU_ASSERT_EQUAL(loads, 2);
    CU_ASSERT_FALSE(found);
    arena_free(a);
}

static const unit_test_t tests[] = {
    { "detail key", test_detail_key },
    { "page keys differ by every part", test_page_keys_differ_by_every_part },
    { "cursor key", test_cursor_key },
    { "small buffers are refused", test_small_buffers },
    { "a search page has its own key per q", test_search_keys },
    { "without Redis every read goes to PostgreSQL", test_without_redis_reads_through },
};

UNIT_MAIN("profile cache", tests)
