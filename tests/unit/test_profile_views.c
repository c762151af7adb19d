/* test_profile_views.c: the pure parts of the view recorder
 * (profile_views.c): the bounded FIFO buffer and the SQL array literals a
 * batch is sent as. The flush itself (transaction, retries, exactly-once)
 * is tested against PostgreSQL in tests/integration/test_profiles*.py. */
#include "unit.h"
#include "profile/profile.h"

static profile_view_t view(int64_t p, int64_t u, int64_t t)
{
    profile_view_t v = { p, u, t };
    return v;
}

static void test_fifo_and_bound(void)
{
    profile_viewbuf_t b;
    profile_viewbuf_init(&b, 3);
    for (int i = 1; i <= 3; i++) {
        profile_view_t v = view(i, 0, i * 10);
        CU_ASSERT_TRUE(profile_viewbuf_push(&b, &v));
    }
    profile_view_t extra = view(4, 0, 40);
    CU_ASSERT_FALSE(profile_viewbuf_push(&b, &extra)); /* full: refused, not overwritten */
    CU_ASSERT_EQUAL(b.n, 3);
    profile_view_t out[8];
    CU_ASSERT_EQUAL(profile_viewbuf_take(&b, out, 2), 2);
    CU_ASSERT_EQUAL(out[0].profile_id, 1);
    CU_ASSERT_EQUAL(out[1].profile_id, 2);
    CU_ASSERT_EQUAL(b.n, 1);
    CU_ASSERT_EQUAL(profile_viewbuf_take(&b, out, 8), 1);
    CU_ASSERT_EQUAL(out[0].profile_id, 3);
    CU_ASSERT_EQUAL(profile_viewbuf_take(&b, out, 8), 0);
    profile_viewbuf_free(&b);
}

static void test_wraparound_keeps_order(void)
{
    profile_viewbuf_t b;
    profile_viewbuf_init(&b, 5);
    int64_t next_in = 1, next_out = 1;
    profile_view_t out[5];
    /* push 3, take 2, many times: head and tail wrap around the ring */
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 3; i++) {
            profile_view_t v = view(next_in, next_in % 2, next_in);
            if (profile_viewbuf_push(&b, &v))
                next_in++;
        }
        size_t k = profile_viewbuf_take(&b, out, 2);
        for (size_t i = 0; i < k; i++) {
            CU_ASSERT_EQUAL(out[i].profile_id, next_out);
            CU_ASSERT_EQUAL(out[i].viewed_us, next_out);
            next_out++;
        }
        CU_ASSERT_TRUE(b.n <= b.cap);
    }
    size_t k;
    while ((k = profile_viewbuf_take(&b, out, 5)) > 0)
        for (size_t i = 0; i < k; i++)
            CU_ASSERT_EQUAL(out[i].profile_id, next_out++);
    CU_ASSERT_EQUAL(next_out, next_in); /* nothing lost, nothing twice */
    profile_viewbuf_free(&b);
}

static void test_sql_arrays(void)
{
    arena_t *a = arena_new(4096);
    profile_view_t v[] = { view(1, 0, 1700000000000000LL), view(9223372036854775807LL, 7, -5),
                           view(3, 42, 0) };
    const char *ids, *viewers, *times;
    profile_views_arrays(v, 3, a, &ids, &viewers, &times);
    ASSERT_STR(ids, "{1,9223372036854775807,3}");
    ASSERT_STR(viewers, "{NULL,7,42}");
    ASSERT_STR(times, "{1700000000000000,-5,0}");
    profile_views_arrays(v, 1, a, &ids, &viewers, &times);
    ASSERT_STR(ids, "{1}");
    ASSERT_STR(viewers, "{NULL}");
    /* the widest values fit the buffer the function sizes */
    profile_view_t w[64];
    for (int i = 0; i < 64; i++)
        w[i] = view(INT64_MAX, INT64_MAX, INT64_MIN);
    profile_views_arrays(w, 64, a, &ids, &viewers, &times);
    CU_ASSERT_EQUAL(strlen(ids), 2 + 64 * 19 + 63);
    CU_ASSERT_EQUAL(strlen(times), 2 + 64 * 20 + 63);
    arena_free(a);
}

/* Outside a worker nothing runs the flusher: a view is counted as dropped
 * rather than buffered where nothing would ever write it. */
static void test_record_without_flusher_does_not_buffer(void)
{
    profile_views_record(1, 0, 1);
    profile_views_stop(); /* not started: a no-op */
    CU_PASS("no crash, nothing to flush");
}

static const unit_test_t tests[] = {
    { "FIFO order and the bound", test_fifo_and_bound },
    { "wrap-around keeps order, loses nothing", test_wraparound_keeps_order },
    { "SQL array literals of a batch", test_sql_arrays },
    { "record outside a worker", test_record_without_flusher_does_not_buffer },
};

UNIT_MAIN("profile views", tests)
