/* test_pool_status.c: the thread counts /pool-status reports for a worker
 * slot (srv_thread_counts in src/server/ops.c). The slot's counters are not
 * read as a snapshot, so a worker that is starting or being reaped can show
 * more busy threads than threads; the report must stay consistent (it once
 * said idleThreads -1, which docs/openapi.yaml does not allow). */
#include "server/srv.h"
#include "unit.h"

static void counts(int active, int threads, int busy_want, int idle_want)
{
    int busy = -99, idle = -99;
    srv_thread_counts(active, threads, &busy, &idle);
    CU_ASSERT_EQUAL(busy, busy_want);
    CU_ASSERT_EQUAL(idle, idle_want);
}

static void test_normal(void)
{
    counts(0, 16, 0, 16);
    counts(3, 16, 3, 13);
    counts(16, 16, 16, 0);
}

static void test_busy_before_threads_are_counted(void)
{
    /* a starting worker: its threads accept before it stores their number */
    counts(1, 0, 0, 0);
    counts(5, 2, 2, 0);
}

static void test_never_negative(void)
{
    counts(-1, 16, 0, 16); /* a decrement seen before its increment */
    counts(2, -1, 0, 0);
}

static const unit_test_t tests[] = {
    { "normal counts", test_normal },
    { "busy threads before the threads are counted", test_busy_before_threads_are_counted },
    { "never negative", test_never_negative },
};

UNIT_MAIN("pool_status", tests)
