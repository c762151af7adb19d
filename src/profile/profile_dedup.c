/* profile_dedup.c: which views of a profile count (API.md "Counting views").
 *
 * A view is neither logged nor counted when
 *   - the viewer is the profile's owner, or
 *   - the same viewer (the member id with a token, else the client address
 *     nginx passed as REMOTE_ADDR, after its trusted-proxy rules) viewed the
 *     same profile less than VIEW_DEDUP_WINDOW_S seconds before (0: every
 *     view counts).
 * The window is one Redis key per (profile, viewer): SET NX EX window. The
 * first SET wins, on any worker of any host sharing the Redis, and the key
 * expires by itself, so Redis holds at most one small key per viewer and
 * profile seen in the last window.
 *
 * When Redis does not answer (down, timeout, breaker open: rds.c returns
 * NULL without a round trip), each worker decides alone with a bounded set
 * of its own (VIEW_DEDUP_LOCAL_ENTRIES slots, direct-mapped by a hash of the
 * key, so a new key evicts the slot's old one). Then, and only then:
 *   - a viewer served by two workers or hosts may count once per worker;
 *   - an evicted viewer may count again within the window;
 *   - when Redis comes back it knows nothing of the outage's views, so a
 *     viewer may count once more then.
 * The rule is decided after the response was sent (r->after): it never delays
 * the reader. docs/profiles.md states the same. */
#include "profile/profile.h"
#include "common/ktime.h"
#include "common/log.h"
#include "infra/rds.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STRIPES 64

typedef struct {
    uint64_t hash;
    int64_t expires_ms;
} slot_t;

static slot_t *tab;
static size_t ntab;
static pthread_mutex_t locks[STRIPES];

void profile_dedup_init(void)
{
    if (tab != NULL || profile_cfg.dedup_window_s <= 0)
        return;
    ntab = (size_t)profile_cfg.dedup_local;
    tab = calloc(ntab, sizeof(*tab));
    if (tab == NULL) {
        ntab = 0;
        log_error("event=profile_dedup_no_memory effect=\"without Redis every view counts\"");
        return;
    }
    for (int i = 0; i < STRIPES; i++)
        pthread_mutex_init(&locks[i], NULL);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ? h : 1; /* 0 marks an empty slot */
}

/* The worker's own answer: true when key was not seen within the window. */
static bool local_first(const char *key)
{
    metrics_add(profile_m.dedup_local, 1);
    if (ntab == 0)
        return true;
    uint64_t h = fnv1a(key);
    size_t i = h % ntab;
    int64_t now = ktime_mono_ms();
    bool first;
    pthread_mutex_lock(&locks[i % STRIPES]);
    first = !(tab[i].hash == h && tab[i].expires_ms > now);
    if (first) {
        tab[i].hash = h;
        tab[i].expires_ms = now + profile_cfg.dedup_window_s * 1000;
    }
    pthread_mutex_unlock(&locks[i % STRIPES]);
    return first;
}

bool profile_dedup_counts(int64_t profile_id, int64_t owner_id, int64_t viewer_id, const char *addr)
{
    if (viewer_id > 0 && viewer_id == owner_id) {
        metrics_add(profile_m.views_own, 1);
        return false;
    }
    if (profile_cfg.dedup_window_s <= 0)
        return true;
    char key[128];
    if (viewer_id > 0)
        snprintf(key, sizeof(key), "profile:view:%lld:u%lld", (long long)profile_id,
                 (long long)viewer_id);
    else
        snprintf(key, sizeof(key), "profile:view:%lld:a%.64s", (long long)profile_id,
                 addr && addr[0] ? addr : "-");
    bool first;
    redisReply *r = NULL;
    if (rds_enabled()) {
        char ex[24];
        snprintf(ex, sizeof(ex), "%lld", (long long)profile_cfg.dedup_window_s);
        const char *argv[] = { "SET", key, "1", "NX", "EX", ex };
        size_t argl[] = { 3, strlen(key), 1, 2, 2, strlen(ex) };
        r = rds_commandv(6, argv, argl);
    }
    if (r != NULL && (r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_NIL)) {
        first = r->type == REDIS_REPLY_STATUS;
    } else {
        first = local_first(key);
    }
    if (r)
        freeReplyObject(r);
    if (!first)
        metrics_add(profile_m.views_repeat, 1);
    return first;
}
