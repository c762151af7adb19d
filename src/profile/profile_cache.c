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
 * plain PostgreSQL read: at most one Redis timeout per request. */
#include "profile/profile.h"
#include "common/ktime.h"
#include "common/log.h"
#include "infra/rds.h"

#include <stdio.h>
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

int profile_key_page(char *out, size_t cap, int64_t generation, profile_sort_t s, int64_t size,
                     int64_t page)
{
    int n = snprintf(out, cap, "profile:v%d:g%lld:l:%s:%lld:%lld", FORMAT_VERSION,
                     (long long)generation, profile_sort_name(s), (long long)size, (long long)page);
    return (n < 0 || (size_t)n >= cap) ? -1 : n;
}

int profile_key_cursor(char *out, size_t cap, int64_t generation, profile_sort_t s, int64_t size,
                       const unsigned char tag[PROFILE_CURSOR_TAG_LEN])
{
    static const char hex[] = "0123456789abcdef";
    char t[2 * PROFILE_CURSOR_TAG_LEN + 1];
    for (int i = 0; i < PROFILE_CURSOR_TAG_LEN; i++) {
        t[2 * i] = hex[tag[i] >> 4];
        t[2 * i + 1] = hex[tag[i] & 15];
    }
    t[2 * PROFILE_CURSOR_TAG_LEN] = '\0';
    int n = snprintf(out, cap, "profile:v%d:g%lld:c:%s:%lld:%s", FORMAT_VERSION,
                     (long long)generation, profile_sort_name(s), (long long)size, t);
    return (n < 0 || (size_t)n >= cap) ? -1 : n;
}

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

int profile_cache_fetch(profile_kind_t kind, const char *key, int64_t ttl_s, profile_load_fn load,
                        void *ctx, arena_t *a, const char **json, size_t *len, bool *found,
                        err_t *err)
{
    *json = NULL;
    *len = 0;
    *found = false;
    if (!profile_cfg.cache || !rds_enabled()) {
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
