/* profile_cache.c: cache-aside for profile reads through Redis.
 *
 * Keys are versioned: "profile:v1:g<G>:..." where v1 is the format of the
 * cached JSON (bumped in code when it changes, so old and new binaries never
 * read each other's values during a rolling reload) and G is
 * PROFILE_CACHE_GENERATION (bumped by an operator to drop every cached
 * profile at once). A missing profile is cached as "-" for
 * PROFILE_CACHE_NEGATIVE_TTL_S.
 *
 * Stampede protection: on a miss, one request takes "<key>:lock" (SET NX PX)
 * and recomputes; the others poll the key for up to PROFILE_CACHE_WAIT_MS and
 * then read PostgreSQL themselves, so a hung recompute can delay a request
 * but never fail it. Any Redis failure (down, timeout, breaker OPEN: rds.c
 * returns NULL without a round trip) turns the rest of the request into a
 * plain PostgreSQL read: at most one Redis timeout per request.
 *
 * Near cache: each worker keeps what it read or computed for
 * PROFILE_CACHE_NEAR_TTL_MS (1 s) in a fixed table in its own memory, in
 * front of Redis. A hot profile then costs no Redis round trip at all, and
 * while Redis is away each worker still reads PostgreSQL at most once per key
 * and TTL. It adds at most that TTL to the staleness bound (docs/profiles.md).
 * The table is direct-mapped (a new key evicts the slot's old one) with
 * striped locks, so the threads of a worker share it without contention. */
#include "profile/profile.h"
#include "common/ktime.h"
#include "common/log.h"
#include "common/str.h"
#include "infra/rds.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FORMAT_VERSION 1
#define NEGATIVE       "-"

int profile_key_detail(char *out, size_t cap, int64_t generation, int64_t id)
{
    int n = snprintf(out, cap, "profile:v%d:g%lld:d:%lld", FORMAT_VERSION, (long long)generation,
                     (long long)id);
    return (n < 0 || (size_t)n >= cap) ? -1 : n;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ":q<16 hex digits>" for a search (a digest: q may be 200 bytes of any
 * UTF-8, a key must stay short), "" without one. */
static void q_part(const char *q, char out[20])
{
    out[0] = '\0';
    if (q == NULL)
        return;
    profile_cursor_t c;
    profile_cursor_bind(&c, q);
    out[0] = ':';
    out[1] = 'q';
    hex(c.bind, PROFILE_CURSOR_BIND_LEN, out + 2);
}

int profile_key_page(char *out, size_t cap, int64_t generation, profile_sort_t s, int64_t size,
                     int64_t page, const char *q)
{
    char qp[20];
    q_part(q, qp);
    int n =
        snprintf(out, cap, "profile:v%d:g%lld:l:%s:%lld:%lld%s", FORMAT_VERSION,
                 (long long)generation, profile_sort_name(s), (long long)size, (long long)page, qp);
    return (n < 0 || (size_t)n >= cap) ? -1 : n;
}

int profile_key_cursor(char *out, size_t cap, int64_t generation, profile_sort_t s, int64_t size,
                       const unsigned char tag[PROFILE_CURSOR_TAG_LEN], const char *q)
{
    char t[2 * PROFILE_CURSOR_TAG_LEN + 1], qp[20];
    hex(tag, PROFILE_CURSOR_TAG_LEN, t);
    q_part(q, qp);
    int n = snprintf(out, cap, "profile:v%d:g%lld:c:%s:%lld:%s%s", FORMAT_VERSION,
                     (long long)generation, profile_sort_name(s), (long long)size, t, qp);
    return (n < 0 || (size_t)n >= cap) ? -1 : n;
}

/* ---- near cache ----------------------------------------------------------- */

#define NEAR_STRIPES 64

typedef struct {
    uint64_t hash;
    int64_t expires_ms;
    char *val; /* malloc'd; NULL for "does not exist" */
    size_t len;
    bool found;
    char key[PROFILE_KEY_MAX];
} near_slot_t;

static near_slot_t *near_tab;
static size_t near_n;
static pthread_mutex_t near_lock[NEAR_STRIPES];

void profile_near_init(void)
{
    if (near_tab != NULL || profile_cfg.near_ttl_ms <= 0)
        return;
    near_n = (size_t)profile_cfg.near_entries;
    near_tab = calloc(near_n, sizeof(*near_tab));
    if (near_tab == NULL) {
        near_n = 0;
        return;
    }
    for (int i = 0; i < NEAR_STRIPES; i++)
        pthread_mutex_init(&near_lock[i], NULL);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* 1 with a copy of the value (in a) when the worker has it fresh, else 0. */
static int near_get(const char *key, arena_t *a, const char **json, size_t *len, bool *found)
{
    if (near_n == 0)
        return 0;
    uint64_t h = fnv1a(key);
    size_t i = h % near_n;
    pthread_mutex_t *m = &near_lock[i % NEAR_STRIPES];
    int rc = 0;
    pthread_mutex_lock(m);
    near_slot_t *s = &near_tab[i];
    if (s->hash == h && s->expires_ms > ktime_mono_ms() && strcmp(s->key, key) == 0) {
        *found = s->found;
        *json = s->found ? arena_strndup(a, s->val, s->len) : NULL;
        *len = s->found ? s->len : 0;
        rc = 1;
    }
    pthread_mutex_unlock(m);
    return rc;
}

static void near_put(const char *key, const char *json, size_t len, bool found, int64_t ttl_ms)
{
    if (near_n == 0 || strlen(key) >= PROFILE_KEY_MAX)
        return;
    if (ttl_ms > profile_cfg.near_ttl_ms)
        ttl_ms = profile_cfg.near_ttl_ms;
    char *copy = NULL;
    if (found) {
        copy = malloc(len + 1);
        if (copy == NULL)
            return;
        memcpy(copy, json, len);
        copy[len] = '\0';
    }
    uint64_t h = fnv1a(key);
    size_t i = h % near_n;
    pthread_mutex_t *m = &near_lock[i % NEAR_STRIPES];
    pthread_mutex_lock(m);
    near_slot_t *s = &near_tab[i];
    char *old = s->val;
    s->hash = h;
    s->val = copy;
    s->len = len;
    s->found = found;
    s->expires_ms = ktime_mono_ms() + ttl_ms;
    snprintf(s->key, sizeof(s->key), "%s", key);
    pthread_mutex_unlock(m);
    free(old);
}

/* ---- Redis ------------------------------------------------------------------- */

static void count(profile_kind_t kind, profile_cache_result_t res)
{
    metrics_add(profile_m.cache[kind][res], 1);
}

/* GET key. 1: value in *json (arena); 0: no such key; -1: no answer. */
static int get(const char *key, arena_t *a, const char **json, size_t *len, bool *found)
{
    const char *argv[] = { "GET", key };
    size_t argl[] = { 3, strlen(key) };
    redisReply *r = rds_commandv(2, argv, argl);
    if (r == NULL)
        return -1;
    int rc;
    if (r->type == REDIS_REPLY_STRING) {
        *found = !(r->len == 1 && r->str[0] == NEGATIVE[0]);
        *json = *found ? arena_strndup(a, r->str, r->len) : NULL;
        *len = *found ? r->len : 0;
        rc = 1;
    } else {
        rc = r->type == REDIS_REPLY_NIL ? 0 : -1;
    }
    freeReplyObject(r);
    return rc;
}

/* SET lock NX PX. 1: ours; 0: someone else's; -1: no answer. */
static int lock(const char *lkey)
{
    char px[24];
    snprintf(px, sizeof(px), "%lld", (long long)profile_cfg.lock_ms);
    const char *argv[] = { "SET", lkey, "1", "NX", "PX", px };
    size_t argl[] = { 3, strlen(lkey), 1, 2, 2, strlen(px) };
    redisReply *r = rds_commandv(6, argv, argl);
    if (r == NULL)
        return -1;
    int rc = r->type == REDIS_REPLY_STATUS ? 1 : (r->type == REDIS_REPLY_NIL ? 0 : -1);
    freeReplyObject(r);
    return rc;
}

/* SET key value EX ttl and DEL lock in one round trip (lkey may be NULL). */
static void store(const char *key, const char *lkey, const char *val, size_t vlen, int64_t ttl_s)
{
    char ex[24];
    snprintf(ex, sizeof(ex), "%lld", (long long)ttl_s);
    const char *a0[] = { "SET", key, val, "EX", ex };
    size_t l0[] = { 3, strlen(key), vlen, 2, strlen(ex) };
    const char *a1[] = { "DEL", lkey };
    size_t l1[] = { 3, lkey ? strlen(lkey) : 0 };
    int argc[] = { 5, 2 };
    const char **argv[] = { a0, a1 };
    const size_t *argl[] = { l0, l1 };
    redisReply *rep[2];
    if (rds_pipeline(lkey ? 2 : 1, argc, argv, argl, rep) == 0) {
        for (int i = 0; i < (lkey ? 2 : 1); i++)
            freeReplyObject(rep[i]);
    }
}

static void unlock(const char *lkey)
{
    const char *argv[] = { "DEL", lkey };
    size_t argl[] = { 3, strlen(lkey) };
    redisReply *r = rds_commandv(2, argv, argl);
    if (r)
        freeReplyObject(r);
}

static int fetch_shared(profile_kind_t kind, const char *key, int64_t ttl_s, profile_load_fn load,
                        void *ctx, arena_t *a, const char **json, size_t *len, bool *found,
                        err_t *err)
{
    if (!rds_enabled()) {
        count(kind, PROFILE_CACHE_BYPASS);
        return load(ctx, a, json, len, found, err);
    }
    int g = get(key, a, json, len, found);
    if (g == 1) {
        count(kind, *found ? PROFILE_CACHE_HIT : PROFILE_CACHE_NEGATIVE_HIT);
        return 0;
    }
    if (g < 0) {
        count(kind, PROFILE_CACHE_BYPASS);
        return load(ctx, a, json, len, found, err);
    }

    char lkey[PROFILE_KEY_MAX + 8];
    snprintf(lkey, sizeof(lkey), "%s:lock", key);
    int l = lock(lkey);
    if (l < 0) {
        count(kind, PROFILE_CACHE_BYPASS);
        return load(ctx, a, json, len, found, err);
    }
    if (l == 1) {
        count(kind, PROFILE_CACHE_MISS);
        if (load(ctx, a, json, len, found, err) != 0) {
            unlock(lkey);
            return -1;
        }
        if (*found)
            store(key, lkey, *json, *len, ttl_s);
        else
            store(key, lkey, NEGATIVE, 1, profile_cfg.negative_ttl_s);
        return 0;
    }

    /* Another request is recomputing: wait for its value, briefly. */
    int64_t deadline = ktime_mono_ms() + profile_cfg.wait_ms;
    int64_t step_us = 1000;
    for (;;) {
        int64_t left_ms = deadline - ktime_mono_ms();
        if (left_ms <= 0)
            break;
        int64_t us = step_us < left_ms * 1000 ? step_us : left_ms * 1000;
        usleep((useconds_t)us);
        step_us = step_us * 2 > 16000 ? 16000 : step_us * 2;
        g = get(key, a, json, len, found);
        if (g == 1) {
            count(kind, PROFILE_CACHE_WAIT_HIT);
            return 0;
        }
        if (g < 0) {
            count(kind, PROFILE_CACHE_BYPASS);
            return load(ctx, a, json, len, found, err);
        }
    }
    count(kind, PROFILE_CACHE_WAIT_TIMEOUT);
    log_debug("event=profile_cache_wait_timeout key=%s", log_q(key));
    return load(ctx, a, json, len, found, err);
}

int profile_cache_fetch(profile_kind_t kind, const char *key, int64_t ttl_s, profile_load_fn load,
                        void *ctx, arena_t *a, const char **json, size_t *len, bool *found,
                        err_t *err)
{
    *json = NULL;
    *len = 0;
    *found = false;
    if (!profile_cfg.cache) {
        count(kind, PROFILE_CACHE_BYPASS);
        return load(ctx, a, json, len, found, err);
    }
    if (near_get(key, a, json, len, found)) {
        count(kind, PROFILE_CACHE_NEAR_HIT);
        return 0;
    }
    if (fetch_shared(kind, key, ttl_s, load, ctx, a, json, len, found, err) != 0)
        return -1;
    near_put(key, *json, *len, *found, (*found ? ttl_s : profile_cfg.negative_ttl_s) * 1000);
    return 0;
}

void profile_cache_put(const char *key, const char *json, size_t len, int64_t ttl_s)
{
    if (!profile_cfg.cache)
        return;
    near_put(key, json, len, true, ttl_s * 1000);
    if (rds_enabled())
        store(key, NULL, json, len, ttl_s);
}

static void count_key(const char *q, char out[PROFILE_KEY_MAX])
{
    char qp[20];
    q_part(q, qp);
    snprintf(out, PROFILE_KEY_MAX, "profile:v%d:g%lld:n%s", FORMAT_VERSION,
             (long long)profile_cfg.generation, qp);
}

int profile_cache_count_get(const char *q, int64_t *n)
{
    if (!profile_cfg.cache)
        return 0;
    char key[PROFILE_KEY_MAX], buf[24];
    count_key(q, key);
    arena_t *a = arena_new(256);
    const char *json = NULL;
    size_t len = 0;
    bool found = false;
    int rc = near_get(key, a, &json, &len, &found);
    if (!rc && rds_enabled()) {
        rc = get(key, a, &json, &len, &found) == 1;
        if (rc && found)
            near_put(key, json, len, true, profile_cfg.list_ttl_s * 1000);
    }
    rc = rc && found && len > 0 && len < sizeof(buf);
    if (rc) {
        memcpy(buf, json, len);
        buf[len] = '\0';
        rc = str_to_i64(buf, 0, INT64_MAX, n) == 0;
    }
    arena_free(a);
    return rc;
}

void profile_cache_count_put(const char *q, int64_t n)
{
    char key[PROFILE_KEY_MAX], val[24];
    count_key(q, key);
    int len = snprintf(val, sizeof(val), "%lld", (long long)n);
    profile_cache_put(key, val, (size_t)len, profile_cfg.list_ttl_s);
}
