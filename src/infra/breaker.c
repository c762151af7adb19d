/*
 * breaker.c - resilience4j-style circuit breaker living in shared memory.
 *
 * Concurrency design:
 * - state_word packs (epoch << 2 | state) in one lock-free 64-bit atomic. It is
 *   only written with the mutex held, and it is the last thing a transition
 *   writes, so a lock-free reader sees either the old state or the new one with
 *   all the fields it depends on.
 * - The CLOSED acquire (the hot path while the dependency is healthy) and the
 *   "OPEN, still waiting" rejection (the hot path while it is down) never take
 *   the mutex. Everything that changes the window, the half-open permits or the
 *   state does, so these follow resilience4j exactly without lock-free trickery.
 * - The mutex is process-shared and robust: a worker SIGKILLed inside it makes
 *   the next locker get EOWNERDEAD; we rebuild the derived counters from the ring
 *   (the dead owner may have stopped half-way through an update), mark the mutex
 *   consistent and carry on.
 * - Transition hooks are collected while locked and called after unlocking, so a
 *   hook may log, call breaker_stats() or even use the breaker.
 */
#include "infra/breaker.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/*
 * A non-lock-free atomic would be emulated with a process-local lock table
 * (libatomic), which silently breaks in MAP_SHARED memory across fork().
 */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_LONG_LOCK_FREE == 2 &&
                   ATOMIC_POINTER_LOCK_FREE == 2,
               "breaker needs lock-free 64-bit atomics in shared memory");

/* Bits of one ring slot. A failed call can also be slow. */
#define OUTCOME_FAILURE 0x1u
#define OUTCOME_SLOW    0x2u

#define WORD(epoch, st) (((uint64_t)(epoch) << 2) | (uint64_t)(st))
#define WORD_STATE(w)   ((breaker_state_t)((w)&3u))
#define WORD_EPOCH(w)   ((w) >> 2)

/* At most two transitions per operation (HALF_OPEN -> OPEN by deadline can only be
 * followed by OPEN -> HALF_OPEN when the wait is already over); room for both. */
#define MAX_PENDING 2
#define REASON_MAX  96

typedef struct pending {
    int n;
    struct {
        breaker_state_t from;
        breaker_state_t to;
        char reason[REASON_MAX];
    } t[MAX_PENDING];
} pending_t;

/* Process-local: a function address is meaningless in another process. */
static _Atomic(breaker_transition_fn) transition_hook;

static int64_t sat_add(int64_t a, int64_t b)
{
    /* Deadlines must not wrap into the past for absurd configured durations. */
    if (b > 0 && a > INT64_MAX - b) {
        return INT64_MAX;
    }
    return a + b;
}

static void bump(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static uint64_t load_counter(const _Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- the ring of outcomes (all under the lock) ---- */

static void window_reset(breaker_t *b, int cap, int min)
{
    b->win_cap = cap;
    b->win_min = min;
    b->win_head = 0;
    b->win_count = 0;
    b->win_failures = 0;
    b->win_slow = 0;
}

static void window_add(breaker_t *b, unsigned outcome)
{
    if (b->win_count == b->win_cap) {
        /* Full: the oldest outcome is the one about to be overwritten. */
        unsigned old = b->ring[b->win_head];
        b->win_failures -= (old & OUTCOME_FAILURE) != 0;
        b->win_slow -= (old & OUTCOME_SLOW) != 0;
    } else {
        b->win_count++;
    }
    b->ring[b->win_head] = (uint8_t)outcome;
    b->win_failures += (outcome & OUTCOME_FAILURE) != 0;
    b->win_slow += (outcome & OUTCOME_SLOW) != 0;
    b->win_head = (b->win_head + 1) % b->win_cap;
}

/*
 * A worker died holding the lock, maybe half-way through window_add() or a
 * transition. Bring every guarded field back in range and recompute the counts
 * from the ring, which is the only source of truth. The state word is always
 * valid (it is a single atomic store), so derive capacities from it.
 */
static void window_repair(breaker_t *b)
{
    breaker_state_t st = WORD_STATE(atomic_load_explicit(&b->state_word, memory_order_relaxed));
    int cap = b->win_cap, min = b->win_min;

    if (st == BREAKER_CLOSED) {
        cap = b->cfg.sliding_window_size;
        min = b->cfg.minimum_number_of_calls;
    } else if (st == BREAKER_HALF_OPEN) {
        cap = b->cfg.permitted_number_of_calls_in_half_open_state;
        min = cap;
    } else if (cap < 1 || cap > BREAKER_MAX_WINDOW || min < 1 || min > cap) {
        /* OPEN keeps the window that opened it, only for stats; make it sane. */
        cap = b->cfg.sliding_window_size;
        min = b->cfg.minimum_number_of_calls;
    }
    if (cap != b->win_cap || min != b->win_min || b->win_head < 0 || b->win_head >= cap ||
        b->win_count < 0 || b->win_count > cap) {
        /* Caught in the middle of a reset: finishing the reset is the honest fix. */
        window_reset(b, cap, min);
    } else {
        int f = 0, s = 0;
        for (int i = 1; i <= b->win_count; i++) {
            unsigned o = b->ring[(b->win_head - i + cap) % cap];
            f += (o & OUTCOME_FAILURE) != 0;
            s += (o & OUTCOME_SLOW) != 0;
        }
        b->win_failures = f;
        b->win_slow = s;
    }

    if (st != BREAKER_HALF_OPEN) {
        b->half_open_issued = 0;
    } else if (b->half_open_issued < b->win_count) {
        b->half_open_issued = b->win_count;
    } else if (b->half_open_issued > cap) {
        b->half_open_issued = cap;
    }
}

static int lock_breaker(breaker_t *b)
{
    int rc = pthread_mutex_lock(&b->lock);

    if (rc == EOWNERDEAD) {
        window_repair(b);
        bump(&b->lock_owner_died);
        rc = pthread_mutex_consistent(&b->lock);
        if (rc != 0) {
            pthread_mutex_unlock(&b->lock);
        }
    }
    if (rc != 0) {
        /* Only reachable with memory corruption or an uninitialised breaker. */
        bump(&b->lock_errors);
        return -1;
    }
    return 0;
}

static void unlock_and_notify(breaker_t *b, const pending_t *p)
{
    pthread_mutex_unlock(&b->lock);

    breaker_transition_fn fn = atomic_load_explicit(&transition_hook, memory_order_acquire);
    if (fn == NULL) {
        return;
    }
    for (int i = 0; i < p->n; i++) {
        fn(b, p->t[i].from, p->t[i].to, p->t[i].reason);
    }
}

/* ---- transitions (under the lock) ---- */

static void transition(breaker_t *b, pending_t *p, breaker_state_t to, int64_t now_ms,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void transition(breaker_t *b, pending_t *p, breaker_state_t to, int64_t now_ms,
                       const char *fmt, ...)
{
    uint64_t w = atomic_load_explicit(&b->state_word, memory_order_relaxed);
    breaker_state_t from = WORD_STATE(w);

    switch (to) {
    case BREAKER_OPEN:
        /* The window stays frozen so stats show the rates that opened it.
         * open_until is published before the state word: see breaker_acquire. */
        atomic_store_explicit(&b->open_until_ms,
                              sat_add(now_ms, b->cfg.wait_duration_in_open_state_ms),
                              memory_order_release);
        break;
    case BREAKER_HALF_OPEN:
        window_reset(b, b->cfg.permitted_number_of_calls_in_half_open_state,
                     b->cfg.permitted_number_of_calls_in_half_open_state);
        break;
    case BREAKER_CLOSED:
        window_reset(b, b->cfg.sliding_window_size, b->cfg.minimum_number_of_calls);
        break;
    }
    b->half_open_issued = 0;
    b->since_ms = now_ms;
    atomic_store_explicit(&b->state_word, WORD(WORD_EPOCH(w) + 1, to), memory_order_release);
    bump(&b->transitions_to[to]);

    if (p->n < MAX_PENDING) {
        va_list ap;
        p->t[p->n].from = from;
        p->t[p->n].to = to;
        va_start(ap, fmt);
        vsnprintf(p->t[p->n].reason, REASON_MAX, fmt, ap);
        va_end(ap);
        p->n++;
    }
}

/*
 * Opens b when a rate is at or over its threshold, with the reason. Integer
 * cross-multiplication keeps the boundary exact: 50 of 100 at threshold 50 opens.
 */
static int check_rates(breaker_t *b, pending_t *p, int64_t now_ms)
{
    int n = b->win_count;

    if (n < b->win_min || n == 0) {
        return 0;
    }
    if ((int64_t)b->win_failures * 100 >= (int64_t)b->cfg.failure_rate_threshold * n) {
        transition(b, p, BREAKER_OPEN, now_ms, "failure rate %.1f%% >= threshold %d%% (%d/%d)",
                   100.0 * b->win_failures / n, b->cfg.failure_rate_threshold, b->win_failures, n);
        return 1;
    }
    if ((int64_t)b->win_slow * 100 >= (int64_t)b->cfg.slow_call_rate_threshold * n) {
        transition(b, p, BREAKER_OPEN, now_ms, "slow call rate %.1f%% >= threshold %d%% (%d/%d)",
                   100.0 * b->win_slow / n, b->cfg.slow_call_rate_threshold, b->win_slow, n);
        return 1;
    }
    return 0;
}

/* HALF_OPEN that outlived maxWaitDurationInHalfOpenState goes back to OPEN. */
static uint64_t check_half_open_deadline(breaker_t *b, pending_t *p, int64_t now_ms)
{
    uint64_t w = atomic_load_explicit(&b->state_word, memory_order_relaxed);

    if (WORD_STATE(w) == BREAKER_HALF_OPEN &&
        now_ms >= sat_add(b->since_ms, b->cfg.max_wait_duration_in_half_open_state_ms)) {
        transition(b, p, BREAKER_OPEN, now_ms, "half-open deadline");
        w = atomic_load_explicit(&b->state_word, memory_order_relaxed);
    }
    return w;
}

/* ---- public API ---- */

int breaker_config_validate(const breaker_config_t *c, char *err, size_t errlen)
{
    const char *key = NULL;
    char expect[64];

    if (err != NULL && errlen > 0) {
        err[0] = '\0';
    }
    if (c == NULL) {
        if (err != NULL && errlen > 0) {
            snprintf(err, errlen, "circuit breaker configuration missing");
        }
        return -1;
    }
    if (c->sliding_window_size < 1 || c->sliding_window_size > BREAKER_MAX_WINDOW) {
        key = "slidingWindowSize";
        snprintf(expect, sizeof(expect), "1..%d", BREAKER_MAX_WINDOW);
    } else if (c->minimum_number_of_calls < 1 ||
               c->minimum_number_of_calls > c->sliding_window_size) {
        key = "minimumNumberOfCalls";
        snprintf(expect, sizeof(expect), "1..%d (slidingWindowSize)", c->sliding_window_size);
    } else if (c->failure_rate_threshold < 1 || c->failure_rate_threshold > 100) {
        key = "failureRateThreshold";
        snprintf(expect, sizeof(expect), "1..100 percent");
    } else if (c->slow_call_rate_threshold < 1 || c->slow_call_rate_threshold > 100) {
        key = "slowCallRateThreshold";
        snprintf(expect, sizeof(expect), "1..100 percent");
    } else if (c->slow_call_duration_threshold_ms < 1) {
        key = "slowCallDurationThreshold";
        snprintf(expect, sizeof(expect), ">= 1 ms");
    } else if (c->wait_duration_in_open_state_ms < 1) {
        key = "waitDurationInOpenState";
        snprintf(expect, sizeof(expect), ">= 1 ms");
    } else if (c->permitted_number_of_calls_in_half_open_state < 1 ||
               c->permitted_number_of_calls_in_half_open_state > c->sliding_window_size) {
        key = "permittedNumberOfCallsInHalfOpenState";
        snprintf(expect, sizeof(expect), "1..%d (slidingWindowSize)", c->sliding_window_size);
    } else if (c->max_wait_duration_in_half_open_state_ms < 1) {
        key = "maxWaitDurationInHalfOpenState";
        snprintf(expect, sizeof(expect), ">= 1 ms (0 would let HALF_OPEN wait forever)");
    }
    if (key == NULL) {
        return 0;
    }
    if (err != NULL && errlen > 0) {
        snprintf(err, errlen, "%s: expected %s", key, expect);
    }
    return -1;
}

int breaker_init(breaker_t *b, const char *name, const breaker_config_t *c)
{
    pthread_mutexattr_t attr;
    int rc;

    memset(b, 0, sizeof(*b));
    if (breaker_config_validate(c, NULL, 0) != 0) {
        return -1;
    }
    if (pthread_mutexattr_init(&attr) != 0) {
        return -1;
    }
    rc = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (rc == 0) {
        rc = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    }
    if (rc == 0) {
        rc = pthread_mutex_init(&b->lock, &attr);
    }
    pthread_mutexattr_destroy(&attr);
    if (rc != 0) {
        return -1;
    }

    b->cfg = *c;
    window_reset(b, c->sliding_window_size, c->minimum_number_of_calls);
    snprintf(b->name, sizeof(b->name), "%s", name != NULL ? name : "");
    /* Epoch starts at 1 so the zero ticket never matches a live state. */
    atomic_store_explicit(&b->state_word, WORD(1, BREAKER_CLOSED), memory_order_release);
    return 0;
}

int breaker_acquire(breaker_t *b, int64_t now_ms, breaker_ticket_t *ticket)
{
    pending_t p;
    uint64_t w = atomic_load_explicit(&b->state_word, memory_order_acquire);
    int permitted = 0;

    *ticket = BREAKER_NO_TICKET;
    if (WORD_STATE(w) == BREAKER_CLOSED) {
        bump(&b->calls_permitted);
        ticket->word = w;
        return 1;
    }
    /*
     * Lock-free rejection while OPEN. open_until is stored (release) before the
     * state word of the OPEN epoch it belongs to; if the state word is unchanged
     * after reading it, the value read is that epoch's and not a later one's.
     */
    if (WORD_STATE(w) == BREAKER_OPEN &&
        now_ms < atomic_load_explicit(&b->open_until_ms, memory_order_acquire) &&
        atomic_load_explicit(&b->state_word, memory_order_acquire) == w) {
        bump(&b->calls_rejected);
        return 0;
    }

    if (lock_breaker(b) != 0) {
        /* Fail open: the call's own timeout still protects us; do not add an outage. */
        bump(&b->calls_permitted);
        return 1;
    }
    p.n = 0;
    w = check_half_open_deadline(b, &p, now_ms);
    if (WORD_STATE(w) == BREAKER_OPEN &&
        now_ms >= atomic_load_explicit(&b->open_until_ms, memory_order_relaxed)) {
        transition(b, &p, BREAKER_HALF_OPEN, now_ms, "wait %lld ms in OPEN elapsed",
                   (long long)b->cfg.wait_duration_in_open_state_ms);
        w = atomic_load_explicit(&b->state_word, memory_order_relaxed);
    }
    switch (WORD_STATE(w)) {
    case BREAKER_CLOSED:
        permitted = 1;
        break;
    case BREAKER_HALF_OPEN:
        if (b->half_open_issued < b->cfg.permitted_number_of_calls_in_half_open_state) {
            b->half_open_issued++;
            permitted = 1;
        }
        break;
    case BREAKER_OPEN:
        break;
    }
    if (permitted) {
        ticket->word = w;
        bump(&b->calls_permitted);
    } else {
        bump(&b->calls_rejected);
    }
    unlock_and_notify(b, &p);
    return permitted;
}

void breaker_record(breaker_t *b, breaker_ticket_t ticket, int64_t now_ms, int64_t duration_ms,
                    int success)
{
    pending_t p;
    uint64_t w;
    unsigned outcome = 0;

    if (!breaker_ticket_held(ticket)) {
        return;
    }
    if (!success) {
        outcome |= OUTCOME_FAILURE;
    }
    if (duration_ms >= b->cfg.slow_call_duration_threshold_ms) {
        outcome |= OUTCOME_SLOW;
    }
    bump(success ? &b->successes : &b->failures);
    if (outcome & OUTCOME_SLOW) {
        bump(&b->slow_calls);
    }

    if (lock_breaker(b) != 0) {
        return;
    }
    p.n = 0;
    w = check_half_open_deadline(b, &p, now_ms);
    if (ticket.word != w) {
        /* Permitted by an earlier epoch: that window or trial is gone. */
        bump(&b->late_outcomes);
    } else if (WORD_STATE(w) == BREAKER_CLOSED) {
        window_add(b, outcome);
        check_rates(b, &p, now_ms);
    } else if (WORD_STATE(w) == BREAKER_HALF_OPEN) {
        window_add(b, outcome);
        /* Decide on exactly the permitted trial calls, as resilience4j does. */
        if (b->win_count >= b->win_min && !check_rates(b, &p, now_ms)) {
            transition(b, &p, BREAKER_CLOSED, now_ms,
                       "%d trial calls below thresholds (failures %d, slow %d)", b->win_count,
                       b->win_failures, b->win_slow);
        }
    } else {
        /* OPEN never issues tickets, so a matching OPEN ticket is forged. */
        bump(&b->late_outcomes);
    }
    unlock_and_notify(b, &p);
}

void breaker_release(breaker_t *b, breaker_ticket_t ticket, int64_t now_ms)
{
    pending_t p;
    uint64_t w;

    if (!breaker_ticket_held(ticket)) {
        return;
    }
    bump(&b->calls_released);
    if (lock_breaker(b) != 0) {
        return;
    }
    p.n = 0;
    w = check_half_open_deadline(b, &p, now_ms);
    if (ticket.word == w && WORD_STATE(w) == BREAKER_HALF_OPEN && b->half_open_issued > 0) {
        b->half_open_issued--;
    }
    unlock_and_notify(b, &p);
}

breaker_state_t breaker_state(const breaker_t *b)
{
    return WORD_STATE(atomic_load_explicit(&b->state_word, memory_order_acquire));
}

const char *breaker_state_name(breaker_state_t s)
{
    switch (s) {
    case BREAKER_CLOSED:
        return "CLOSED";
    case BREAKER_OPEN:
        return "OPEN";
    case BREAKER_HALF_OPEN:
        return "HALF_OPEN";
    }
    return "UNKNOWN";
}

const char *breaker_name(const breaker_t *b)
{
    return b->name;
}

void breaker_stats(const breaker_t *cb, breaker_stats_t *out)
{
    /* The breaker lives in writable shared memory; const is a promise to callers
     * that the breaker's behaviour is not changed, which taking the lock keeps. */
    breaker_t *b = (breaker_t *)cb;
    uint64_t w;

    memset(out, 0, sizeof(*out));
    out->failure_rate = -1;
    out->slow_call_rate = -1;

    int locked = lock_breaker(b) == 0;

    w = atomic_load_explicit(&b->state_word, memory_order_acquire);
    out->state = WORD_STATE(w);
    out->epoch = WORD_EPOCH(w);
    out->permitted = load_counter(&b->calls_permitted);
    out->rejected = load_counter(&b->calls_rejected);
    out->released = load_counter(&b->calls_released);
    out->successes = load_counter(&b->successes);
    out->failures = load_counter(&b->failures);
    out->slow_calls = load_counter(&b->slow_calls);
    out->late_outcomes = load_counter(&b->late_outcomes);
    for (int i = 0; i < BREAKER_NSTATES; i++) {
        out->transitions_to[i] = load_counter(&b->transitions_to[i]);
    }
    out->lock_owner_died = load_counter(&b->lock_owner_died);
    out->lock_errors = load_counter(&b->lock_errors);
    if (!locked) {
        /* Counters only: the guarded fields cannot be read safely. */
        return;
    }

    out->window_calls = b->win_count;
    out->window_failures = b->win_failures;
    out->window_slow_calls = b->win_slow;
    out->half_open_permits_in_use = b->half_open_issued;
    out->last_transition_ms = b->since_ms;
    if (b->win_count > 0 && b->win_count >= b->win_min) {
        out->failure_rate = 100.0 * b->win_failures / b->win_count;
        out->slow_call_rate = 100.0 * b->win_slow / b->win_count;
    }
    pthread_mutex_unlock(&b->lock);
}

void breaker_set_transition_hook(breaker_transition_fn fn)
{
    atomic_store_explicit(&transition_hook, fn, memory_order_release);
}
