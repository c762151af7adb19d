/*
 * breaker.h - circuit breaker shared by all worker processes and threads.
 *
 * One breaker_t guards one dependency (Redis, the PostgreSQL replica, the payment
 * gateway). It follows resilience4j's model and configuration names with a
 * count-based sliding window: CLOSED records the last slidingWindowSize outcomes
 * and opens when the failure or slow-call rate reaches its threshold (once
 * minimumNumberOfCalls outcomes are in the window); OPEN rejects calls for
 * waitDurationInOpenState; the first call after that moves it to HALF_OPEN, which
 * hands out permittedNumberOfCallsInHalfOpenState trial permits and decides on
 * their outcomes (or opens again when maxWaitDurationInHalfOpenState passes first).
 *
 * Shared memory: breaker_t has no pointers and a fixed size so the server can
 * place it in an mmap(MAP_SHARED | MAP_ANONYMOUS) region and call breaker_init()
 * before fork(). Every function is safe from many threads in many processes.
 * The window is guarded by a process-shared robust mutex, so a worker SIGKILLed
 * while holding it does not wedge the others. The state can be read without
 * the lock (breaker_state()) for /ready and metrics.
 *
 * Time: the breaker never reads a clock. Every call takes now_ms, monotonic
 * milliseconds (CLOCK_MONOTONIC), so tests inject time and all processes agree.
 *
 * Tickets: breaker_acquire() hands out a breaker_ticket_t naming the state epoch
 * that permitted the call. Every permitted call must be finished exactly once,
 * with breaker_record() (the call was made) or breaker_release() (it was not,
 * or its outcome should be ignored). An outcome whose ticket belongs to an
 * earlier epoch (the breaker changed state while the call was in flight) is a
 * "late outcome": it is counted in the lifetime totals and in late_outcomes but
 * never enters the current window and never causes a transition.
 *
 * Typical use:
 *
 *     breaker_ticket_t t;
 *     if (!breaker_acquire(&shm->redis_breaker, now, &t))
 *         return read_from_replica();          // OPEN: skip Redis
 *     rc = redis_get(...);
 *     end = mono_ms();
 *     breaker_record(&shm->redis_breaker, t, end, end - now, rc == 0);
 */
#ifndef BREAKER_H
#define BREAKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Largest slidingWindowSize; the window is stored inline (one byte per call). */
#define BREAKER_MAX_WINDOW 256

/* Size of the inline name buffer; longer names are truncated to 31 bytes. */
#define BREAKER_NAME_MAX 32

typedef enum { BREAKER_CLOSED = 0, BREAKER_OPEN = 1, BREAKER_HALF_OPEN = 2 } breaker_state_t;

/* Number of states, for arrays indexed by breaker_state_t. */
#define BREAKER_NSTATES 3

/*
 * Configuration, named after resilience4j's keys. Durations are milliseconds.
 * Validate with breaker_config_validate() when the configuration is read.
 */
typedef struct breaker_config {
    int sliding_window_size;                 /* slidingWindowSize: count-based window,
                                                1..BREAKER_MAX_WINDOW */
    int minimum_number_of_calls;             /* minimumNumberOfCalls: 1..sliding_window_size */
    int failure_rate_threshold;              /* failureRateThreshold, percent 1..100 */
    int slow_call_rate_threshold;            /* slowCallRateThreshold, percent 1..100 */
    int64_t slow_call_duration_threshold_ms; /* slowCallDurationThreshold, >= 1; a call is
                                                slow when duration_ms >= this */
    int64_t wait_duration_in_open_state_ms;  /* waitDurationInOpenState, >= 1 */
    int permitted_number_of_calls_in_half_open_state; /* 1..sliding_window_size */
    int64_t max_wait_duration_in_half_open_state_ms;  /* maxWaitDurationInHalfOpenState,
                                                >= 1: unlike resilience4j, 0 ("wait
                                                forever") is refused so HALF_OPEN can
                                                never get stuck on a lost permit */
} breaker_config_t;

/*
 * Proof that a call was permitted, and by which state epoch. Small; pass by
 * value. A rejected acquire leaves the zero ticket, which record and release
 * ignore, so finishing a rejected call by mistake is harmless.
 */
typedef struct breaker_ticket {
    uint64_t word; /* private: the state word (epoch << 2 | state) at acquire */
} breaker_ticket_t;

/* The zero ticket: what a rejected acquire leaves; "no permit held". */
#define BREAKER_NO_TICKET ((breaker_ticket_t){ 0 })

/* Non-zero when t came from a successful acquire (a permit is held). */
static inline int breaker_ticket_held(breaker_ticket_t t)
{
    return t.word != 0;
}

/* Non-zero when t is a HALF_OPEN trial permit: one of the few calls whose
 * outcomes decide whether the breaker closes again. */
static inline int breaker_ticket_trial(breaker_ticket_t t)
{
    return t.word != 0 && (t.word & 3u) == (uint64_t)BREAKER_HALF_OPEN;
}

/*
 * The breaker. Fields are private (they are in the header only so callers
 * know its size for the shared mapping); use the functions below.
 */
typedef struct breaker {
    pthread_mutex_t lock; /* process-shared, robust; guards the window */

    /* Read without the lock. Written only with the lock held. */
    _Atomic uint64_t state_word;   /* epoch << 2 | state: one load gives a
                                      consistent (state, epoch) pair */
    _Atomic int64_t open_until_ms; /* OPEN: first time a call may go HALF_OPEN */

    /* Lifetime counters, relaxed atomics (the CLOSED acquire path is lock-free). */
    _Atomic uint64_t calls_permitted;
    _Atomic uint64_t calls_rejected;
    _Atomic uint64_t calls_released;
    _Atomic uint64_t successes;
    _Atomic uint64_t failures;
    _Atomic uint64_t slow_calls;
    _Atomic uint64_t late_outcomes;
    _Atomic uint64_t transitions_to[BREAKER_NSTATES];
    _Atomic uint64_t lock_owner_died;
    _Atomic uint64_t lock_errors;

    /* Guarded by the lock. */
    breaker_config_t cfg;
    int64_t since_ms;                 /* time of the last transition, 0 before any */
    int win_cap;                      /* ring capacity in this state */
    int win_min;                      /* calls needed before rates are evaluated */
    int win_head;                     /* next slot to write */
    int win_count;                    /* outcomes in the ring, <= win_cap */
    int win_failures;                 /* failed outcomes in the ring */
    int win_slow;                     /* slow outcomes in the ring */
    int half_open_issued;             /* HALF_OPEN permits handed out, not released */
    uint8_t ring[BREAKER_MAX_WINDOW]; /* per call: bit 0 failed, bit 1 slow */

    char name[BREAKER_NAME_MAX]; /* set once by breaker_init */
} breaker_t;

/* Snapshot returned by breaker_stats(). */
typedef struct breaker_stats {
    breaker_state_t state;
    uint64_t epoch;                           /* bumps on every transition */
    uint64_t permitted;                       /* acquires that returned 1 */
    uint64_t rejected;                        /* acquires that returned 0 (notPermittedCalls) */
    uint64_t released;                        /* permitted calls finished by breaker_release */
    uint64_t successes;                       /* recorded successes, late ones included */
    uint64_t failures;                        /* recorded failures, late ones included */
    uint64_t slow_calls;                      /* recorded slow calls (success or failure) */
    uint64_t late_outcomes;                   /* records whose ticket was from an earlier epoch */
    uint64_t transitions_to[BREAKER_NSTATES]; /* indexed by breaker_state_t */
    uint64_t lock_owner_died;                 /* times the mutex was recovered from a dead owner */
    uint64_t lock_errors;                     /* times the mutex could not be taken at all (only
                                                 with corrupt memory); acquire then fails open:
                                                 permits the call with the zero ticket */
    int window_calls;                         /* outcomes in the current window */
    int window_failures;
    int window_slow_calls;
    int half_open_permits_in_use; /* HALF_OPEN: issued, not yet released */
    double failure_rate;          /* percent of the window, -1 below the minimum */
    double slow_call_rate;        /* percent of the window, -1 below the minimum */
    int64_t last_transition_ms;   /* now_ms of the last transition, 0 if none */
} breaker_stats_t;

/*
 * Check a configuration. Returns 0 when valid; otherwise -1 with err (if not
 * NULL) holding a message that names the resilience4j key and the range expected.
 */
int breaker_config_validate(const breaker_config_t *c, char *err, size_t errlen);

/*
 * Initialise b in CLOSED with an empty window. Call once, in shared memory,
 * before fork() and before any other thread uses b. Returns 0, or -1 when c is
 * invalid (see breaker_config_validate) or the mutex cannot be made
 * process-shared and robust; b is unusable then (a caller that validated the
 * configuration at start-up can only see -1 from a broken libc).
 */
int breaker_init(breaker_t *b, const char *name, const breaker_config_t *c);

/*
 * Ask to make a call. Returns 1 and fills *ticket when the call is permitted;
 * returns 0 (rejected, *ticket zeroed) when OPEN and still waiting, or HALF_OPEN
 * with every trial permit handed out. OPEN moves to HALF_OPEN here, lazily,
 * once the wait has passed (that call takes the first trial permit). CLOSED and
 * "OPEN, still waiting" are answered without the lock.
 *
 * Half-open deadline: acquire, record and release all check it first, so once
 * maxWaitDurationInHalfOpenState has passed since entering HALF_OPEN, the next
 * of them moves to OPEN ("half-open deadline") and any outstanding trial
 * tickets become late.
 */
int breaker_acquire(breaker_t *b, int64_t now_ms, breaker_ticket_t *ticket);

/*
 * Record the outcome of a permitted call: duration_ms is how long it took
 * (slow when >= slowCallDurationThreshold, failed or not), success is non-zero
 * when it worked. Always counted in the lifetime totals; counted in the window
 * (and so able to open or close the breaker) only when the ticket's epoch is
 * still current. In HALF_OPEN the decision is taken on the record that
 * completes permittedNumberOfCallsInHalfOpenState trial outcomes.
 */
void breaker_record(breaker_t *b, breaker_ticket_t ticket, int64_t now_ms, int64_t duration_ms,
                    int success);

/*
 * Finish a permitted call that was not made, or whose outcome says nothing
 * about the dependency (e.g. the client went away). In HALF_OPEN of the same
 * epoch the trial permit is given back; otherwise it only counts.
 */
void breaker_release(breaker_t *b, breaker_ticket_t ticket, int64_t now_ms);

/*
 * Current state, one atomic load, no lock. It is lazy: an OPEN breaker whose
 * wait has passed still reads OPEN until the next acquire moves it on.
 */
breaker_state_t breaker_state(const breaker_t *b);

/* "CLOSED", "OPEN", "HALF_OPEN" ("UNKNOWN" for anything else). Static strings. */
const char *breaker_state_name(breaker_state_t s);

/* The name given to breaker_init (inside b; lives as long as b). */
const char *breaker_name(const breaker_t *b);

/*
 * Consistent snapshot of counters and window. Takes the lock briefly (b is
 * const to callers; the mutex inside it is not), so do not call it from a
 * signal handler. Safe from a transition hook, which runs outside the lock.
 */
void breaker_stats(const breaker_t *b, breaker_stats_t *out);

/*
 * Called after every transition, outside the lock, exactly once per transition,
 * in the process and thread that made it. reason says why, e.g.
 * "failure rate 50.0% >= threshold 50% (5/10)" or "half-open deadline"; it is valid
 * only during the call. Hooks for transitions made concurrently by different
 * threads may run in either order (use from/to, not arrival order).
 */
typedef void (*breaker_transition_fn)(const breaker_t *b, breaker_state_t from, breaker_state_t to,
                                      const char *reason);

/*
 * Install the hook for this process (it is NOT in shared memory: function
 * addresses mean nothing in another process). NULL removes it. Set it after
 * fork() in each worker, or before fork() to have children inherit it.
 */
void breaker_set_transition_hook(breaker_transition_fn fn);

#endif /* BREAKER_H */
