/* profile.h: the profile module's internal interface, shared by its files:
 *
 *   profile.c         module hooks, configuration, routes and handlers
 *   profile_me.c      the member's own routes (/api/v1/me...) and name rules
 *   profile_dedup.c   which views count (VIEW_DEDUP_WINDOW_S, owner rule)
 *   profile_sort.c    the six sort orders and their parser
 *   profile_cursor.c  the signed keyset cursor (encode/decode)
 *   profile_cache.c   cache keys and cache-aside through Redis with a
 *                     recompute lock against stampedes
 *   profile_db.c      SQL (constant, prepared) and rows -> JSON
 *   profile_views.c   the per-worker view buffer and its flusher thread
 *
 * No other module includes this header: the profile module has no public
 * API besides its routes. docs/profiles.md explains the choices. */
#ifndef MA_PROFILE_PROFILE_H
#define MA_PROFILE_PROFILE_H

#include "common/arena.h"
#include "common/err.h"
#include "common/jw.h"
#include "common/metrics.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- configuration (profile.c; read once at start-up, or on reload) ---- */

typedef struct profile_config {
    char *cursor_secret;       /* CURSOR_SECRET: HMAC key of list cursors */
    bool cache;                /* PROFILE_CACHE: false reads PostgreSQL only */
    int64_t detail_ttl_s;      /* PROFILE_CACHE_DETAIL_TTL_S */
    int64_t list_ttl_s;        /* PROFILE_CACHE_LIST_TTL_S */
    int64_t negative_ttl_s;    /* PROFILE_CACHE_NEGATIVE_TTL_S */
    int64_t generation;        /* PROFILE_CACHE_GENERATION: part of every key */
    int64_t lock_ms;           /* PROFILE_CACHE_LOCK_MS: life of a recompute lock */
    int64_t wait_ms;           /* PROFILE_CACHE_WAIT_MS: how long others wait for it */
    int64_t near_ttl_ms;       /* PROFILE_CACHE_NEAR_TTL_MS: worker-local copy (0: off) */
    int64_t near_entries;      /* PROFILE_CACHE_NEAR_ENTRIES: its slots per worker */
    int64_t flush_interval_ms; /* PROFILE_VIEW_FLUSH_INTERVAL_MS */
    int64_t batch_max;         /* PROFILE_VIEW_BATCH_MAX: views per transaction */
    int64_t buffer_max;        /* PROFILE_VIEW_BUFFER_MAX: views held per worker */
    int64_t retry_max_ms;      /* PROFILE_VIEW_RETRY_MAX_MS: backoff ceiling */
    int64_t job_interval_s;    /* PROFILE_MAINTENANCE_INTERVAL_S */
    int64_t months_ahead;      /* PROFILE_VIEW_PARTITIONS_AHEAD */
    int64_t retention_months;  /* PROFILE_VIEW_RETENTION_MONTHS (0: keep all) */
    int64_t dedup_window_s;    /* VIEW_DEDUP_WINDOW_S (0: every view counts) */
    int64_t dedup_local;       /* VIEW_DEDUP_LOCAL_ENTRIES: fallback set per worker */
} profile_config_t;

extern profile_config_t profile_cfg;

/* ---- metrics (registered in profile.c before fork) ---- */

typedef enum { PROFILE_KIND_DETAIL = 0, PROFILE_KIND_LIST = 1 } profile_kind_t;

typedef enum {
    PROFILE_CACHE_HIT = 0,      /* value found */
    PROFILE_CACHE_NEGATIVE_HIT, /* "does not exist" found */
    PROFILE_CACHE_MISS,         /* this request recomputed it */
    PROFILE_CACHE_WAIT_HIT,     /* waited for another request's recompute */
    PROFILE_CACHE_WAIT_TIMEOUT, /* waited in vain, read PostgreSQL itself */
    PROFILE_CACHE_BYPASS,       /* Redis disabled, down or its breaker open */
    PROFILE_CACHE_NEAR_HIT,     /* served from the worker's near cache */
    PROFILE_CACHE__COUNT
} profile_cache_result_t;

typedef struct profile_metrics {
    metrics_id_t cache[2][PROFILE_CACHE__COUNT];
    metrics_id_t db_reads[2][2]; /* [kind][role: 0 primary, 1 replica] */
    metrics_id_t views_recorded, views_flushed, views_dropped, views_lost;
    metrics_id_t flush_batches, flush_failures, flush_duplicates, flush_duration;
    metrics_id_t buffer_depth; /* worker gauge: views buffered, not yet written */
    metrics_id_t views_repeat; /* views not counted: same viewer within the window */
    metrics_id_t views_own;    /* views not counted: the owner's own */
    metrics_id_t dedup_local;  /* dedup decisions made by the per-worker fallback */
} profile_metrics_t;

extern profile_metrics_t profile_m;

/* ---- sort orders (profile_sort.c) ---- */

typedef enum {
    PROFILE_SORT_CREATED_DESC = 0, /* default */
    PROFILE_SORT_CREATED_ASC,
    PROFILE_SORT_NAME_ASC,
    PROFILE_SORT_NAME_DESC,
    PROFILE_SORT_VIEWS_DESC,
    PROFILE_SORT_VIEWS_ASC,
    PROFILE_SORT__COUNT
} profile_sort_t;

/* "createdAt,desc" ... ; the field is case-sensitive (as in the JSON), the
 * direction is not (Spring's rule). NULL means the default. Returns 0 or -1. */
int profile_sort_parse(const char *s, profile_sort_t *out);
/* The canonical text, e.g. "name,asc". */
const char *profile_sort_name(profile_sort_t s);
/* Whether the sort's key is the name (a string) rather than an integer. */
bool profile_sort_by_name(profile_sort_t s);

/* ---- cursor (profile_cursor.c) ---- */

#define PROFILE_NAME_MAX_BYTES  400 /* 100 characters of up to 4 UTF-8 bytes */
#define PROFILE_CURSOR_TAG_LEN  16  /* truncated HMAC-SHA256 */
#define PROFILE_CURSOR_BIND_LEN 8   /* digest of what else the page depends on */
#define PROFILE_CURSOR_MAX      640 /* longest encoded cursor accepted, + NUL */
/* Not a list order: the cursor of the owner's view log (viewedAt desc, id desc). */
#define PROFILE_CURSOR_VIEW_LOG PROFILE_SORT__COUNT

/* Where a page continues: after the row (key, id) in the sort's order.
 * offset counts the rows before the page, so the page number can be told. */
typedef struct profile_cursor {
    profile_sort_t sort; /* or PROFILE_CURSOR_VIEW_LOG */
    int64_t id;
    int64_t offset;
    int64_t key; /* created_at / viewed_at in epoch microseconds, or view_count */
    size_t name_len;
    char name[PROFILE_NAME_MAX_BYTES + 1];
    unsigned char bind[PROFILE_CURSOR_BIND_LEN]; /* profile_cursor_bind; zero: none */
    unsigned char tag[PROFILE_CURSOR_TAG_LEN];   /* set by encode and decode */
} profile_cursor_t;

/* Binds c to a string (the search prefix q, the owner's profile id; NULL or
 * "": nothing) before encode. */
void profile_cursor_bind(profile_cursor_t *c, const char *bind);
/* After decode: whether c was issued for the same bind string. */
bool profile_cursor_bound(const profile_cursor_t *c, const char *bind);

/* The HMAC key (copied); before any encode/decode. */
void profile_cursor_set_key(const void *key, size_t len);

/* Encodes c into out (cap >= PROFILE_CURSOR_MAX), fills c->tag. Returns the
 * length, or -1 when c holds values decode would refuse. */
int profile_cursor_encode(profile_cursor_t *c, char *out, size_t cap);

/* Decodes and verifies s for sort `expect`. Returns 0, or -1 with *why a
 * client-safe reason (static string). */
int profile_cursor_decode(const char *s, profile_sort_t expect, profile_cursor_t *c,
                          const char **why);

/* ---- cache (profile_cache.c) ---- */

#define PROFILE_KEY_MAX 128

/* Versioned keys: "profile:v<format>:g<generation>:...". They return the
 * length or -1 when cap is too small. */
/* The near cache (per worker, in memory, before Redis); after config. */
void profile_near_init(void);

int profile_key_detail(char *out, size_t cap, int64_t generation, int64_t id);
/* q: the search prefix or NULL; a page of a search is its own key (a
 * digest of q, so any q fits the key). */
int profile_key_page(char *out, size_t cap, int64_t generation, profile_sort_t s, int64_t size,
                     int64_t page, const char *q);
int profile_key_cursor(char *out, size_t cap, int64_t generation, profile_sort_t s, int64_t size,
                       const unsigned char tag[PROFILE_CURSOR_TAG_LEN], const char *q);

/* Produces the JSON value for a key from PostgreSQL: *json and *len in arena a,
 * *found false when the thing does not exist (negative caching). */
typedef int (*profile_load_fn)(void *ctx, arena_t *a, const char **json, size_t *len, bool *found,
                               err_t *err);

/* Cache-aside: the value from Redis, or from load() (then stored with ttl_s,
 * or with the negative TTL when not found). Only one request recomputes a
 * missing key; the others wait up to PROFILE_CACHE_WAIT_MS for its value.
 * Any Redis failure falls through to load(). Returns 0 or -1 with err. */
int profile_cache_fetch(profile_kind_t kind, const char *key, int64_t ttl_s, profile_load_fn load,
                        void *ctx, arena_t *a, const char **json, size_t *len, bool *found,
                        err_t *err);

/* Writes a value fresh from the primary through to Redis and this worker's
 * near cache (after a rename); failures are ignored (the TTL bounds them). */
void profile_cache_put(const char *key, const char *json, size_t len, int64_t ttl_s);

/* The number of names starting with q, cached like a list page (key
 * "profile:v1:g<G>:n:<digest of q>", list TTL, near cache included): 1 with
 * *n when known, else 0. put stores it (failures ignored). */
int profile_cache_count_get(const char *q, int64_t *n);
void profile_cache_count_put(const char *q, int64_t n);

/* ---- names and search prefixes (profile_me.c) ---- */

#define PROFILE_NAME_MAX_CHARS 50 /* a name set through the API */
#define PROFILE_PREFIX_MAX     50 /* code points of a search prefix */

/* A profile name from the API: s trimmed of surrounding white space, 1..50
 * code points, valid UTF-8 without control characters (Cc: C0, DEL, C1).
 * Returns 0 with *out (in a, NUL-terminated) or -1 with *why (static). */
int profile_name_clean(const char *s, size_t n, arena_t *a, const char **out, const char **why);
/* A search prefix: 1..50 code points of valid UTF-8, taken literally. */
int profile_prefix_valid(const char *q, const char **why);
/* The smallest string above every string starting with q in code point
 * (COLLATE "C") order, in a: q with its last code point below U+10FFFF
 * incremented (the rest dropped); q itself followed by 101 U+10FFFF when
 * there is none (names are at most 100 characters). */
const char *profile_prefix_upper(const char *q, arena_t *a);

/* ---- PostgreSQL (profile_db.c) ---- */

void profile_db_register(void);

/* A profile as ProfileResponse JSON, or *found = false. */
int profile_db_detail(int64_t id, arena_t *a, const char **json, size_t *len, bool *found,
                      err_t *err);

/* A list page as the pagination result JSON. cursor NULL: the offset form
 * (page). q: only names starting with q (NULL: all). */
int profile_db_page(profile_sort_t sort, int64_t size, int64_t page, const profile_cursor_t *cursor,
                    const char *q, arena_t *a, const char **json, size_t *len, err_t *err);

/* GET /api/v1/me's data from the primary; *found false when no such user. */
int profile_db_me(int64_t user_id, arena_t *a, const char **json, size_t *len, bool *found,
                  err_t *err);
/* Creates or renames the member's profile on the primary: *created, and the
 * profile's ProfileResponse JSON and id; *found false when no such user. */
int profile_db_me_put(int64_t user_id, const char *name, arena_t *a, const char **json, size_t *len,
                      int64_t *profile_id, bool *created, bool *found, err_t *err);
/* The member's profile id and anonymous views (*profile_id 0: none). */
int profile_db_my_profile(int64_t user_id, int64_t *profile_id, int64_t *anonymous, err_t *err);
/* One page of who viewed profile_id (owner owner_id), newest first, after
 * cursor (NULL: the first page), as the profile-views JSON. */
int profile_db_view_log(int64_t profile_id, int64_t owner_id, int64_t anonymous, int64_t size,
                        const profile_cursor_t *cursor, arena_t *a, const char **json, size_t *len,
                        err_t *err);

/* One view batch, applied exactly once by its id on the primary; *applied
 * false when the id had been applied before (a retry after a lost ack). */
int profile_db_apply_batch(const char *batch_id, const char *ids, const char *viewers,
                           const char *times, bool *applied, err_t *err);

/* The daily maintenance (partitions ahead, retention, old batch ids). */
int profile_db_maintenance(void);

/* ---- views (profile_views.c) ---- */

typedef struct profile_view {
    int64_t profile_id;
    int64_t viewer_id; /* 0: anonymous (NULL in the log) */
    int64_t viewed_us; /* epoch microseconds */
} profile_view_t;

/* A bounded FIFO of views (a ring). Not thread-safe: the recorder locks. */
typedef struct profile_viewbuf {
    profile_view_t *v;
    size_t cap, head, n;
} profile_viewbuf_t;

void profile_viewbuf_init(profile_viewbuf_t *b, size_t cap);
void profile_viewbuf_free(profile_viewbuf_t *b);
/* false when full (the view is not stored). */
bool profile_viewbuf_push(profile_viewbuf_t *b, const profile_view_t *v);
/* Moves up to max of the oldest views to out; returns how many. */
size_t profile_viewbuf_take(profile_viewbuf_t *b, profile_view_t *out, size_t max);

/* The SQL array literals of a batch ("{1,2}", "{NULL,7}", "{...}"), in arena a. */
void profile_views_arrays(const profile_view_t *v, size_t n, arena_t *a, const char **ids,
                          const char **viewers, const char **times);

/* Worker life: start the flusher thread; stop flushes everything first. */
int profile_views_start(void);
void profile_views_stop(void);
/* Buffers one view (called after the response was sent). */
void profile_views_record(int64_t profile_id, int64_t viewer_id, int64_t viewed_us);

/* ---- which views count (profile_dedup.c) ---- */

/* The fallback set of a worker; after config (worker start). */
void profile_dedup_init(void);
/* Whether this view counts: false for the owner's own view (viewer ==
 * owner) and for a repeat by the same viewer (member id, else the client
 * address addr) within VIEW_DEDUP_WINDOW_S, decided in Redis (SET NX EX)
 * or, when Redis does not answer, in the worker's own bounded set. */
bool profile_dedup_counts(int64_t profile_id, int64_t owner_id, int64_t viewer_id,
                          const char *addr);

/* ---- the member routes (profile_me.c) ---- */

int profile_me_routes(void);

#endif
