/* profile_db.c: the profile module's SQL and its rows as JSON.
 *
 * Every list order has two statements, each an index range scan on the
 * (column, id) index of 0001_init.sql:
 *   - the offset form (page):  ORDER BY col, id LIMIT size+1 OFFSET page*size;
 *     it steps over offset index entries, so its cost grows with the page
 *     (documented and measured in docs/PERFORMANCE-profiles.md);
 *   - the keyset form (cursor): WHERE (col, id) > (key, id) ORDER BY col, id
 *     LIMIT size+1; it starts where the cursor points, so page 100,000 costs
 *     what page 1 costs.
 * Ties are broken by id in the same direction, so every order is total and a
 * keyset continuation never skips or repeats a row. One row more than the
 * page is read to tell hasNext without counting.
 * totalElements comes from profile_stats (0010_*.sql: kept exact by
 * statement triggers), read in the same statement and snapshot as the page.
 * An offset at or past the total skips the scan entirely (the one-time filter
 * `$2 < total`), so a page far beyond the end is as cheap as page 0.
 * createdAt travels as epoch microseconds (exact, for the cursor) and is
 * formatted as Korea time here. */
#include "profile/profile.h"
#include "common/ktime.h"
#include "common/log.h"
#include "http/http.h"
#include "infra/db.h"

#include <stdio.h>
#include <string.h>

#define COLS                                                                                       \
    "id, name, user_id, (extract(epoch FROM created_at) * 1000000)::bigint AS created_us, "        \
    "view_count"
#define TOTAL "(SELECT total FROM profile_stats)"
/* Seconds and microseconds apart: bigint * interval is computed in double
 * precision, exact only below 2^53 (the year 2255 in microseconds). */
#define TS2                                                                                        \
    "(timestamptz 'epoch' + ($2::bigint / 1000000) * interval '1 second' + "                       \
    "($2::bigint % 1000000) * interval '1 microsecond')"

/* Late row lookup: the rows skipped by OFFSET are read from the (col, id)
 * index only (an index-only scan while the visibility map is current), and
 * just the page's ids fetch their heap rows. With the rows themselves in the
 * scan, page 50,000 by name read 500,000 random heap pages (3.6 s on 1M rows
 * instead of 0.2 s). ANY(ARRAY(...)) keeps the generic plan a nested index
 * lookup; a join was planned as a hash join over the whole table. */
#define OFFSET_SQL(order)                                                                          \
    "SELECT " TOTAL ", " COLS " FROM profiles WHERE id = ANY (ARRAY(SELECT id FROM profiles "      \
    "WHERE $2::bigint < " TOTAL " ORDER BY " order " LIMIT $1::bigint OFFSET $2::bigint)) "        \
    "ORDER BY " order
#define KEYSET_SQL(cond, order)                                                                    \
    "SELECT " TOTAL ", " COLS " FROM profiles WHERE " cond " ORDER BY " order " LIMIT $1::bigint"

/* ---- search (q): two plans per order, chosen per request ----
 * No B-tree gives "names starting with q, ordered by X" as one range: the
 * prefix is a range of profiles_name_c (name in code point order), the order
 * is a range of X's own index. So:
 *   - few matches (at most SEARCH_SORT_MAX): "filter first": the matches are
 *     read from profiles_name_c (a MATERIALIZED CTE, so no other index can be
 *     picked) and sorted; cost O(matches), bounded;
 *   - many matches: "order first": X's index is walked from the start (or the
 *     cursor) and rows not starting with q are skipped; a page of size rows
 *     reads about size / selectivity index entries, and the selectivity is at
 *     least SEARCH_SORT_MAX / total, so the walk is bounded as well.
 * A probe counts the matches up to SEARCH_SORT_MAX + 1 (an index-only scan of
 * at most that many entries) to choose. Parameters: offset form $1 limit,
 * $2 offset, $3 q, $4 upper bound; keyset form $1 limit, $2 key, $3 id, $4 q,
 * $5 upper bound. */
#define QRANGE(q, hi)                                                                              \
    "(name COLLATE \"C\") >= " q "::text AND (name COLLATE \"C\") < " hi "::text AND "             \
    "starts_with(name, " q "::text)"
#define QTOTAL(q, hi) "(SELECT count(*) FROM profiles WHERE " QRANGE(q, hi) ")"
#define TS4                                                                                        \
    "(timestamptz 'epoch' + ($2::bigint / 1000000) * interval '1 second' + "                       \
    "($2::bigint % 1000000) * interval '1 microsecond')"
/* The count column is a placeholder: the order-first plan's count (an
 * index-only scan of every match, 100 ms for q=김 at 1M profiles) is taken
 * once per q and list TTL (search_count), not once per page. */
#define QO_OFFSET_SQL(range, order)                                                                \
    "SELECT -1::bigint, " COLS " FROM profiles WHERE " range "starts_with(name, $3::text) "        \
    "ORDER BY " order " LIMIT $1::bigint OFFSET $2::bigint"
#define QO_KEYSET_SQL(range, cond, order)                                                          \
    "SELECT -1::bigint, " COLS " FROM profiles WHERE " range cond                                  \
    " AND starts_with(name, $4::text) ORDER BY " order " LIMIT $1::bigint"
#define QF_CTE(q, hi)                                                                              \
    "WITH m AS MATERIALIZED (SELECT " COLS " FROM profiles WHERE " QRANGE(q, hi) ") "
#define QF_OFFSET_SQL(order)                                                                       \
    QF_CTE("$3", "$4")                                                                             \
    "SELECT (SELECT count(*) FROM m), * FROM m ORDER BY " order                                    \
    " LIMIT $1::bigint OFFSET $2::bigint"
#define QF_KEYSET_SQL(cond, order)                                                                 \
    QF_CTE("$4", "$5")                                                                             \
    "SELECT (SELECT count(*) FROM m), * FROM m WHERE " cond " ORDER BY " order " LIMIT $1::bigint"
#define SEARCH_SORT_MAX 2000
/* For the name orders the order-first walk is bounded by the prefix in the
 * column's own (Korean ICU) collation too: every name starting with q sorts
 * in [q, q || U+FFFF) there (a prefix's collation weights are a prefix of the
 * name's at every level, and U+FFFF has the highest primary weight), so the
 * walk starts at q and stops after the last match instead of crossing the
 * names before and after the prefix (docs/profiles.md: the edge cases). */
#define KO_RANGE(q) "name >= " q "::text AND name < (" q "::text || chr(65535)) AND "

/* The owner's view log: newest first, members only, never the owner. The
 * viewer's names are per-row lookups (a scalar subquery, a LATERAL with
 * LIMIT: neither can be flattened into a join): with a join, the generic plan
 * (LIMIT unknown) hashed the whole users table (5-8 s at 1M users). The
 * inner LIMIT is a constant (the largest page + 1) for the same reason: with
 * LIMIT $3 the generic plan expected a tenth of the log and sorted it all. */
#define VIEW_LOG_SQL(cond)                                                                         \
    "SELECT v.viewer_id, coalesce(p.name, (SELECT name FROM users WHERE id = v.viewer_id)), "      \
    "p.id, (extract(epoch FROM v.viewed_at) * 1000000)::bigint, v.id "                             \
    "FROM (SELECT * FROM (SELECT viewer_id, viewed_at, id FROM profile_views "                     \
    "WHERE profile_id = $1::bigint AND viewer_id IS NOT NULL AND viewer_id <> $2::bigint " cond    \
    " ORDER BY viewed_at DESC, id DESC LIMIT 101) w "                                              \
    "ORDER BY viewed_at DESC, id DESC LIMIT $3::bigint) v "                                        \
    "LEFT JOIN LATERAL (SELECT id, name FROM profiles WHERE user_id = v.viewer_id "                \
    "ORDER BY id LIMIT 1) p ON true ORDER BY v.viewed_at DESC, v.id DESC"
#define TS_4                                                                                       \
    "(timestamptz 'epoch' + ($4::bigint / 1000000) * interval '1 second' + "                       \
    "($4::bigint % 1000000) * interval '1 microsecond')"

enum {
    ST_DETAIL = 0,
    ST_TOTAL,
    ST_OFFSET, /* + sort */
    ST_KEYSET = ST_OFFSET + PROFILE_SORT__COUNT,
    ST_QO_OFFSET = ST_KEYSET + PROFILE_SORT__COUNT,
    ST_QO_KEYSET = ST_QO_OFFSET + PROFILE_SORT__COUNT,
    ST_QF_OFFSET = ST_QO_KEYSET + PROFILE_SORT__COUNT,
    ST_QF_KEYSET = ST_QF_OFFSET + PROFILE_SORT__COUNT,
    ST_QPROBE = ST_QF_KEYSET + PROFILE_SORT__COUNT,
    ST_QCOUNT,
    ST_ME,
    ST_ME_PUT,
    ST_MY_PROFILE,
    ST_VIEW_LOG_FIRST,
    ST_VIEW_LOG_AFTER,
    ST_APPLY,
    ST_PARTITIONS,
    ST_RETENTION,
    ST_PRUNE_BATCHES,
    ST__COUNT
};

static const db_stmt_t stmts[ST__COUNT] = {
    [ST_DETAIL] = { "profile_detail", "SELECT " COLS " FROM profiles WHERE id = $1::bigint", 1,
                    DB_RETRY },
    [ST_TOTAL] = { "profile_total", "SELECT total FROM profile_stats", 0, DB_RETRY },

    [ST_OFFSET + PROFILE_SORT_CREATED_DESC] = { "profile_page_created_desc",
                                                OFFSET_SQL("created_at DESC, id DESC"), 2,
                                                DB_RETRY },
    [ST_OFFSET + PROFILE_SORT_CREATED_ASC] = { "profile_page_created_asc",
                                               OFFSET_SQL("created_at, id"), 2, DB_RETRY },
    [ST_OFFSET +
        PROFILE_SORT_NAME_ASC] = { "profile_page_name_asc", OFFSET_SQL("name, id"), 2, DB_RETRY },
    [ST_OFFSET + PROFILE_SORT_NAME_DESC] = { "profile_page_name_desc",
                                             OFFSET_SQL("name DESC, id DESC"), 2, DB_RETRY },
    [ST_OFFSET + PROFILE_SORT_VIEWS_DESC] = { "profile_page_views_desc",
                                              OFFSET_SQL("view_count DESC, id DESC"), 2, DB_RETRY },
    [ST_OFFSET + PROFILE_SORT_VIEWS_ASC] = { "profile_page_views_asc", OFFSET_SQL("view_count, id"),
                                             2, DB_RETRY },

    [ST_KEYSET +
        PROFILE_SORT_CREATED_DESC] = { "profile_after_created_desc",
                                       KEYSET_SQL("(created_at, id) < (" TS2 ", $3::bigint)",
                                                  "created_at DESC, id DESC"),
                                       3, DB_RETRY },
    [ST_KEYSET +
        PROFILE_SORT_CREATED_ASC] = { "profile_after_created_asc",
                                      KEYSET_SQL("(created_at, id) > (" TS2 ", $3::bigint)",
                                                 "created_at, id"),
                                      3, DB_RETRY },
    /* The column's collation (ko-x-icu) governs the comparison, as in the index. */
    [ST_KEYSET +
        PROFILE_SORT_NAME_ASC] = { "profile_after_name_asc",
                                   KEYSET_SQL("(name, id) > ($2::text, $3::bigint)", "name, id"), 3,
                                   DB_RETRY },
    [ST_KEYSET + PROFILE_SORT_NAME_DESC] = { "profile_after_name_desc",
                                             KEYSET_SQL("(name, id) < ($2::text, $3::bigint)",
                                                        "name DESC, id DESC"),
                                             3, DB_RETRY },
    [ST_KEYSET + PROFILE_SORT_VIEWS_DESC] = { "profile_after_views_desc",
                                              KEYSET_SQL("(view_count, id) < ($2::bigint, "
                                                         "$3::bigint)",
                                                         "view_count DESC, id DESC"),
                                              3, DB_RETRY },
    [ST_KEYSET + PROFILE_SORT_VIEWS_ASC] = { "profile_after_views_asc",
                                             KEYSET_SQL("(view_count, id) > ($2::bigint, "
                                                        "$3::bigint)",
                                                        "view_count, id"),
                                             3, DB_RETRY },

/* r3, r4: KO_RANGE of $3 / $4 for the name orders, "" for the others */
#define QSTMTS(sort, suffix, ord, mord, cond, mcond, r3, r4)                                       \
    [ST_QO_OFFSET +                                                                                \
        sort] = { "profile_q_page_" suffix, QO_OFFSET_SQL(r3, ord), 3, DB_RETRY },                 \
        [ST_QO_KEYSET +                                                                            \
            sort] = { "profile_q_after_" suffix, QO_KEYSET_SQL(r4, cond, ord), 4, DB_RETRY },      \
        [ST_QF_OFFSET + sort] = { "profile_qf_page_" suffix, QF_OFFSET_SQL(mord), 4, DB_RETRY },   \
        [ST_QF_KEYSET +                                                                            \
            sort] = { "profile_qf_after_" suffix, QF_KEYSET_SQL(mcond, mord), 5, DB_RETRY }
    QSTMTS(PROFILE_SORT_CREATED_DESC, "created_desc", "created_at DESC, id DESC",
           "created_us DESC, id DESC", "(created_at, id) < (" TS4 ", $3::bigint)",
           "(created_us, id) < ($2::bigint, $3::bigint)", "", ""),
    QSTMTS(PROFILE_SORT_CREATED_ASC, "created_asc", "created_at, id", "created_us, id",
           "(created_at, id) > (" TS4 ", $3::bigint)",
           "(created_us, id) > ($2::bigint, $3::bigint)", "", ""),
    QSTMTS(PROFILE_SORT_NAME_ASC, "name_asc", "name, id", "name, id",
           "(name, id) > ($2::text, $3::bigint)", "(name, id) > ($2::text, $3::bigint)",
           KO_RANGE("$3"), KO_RANGE("$4")),
    QSTMTS(PROFILE_SORT_NAME_DESC, "name_desc", "name DESC, id DESC", "name DESC, id DESC",
           "(name, id) < ($2::text, $3::bigint)", "(name, id) < ($2::text, $3::bigint)",
           KO_RANGE("$3"), KO_RANGE("$4")),
    QSTMTS(PROFILE_SORT_VIEWS_DESC, "views_desc", "view_count DESC, id DESC",
           "view_count DESC, id DESC", "(view_count, id) < ($2::bigint, $3::bigint)",
           "(view_count, id) < ($2::bigint, $3::bigint)", "", ""),
    QSTMTS(PROFILE_SORT_VIEWS_ASC, "views_asc", "view_count, id", "view_count, id",
           "(view_count, id) > ($2::bigint, $3::bigint)",
           "(view_count, id) > ($2::bigint, $3::bigint)", "", ""),
#undef QSTMTS
    [ST_QPROBE] = { "profile_q_probe",
                    "SELECT count(*) FROM (SELECT 1 FROM profiles WHERE (name COLLATE \"C\") >= "
                    "$1::text AND (name COLLATE \"C\") < $2::text LIMIT $3::bigint) x",
                    3, DB_RETRY },

    [ST_QCOUNT] = { "profile_q_count", "SELECT " QTOTAL("$1", "$2"), 2, DB_RETRY },

    /* The member's own data: on the primary (a member reads their own write). */
    [ST_ME] = { "profile_me",
                "SELECT u.id, u.name, u.point, p.id, p.name, p.user_id, "
                "(extract(epoch FROM p.created_at) * 1000000)::bigint, p.view_count "
                "FROM users u LEFT JOIN LATERAL (SELECT * FROM profiles WHERE user_id = u.id "
                "ORDER BY id LIMIT 1) p ON true WHERE u.id = $1::bigint",
                1, DB_RETRY },
    [ST_ME_PUT] = { "profile_me_put",
                    "SELECT profile_id, created FROM profile_me_put($1::bigint, $2::text)", 2, 0 },
    [ST_MY_PROFILE] = { "profile_my_profile",
                        "SELECT id, anonymous_views FROM profiles WHERE user_id = $1::bigint "
                        "ORDER BY id LIMIT 1",
                        1, DB_RETRY },
    [ST_VIEW_LOG_FIRST] = { "profile_view_log_first", VIEW_LOG_SQL(""), 3, DB_RETRY },
    [ST_VIEW_LOG_AFTER] = { "profile_view_log_after",
                            VIEW_LOG_SQL("AND (viewed_at, id) < (" TS_4 ", $5::bigint)"), 5,
                            DB_RETRY },

    /* Idempotent by its batch id (0010_*.sql); the flusher retries it itself. */
    [ST_APPLY] = { "profile_views_apply",
                   "SELECT profile_views_apply($1::uuid, $2::bigint[], $3::bigint[], "
                   "$4::bigint[])",
                   4, 0 },
    [ST_PARTITIONS] = { "profile_views_partitions",
                        "SELECT profile_views_ensure_partitions(1, $1::int)", 1, 0 },
    [ST_RETENTION] = { "profile_views_retention", "SELECT profile_views_drop_partitions($1::int)",
                       1, 0 },
    [ST_PRUNE_BATCHES] = { "profile_views_prune_batches",
                           "DELETE FROM profile_view_batches "
                           "WHERE applied_at < now() - interval '1 day'",
                           0, 0 },
};

void profile_db_register(void)
{
    db_register(stmts, ST__COUNT);
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* ProfileResponse from row `row`, columns starting at `col`. */
static void write_profile(jw_t *w, const PGresult *res, int row, int col)
{
    char when[KTIME_BUFSZ];
    ktime_format_kst(floor_div(db_i64(res, row, col + 3), 1000000), when);
    jw_obj_begin(w);
    jw_kint(w, "id", db_i64(res, row, col));
    jw_kstr(w, "name", db_str(res, row, col + 1));
    jw_kint(w, "userId", db_i64(res, row, col + 2));
    jw_kstr(w, "createdAt", when);
    jw_kint(w, "viewCount", db_i64(res, row, col + 4));
    jw_obj_end(w);
}

static db_conn_t *read_conn(profile_kind_t kind, err_t *err)
{
    db_conn_t *c = db_get_read(err);
    if (c)
        metrics_add(profile_m.db_reads[kind][db_conn_role(c) == DB_REPLICA ? 1 : 0], 1);
    return c;
}

int profile_db_detail(int64_t id, arena_t *a, const char **json, size_t *len, bool *found,
                      err_t *err)
{
    db_conn_t *c = read_conn(PROFILE_KIND_DETAIL, err);
    if (c == NULL)
        return -1;
    char idbuf[24];
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)id);
    const char *params[] = { idbuf };
    PGresult *res = db_exec(c, &stmts[ST_DETAIL], params, err);
    if (res == NULL)
        return -1;
    *found = PQntuples(res) == 1;
    if (*found) {
        jw_t w;
        jw_init(&w, a, 256);
        write_profile(&w, res, 0, 0);
        *json = w.buf;
        *len = w.len;
    }
    PQclear(res);
    return 0;
}

/* Whether q matches few enough rows to read them all and sort (see QRANGE);
 * -1 on a database error. */
static int search_few(db_conn_t *c, const char *q, const char *hi, err_t *err)
{
    int64_t n;
    if (profile_cache_count_get(q, &n))
        return n <= SEARCH_SORT_MAX;
    char lim[24];
    snprintf(lim, sizeof(lim), "%d", SEARCH_SORT_MAX + 1);
    const char *params[] = { q, hi, lim };
    PGresult *res = db_exec(c, &stmts[ST_QPROBE], params, err);
    if (res == NULL)
        return -1;
    int few = db_i64(res, 0, 0) <= SEARCH_SORT_MAX;
    PQclear(res);
    return few;
}

/* The number of names starting with q: from the cache, else counted (an
 * index-only scan of the prefix range) and cached for the list TTL. */
static int search_count(db_conn_t *c, const char *q, const char *hi, int64_t *n, err_t *err)
{
    if (profile_cache_count_get(q, n))
        return 0;
    const char *params[] = { q, hi };
    PGresult *res = db_exec(c, &stmts[ST_QCOUNT], params, err);
    if (res == NULL)
        return -1;
    *n = PQntuples(res) == 1 ? db_i64(res, 0, 0) : 0;
    PQclear(res);
    profile_cache_count_put(q, *n);
    return 0;
}

int profile_db_page(profile_sort_t sort, int64_t size, int64_t page, const profile_cursor_t *cursor,
                    const char *q, arena_t *a, const char **json, size_t *len, err_t *err)
{
    db_conn_t *c = read_conn(PROFILE_KIND_LIST, err);
    if (c == NULL)
        return -1;
    char p1[24], p2[PROFILE_NAME_MAX_BYTES + 24], p3[24];
    snprintf(p1, sizeof(p1), "%lld", (long long)(size + 1));
    int64_t base; /* rows before this page */
    int form = 0; /* 0: all profiles; 1: search, order first; 2: search, filter first */
    const char *hi = NULL;
    if (q) {
        hi = profile_prefix_upper(q, a);
        int few = search_few(c, q, hi, err);
        if (few < 0)
            return -1;
        form = few ? 2 : 1;
    }
    static const int offset_st[] = { ST_OFFSET, ST_QO_OFFSET, ST_QF_OFFSET };
    static const int keyset_st[] = { ST_KEYSET, ST_QO_KEYSET, ST_QF_KEYSET };
    const db_stmt_t *st;
    const char *params[5];
    if (cursor) {
        base = cursor->offset;
        st = &stmts[keyset_st[form] + sort];
        if (profile_sort_by_name(sort))
            snprintf(p2, sizeof(p2), "%s", cursor->name);
        else
            snprintf(p2, sizeof(p2), "%lld", (long long)cursor->key);
        snprintf(p3, sizeof(p3), "%lld", (long long)cursor->id);
        params[0] = p1;
        params[1] = p2;
        params[2] = p3;
        params[3] = q;
        params[4] = hi;
    } else {
        base = page * size;
        st = &stmts[offset_st[form] + sort];
        snprintf(p2, sizeof(p2), "%lld", (long long)base);
        params[0] = p1;
        params[1] = p2;
        params[2] = q;
        params[3] = hi;
    }
    PGresult *res = db_exec(c, st, params, err);
    if (res == NULL)
        return -1;
    int n = PQntuples(res);
    int64_t total;
    if (form == 1) {
        if (search_count(c, q, hi, &total, err) != 0) {
            PQclear(res);
            return -1;
        }
    } else if (n > 0) {
        total = db_i64(res, 0, 0);
    } else {
        /* Nothing at or after this point: the count still has to be told. */
        const char *qp[] = { q, hi };
        PGresult *tr = db_exec(c, &stmts[q ? ST_QCOUNT : ST_TOTAL], qp, err);
        if (tr == NULL) {
            PQclear(res);
            return -1;
        }
        total = PQntuples(tr) == 1 ? db_i64(tr, 0, 0) : 0;
        PQclear(tr);
    }
    bool has_next = n > size;
    int shown = has_next ? (int)size : n;
    char *next = NULL;
    if (has_next) {
        profile_cursor_t nc;
        memset(&nc, 0, sizeof(nc));
        int last = shown - 1;
        nc.sort = sort;
        profile_cursor_bind(&nc, q);
        nc.id = db_i64(res, last, 1);
        nc.offset = base + shown;
        if (profile_sort_by_name(sort)) {
            const char *nm = db_str(res, last, 2);
            nc.name_len = strlen(nm);
            if (nc.name_len <= PROFILE_NAME_MAX_BYTES)
                memcpy(nc.name, nm, nc.name_len + 1);
        } else {
            nc.key = db_i64(
                res, last,
                sort == PROFILE_SORT_CREATED_DESC || sort == PROFILE_SORT_CREATED_ASC ? 4 : 5);
        }
        next = arena_alloc(a, PROFILE_CURSOR_MAX);
        if (profile_cursor_encode(&nc, next, PROFILE_CURSOR_MAX) < 0) {
            /* A row the cursor cannot carry (e.g. a createdAt beyond 9999):
             * the page is still right, only the keyset continuation is lost. */
            log_warn("event=profile_cursor_unencodable sort=%s id=%lld", profile_sort_name(sort),
                     (long long)nc.id);
            next = NULL;
        }
    }
    jw_t w;
    jw_init(&w, a, 256 + (size_t)shown * 128);
    http_page_begin(&w, base / size, size, total, has_next, next);
    for (int i = 0; i < shown; i++)
        write_profile(&w, res, i, 1);
    http_page_end(&w);
    PQclear(res);
    *json = w.buf;
    *len = w.len;
    return 0;
}

int profile_db_apply_batch(const char *batch_id, const char *ids, const char *viewers,
                           const char *times, bool *applied, err_t *err)
{
    db_conn_t *c = db_get(DB_PRIMARY, err);
    if (c == NULL)
        return -1;
    const char *params[] = { batch_id, ids, viewers, times };
    PGresult *res = db_exec(c, &stmts[ST_APPLY], params, err);
    if (res == NULL)
        return -1;
    *applied = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return 0;
}

int profile_db_maintenance(void)
{
    err_t e;
    db_conn_t *c = db_get(DB_PRIMARY, &e);
    if (c == NULL) {
        log_error("event=profile_maintenance_failed step=connect");
        return -1;
    }
    char ahead[24], keep[24];
    snprintf(ahead, sizeof(ahead), "%lld", (long long)profile_cfg.months_ahead);
    snprintf(keep, sizeof(keep), "%lld", (long long)profile_cfg.retention_months);
    const char *pa[] = { ahead };
    const char *pk[] = { keep };
    PGresult *r1 = db_exec(c, &stmts[ST_PARTITIONS], pa, &e);
    if (r1 == NULL) {
        log_error("event=profile_maintenance_failed step=partitions");
        return -1;
    }
    int64_t created = db_i64(r1, 0, 0);
    PQclear(r1);
    PGresult *r2 = db_exec(c, &stmts[ST_RETENTION], pk, &e);
    if (r2 == NULL) {
        log_error("event=profile_maintenance_failed step=retention");
        return -1;
    }
    int64_t dropped = db_i64(r2, 0, 0);
    PQclear(r2);
    int64_t pruned = db_exec_cmd(c, &stmts[ST_PRUNE_BATCHES], NULL, &e);
    if (pruned < 0) {
        log_error("event=profile_maintenance_failed step=prune_batches");
        return -1;
    }
    log_info("event=profile_maintenance partitions_created=%lld partitions_dropped=%lld "
             "batch_ids_pruned=%lld",
             (long long)created, (long long)dropped, (long long)pruned);
    db_thread_close();
    return 0;
}

/* ---- the member's own routes ---- */

int profile_db_me(int64_t user_id, arena_t *a, const char **json, size_t *len, bool *found,
                  err_t *err)
{
    db_conn_t *c = db_get(DB_PRIMARY, err);
    if (c == NULL)
        return -1;
    char idbuf[24];
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)user_id);
    const char *params[] = { idbuf };
    PGresult *res = db_exec(c, &stmts[ST_ME], params, err);
    if (res == NULL)
        return -1;
    *found = PQntuples(res) == 1;
    if (*found) {
        jw_t w;
        jw_init(&w, a, 512);
        jw_obj_begin(&w);
        jw_kint(&w, "userId", db_i64(res, 0, 0));
        jw_kstr(&w, "name", db_str(res, 0, 1));
        jw_kint(&w, "point", db_i64(res, 0, 2));
        jw_key(&w, "profile");
        if (db_isnull(res, 0, 3))
            jw_null(&w);
        else
            write_profile(&w, res, 0, 3);
        jw_obj_end(&w);
        *json = w.buf;
        *len = w.len;
    }
    PQclear(res);
    return 0;
}

int profile_db_me_put(int64_t user_id, const char *name, arena_t *a, const char **json, size_t *len,
                      int64_t *profile_id, bool *created, bool *found, err_t *err)
{
    db_conn_t *c = db_get(DB_PRIMARY, err);
    if (c == NULL)
        return -1;
    char idbuf[24];
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)user_id);
    const char *params[] = { idbuf, name };
    PGresult *res = db_exec(c, &stmts[ST_ME_PUT], params, err);
    if (res == NULL)
        return -1;
    *found = PQntuples(res) == 1;
    if (*found) {
        *profile_id = db_i64(res, 0, 0);
        *created = PQgetvalue(res, 0, 1)[0] == 't';
    }
    PQclear(res);
    if (!*found)
        return 0;
    /* The new value as every reader will see it, from the primary: it goes
     * into the caches in place of the old one (profile_me.c). */
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)*profile_id);
    const char *dp[] = { idbuf };
    PGresult *d = db_exec(c, &stmts[ST_DETAIL], dp, err);
    if (d == NULL)
        return -1;
    if (PQntuples(d) != 1) {
        PQclear(d);
        return err_set(err, ERR_UNKNOWN, "the profile vanished while it was written");
    }
    jw_t w;
    jw_init(&w, a, 256);
    write_profile(&w, d, 0, 0);
    *json = w.buf;
    *len = w.len;
    PQclear(d);
    return 0;
}

int profile_db_my_profile(int64_t user_id, int64_t *profile_id, int64_t *anonymous, err_t *err)
{
    db_conn_t *c = db_get(DB_PRIMARY, err);
    if (c == NULL)
        return -1;
    char idbuf[24];
    snprintf(idbuf, sizeof(idbuf), "%lld", (long long)user_id);
    const char *params[] = { idbuf };
    PGresult *res = db_exec(c, &stmts[ST_MY_PROFILE], params, err);
    if (res == NULL)
        return -1;
    *profile_id = PQntuples(res) == 1 ? db_i64(res, 0, 0) : 0;
    *anonymous = PQntuples(res) == 1 ? db_i64(res, 0, 1) : 0;
    PQclear(res);
    return 0;
}

int profile_db_view_log(int64_t profile_id, int64_t owner_id, int64_t anonymous, int64_t size,
                        const profile_cursor_t *cursor, arena_t *a, const char **json, size_t *len,
                        err_t *err)
{
    db_conn_t *c = db_get_read(err);
    if (c == NULL)
        return -1;
    char p1[24], p2[24], p3[24], p4[24], p5[24];
    snprintf(p1, sizeof(p1), "%lld", (long long)profile_id);
    snprintf(p2, sizeof(p2), "%lld", (long long)owner_id);
    snprintf(p3, sizeof(p3), "%lld", (long long)(size + 1));
    const char *params[] = { p1, p2, p3, p4, p5 };
    const db_stmt_t *st = &stmts[ST_VIEW_LOG_FIRST];
    int64_t base = 0;
    if (cursor) {
        snprintf(p4, sizeof(p4), "%lld", (long long)cursor->key);
        snprintf(p5, sizeof(p5), "%lld", (long long)cursor->id);
        st = &stmts[ST_VIEW_LOG_AFTER];
        base = cursor->offset;
    }
    PGresult *res = db_exec(c, st, params, err);
    if (res == NULL)
        return -1;
    int n = PQntuples(res);
    bool has_next = n > size;
    int shown = has_next ? (int)size : n;
    char *next = NULL;
    if (has_next) {
        profile_cursor_t nc;
        memset(&nc, 0, sizeof(nc));
        nc.sort = PROFILE_CURSOR_VIEW_LOG;
        profile_cursor_bind(&nc, p1);
        nc.key = db_i64(res, shown - 1, 3);
        nc.id = db_i64(res, shown - 1, 4);
        nc.offset = base + shown;
        next = arena_alloc(a, PROFILE_CURSOR_MAX);
        if (profile_cursor_encode(&nc, next, PROFILE_CURSOR_MAX) < 0) {
            log_warn("event=profile_view_cursor_unencodable profile=%lld", (long long)profile_id);
            next = NULL;
            has_next = false;
        }
    }
    jw_t w;
    jw_init(&w, a, 256 + (size_t)shown * 160);
    jw_obj_begin(&w);
    jw_kint(&w, "size", size);
    jw_kbool(&w, "hasNext", has_next);
    jw_kstr(&w, "nextCursor", next);
    jw_kint(&w, "anonymousViews", anonymous);
    jw_key(&w, "contents");
    jw_arr_begin(&w);
    for (int i = 0; i < shown; i++) {
        char when[KTIME_BUFSZ];
        ktime_format_kst(floor_div(db_i64(res, i, 3), 1000000), when);
        jw_obj_begin(&w);
        jw_kint(&w, "viewerId", db_i64(res, i, 0));
        jw_kstr(&w, "viewerName", db_str(res, i, 1));
        jw_key(&w, "viewerProfileId");
        if (db_isnull(res, i, 2))
            jw_null(&w);
        else
            jw_int(&w, db_i64(res, i, 2));
        jw_kstr(&w, "viewedAt", when);
        jw_obj_end(&w);
    }
    jw_arr_end(&w);
    jw_obj_end(&w);
    PQclear(res);
    *json = w.buf;
    *len = w.len;
    return 0;
}
