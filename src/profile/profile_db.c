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

enum {
    ST_DETAIL = 0,
    ST_TOTAL,
    ST_OFFSET, /* + sort */
    ST_KEYSET = ST_OFFSET + PROFILE_SORT__COUNT,
    ST_APPLY = ST_KEYSET + PROFILE_SORT__COUNT,
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

int profile_db_page(profile_sort_t sort, int64_t size, int64_t page, const profile_cursor_t *cursor,
                    arena_t *a, const char **json, size_t *len, err_t *err)
{
    db_conn_t *c = read_conn(PROFILE_KIND_LIST, err);
    if (c == NULL)
        return -1;
    char p1[24], p2[PROFILE_NAME_MAX_BYTES + 24], p3[24];
    snprintf(p1, sizeof(p1), "%lld", (long long)(size + 1));
    int64_t base; /* rows before this page */
    const db_stmt_t *st;
    if (cursor) {
        base = cursor->offset;
        st = &stmts[ST_KEYSET + sort];
        if (profile_sort_by_name(sort))
            snprintf(p2, sizeof(p2), "%s", cursor->name);
        else
            snprintf(p2, sizeof(p2), "%lld", (long long)cursor->key);
        snprintf(p3, sizeof(p3), "%lld", (long long)cursor->id);
    } else {
        base = page * size;
        st = &stmts[ST_OFFSET + sort];
        snprintf(p2, sizeof(p2), "%lld", (long long)base);
    }
    const char *params[] = { p1, p2, p3 };
    PGresult *res = db_exec(c, st, params, err);
    if (res == NULL)
        return -1;
    int n = PQntuples(res);
    int64_t total;
    if (n > 0) {
        total = db_i64(res, 0, 0);
    } else {
        /* Nothing at or after this point: the count still has to be told. */
        PGresult *tr = db_exec(c, &stmts[ST_TOTAL], NULL, err);
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
