/* test_deadline.c: deadline arithmetic and the bounded poll loop
 * (infra/deadline.c), and the server-side statement_timeout derived from a
 * client deadline (infra/db.c), driven by a fake clock: no test waits for a
 * real deadline. */
#include "unit.h"
#include "infra/db.h"
#include "infra/deadline.h"

#include <limits.h>
#include <poll.h>
#include <unistd.h>

/* A fake clock: returns the values of seq in turn, then the last forever. */
static const int64_t *seq;
static size_t seq_n, seq_i, clock_reads;

static int64_t fake_clock(void)
{
    clock_reads++;
    int64_t v = seq[seq_i < seq_n ? seq_i : seq_n - 1];
    if (seq_i < seq_n)
        seq_i++;
    return v;
}

static void use_clock(const int64_t *s, size_t n)
{
    seq = s;
    seq_n = n;
    seq_i = 0;
    clock_reads = 0;
}

static void test_after(void)
{
    CU_ASSERT_EQUAL(dl_after(1000, 250), 1250);
    CU_ASSERT_EQUAL(dl_after(1000, 0), 1000);                  /* already due */
    CU_ASSERT_EQUAL(dl_after(1000, -5), 1000);                 /* never before now */
    CU_ASSERT_EQUAL(dl_after(INT64_MAX - 10, 100), INT64_MAX); /* saturates, never wraps */
}

static void test_earliest(void)
{
    CU_ASSERT_EQUAL(dl_earliest(100, 200), 100);
    CU_ASSERT_EQUAL(dl_earliest(300, 200), 200);
    CU_ASSERT_EQUAL(dl_earliest(DL_NONE, 200), 200); /* no cap: the call's own */
    CU_ASSERT_EQUAL(dl_earliest(300, DL_NONE), 300);
    CU_ASSERT_EQUAL(dl_earliest(DL_NONE, DL_NONE), DL_NONE);
}

static void test_poll_ms(void)
{
    CU_ASSERT_EQUAL(dl_poll_ms(1500, 1000), 500);
    CU_ASSERT_EQUAL(dl_poll_ms(1000, 1000), 0); /* due: do not wait */
    CU_ASSERT_EQUAL(dl_poll_ms(900, 1000), 0);  /* passed: never negative (poll's forever) */
    CU_ASSERT_EQUAL(dl_poll_ms(INT64_MAX, 0), INT_MAX);
    CU_ASSERT_EQUAL(dl_poll_ms((int64_t)INT_MAX + 7, 7), INT_MAX);
    CU_ASSERT_EQUAL(dl_poll_ms((int64_t)INT_MAX + 7, 8), INT_MAX - 1);
}

static void test_allows(void)
{
    CU_ASSERT_TRUE(dl_allows(DL_NONE, 123, 50)); /* no cap */
    CU_ASSERT_TRUE(dl_allows(1050, 1000, 50));
    CU_ASSERT_FALSE(dl_allows(1049, 1000, 50));
    CU_ASSERT_FALSE(dl_allows(900, 1000, 1)); /* passed: nothing left */
}

/* A deadline that has passed answers at once, without poll(). */
static void test_wait_passed(void)
{
    int p[2];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    static const int64_t t[] = { 5000 };
    use_clock(t, 1);
    CU_ASSERT_EQUAL(dl_wait_fd(p[0], POLLIN, 4000, fake_clock), 0);
    CU_ASSERT_EQUAL(clock_reads, 1);
    close(p[0]);
    close(p[1]);
}

/* Ready data is seen before the deadline. */
static void test_wait_ready(void)
{
    int p[2];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    CU_ASSERT_EQUAL_FATAL(write(p[1], "x", 1), 1);
    static const int64_t t[] = { 0 };
    use_clock(t, 1);
    CU_ASSERT_EQUAL(dl_wait_fd(p[0], POLLIN, 1000000, fake_clock), 1);
    /* a writable end is ready for POLLOUT */
    CU_ASSERT_EQUAL(dl_wait_fd(p[1], POLLOUT, 1000000, fake_clock), 1);
    close(p[0]);
    close(p[1]);
}

/* After poll() times out, the loop asks the clock again: here the fake clock
 * says 1 ms is left (poll waits 1 ms for nothing), then that the deadline
 * passed, and the wait ends with 0 after exactly two clock reads. */
static void test_wait_rereads_clock(void)
{
    int p[2];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    static const int64_t t[] = { 999, 1000 };
    use_clock(t, 2);
    CU_ASSERT_EQUAL(dl_wait_fd(p[0], POLLIN, 1000, fake_clock), 0);
    CU_ASSERT_EQUAL(clock_reads, 2);
    close(p[0]);
    close(p[1]);
}

/* A hang-up counts as ready (the caller's read reports it), not as a wait
 * until the deadline. */
static void test_wait_hangup(void)
{
    int p[2];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    close(p[1]);
    static const int64_t t[] = { 0 };
    use_clock(t, 1);
    CU_ASSERT_EQUAL(dl_wait_fd(p[0], POLLIN, 1000000, fake_clock), 1);
    close(p[0]);
}

/* A closed connection's socket is -1: poll() would ignore it and sleep. */
static void test_wait_bad_fd(void)
{
    static const int64_t t[] = { 0 };
    use_clock(t, 1);
    CU_ASSERT_EQUAL(dl_wait_fd(-1, POLLIN, 1000000, fake_clock), -1);
}

static void test_server_timeout(void)
{
    /* the configured statement_timeout when it is below the client's */
    CU_ASSERT_EQUAL(db_server_timeout_ms(3000, 5000), 3000);
    /* otherwise a tenth below the client deadline, so the server cancels first */
    CU_ASSERT_EQUAL(db_server_timeout_ms(5000, 5000), 4500);
    CU_ASSERT_EQUAL(db_server_timeout_ms(5000, 1000), 900);
    CU_ASSERT_EQUAL(db_server_timeout_ms(0, 1000), 900); /* 0: none configured */
    /* at least 20 ms of margin, and never 0 (which would mean no timeout) */
    CU_ASSERT_EQUAL(db_server_timeout_ms(5000, 100), 80);
    CU_ASSERT_EQUAL(db_server_timeout_ms(5000, 10), 1);
}

static const unit_test_t tests[] = {
    { "after", test_after },
    { "earliest", test_earliest },
    { "poll_ms", test_poll_ms },
    { "allows", test_allows },
    { "wait_passed", test_wait_passed },
    { "wait_ready", test_wait_ready },
    { "wait_rereads_clock", test_wait_rereads_clock },
    { "wait_hangup", test_wait_hangup },
    { "wait_bad_fd", test_wait_bad_fd },
    { "server_timeout", test_server_timeout },
};

UNIT_MAIN("deadline", tests)
