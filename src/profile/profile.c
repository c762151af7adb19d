/* profile.c: the profile module: configuration, routes and handlers.
 *
 *   GET /api/v1/profiles        a page in one of six orders; page or cursor;
 *                               q: only names starting with q (search)
 *   GET /api/v1/profiles/{id}   one profile; records the view after answering
 *                               (when it counts: profile_dedup.c)
 * and the member's own routes of profile_me.c.
 *
 * Both read through the Redis cache (profile_cache.c) and fall back to the
 * read replica, or to the primary when the replica's breaker is open
 * (db_get_read). Parameter rules (docs/profiles.md): page 0..2147483647,
 * size 1..100, sort one of six, cursor as issued; anything else, or a
 * parameter given twice, is 400 INVALID_PARAMETER. With a cursor, page is
 * still validated but its value is ignored (API.md: the cursor wins). */
#include "profile/profile.h"
#include "auth/auth.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/ktime.h"
#include "common/log.h"
#include "http/http.h"
#include "server/module.h"

#include <stdio.h>
#include <string.h>

profile_config_t profile_cfg;
profile_metrics_t profile_m;

static const cfg_key_t keys[] = {
    { "CURSOR_SECRET", CFG_SECRET, &profile_cfg.cursor_secret, NULL, 32, 256,
      "the HMAC key of list cursors (unset: a random key per pool start)", NULL },
    { "PROFILE_CACHE", CFG_BOOL, &profile_cfg.cache, "true", 0, 0,
      "cache profile reads in Redis (false: PostgreSQL only)", NULL },
    { "PROFILE_CACHE_DETAIL_TTL_S", CFG_INT, &profile_cfg.detail_ttl_s, "60", 1, 86400,
      "TTL of a cached profile", NULL },
    { "PROFILE_CACHE_LIST_TTL_S", CFG_INT, &profile_cfg.list_ttl_s, "120", 1, 86400,
      "TTL of a cached list page", NULL },
    { "PROFILE_CACHE_NEGATIVE_TTL_S", CFG_INT, &profile_cfg.negative_ttl_s, "5", 1, 3600,
      "TTL of a cached 'no such profile'", NULL },
    { "PROFILE_CACHE_GENERATION", CFG_INT, &profile_cfg.generation, "1", 0, 1000000000,
      "part of every cache key; change it to drop all cached profiles", NULL },
    { "PROFILE_CACHE_LOCK_MS", CFG_INT, &profile_cfg.lock_ms, "1000", 10, 60000,
      "life of the lock held while one request recomputes a missing key", NULL },
    { "PROFILE_CACHE_WAIT_MS", CFG_INT, &profile_cfg.wait_ms, "100", 0, 5000,
      "how long other requests wait for that recompute before reading PostgreSQL", NULL },
    { "PROFILE_CACHE_NEAR_TTL_MS", CFG_INT, &profile_cfg.near_ttl_ms, "1000", 0, 60000,
      "how long a worker keeps its own copy of a cached value (0: no near cache)", NULL },
    { "PROFILE_CACHE_NEAR_ENTRIES", CFG_INT, &profile_cfg.near_entries, "4096", 16, 1048576,
      "slots of the near cache per worker", NULL },
    { "PROFILE_VIEW_FLUSH_INTERVAL_MS", CFG_INT, &profile_cfg.flush_interval_ms, "200", 10, 200,
      "longest time a recorded view waits in the worker's buffer", NULL },
    { "PROFILE_VIEW_BATCH_MAX", CFG_INT, &profile_cfg.batch_max, "1000", 1, 10000,
      "views written per transaction (a full batch is flushed at once)", NULL },
    { "PROFILE_VIEW_BUFFER_MAX", CFG_INT, &profile_cfg.buffer_max, "100000", 10, 10000000,
      "views a worker holds while the primary is unreachable; more are dropped", NULL },
    { "PROFILE_VIEW_RETRY_MAX_MS", CFG_INT, &profile_cfg.retry_max_ms, "5000", 100, 60000,
      "ceiling of the backoff between retries of a failed flush", NULL },
    { "PROFILE_MAINTENANCE_INTERVAL_S", CFG_INT, &profile_cfg.job_interval_s, "86400", 0, 31536000,
      "how often the view-log maintenance job runs (0: never)", NULL },
    { "PROFILE_VIEW_PARTITIONS_AHEAD", CFG_INT, &profile_cfg.months_ahead, "3", 1, 24,
      "monthly partitions of profile_views created ahead of time", NULL },
    { "VIEW_DEDUP_WINDOW_S", CFG_INT, &profile_cfg.dedup_window_s, "600", 0, 86400,
      "a repeat view of a profile by the same viewer within this many seconds is not counted "
      "(0: every view counts)",
      NULL },
    { "VIEW_DEDUP_LOCAL_ENTRIES", CFG_INT, &profile_cfg.dedup_local, "65536", 16, 10000000,
      "slots per worker of the repeat-view set used while Redis is unavailable", NULL },
    { "PROFILE_VIEW_RETENTION_MONTHS", CFG_INT, &profile_cfg.retention_months, "0", 0, 1200,
      "months of view log kept (whole partitions dropped after; 0: keep all)", NULL },
};

/* ---- handlers ---- */

typedef struct {
    profile_sort_t sort;
    int64_t size, page;
    const profile_cursor_t *cursor;
    const char *q;
} list_ctx_t;

static int load_page(void *ctx, arena_t *a, const char **json, size_t *len, bool *found, err_t *err)
{
    const list_ctx_t *lc = ctx;
    *found = true;
    return profile_db_page(lc->sort, lc->size, lc->page, lc->cursor, lc->q, a, json, len, err);
}

static int load_detail(void *ctx, arena_t *a, const char **json, size_t *len, bool *found,
                       err_t *err)
{
    return profile_db_detail(*(const int64_t *)ctx, a, json, len, found, err);
}

static void respond_json(http_req_t *r, const char *json, size_t len)
{
    jw_t *w = http_ok_begin(r, 200, NULL);
    jw_raw(w, json, len);
    http_ok_end(r);
}

static void list(http_req_t *r)
{
    err_t e;
    err_clear(&e);
    int64_t page, size;
    const char *sort_s, *cursor_s, *q, *why;
    if (http_param_i64(r, "page", 0, 0, INT32_MAX, &page, &e) != 0 ||
        http_param_i64(r, "size", 10, 1, 100, &size, &e) != 0 ||
        http_param_str(r, "sort", NULL, &sort_s, &e) != 0 ||
        http_param_str(r, "cursor", NULL, &cursor_s, &e) != 0 ||
        http_param_str(r, "q", NULL, &q, &e) != 0) {
        http_error(r, &e);
        return;
    }
    if (q != NULL && profile_prefix_valid(q, &why) != 0) {
        http_fail(r, ERR_INVALID_PARAMETER, "%s", why);
        return;
    }
    profile_sort_t sort;
    if (profile_sort_parse(sort_s, &sort) != 0) {
        http_fail(r, ERR_INVALID_PARAMETER,
                  "parameter 'sort' must be one of createdAt,desc createdAt,asc name,asc "
                  "name,desc viewCount,desc viewCount,asc");
        return;
    }
    profile_cursor_t *cur = NULL;
    char key[PROFILE_KEY_MAX];
    if (cursor_s != NULL) {
        cur = arena_alloc(r->arena, sizeof(*cur));
        if (profile_cursor_decode(cursor_s, sort, cur, &why) != 0) {
            http_fail(r, ERR_INVALID_PARAMETER, "%s", why);
            return;
        }
        if (!profile_cursor_bound(cur, q)) {
            http_fail(r, ERR_INVALID_PARAMETER,
                      "parameter 'cursor' belongs to another search (q) than this one");
            return;
        }
        profile_key_cursor(key, sizeof(key), profile_cfg.generation, sort, size, cur->tag, q);
    } else {
        profile_key_page(key, sizeof(key), profile_cfg.generation, sort, size, page, q);
    }
    list_ctx_t ctx = { sort, size, page, cur, q };
    const char *json;
    size_t len;
    bool found;
    if (profile_cache_fetch(PROFILE_KIND_LIST, key, profile_cfg.list_ttl_s, load_page, &ctx,
                            r->arena, &json, &len, &found, &e) != 0) {
        http_error(r, &e);
        return;
    }
    respond_json(r, json, len);
}

typedef struct {
    int64_t id, owner, viewer, at_us;
    const char *addr;
} view_arg_t;

static void after_view(void *arg)
{
    const view_arg_t *v = arg;
    if (profile_dedup_counts(v->id, v->owner, v->viewer, v->addr))
        profile_views_record(v->id, v->viewer, v->at_us);
}

/* The owner's user id from a ProfileResponse this module wrote (write_profile:
 * "userId":<digits>); 0 when absent. */
static int64_t owner_of(const char *json, size_t len)
{
    static const char k[] = "\"userId\":";
    const char *p = memmem(json, len, k, sizeof(k) - 1);
    if (p == NULL)
        return 0;
    p += sizeof(k) - 1;
    int64_t v = 0;
    while (p < json + len && *p >= '0' && *p <= '9' && v < INT64_MAX / 10)
        v = v * 10 + (*p++ - '0');
    return v;
}

static void detail(http_req_t *r)
{
    err_t e;
    err_clear(&e);
    int64_t viewer, id;
    int64_t at_us = ktime_now_us();
    if (auth_member(r, &viewer, &e) != 0 || http_path_id(r, 0, "profile id", &id, &e) != 0) {
        http_error(r, &e);
        return;
    }
    char key[PROFILE_KEY_MAX];
    profile_key_detail(key, sizeof(key), profile_cfg.generation, id);
    const char *json;
    size_t len;
    bool found;
    if (profile_cache_fetch(PROFILE_KIND_DETAIL, key, profile_cfg.detail_ttl_s, load_detail, &id,
                            r->arena, &json, &len, &found, &e) != 0) {
        http_error(r, &e);
        return;
    }
    if (!found) {
        http_fail(r, ERR_NO_RESOURCE, "profile %lld does not exist", (long long)id);
        return;
    }
    respond_json(r, json, len);
    /* A HEAD is not a view: nobody saw the body. */
    if (r->method == HTTP_GET) {
        view_arg_t *v = arena_alloc(r->arena, sizeof(*v));
        v->id = id;
        v->owner = owner_of(json, len);
        v->viewer = viewer;
        v->addr =
            r->remote_addr ? arena_strndup(r->arena, r->remote_addr, strlen(r->remote_addr)) : NULL;
        v->at_us = at_us;
        r->after = after_view;
        r->after_arg = v;
    }
}

static const http_route_t routes[] = {
    { HTTP_GET, "/api/v1/profiles", list, 0, "profile_list" },
    { HTTP_GET, "/api/v1/profiles/{id}", detail, 0, "profile_detail" },
};

/* ---- module hooks ---- */

static const srv_job_t maintenance_job = {
    .name = "profile-maintenance",
    .interval_s = &profile_cfg.job_interval_s,
    .run = profile_db_maintenance,
};

static void configure(void)
{
    cfg_register(keys, sizeof(keys) / sizeof(keys[0]));
}

static void register_metrics(void)
{
    static const char *const labels[2][PROFILE_CACHE__COUNT] = {
        { "kind=\"detail\",result=\"hit\"", "kind=\"detail\",result=\"negative_hit\"",
          "kind=\"detail\",result=\"miss\"", "kind=\"detail\",result=\"wait_hit\"",
          "kind=\"detail\",result=\"wait_timeout\"", "kind=\"detail\",result=\"bypass\"",
          "kind=\"detail\",result=\"near_hit\"" },
        { "kind=\"list\",result=\"hit\"", "kind=\"list\",result=\"negative_hit\"",
          "kind=\"list\",result=\"miss\"", "kind=\"list\",result=\"wait_hit\"",
          "kind=\"list\",result=\"wait_timeout\"", "kind=\"list\",result=\"bypass\"",
          "kind=\"list\",result=\"near_hit\"" },
    };
    static const char *const reads[2][2] = {
        { "kind=\"detail\",role=\"primary\"", "kind=\"detail\",role=\"replica\"" },
        { "kind=\"list\",role=\"primary\"", "kind=\"list\",role=\"replica\"" },
    };
    /* A family's series must be registered together: /metrics prints them
     * in registration order and Prometheus wants each family contiguous. */
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < PROFILE_CACHE__COUNT; i++)
            profile_m.cache[k][i] =
                metrics_register("memberapi_profile_cache_total", labels[k][i], METRICS_COUNTER,
                                 "Profile cache lookups by kind and result");
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 2; i++)
            profile_m.db_reads[k][i] =
                metrics_register("memberapi_profile_db_reads_total", reads[k][i], METRICS_COUNTER,
                                 "Profile reads from PostgreSQL by kind and server role");
    }
    profile_m.views_recorded = metrics_register("memberapi_profile_views_recorded_total", "",
                                                METRICS_COUNTER, "Views put in a worker's buffer");
    profile_m.views_flushed = metrics_register("memberapi_profile_views_flushed_total", "",
                                               METRICS_COUNTER, "Views written to PostgreSQL");
    profile_m.views_dropped =
        metrics_register("memberapi_profile_views_dropped_total", "", METRICS_COUNTER,
                         "Views not recorded because the worker's buffer was full");
    profile_m.views_lost =
        metrics_register("memberapi_profile_views_lost_total", "", METRICS_COUNTER,
                         "Buffered views given up at a stop because the primary was unreachable");
    profile_m.flush_batches = metrics_register("memberapi_profile_view_flushes_total", "",
                                               METRICS_COUNTER, "View batches written");
    profile_m.flush_failures =
        metrics_register("memberapi_profile_view_flush_failures_total", "", METRICS_COUNTER,
                         "Failed attempts to write a view batch (retried)");
    profile_m.flush_duplicates =
        metrics_register("memberapi_profile_view_flush_duplicates_total", "", METRICS_COUNTER,
                         "Retried view batches found already applied (lost acknowledgement)");
    profile_m.buffer_depth =
        metrics_register("memberapi_profile_view_buffer_depth", "", METRICS_WORKER_GAUGE,
                         "Views in the workers' buffers not yet written to PostgreSQL");
    profile_m.views_repeat =
        metrics_register("memberapi_profile_views_repeat_total", "", METRICS_COUNTER,
                         "Views not counted: the same viewer within VIEW_DEDUP_WINDOW_S");
    profile_m.views_own = metrics_register("memberapi_profile_views_own_total", "", METRICS_COUNTER,
                                           "Views not counted: the owner's own");
    profile_m.dedup_local =
        metrics_register("memberapi_profile_view_dedup_local_total", "", METRICS_COUNTER,
                         "Repeat-view decisions made by a worker alone (Redis unavailable)");
    profile_m.flush_duration =
        metrics_register("memberapi_profile_view_flush_duration_seconds", "", METRICS_HISTOGRAM,
                         "Duration of a view batch write");
}

/* Used when CURSOR_SECRET is unset: made once in the master, so every
 * worker of this pool (and every reload) shares it. */
static char fallback_secret[2 * 32 + 1];

static const char *cursor_secret(void)
{
    return profile_cfg.cursor_secret ? profile_cfg.cursor_secret : fallback_secret;
}

static int init(char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    if (profile_cfg.cursor_secret == NULL) {
        /* Not fatal: commands such as check-config and token run without
         * it. A served pool without it still signs cursors, with a key that
         * dies with the pool and is not shared with other pools. */
        crypto_random_hex(fallback_secret, 32);
        log_warn("event=profile_cursor_secret_unset action=random_key_for_this_pool "
                 "effect=\"cursors do not survive a restart or cross pools\"");
    }
    profile_cursor_set_key(cursor_secret(), strlen(cursor_secret()));
    profile_db_register();
    if (http_router_add(routes, sizeof(routes) / sizeof(routes[0])) != 0 ||
        profile_me_routes() != 0) {
        snprintf(err, errlen, "profile: bad route");
        return -1;
    }
    register_metrics();
    if (srv_add_job(&maintenance_job) != 0) {
        snprintf(err, errlen, "profile: too many jobs");
        return -1;
    }
    return 0;
}

static int worker_start(void)
{
    /* A reload (SIGHUP) re-reads the configuration in the master but runs no
     * init(): each new worker takes the current CURSOR_SECRET here. */
    if (profile_cfg.cursor_secret == NULL && fallback_secret[0] == '\0') {
        /* the first start had a secret, this reload lost it: keep the old key */
        log_error("event=profile_cursor_secret_missing action=kept_previous_key");
    } else {
        profile_cursor_set_key(cursor_secret(), strlen(cursor_secret()));
    }
    profile_near_init(); /* each worker its own, sized by the current config */
    profile_dedup_init();
    return profile_views_start();
}

static void worker_stop(void)
{
    profile_views_stop();
}

const srv_module_t profile_module = {
    .name = "profile",
    .configure = configure,
    .init = init,
    .worker_start = worker_start,
    .worker_stop = worker_stop,
};
