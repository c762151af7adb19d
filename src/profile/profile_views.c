/* profile_views.c: recording profile views without making responses wait.
 *
 * GET /api/v1/profiles/{id} answers first; the server then runs the request's
 * `after` callback, which only appends (profile, viewer, time) to this
 * worker's buffer under a mutex. One flusher thread per worker writes the
 * buffer to the primary in batches: at most every
 * PROFILE_VIEW_FLUSH_INTERVAL_MS (200 ms), sooner when PROFILE_VIEW_BATCH_MAX
 * views are waiting. A batch is one call of profile_views_apply() (one
 * transaction: the log rows, the view_count increments and the batch's id).
 *
 * Exactly once: a batch keeps its random id until it is known to be applied.
 * When a flush fails in any way (primary down, connection lost before or
 * after COMMIT) the same batch, with the same id, is retried with backoff
 * (100 ms doubling up to PROFILE_VIEW_RETRY_MAX_MS); if the first attempt
 * did commit, the retry finds the id and changes nothing.
 *
 * Bounds: the buffer holds at most PROFILE_VIEW_BUFFER_MAX views; when it is
 * full (the primary has been down for a long time) new views are dropped and
 * counted (memberapi_profile_views_dropped_total), never blocking a request.
 * A graceful stop (SIGTERM, reload, recycling) flushes everything, retrying
 * for up to half of STOP_TIMEOUT_MS; views still unwritten then are logged as
 * lost. A crash loses what was buffered: at most one flush interval of views
 * while the primary is healthy. */
#include "profile/profile.h"
#include "common/arena.h"
#include "common/crypto.h"
#include "common/ktime.h"
#include "common/log.h"
#include "common/mem.h"
#include "infra/db.h"
#include "server/srv.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the buffer (pure; unit-tested) ---- */

void profile_viewbuf_init(profile_viewbuf_t *b, size_t cap)
{
    b->v = xcalloc(cap ? cap : 1, sizeof(*b->v));
    b->cap = cap ? cap : 1;
    b->head = 0;
    b->n = 0;
}

void profile_viewbuf_free(profile_viewbuf_t *b)
{
    free(b->v);
    memset(b, 0, sizeof(*b));
}

bool profile_viewbuf_push(profile_viewbuf_t *b, const profile_view_t *v)
{
    if (b->n == b->cap)
        return false;
    b->v[(b->head + b->n) % b->cap] = *v;
    b->n++;
    return true;
}

size_t profile_viewbuf_take(profile_viewbuf_t *b, profile_view_t *out, size_t max)
{
    size_t k = b->n < max ? b->n : max;
    for (size_t i = 0; i < k; i++)
        out[i] = b->v[(b->head + i) % b->cap];
    b->head = (b->head + k) % b->cap;
    b->n -= k;
    return k;
}

static char *append_i64(char *p, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
    memcpy(p, tmp, (size_t)n);
    return p + n;
}

void profile_views_arrays(const profile_view_t *v, size_t n, arena_t *a, const char **ids,
                          const char **viewers, const char **times)
{
    /* 20 digits + sign + comma per element, braces and NUL */
    size_t cap = n * 22 + 3;
    char *pi = arena_alloc(a, cap), *pv = arena_alloc(a, cap), *pt = arena_alloc(a, cap);
    char *qi = pi, *qv = pv, *qt = pt;
    *qi++ = '{';
    *qv++ = '{';
    *qt++ = '{';
    for (size_t i = 0; i < n; i++) {
        if (i) {
            *qi++ = ',';
            *qv++ = ',';
            *qt++ = ',';
        }
        qi = append_i64(qi, v[i].profile_id);
        if (v[i].viewer_id > 0) {
            qv = append_i64(qv, v[i].viewer_id);
        } else {
            memcpy(qv, "NULL", 4);
            qv += 4;
        }
        qt = append_i64(qt, v[i].viewed_us);
    }
    *qi++ = '}';
    *qv++ = '}';
    *qt++ = '}';
    *qi = *qv = *qt = '\0';
    *ids = pi;
    *viewers = pv;
    *times = pt;
}

/* ---- the recorder (per worker process) ---- */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    profile_viewbuf_t buf;
    bool running, stop;
    int64_t stop_deadline_ms; /* monotonic; set by profile_views_stop */
    pthread_t thread;
    uint64_t dropped_since_log;
    size_t inflight_n; /* inflight.n as last seen under mu (for the depth gauge) */
} rec = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* This worker's views not yet written (buffer + batch in flight); mu held. */
static void depth_update(void)
{
    metrics_set(profile_m.buffer_depth, (int64_t)(rec.buf.n + rec.inflight_n));
}

/* The batch being written: kept, with its id, until it is known applied. */
static struct {
    profile_view_t *v;
    size_t n;
    char id[37]; /* uuid text */
    int attempts;
} inflight;

static void new_batch_id(char out[37])
{
    unsigned char b[16];
    crypto_random(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

void profile_views_record(int64_t profile_id, int64_t viewer_id, int64_t viewed_us)
{
    profile_view_t v = { profile_id, viewer_id, viewed_us };
    pthread_mutex_lock(&rec.mu);
    if (!rec.running) {
        /* Only outside a worker (no flusher): nothing could ever write it. */
        pthread_mutex_unlock(&rec.mu);
        metrics_add(profile_m.views_dropped, 1);
        return;
    }
    bool ok = profile_viewbuf_push(&rec.buf, &v);
    depth_update();
    bool wake = rec.buf.n >= (size_t)profile_cfg.batch_max;
    uint64_t dropped = 0;
    if (!ok && ++rec.dropped_since_log % 1000 == 1)
        dropped = rec.dropped_since_log;
    if (wake)
        pthread_cond_signal(&rec.cv);
    pthread_mutex_unlock(&rec.mu);
    if (ok) {
        metrics_add(profile_m.views_recorded, 1);
    } else {
        metrics_add(profile_m.views_dropped, 1);
        if (dropped)
            log_error("event=profile_views_dropped reason=buffer_full buffered=%lld "
                      "dropped_so_far=%llu",
                      (long long)profile_cfg.buffer_max, (unsigned long long)dropped);
    }
}

/* Writes the in-flight batch. 0: applied (now or before); -1: retry later. */
static int flush_inflight(arena_t *a)
{
    const char *ids, *viewers, *times;
    arena_reset(a);
    profile_views_arrays(inflight.v, inflight.n, a, &ids, &viewers, &times);
    err_t e;
    err_clear(&e);
    bool applied = false;
    int64_t t0 = ktime_mono_us();
    inflight.attempts++;
    if (profile_db_apply_batch(inflight.id, ids, viewers, times, &applied, &e) != 0) {
        metrics_add(profile_m.flush_failures, 1);
        log_warn("event=profile_views_flush_failed batch=%s views=%zu attempt=%d error=%s",
                 inflight.id, inflight.n, inflight.attempts, log_q(e.message));
        return -1;
    }
    metrics_observe_us(profile_m.flush_duration, ktime_mono_us() - t0);
    metrics_add(profile_m.flush_batches, 1);
    if (applied) {
        metrics_add(profile_m.views_flushed, (int64_t)inflight.n);
    } else {
        /* Applied by an earlier attempt whose acknowledgement was lost. */
        metrics_add(profile_m.flush_duplicates, 1);
        log_warn("event=profile_views_batch_already_applied batch=%s views=%zu attempts=%d",
                 inflight.id, inflight.n, inflight.attempts);
    }
    if (inflight.attempts > 1)
        log_info("event=profile_views_flush_recovered batch=%s views=%zu attempts=%d", inflight.id,
                 inflight.n, inflight.attempts);
    inflight.n = 0;
    inflight.attempts = 0;
    return 0;
}

static void abs_deadline(struct timespec *ts, int64_t ms_from_now)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms_from_now / 1000;
    ts->tv_nsec += (ms_from_now % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static void *flusher(void *arg)
{
    (void)arg;
    arena_t *a = arena_new(64 * 1024);
    int64_t backoff_ms = 0;
    int64_t next_ms = ktime_mono_ms() + profile_cfg.flush_interval_ms;
    pthread_mutex_lock(&rec.mu);
    for (;;) {
        /* Wait for the interval, a full batch (unless backing off) or stop. */
        for (;;) {
            int64_t now = ktime_mono_ms();
            if (now >= next_ms)
                break;
            if (backoff_ms == 0 && (rec.stop || rec.buf.n >= (size_t)profile_cfg.batch_max))
                break;
            if (rec.stop && now >= rec.stop_deadline_ms)
                break;
            int64_t wait = next_ms - now;
            if (rec.stop && rec.stop_deadline_ms - now < wait)
                wait = rec.stop_deadline_ms - now;
            struct timespec ts;
            abs_deadline(&ts, wait);
            pthread_cond_timedwait(&rec.cv, &rec.mu, &ts);
        }
        bool stopping = rec.stop;
        int64_t stop_deadline = rec.stop ? rec.stop_deadline_ms : 0;
        if (inflight.n == 0 && rec.buf.n > 0) {
            inflight.n = profile_viewbuf_take(&rec.buf, inflight.v, (size_t)profile_cfg.batch_max);
            new_batch_id(inflight.id);
            inflight.attempts = 0;
        }
        rec.inflight_n = inflight.n;
        depth_update();
        size_t waiting = rec.buf.n;
        pthread_mutex_unlock(&rec.mu);

        /* Stopping: the write must be over by the stop deadline (a frozen
         * primary would otherwise hold it for DB_WRITE_TIMEOUT_MS), after
         * which what is left is counted as lost below. */
        int64_t cap = db_deadline_cap(stop_deadline);
        int rc = inflight.n ? flush_inflight(a) : 0;
        db_deadline_cap(cap);
        int64_t now = ktime_mono_ms();
        if (rc == 0) {
            backoff_ms = 0;
            /* A full batch waiting goes at once; otherwise the next interval. */
            next_ms = waiting >= (size_t)profile_cfg.batch_max || (stopping && waiting > 0)
                          ? now
                          : now + profile_cfg.flush_interval_ms;
        } else {
            backoff_ms = backoff_ms ? backoff_ms * 2 : 100;
            if (backoff_ms > profile_cfg.retry_max_ms)
                backoff_ms = profile_cfg.retry_max_ms;
            next_ms = now + backoff_ms;
        }

        pthread_mutex_lock(&rec.mu);
        rec.inflight_n = inflight.n;
        depth_update();
        if (rec.stop && inflight.n == 0 && rec.buf.n == 0)
            break;
        if (rec.stop && ktime_mono_ms() >= rec.stop_deadline_ms) {
            size_t lost = inflight.n + rec.buf.n;
            metrics_add(profile_m.views_lost, (int64_t)lost);
            log_error("event=profile_views_lost views=%zu reason=\"primary unreachable until the "
                      "stop deadline\"",
                      lost);
            rec.buf.n = 0;
            inflight.n = 0;
            rec.inflight_n = 0;
            depth_update();
            break;
        }
    }
    pthread_mutex_unlock(&rec.mu);
    arena_free(a);
    db_thread_close();
    return NULL;
}

int profile_views_start(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&rec.cv, &ca);
    pthread_condattr_destroy(&ca);
    profile_viewbuf_init(&rec.buf, (size_t)profile_cfg.buffer_max);
    inflight.v = xcalloc((size_t)profile_cfg.batch_max, sizeof(*inflight.v));
    inflight.n = 0;
    rec.stop = false;
    if (pthread_create(&rec.thread, NULL, flusher, NULL) != 0) {
        log_error("event=profile_views_start_failed error=%s", log_q(strerror(errno)));
        return -1;
    }
    pthread_mutex_lock(&rec.mu);
    rec.running = true;
    pthread_mutex_unlock(&rec.mu);
    return 0;
}

void profile_views_stop(void)
{
    pthread_mutex_lock(&rec.mu);
    if (!rec.running) {
        pthread_mutex_unlock(&rec.mu);
        return;
    }
    size_t pending = rec.buf.n; /* plus a batch the flusher may be writing */
    rec.stop = true;
    /* The master kills a worker STOP_TIMEOUT_MS after asking it to stop, and
     * draining the requests used part of that: keep half for the views. */
    rec.stop_deadline_ms = ktime_mono_ms() + srv_cfg.stop_timeout_ms / 2;
    pthread_cond_signal(&rec.cv);
    pthread_mutex_unlock(&rec.mu);
    int64_t t0 = ktime_mono_ms();
    pthread_join(rec.thread, NULL);
    pthread_mutex_lock(&rec.mu);
    rec.running = false;
    pthread_mutex_unlock(&rec.mu);
    log_info("event=profile_views_stopped pending_at_stop=%zu flush_ms=%lld", pending,
             (long long)(ktime_mono_ms() - t0));
    profile_viewbuf_free(&rec.buf);
    free(inflight.v);
    inflight.v = NULL;
}
