/*
 * test_breaker.c - CUnit tests for the shared-memory circuit breaker.
 *
 * Time is injected (every call passes now_ms), so each transition and each
 * threshold is checked at its exact boundary. The last suites exercise what the
 * server relies on: many threads at once, a MAP_SHARED mapping across fork(),
 * and a worker killed while it holds the breaker's robust mutex.
 */
#include "infra/breaker.h"

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SLOW_MS     1000 /* slowCallDurationThreshold used by base_config() */
#define FAST_MS     10
#define WAIT_MS     5000
#define HALF_MAX_MS 10000

static breaker_config_t base_config(void)
{
    breaker_config_t c = {
        .sliding_window_size = 10,
        .minimum_number_of_calls = 10,
        .failure_rate_threshold = 50,
        .slow_call_rate_threshold = 50,
        .slow_call_duration_threshold_ms = SLOW_MS,
        .wait_duration_in_open_state_ms = WAIT_MS,
        .permitted_number_of_calls_in_half_open_state = 3,
        .max_wait_duration_in_half_open_state_ms = HALF_MAX_MS,
    };
    return c;
}

static void init_or_die(breaker_t *b, const breaker_config_t *c)
{
    if (breaker_init(b, "test", c) != 0) {
        fprintf(stderr, "breaker_init failed\n");
        exit(2);
    }
}

/* One permitted call, acquired and recorded at now, that reports duration_ms. */
static void call(breaker_t *b, int64_t now, int64_t duration_ms, int success)
{
    breaker_ticket_t t;

    CU_ASSERT_EQUAL_FATAL(breaker_acquire(b, now, &t), 1);
    breaker_record(b, t, now, duration_ms, success);
}

static breaker_stats_t stats(const breaker_t *b)
{
    breaker_stats_t s;
    breaker_stats(b, &s);
    return s;
}

/* Open b (base_config, window 10, threshold 50) by failures at time now. */
static void open_by_failures(breaker_t *b, int64_t now)
{
    for (int i = 0; i < 10; i++) {
        call(b, now, FAST_MS, 0);
    }
    CU_ASSERT_EQUAL_FATAL(breaker_state(b), BREAKER_OPEN);
}

/* ---- hook bookkeeping ---- */

static _Atomic uint64_t hook_calls[BREAKER_NSTATES][BREAKER_NSTATES];
static _Atomic uint64_t hook_illegal;
static _Atomic uint64_t hook_lock_held;
static _Atomic int hook_single_threaded = 1;
static char hook_last_reason[128];
static pthread_mutex_t hook_reason_mu = PTHREAD_MUTEX_INITIALIZER;

static void hook_reset(void)
{
    for (int i = 0; i < BREAKER_NSTATES; i++) {
        for (int j = 0; j < BREAKER_NSTATES; j++) {
            atomic_store(&hook_calls[i][j], 0);
        }
    }
    atomic_store(&hook_illegal, 0);
    atomic_store(&hook_lock_held, 0);
    hook_last_reason[0] = '\0';
}

static void counting_hook(const breaker_t *b, breaker_state_t from, breaker_state_t to,
                          const char *reason)
{
    int legal = (from == BREAKER_CLOSED && to == BREAKER_OPEN) ||
                (from == BREAKER_OPEN && to == BREAKER_HALF_OPEN) ||
                (from == BREAKER_HALF_OPEN && to == BREAKER_OPEN) ||
                (from == BREAKER_HALF_OPEN && to == BREAKER_CLOSED);

    if (!legal) {
        atomic_fetch_add(&hook_illegal, 1);
        return;
    }
    /*
     * The hook must run outside the breaker's mutex. With one thread, trylock
     * proves it. With many, another thread may hold the mutex legitimately, so
     * the proof is taking it through breaker_stats(): under our own lock that
     * would hang, and the watchdog alarm of the threaded test would fire.
     */
    if (atomic_load(&hook_single_threaded)) {
        breaker_t *mb = (breaker_t *)b;
        if (pthread_mutex_trylock(&mb->lock) != 0) {
            atomic_fetch_add(&hook_lock_held, 1);
            return;
        }
        pthread_mutex_unlock(&mb->lock);
    }
    breaker_stats_t s;
    breaker_stats(b, &s);
    if (s.lock_errors != 0) {
        atomic_fetch_add(&hook_lock_held, 1);
    }
    atomic_fetch_add(&hook_calls[from][to], 1);
    pthread_mutex_lock(&hook_reason_mu);
    snprintf(hook_last_reason, sizeof(hook_last_reason), "%s", reason);
    pthread_mutex_unlock(&hook_reason_mu);
}

static uint64_t hook_total(void)
{
    uint64_t n = 0;
    for (int i = 0; i < BREAKER_NSTATES; i++) {
        for (int j = 0; j < BREAKER_NSTATES; j++) {
            n += atomic_load(&hook_calls[i][j]);
        }
    }
    return n;
}

static int suite_init(void)
{
    hook_reset();
    breaker_set_transition_hook(counting_hook);
    return 0;
}

static int suite_clean(void)
{
    breaker_set_transition_hook(NULL);
    return 0;
}

/* ---- configuration ---- */

static void expect_invalid(breaker_config_t c, const char *key)
{
    char err[160];

    CU_ASSERT_EQUAL(breaker_config_validate(&c, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, key));
    if (strstr(err, key) == NULL) {
        fprintf(stderr, "\n  expected key %s in \"%s\"\n", key, err);
    }
}

static void test_config_validation(void)
{
    breaker_config_t c = base_config();
    char err[160] = "junk";

    CU_ASSERT_EQUAL(breaker_config_validate(&c, err, sizeof(err)), 0);
    CU_ASSERT_STRING_EQUAL(err, "");

    c = base_config();
    c.sliding_window_size = 0;
    expect_invalid(c, "slidingWindowSize");
    c = base_config();
    c.sliding_window_size = BREAKER_MAX_WINDOW + 1;
    expect_invalid(c, "slidingWindowSize");
    c = base_config();
    c.minimum_number_of_calls = 0;
    expect_invalid(c, "minimumNumberOfCalls");
    c = base_config();
    c.minimum_number_of_calls = 11;
    expect_invalid(c, "minimumNumberOfCalls");
    c = base_config();
    c.failure_rate_threshold = 0;
    expect_invalid(c, "failureRateThreshold");
    c = base_config();
    c.failure_rate_threshold = 101;
    expect_invalid(c, "failureRateThreshold");
    c = base_config();
    c.slow_call_rate_threshold = 0;
    expect_invalid(c, "slowCallRateThreshold");
    c = base_config();
    c.slow_call_rate_threshold = 101;
    expect_invalid(c, "slowCallRateThreshold");
    c = base_config();
    c.slow_call_duration_threshold_ms = 0;
    expect_invalid(c, "slowCallDurationThreshold");
    c = base_config();
    c.wait_duration_in_open_state_ms = 0;
    expect_invalid(c, "waitDurationInOpenState");
    c = base_config();
    c.permitted_number_of_calls_in_half_open_state = 0;
    expect_invalid(c, "permittedNumberOfCallsInHalfOpenState");
    c = base_config();
    c.permitted_number_of_calls_in_half_open_state = 11;
    expect_invalid(c, "permittedNumberOfCallsInHalfOpenState");
    c = base_config();
    c.max_wait_duration_in_half_open_state_ms = 0;
    expect_invalid(c, "maxWaitDurationInHalfOpenState");

    /* Edges that are valid. */
    c = base_config();
    c.sliding_window_size = BREAKER_MAX_WINDOW;
    c.minimum_number_of_calls = BREAKER_MAX_WINDOW;
    c.permitted_number_of_calls_in_half_open_state = BREAKER_MAX_WINDOW;
    c.failure_rate_threshold = 100;
    c.slow_call_rate_threshold = 1;
    CU_ASSERT_EQUAL(breaker_config_validate(&c, NULL, 0), 0);

    CU_ASSERT_EQUAL(breaker_config_validate(NULL, err, sizeof(err)), -1);
}

static void test_init(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_stats_t s;

    c.sliding_window_size = 0;
    CU_ASSERT_EQUAL(breaker_init(&b, "redis", &c), -1);

    c = base_config();
    CU_ASSERT_EQUAL(breaker_init(&b, "a-name-that-is-much-longer-than-31-bytes", &c), 0);
    CU_ASSERT_EQUAL(strlen(breaker_name(&b)), BREAKER_NAME_MAX - 1);
    CU_ASSERT_EQUAL(breaker_init(&b, "redis", &c), 0);
    CU_ASSERT_STRING_EQUAL(breaker_name(&b), "redis");
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_CLOSED);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.state, BREAKER_CLOSED);
    CU_ASSERT_EQUAL(s.permitted, 0);
    CU_ASSERT_EQUAL(s.window_calls, 0);
    CU_ASSERT_EQUAL(s.failure_rate, -1);
    CU_ASSERT_EQUAL(s.slow_call_rate, -1);
    CU_ASSERT_EQUAL(s.last_transition_ms, 0);

    CU_ASSERT_STRING_EQUAL(breaker_state_name(BREAKER_CLOSED), "CLOSED");
    CU_ASSERT_STRING_EQUAL(breaker_state_name(BREAKER_OPEN), "OPEN");
    CU_ASSERT_STRING_EQUAL(breaker_state_name(BREAKER_HALF_OPEN), "HALF_OPEN");
    CU_ASSERT_STRING_EQUAL(breaker_state_name((breaker_state_t)7), "UNKNOWN");
}

/* ---- CLOSED -> OPEN ---- */

static void test_failure_rate_boundary(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_stats_t s;

    c.sliding_window_size = 100;
    c.minimum_number_of_calls = 100;

    /* 49 failures of 100 at threshold 50: stays CLOSED. */
    init_or_die(&b, &c);
    for (int i = 0; i < 49; i++)
        call(&b, 1, FAST_MS, 0);
    for (int i = 0; i < 51; i++)
        call(&b, 1, FAST_MS, 1);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.state, BREAKER_CLOSED);
    CU_ASSERT_EQUAL(s.window_calls, 100);
    CU_ASSERT_EQUAL(s.window_failures, 49);
    CU_ASSERT_DOUBLE_EQUAL(s.failure_rate, 49.0, 1e-9);

    /* 50 failures of 100: opens, on exactly the 100th outcome. */
    init_or_die(&b, &c);
    for (int i = 0; i < 50; i++)
        call(&b, 1, FAST_MS, 0);
    for (int i = 0; i < 49; i++)
        call(&b, 1, FAST_MS, 1);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_CLOSED);
    call(&b, 1, FAST_MS, 1);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.state, BREAKER_OPEN);
    CU_ASSERT_EQUAL(s.transitions_to[BREAKER_OPEN], 1);
    CU_ASSERT_DOUBLE_EQUAL(s.failure_rate, 50.0, 1e-9);
    CU_ASSERT_PTR_NOT_NULL(strstr(hook_last_reason, "failure rate 50.0%"));
}

static void test_slow_rate_boundary(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_stats_t s;

    c.sliding_window_size = 100;
    c.minimum_number_of_calls = 100;

    /* A call of exactly the threshold is slow, one ms less is not. */
    init_or_die(&b, &c);
    for (int i = 0; i < 49; i++)
        call(&b, 1, SLOW_MS, 1);
    for (int i = 0; i < 51; i++)
        call(&b, 1, SLOW_MS - 1, 1);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.state, BREAKER_CLOSED);
    CU_ASSERT_EQUAL(s.window_slow_calls, 49);
    CU_ASSERT_EQUAL(s.slow_calls, 49);
    CU_ASSERT_DOUBLE_EQUAL(s.slow_call_rate, 49.0, 1e-9);

    init_or_die(&b, &c);
    for (int i = 0; i < 50; i++)
        call(&b, 1, SLOW_MS, 1);
    for (int i = 0; i < 50; i++)
        call(&b, 1, SLOW_MS - 1, 1);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.state, BREAKER_OPEN);
    CU_ASSERT_EQUAL(s.failures, 0);
    CU_ASSERT_DOUBLE_EQUAL(s.slow_call_rate, 50.0, 1e-9);
    CU_ASSERT_PTR_NOT_NULL(strstr(hook_last_reason, "slow call rate 50.0%"));
}

static void test_failed_call_can_be_slow(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_stats_t s;

    c.failure_rate_threshold = 100; /* only the slow rate can open it */
    init_or_die(&b, &c);
    for (int i = 0; i < 4; i++)
        call(&b, 1, SLOW_MS + 5, 0);
    for (int i = 0; i < 5; i++)
        call(&b, 1, FAST_MS, 1);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.window_failures, 4);
    CU_ASSERT_EQUAL(s.window_slow_calls, 4);
    CU_ASSERT_EQUAL(s.state, BREAKER_CLOSED);
    call(&b, 1, SLOW_MS, 0); /* 5 slow of 10: the slow rate opens it */
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_OPEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(hook_last_reason, "slow call rate"));
}

static void test_minimum_number_of_calls(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_stats_t s;

    c.minimum_number_of_calls = 5;
    init_or_die(&b, &c);
    for (int i = 0; i < 4; i++)
        call(&b, 1, SLOW_MS, 0); /* 100% failed and slow */
    s = stats(&b);
    CU_ASSERT_EQUAL(s.state, BREAKER_CLOSED);
    CU_ASSERT_EQUAL(s.window_calls, 4);
    CU_ASSERT_EQUAL(s.failure_rate, -1); /* not evaluated below the minimum */
    CU_ASSERT_EQUAL(s.slow_call_rate, -1);
    call(&b, 1, FAST_MS, 0);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_OPEN);
}

static void test_window_slides(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_stats_t s;

    init_or_die(&b, &c);
    for (int i = 0; i < 4; i++)
        call(&b, 1, FAST_MS, 0);
    for (int i = 0; i < 6; i++)
        call(&b, 1, FAST_MS, 1);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.window_failures, 4);
    CU_ASSERT_EQUAL(s.state, BREAKER_CLOSED);

    /* Four successes push the four failures out of a 10-call window. */
    for (int i = 0; i < 4; i++)
        call(&b, 1, FAST_MS, 1);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.window_calls, 10);
    CU_ASSERT_EQUAL(s.window_failures, 0);
    CU_ASSERT_EQUAL(s.failures, 4); /* lifetime totals keep them */

    /* Had the old failures stayed, 1 more failure would reach 5/10. */
    call(&b, 1, FAST_MS, 0);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_CLOSED);
    for (int i = 0; i < 3; i++)
        call(&b, 1, FAST_MS, 0);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_CLOSED);
    call(&b, 1, FAST_MS, 0); /* 5 of the last 10 */
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_OPEN);
}

/* ---- OPEN -> HALF_OPEN ---- */

static void test_open_waits_then_half_open(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_ticket_t t;
    breaker_stats_t s;
    uint64_t before = atomic_load(&hook_calls[BREAKER_OPEN][BREAKER_HALF_OPEN]);

    init_or_die(&b, &c);
    open_by_failures(&b, 1000);
    CU_ASSERT_EQUAL(stats(&b).last_transition_ms, 1000);

    CU_ASSERT_EQUAL(breaker_acquire(&b, 1000, &t), 0);
    CU_ASSERT_FALSE(breaker_ticket_held(t));
    CU_ASSERT_EQUAL(breaker_acquire(&b, 1000 + WAIT_MS - 1, &t), 0);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_OPEN);
    /* Lazy: the state is still OPEN after the wait until someone asks. */
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_OPEN);
    CU_ASSERT_EQUAL(breaker_acquire(&b, 1000 + WAIT_MS, &t), 1);
    CU_ASSERT_TRUE(breaker_ticket_held(t));
    s = stats(&b);
    CU_ASSERT_EQUAL(s.state, BREAKER_HALF_OPEN);
    CU_ASSERT_EQUAL(s.rejected, 2);
    CU_ASSERT_EQUAL(s.half_open_permits_in_use, 1);
    CU_ASSERT_EQUAL(s.transitions_to[BREAKER_HALF_OPEN], 1);
    CU_ASSERT_EQUAL(s.last_transition_ms, 1000 + WAIT_MS);
    CU_ASSERT_EQUAL(atomic_load(&hook_calls[BREAKER_OPEN][BREAKER_HALF_OPEN]), before + 1);
    breaker_release(&b, t, 1000 + WAIT_MS);
}

/* ---- HALF_OPEN ---- */

static void to_half_open(breaker_t *b, int64_t *now)
{
    breaker_ticket_t t;

    open_by_failures(b, *now);
    *now += WAIT_MS;
    CU_ASSERT_EQUAL_FATAL(breaker_acquire(b, *now, &t), 1);
    CU_ASSERT_EQUAL_FATAL(breaker_state(b), BREAKER_HALF_OPEN);
    breaker_release(b, t, *now);
}

/* breaker_ticket_trial tells a HALF_OPEN trial permit from any other (db.c
 * hands a trial permit back when its call never reached the server). */
static void test_ticket_trial(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_ticket_t t;
    int64_t now = 100;

    init_or_die(&b, &c);
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t), 1);
    CU_ASSERT_FALSE(breaker_ticket_trial(t)); /* CLOSED */
    breaker_release(&b, t, now);
    CU_ASSERT_FALSE(breaker_ticket_trial(BREAKER_NO_TICKET));
    to_half_open(&b, &now);
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t), 1);
    CU_ASSERT_TRUE(breaker_ticket_trial(t));
    breaker_release(&b, t, now); /* handed back: the trial is not spoiled */
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_HALF_OPEN);
    CU_ASSERT_EQUAL(stats(&b).half_open_permits_in_use, 0);
}

static void test_half_open_permits(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_ticket_t t[4];
    int64_t now = 100;

    init_or_die(&b, &c);
    to_half_open(&b, &now);
    CU_ASSERT_EQUAL(stats(&b).half_open_permits_in_use, 0);

    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[0]), 1);
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[1]), 1);
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[2]), 1);
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[3]), 0); /* exactly 3 */
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[3]), 0);
    CU_ASSERT_EQUAL(stats(&b).half_open_permits_in_use, 3);

    breaker_release(&b, t[1], now); /* gives one back */
    CU_ASSERT_EQUAL(stats(&b).half_open_permits_in_use, 2);
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[1]), 1);
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[3]), 0);

    /* Recorded permits stay used: no new trial until the decision. */
    breaker_record(&b, t[0], now, FAST_MS, 1);
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[3]), 0);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_HALF_OPEN);
    breaker_record(&b, t[1], now, FAST_MS, 1);
    breaker_record(&b, t[2], now, FAST_MS, 1);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_CLOSED);
}

static void test_half_open_to_closed(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_ticket_t t[3];
    breaker_stats_t s;
    int64_t now = 100;
    uint64_t before = atomic_load(&hook_calls[BREAKER_HALF_OPEN][BREAKER_CLOSED]);

    init_or_die(&b, &c);
    to_half_open(&b, &now);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[i]), 1);
    breaker_record(&b, t[0], now, FAST_MS, 0); /* 1 of 3 failed: 33% < 50% */
    breaker_record(&b, t[1], now, FAST_MS, 1);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_HALF_OPEN); /* 2 of 3: undecided */
    breaker_record(&b, t[2], now, FAST_MS, 1);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.state, BREAKER_CLOSED);
    CU_ASSERT_EQUAL(s.window_calls, 0); /* a fresh, empty window */
    CU_ASSERT_EQUAL(s.window_failures, 0);
    CU_ASSERT_EQUAL(s.transitions_to[BREAKER_CLOSED], 1);
    CU_ASSERT_EQUAL(atomic_load(&hook_calls[BREAKER_HALF_OPEN][BREAKER_CLOSED]), before + 1);

    /* The fresh window needs the full minimum again before it can open. */
    for (int i = 0; i < 9; i++)
        call(&b, now, FAST_MS, 0);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_CLOSED);
    call(&b, now, FAST_MS, 0);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_OPEN);
}

static void test_half_open_to_open_by_failures(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_ticket_t t[3];
    breaker_stats_t s;
    int64_t now = 100;

    init_or_die(&b, &c);
    to_half_open(&b, &now);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[i]), 1);
    breaker_record(&b, t[0], now, FAST_MS, 0); /* 2 of 3 failed: 66% >= 50% */
    breaker_record(&b, t[1], now, FAST_MS, 0);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_HALF_OPEN);
    breaker_record(&b, t[2], now + 1, FAST_MS, 1);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.state, BREAKER_OPEN);
    CU_ASSERT_EQUAL(s.transitions_to[BREAKER_OPEN], 2);
    CU_ASSERT_EQUAL(s.window_calls, 3); /* OPEN shows the trial that opened it */
    CU_ASSERT_PTR_NOT_NULL(strstr(hook_last_reason, "failure rate 66.7%"));

    /* A new full wait, counted from this transition. */
    CU_ASSERT_EQUAL(breaker_acquire(&b, now + WAIT_MS, &t[0]), 0);
    CU_ASSERT_EQUAL(breaker_acquire(&b, now + 1 + WAIT_MS, &t[0]), 1);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_HALF_OPEN);
}

static void test_half_open_to_open_by_slow_calls(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_ticket_t t[3];
    int64_t now = 100;

    c.slow_call_rate_threshold = 67; /* 2 of 3 = 66.7% is not enough */
    init_or_die(&b, &c);
    to_half_open(&b, &now);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[i]), 1);
    breaker_record(&b, t[0], now, SLOW_MS, 1);
    breaker_record(&b, t[1], now, SLOW_MS, 1);
    breaker_record(&b, t[2], now, FAST_MS, 1);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_CLOSED);

    c.slow_call_rate_threshold = 66; /* 2 of 3 = 66.7% opens */
    init_or_die(&b, &c);
    now = 100;
    to_half_open(&b, &now);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[i]), 1);
    breaker_record(&b, t[0], now, SLOW_MS, 1);
    breaker_record(&b, t[1], now, SLOW_MS, 1);
    breaker_record(&b, t[2], now, FAST_MS, 1);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_OPEN);
    CU_ASSERT_PTR_NOT_NULL(strstr(hook_last_reason, "slow call rate 66.7%"));
}

static void test_half_open_deadline_on_acquire(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_ticket_t lost, t;
    breaker_stats_t s;
    int64_t now = 100, entered;

    c.permitted_number_of_calls_in_half_open_state = 1;
    init_or_die(&b, &c);
    to_half_open(&b, &now);
    entered = now;
    /* The only permit goes to a caller that dies and never reports. */
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &lost), 1);
    CU_ASSERT_EQUAL(breaker_acquire(&b, entered + HALF_MAX_MS - 1, &t), 0);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_HALF_OPEN);
    CU_ASSERT_EQUAL(breaker_acquire(&b, entered + HALF_MAX_MS, &t), 0);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.state, BREAKER_OPEN);
    CU_ASSERT_EQUAL(s.last_transition_ms, entered + HALF_MAX_MS);
    CU_ASSERT_STRING_EQUAL(hook_last_reason, "half-open deadline");

    /* The dead caller's permit, if it ever reports, is late and ignored. */
    breaker_record(&b, lost, entered + HALF_MAX_MS + 1, FAST_MS, 1);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.late_outcomes, 1);
    CU_ASSERT_EQUAL(s.state, BREAKER_OPEN);

    /* And the usual wait leads to a new trial. */
    CU_ASSERT_EQUAL(breaker_acquire(&b, entered + HALF_MAX_MS + WAIT_MS, &t), 1);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_HALF_OPEN);
}

static void test_half_open_deadline_on_record(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_ticket_t t[3];
    breaker_stats_t s;
    int64_t now = 100, entered;

    init_or_die(&b, &c);
    to_half_open(&b, &now);
    entered = now;
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[i]), 1);
    breaker_record(&b, t[0], now, FAST_MS, 1);
    breaker_record(&b, t[1], now, FAST_MS, 1);
    /* The third trial answers after the deadline: the deadline wins. */
    breaker_record(&b, t[2], entered + HALF_MAX_MS, HALF_MAX_MS, 1);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.state, BREAKER_OPEN);
    CU_ASSERT_EQUAL(s.late_outcomes, 1);
    CU_ASSERT_EQUAL(s.window_calls, 2);
    CU_ASSERT_EQUAL(s.failure_rate, -1); /* 2 of 3 trials: never decided */
    CU_ASSERT_STRING_EQUAL(hook_last_reason, "half-open deadline");
}

/* ---- late outcomes ---- */

static void test_late_outcome_after_open(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_ticket_t slow;
    breaker_stats_t before, after;

    init_or_die(&b, &c);
    /* A slow call starts while CLOSED ... */
    CU_ASSERT_EQUAL(breaker_acquire(&b, 0, &slow), 1);
    /* ... the breaker opens while it is in flight ... */
    open_by_failures(&b, 10);
    before = stats(&b);
    /* ... and its slow failure arrives late. */
    breaker_record(&b, slow, 5000, 5000, 0);
    after = stats(&b);
    CU_ASSERT_EQUAL(after.late_outcomes, 1);
    CU_ASSERT_EQUAL(after.window_calls, before.window_calls);
    CU_ASSERT_EQUAL(after.window_failures, before.window_failures);
    CU_ASSERT_EQUAL(after.window_slow_calls, before.window_slow_calls);
    CU_ASSERT_EQUAL(after.failures, before.failures + 1); /* lifetime totals count it */
    CU_ASSERT_EQUAL(after.slow_calls, before.slow_calls + 1);
    CU_ASSERT_EQUAL(after.transitions_to[BREAKER_OPEN], 1);
}

static void test_late_outcome_in_half_open(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_ticket_t old1, old2, t[3], extra;
    breaker_stats_t s;
    int64_t now = 100;

    init_or_die(&b, &c);
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &old1), 1);
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &old2), 1);
    to_half_open(&b, &now);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[i]), 1);

    /* Outcomes of CLOSED-era calls are not trial calls ... */
    breaker_record(&b, old1, now, FAST_MS, 1);
    breaker_record(&b, old1, now, FAST_MS, 1);
    breaker_record(&b, old1, now, FAST_MS, 1);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.state, BREAKER_HALF_OPEN);
    CU_ASSERT_EQUAL(s.window_calls, 0);
    CU_ASSERT_EQUAL(s.late_outcomes, 3);
    /* ... and releasing one does not hand out a fourth trial permit. */
    breaker_release(&b, old2, now);
    CU_ASSERT_EQUAL(stats(&b).half_open_permits_in_use, 3);
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &extra), 0);

    /* The three real trials still decide. */
    for (int i = 0; i < 3; i++)
        breaker_record(&b, t[i], now, FAST_MS, 0);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_OPEN);
}

static void test_late_outcome_after_reclose(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_ticket_t old, t[3];
    breaker_stats_t s;
    int64_t now = 100;

    init_or_die(&b, &c);
    CU_ASSERT_EQUAL(breaker_acquire(&b, now, &old), 1);
    to_half_open(&b, &now);
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(breaker_acquire(&b, now, &t[i]), 1);
    for (int i = 0; i < 3; i++)
        breaker_record(&b, t[i], now, FAST_MS, 1);
    CU_ASSERT_EQUAL(breaker_state(&b), BREAKER_CLOSED);
    /* CLOSED again, but a different epoch: the old window is gone for good. */
    breaker_record(&b, old, now, FAST_MS, 0);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.window_calls, 0);
    CU_ASSERT_EQUAL(s.late_outcomes, 1);
}

static void test_zero_ticket_ignored(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_ticket_t rejected;
    breaker_stats_t before, after;

    init_or_die(&b, &c);
    open_by_failures(&b, 0);
    CU_ASSERT_EQUAL(breaker_acquire(&b, 1, &rejected), 0);
    before = stats(&b);
    breaker_record(&b, rejected, 1, FAST_MS, 0);
    breaker_release(&b, rejected, 1);
    after = stats(&b);
    CU_ASSERT_EQUAL(after.failures, before.failures);
    CU_ASSERT_EQUAL(after.released, before.released);
    CU_ASSERT_EQUAL(after.late_outcomes, before.late_outcomes);
}

/* ---- hook ---- */

static void test_hook_once_per_transition(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    breaker_ticket_t t[3];
    breaker_stats_t s;
    int64_t now = 0;

    hook_reset();
    init_or_die(&b, &c);
    open_by_failures(&b, now); /* CLOSED -> OPEN */
    now += WAIT_MS;
    for (int i = 0; i < 3; i++)
        breaker_acquire(&b, now, &t[i]); /* -> HALF_OPEN */
    for (int i = 0; i < 3; i++)
        breaker_record(&b, t[i], now, FAST_MS, 0); /* -> OPEN */
    now += WAIT_MS;
    for (int i = 0; i < 3; i++)
        breaker_acquire(&b, now, &t[i]); /* -> HALF_OPEN */
    for (int i = 0; i < 3; i++)
        breaker_record(&b, t[i], now, FAST_MS, 1); /* -> CLOSED */
    open_by_failures(&b, now);                     /* -> OPEN */
    now += WAIT_MS;
    breaker_acquire(&b, now, &t[0]);               /* -> HALF_OPEN */
    breaker_acquire(&b, now + HALF_MAX_MS, &t[1]); /* -> OPEN (deadline) */

    s = stats(&b);
    CU_ASSERT_EQUAL(atomic_load(&hook_calls[BREAKER_CLOSED][BREAKER_OPEN]), 2);
    CU_ASSERT_EQUAL(atomic_load(&hook_calls[BREAKER_OPEN][BREAKER_HALF_OPEN]), 3);
    CU_ASSERT_EQUAL(atomic_load(&hook_calls[BREAKER_HALF_OPEN][BREAKER_OPEN]), 2);
    CU_ASSERT_EQUAL(atomic_load(&hook_calls[BREAKER_HALF_OPEN][BREAKER_CLOSED]), 1);
    CU_ASSERT_EQUAL(hook_total(), 8);
    CU_ASSERT_EQUAL(s.transitions_to[BREAKER_OPEN], 4);
    CU_ASSERT_EQUAL(s.transitions_to[BREAKER_HALF_OPEN], 3);
    CU_ASSERT_EQUAL(s.transitions_to[BREAKER_CLOSED], 1);
    CU_ASSERT_EQUAL(s.epoch, 1 + 8);
    CU_ASSERT_EQUAL(atomic_load(&hook_illegal), 0);
    CU_ASSERT_EQUAL(atomic_load(&hook_lock_held), 0); /* never under the mutex */

    /* No hook: transitions still count, nothing is called. */
    breaker_set_transition_hook(NULL);
    breaker_acquire(&b, now + HALF_MAX_MS + WAIT_MS, &t[0]);
    CU_ASSERT_EQUAL(stats(&b).transitions_to[BREAKER_HALF_OPEN], 4);
    CU_ASSERT_EQUAL(hook_total(), 8);
    breaker_set_transition_hook(counting_hook);
}

static void alarm_handler(int sig)
{
    (void)sig;
    static const char msg[] = "\ntest_breaker: deadlock (alarm fired)\n";
    ssize_t n = write(2, msg, sizeof(msg) - 1);
    (void)n;
    _exit(99);
}

/* ---- threads ---- */

#define NTHREADS 8
#define NCALLS   100000

typedef struct worker_arg {
    breaker_t *b;
    _Atomic int64_t *clock; /* shared fake clock; NULL: constant time */
    int id;
    uint64_t permitted, rejected, released, ok, failed, slow;
} worker_arg_t;

/* Healthy dependency: 10% failures, ~14% slow; thresholds never reached. */
static void *steady_worker(void *p)
{
    worker_arg_t *a = p;
    breaker_ticket_t t;

    for (int i = 0; i < NCALLS; i++) {
        if (!breaker_acquire(a->b, 1, &t)) {
            a->rejected++;
            continue;
        }
        a->permitted++;
        int ok = i % 10 != 0;
        int64_t dur = i % 7 == 0 ? SLOW_MS : FAST_MS;
        breaker_record(a->b, t, 1, dur, ok);
        a->ok += ok;
        a->failed += !ok;
        a->slow += dur >= SLOW_MS;
    }
    return NULL;
}

static void test_threads_exact_totals(void)
{
    breaker_t b;
    breaker_config_t c = base_config();
    pthread_t th[NTHREADS];
    worker_arg_t a[NTHREADS];
    breaker_stats_t s;
    uint64_t ok = 0, failed = 0, slow = 0;

    c.sliding_window_size = 100;
    c.minimum_number_of_calls = 100;
    c.failure_rate_threshold = 100;
    c.slow_call_rate_threshold = 100;
    init_or_die(&b, &c);
    for (int i = 0; i < NTHREADS; i++) {
        a[i] = (worker_arg_t){ .b = &b, .id = i };
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, steady_worker, &a[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        ok += a[i].ok;
        failed += a[i].failed;
        slow += a[i].slow;
    }
    s = stats(&b);
    CU_ASSERT_EQUAL(s.state, BREAKER_CLOSED);
    CU_ASSERT_EQUAL(s.permitted, (uint64_t)NTHREADS * NCALLS);
    CU_ASSERT_EQUAL(s.rejected, 0);
    CU_ASSERT_EQUAL(s.successes, ok);
    CU_ASSERT_EQUAL(s.failures, failed);
    CU_ASSERT_EQUAL(s.slow_calls, slow);
    CU_ASSERT_EQUAL(s.successes + s.failures, (uint64_t)NTHREADS * NCALLS);
    CU_ASSERT_EQUAL(s.failures, (uint64_t)NTHREADS * (NCALLS / 10));
    CU_ASSERT_EQUAL(s.late_outcomes, 0);
    CU_ASSERT_EQUAL(s.window_calls, 100);
    CU_ASSERT_EQUAL(s.transitions_to[BREAKER_OPEN], 0);

    /* The window's counts match its ring (no lost or doubled updates). */
    int f = 0, sl = 0;
    for (int i = 0; i < b.win_count; i++) {
        f += (b.ring[i] & 1) != 0;
        sl += (b.ring[i] & 2) != 0;
    }
    CU_ASSERT_EQUAL(f, s.window_failures);
    CU_ASSERT_EQUAL(sl, s.window_slow_calls);
}

/* Flapping dependency: many transitions, releases, late outcomes, all at once. */
static void *chaos_worker(void *p)
{
    worker_arg_t *a = p;
    breaker_ticket_t t;
    unsigned seed = (unsigned)a->id * 2654435761u + 1;

    for (int i = 0; i < NCALLS; i++) {
        int64_t now = atomic_fetch_add(a->clock, 1);
        if (!breaker_acquire(a->b, now, &t)) {
            a->rejected++;
            continue;
        }
        a->permitted++;
        int r = rand_r(&seed) % 100;
        now = atomic_load(a->clock);
        if (r < 5) {
            breaker_release(a->b, t, now);
            a->released++;
            continue;
        }
        /* Phases of ~4000 ticks alternate between a healthy and a broken dependency. */
        int broken = (now / 4000) % 2;
        int ok = broken ? r < 30 : r < 95;
        int64_t dur = r % 9 == 0 ? SLOW_MS : FAST_MS;
        breaker_record(a->b, t, now, dur, ok);
        a->ok += ok;
        a->failed += !ok;
        a->slow += dur >= SLOW_MS;
    }
    return NULL;
}

static void test_threads_transitions(void)
{
    static _Atomic int64_t clock_ticks;
    breaker_t b;
    breaker_config_t c = base_config();
    pthread_t th[NTHREADS];
    worker_arg_t a[NTHREADS];
    breaker_stats_t s;
    uint64_t permitted = 0, rejected = 0, released = 0, ok = 0, failed = 0, slow = 0;

    c.sliding_window_size = 20;
    c.minimum_number_of_calls = 10;
    c.failure_rate_threshold = 50;
    c.slow_call_rate_threshold = 60;
    c.wait_duration_in_open_state_ms = 200;
    c.permitted_number_of_calls_in_half_open_state = 4;
    c.max_wait_duration_in_half_open_state_ms = 300;
    hook_reset();
    atomic_store(&hook_single_threaded, 0);
    atomic_store(&clock_ticks, 0);
    init_or_die(&b, &c);
    signal(SIGALRM, alarm_handler);
    alarm(120);
    for (int i = 0; i < NTHREADS; i++) {
        a[i] = (worker_arg_t){ .b = &b, .clock = &clock_ticks, .id = i };
        CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, chaos_worker, &a[i]), 0);
    }
    for (int i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], NULL);
        permitted += a[i].permitted;
        rejected += a[i].rejected;
        released += a[i].released;
        ok += a[i].ok;
        failed += a[i].failed;
        slow += a[i].slow;
    }
    alarm(0);
    atomic_store(&hook_single_threaded, 1);
    s = stats(&b);
    CU_ASSERT_EQUAL(s.lock_errors, 0);
    CU_ASSERT_EQUAL(s.lock_owner_died, 0);
    CU_ASSERT_EQUAL(s.permitted + s.rejected, (uint64_t)NTHREADS * NCALLS);
    CU_ASSERT_EQUAL(s.permitted, permitted);
    CU_ASSERT_EQUAL(s.rejected, rejected);
    CU_ASSERT_EQUAL(s.released, released);
    CU_ASSERT_EQUAL(s.successes, ok);
    CU_ASSERT_EQUAL(s.failures, failed);
    CU_ASSERT_EQUAL(s.slow_calls, slow);
    CU_ASSERT_EQUAL(s.successes + s.failures + s.released, s.permitted);

    /* Every transition hooked exactly once, and the counts tell one consistent story:
     * every HALF_OPEN came from an OPEN that ended, every CLOSED from a HALF_OPEN. */
    uint64_t o = s.transitions_to[BREAKER_OPEN];
    uint64_t h = s.transitions_to[BREAKER_HALF_OPEN];
    uint64_t cl = s.transitions_to[BREAKER_CLOSED];
    CU_ASSERT(o > 10 && h > 10 && cl > 5);
    CU_ASSERT_EQUAL(h, o - (s.state == BREAKER_OPEN));
    CU_ASSERT_EQUAL(s.epoch, 1 + o + h + cl);
    CU_ASSERT_EQUAL(hook_total(), o + h + cl);
    CU_ASSERT_EQUAL(atomic_load(&hook_calls[BREAKER_CLOSED][BREAKER_OPEN]) +
                        atomic_load(&hook_calls[BREAKER_HALF_OPEN][BREAKER_OPEN]),
                    o);
    CU_ASSERT_EQUAL(atomic_load(&hook_calls[BREAKER_OPEN][BREAKER_HALF_OPEN]), h);
    CU_ASSERT_EQUAL(atomic_load(&hook_calls[BREAKER_HALF_OPEN][BREAKER_CLOSED]), cl);
    CU_ASSERT_EQUAL(atomic_load(&hook_illegal), 0);
    CU_ASSERT_EQUAL(atomic_load(&hook_lock_held), 0);
    CU_ASSERT(s.window_calls >= 0 && s.window_calls <= 20);
    CU_ASSERT(s.window_failures <= s.window_calls && s.window_slow_calls <= s.window_calls);
    if (CU_get_number_of_failures() == 0) {
        printf("\n    transitions: open=%llu half_open=%llu closed=%llu late=%llu rejected=%llu ",
               (unsigned long long)o, (unsigned long long)h, (unsigned long long)cl,
               (unsigned long long)s.late_outcomes, (unsigned long long)s.rejected);
    }
}

/* ---- processes ---- */

static breaker_t *shared_breaker(const breaker_config_t *c)
{
    void *m =
        mmap(NULL, sizeof(breaker_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        exit(2);
    }
    init_or_die(m, c);
    return m;
}

static int wait_child(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            return -1;
        }
    }
    return st;
}

static void test_fork_shared_memory(void)
{
    breaker_config_t c = base_config();
    breaker_t *b = shared_breaker(&c);
    breaker_stats_t s;
    breaker_ticket_t t;
    pid_t pid;
    int st;

    /* The parent's half of the window: 4 successes. */
    for (int i = 0; i < 4; i++)
        call(b, 1, FAST_MS, 1);

    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        breaker_set_transition_hook(NULL);
        for (int i = 0; i < 6; i++) {
            if (!breaker_acquire(b, 2, &t))
                _exit(3);
            breaker_record(b, t, 2, FAST_MS, 0);
        }
        _exit(breaker_state(b) == BREAKER_OPEN ? 0 : 4);
    }
    st = wait_child(pid);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    s = stats(b);
    CU_ASSERT_EQUAL(s.state, BREAKER_OPEN); /* 6 of 10 failed, seen by the parent */
    CU_ASSERT_EQUAL(s.permitted, 10);
    CU_ASSERT_EQUAL(s.failures, 6);
    CU_ASSERT_EQUAL(s.transitions_to[BREAKER_OPEN], 1);
    CU_ASSERT_EQUAL(breaker_acquire(b, 3, &t), 0);
    munmap(b, sizeof(*b));
}

/*
 * Deterministic: the child takes the breaker's mutex itself (the struct is
 * visible for exactly this kind of test), leaves the window half-updated the way
 * a kill inside window_add() would, and SIGKILLs itself. The parent must get in,
 * repair the counts and go on.
 */
static void test_dead_lock_owner(void)
{
    breaker_config_t c = base_config();
    breaker_t *b = shared_breaker(&c);
    breaker_stats_t s;
    pid_t pid;
    int st;

    for (int i = 0; i < 3; i++)
        call(b, 1, FAST_MS, 0);
    for (int i = 0; i < 3; i++)
        call(b, 1, FAST_MS, 1);

    pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        pthread_mutex_lock(&b->lock);
        b->win_count++; /* a failure goes in ... */
        b->ring[b->win_head] = 1;
        b->win_failures += 40; /* ... a count is left garbage ... */
        b->win_head = (b->win_head + 1) % b->win_cap;
        raise(SIGKILL); /* ... and the owner dies holding it */
        _exit(5);
    }
    st = wait_child(pid);
    CU_ASSERT(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    signal(SIGALRM, alarm_handler);
    alarm(10);
    call(b, 2, FAST_MS, 1); /* would hang forever with a plain mutex */
    s = stats(b);
    alarm(0);
    CU_ASSERT_EQUAL(s.lock_owner_died, 1);
    CU_ASSERT_EQUAL(s.lock_errors, 0);
    CU_ASSERT_EQUAL(s.window_calls, 8);    /* 6 + the dead child's + ours */
    CU_ASSERT_EQUAL(s.window_failures, 4); /* recomputed from the ring */
    CU_ASSERT_EQUAL(s.state, BREAKER_CLOSED);

    /* The mutex and the window work normally afterwards. */
    call(b, 3, FAST_MS, 0);
    CU_ASSERT_EQUAL(breaker_state(b), BREAKER_CLOSED); /* 9 calls: below the minimum */
    call(b, 3, FAST_MS, 1);
    CU_ASSERT_EQUAL(breaker_state(b), BREAKER_OPEN); /* 5 of 10 */
    CU_ASSERT_EQUAL(stats(b).lock_owner_died, 1);
    munmap(b, sizeof(*b));
}

/*
 * Realistic: children hammer the breaker and are SIGKILLed at arbitrary moments;
 * some of those land inside the mutex. Whatever the timing, the parent must never
 * hang and the window must stay consistent with its ring.
 */
static void test_killed_mid_operation(void)
{
    breaker_config_t c = base_config();
    breaker_t *b;
    uint64_t died = 0;

    c.sliding_window_size = 50;
    c.minimum_number_of_calls = 50;
    c.failure_rate_threshold = 100;
    c.slow_call_rate_threshold = 100;
    b = shared_breaker(&c);
    signal(SIGALRM, alarm_handler);

    for (int round = 0; round < 40; round++) {
        pid_t pid = fork();
        CU_ASSERT_FATAL(pid >= 0);
        if (pid == 0) {
            breaker_ticket_t t;
            breaker_set_transition_hook(NULL);
            for (unsigned i = 0;; i++) {
                if (breaker_acquire(b, 1, &t)) {
                    breaker_record(b, t, 1, (i % 3) ? FAST_MS : SLOW_MS, i % 4 != 0);
                }
            }
        }
        struct timespec ts = { 0, 200000 + (round % 10) * 37000 };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        wait_child(pid);

        alarm(10);
        call(b, 2, FAST_MS, 1);
        breaker_stats_t s = stats(b);
        alarm(0);
        CU_ASSERT_EQUAL(s.lock_errors, 0);
        CU_ASSERT_EQUAL(s.state, BREAKER_CLOSED);

        int f = 0, sl = 0, n = s.window_calls;
        for (int i = 1; i <= n; i++) {
            unsigned o = b->ring[(b->win_head - i + b->win_cap) % b->win_cap];
            f += (o & 1) != 0;
            sl += (o & 2) != 0;
        }
        CU_ASSERT_EQUAL(f, s.window_failures);
        CU_ASSERT_EQUAL(sl, s.window_slow_calls);
        died = s.lock_owner_died;
    }
    printf("\n    40 children killed, %llu of them inside the mutex ", (unsigned long long)died);
    munmap(b, sizeof(*b));
}

int main(void)
{
    CU_pSuite s;

    if (CU_initialize_registry() != CUE_SUCCESS) {
        return CU_get_error();
    }

    s = CU_add_suite("breaker_config", suite_init, suite_clean);
    CU_add_test(s, "config validation names the key", test_config_validation);
    CU_add_test(s, "init, names, empty stats", test_init);
    CU_add_test(s, "a HALF_OPEN trial permit is known as one", test_ticket_trial);

    s = CU_add_suite("breaker_closed", suite_init, suite_clean);
    CU_add_test(s, "failure rate 50% opens, 49% does not", test_failure_rate_boundary);
    CU_add_test(s, "slow rate 50% opens, 49% does not", test_slow_rate_boundary);
    CU_add_test(s, "a failed call can also be slow", test_failed_call_can_be_slow);
    CU_add_test(s, "no evaluation below minimumNumberOfCalls", test_minimum_number_of_calls);
    CU_add_test(s, "old outcomes slide out of the window", test_window_slides);

    s = CU_add_suite("breaker_open_half_open", suite_init, suite_clean);
    CU_add_test(s, "OPEN -> HALF_OPEN after the wait, not before", test_open_waits_then_half_open);
    CU_add_test(s, "exactly N half-open permits, release gives one back", test_half_open_permits);
    CU_add_test(s, "HALF_OPEN -> CLOSED with a fresh window", test_half_open_to_closed);
    CU_add_test(s, "HALF_OPEN -> OPEN by failure rate", test_half_open_to_open_by_failures);
    CU_add_test(s, "HALF_OPEN -> OPEN by slow rate", test_half_open_to_open_by_slow_calls);
    CU_add_test(s, "HALF_OPEN -> OPEN by deadline on acquire", test_half_open_deadline_on_acquire);
    CU_add_test(s, "HALF_OPEN -> OPEN by deadline on record", test_half_open_deadline_on_record);

    s = CU_add_suite("breaker_tickets", suite_init, suite_clean);
    CU_add_test(s, "late outcome after CLOSED -> OPEN", test_late_outcome_after_open);
    CU_add_test(s, "late outcome and release in HALF_OPEN", test_late_outcome_in_half_open);
    CU_add_test(s, "late outcome in a later CLOSED epoch", test_late_outcome_after_reclose);
    CU_add_test(s, "zero ticket of a rejected call is ignored", test_zero_ticket_ignored);
    CU_add_test(s, "hook once per transition, outside the lock", test_hook_once_per_transition);

    s = CU_add_suite("breaker_processes", suite_init, suite_clean);
    CU_add_test(s, "MAP_SHARED across fork: child fails, parent sees OPEN",
                test_fork_shared_memory);
    CU_add_test(s, "lock owner SIGKILLed: no deadlock, counts repaired", test_dead_lock_owner);
    CU_add_test(s, "children SIGKILLed mid-operation", test_killed_mid_operation);

    s = CU_add_suite("breaker_threads", suite_init, suite_clean);
    CU_add_test(s, "8 threads x 100k calls: exact totals", test_threads_exact_totals);
    CU_add_test(s, "8 threads x 100k calls with transitions", test_threads_transitions);

    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    int failed = CU_get_number_of_failures() != 0 || CU_get_error();
    CU_cleanup_registry();
    return failed;
}
