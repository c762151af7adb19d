/* db.c: per-thread PostgreSQL connections with prepared statements (see db.h). */
#include "infra/db.h"
#include "infra/breaker.h"
#include "common/ktime.h"
#include "common/log.h"
#include "common/mem.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TABLES 16

struct db_conn {
    PGconn *pg;
    db_role_t role;
    bool in_tx;
    bool permit; /* holds a replica-breaker permit for the next statement */
    breaker_ticket_t ticket;
    int64_t retry_after_ms; /* monotonic; connect attempts wait until then */
    char sqlstate[6];
};

static struct {
    char *url[2];
    int64_t connect_timeout_s;
    int64_t statement_timeout_ms;
    int64_t backoff_ms;
} conf = { { NULL, NULL }, 3, 5000, 250 };

static struct {
    const db_stmt_t *stmts;
    size_t n;
} tables[MAX_TABLES];
static size_t ntables;
static breaker_t *replica_breaker;

static __thread db_conn_t tl_conn[2] = { { .role = DB_PRIMARY }, { .role = DB_REPLICA } };

void db_configure(const db_config_t *cfg)
{
    for (int i = 0; i < 2; i++) {
        free(conf.url[i]);
        conf.url[i] = NULL;
    }
    conf.url[DB_PRIMARY] = xstrdup(cfg->primary_url ? cfg->primary_url : "");
    if (cfg->replica_url && *cfg->replica_url)
        conf.url[DB_REPLICA] = xstrdup(cfg->replica_url);
    conf.connect_timeout_s = cfg->connect_timeout_s > 0 ? cfg->connect_timeout_s : 3;
    conf.statement_timeout_ms = cfg->statement_timeout_ms;
    conf.backoff_ms = cfg->reconnect_backoff_ms;
}

void db_set_replica_breaker(struct breaker *b)
{
    replica_breaker = b;
}

void db_register(const db_stmt_t *stmts, size_t n)
{
    for (size_t i = 0; i < ntables; i++)
        if (tables[i].stmts == stmts)
            return;
    if (ntables == MAX_TABLES)
        abort();
    tables[ntables].stmts = stmts;
    tables[ntables].n = n;
    ntables++;
}

static void conn_drop(db_conn_t *c)
{
    if (c->pg) {
        PQfinish(c->pg);
        c->pg = NULL;
    }
    c->in_tx = false;
}

static const char *role_name(db_role_t r)
{
    return r == DB_PRIMARY ? "primary" : "replica";
}

static PGconn *open_conn(db_role_t role, int64_t timeout_s)
{
    char tmo[24], stmo[48];
    snprintf(tmo, sizeof(tmo), "%lld", (long long)timeout_s);
    snprintf(stmo, sizeof(stmo), "-c statement_timeout=%lld", (long long)conf.statement_timeout_ms);
    const char *keys[] = { "dbname",          "connect_timeout",     "application_name", "options",
                           "keepalives_idle", "keepalives_interval", "keepalives_count", NULL };
    const char *vals[] = { conf.url[role], tmo, "memberapi", stmo, "30", "10", "3", NULL };
    return PQconnectdbParams(keys, vals, 1);
}

/* A failed connect that took this long was a timeout, not a refusal. */
#define SLOW_CONNECT_MS 50

/* Connects and prepares every registered statement. */
static int conn_open(db_conn_t *c)
{
    int64_t now = ktime_mono_ms();
    if (now < c->retry_after_ms)
        return -1;
    c->pg = open_conn(c->role, conf.connect_timeout_s);
    if (PQstatus(c->pg) != CONNECTION_OK) {
        /* libpq's message names hosts; it goes to the log, not the client */
        log_warn("event=db_connect_failed role=%s error=%s", role_name(c->role),
                 log_q(PQerrorMessage(c->pg)));
        conn_drop(c);
        /* Fail fast for a while only after a slow failure (a connect
         * timeout: every request would wait for it). A refused connection
         * costs next to nothing to try again, and trying at once means a
         * restarted server is used by the very next request, not one
         * backoff later. */
        int64_t end = ktime_mono_ms();
        if (end - now >= SLOW_CONNECT_MS)
            c->retry_after_ms = end + conf.backoff_ms;
        return -1;
    }
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; i < tables[t].n; i++) {
            const db_stmt_t *st = &tables[t].stmts[i];
            PGresult *res = PQprepare(c->pg, st->name, st->sql, st->nparams, NULL);
            if (PQresultStatus(res) != PGRES_COMMAND_OK) {
                log_error("event=db_prepare_failed role=%s stmt=%s error=%s", role_name(c->role),
                          st->name, log_q(PQresultErrorMessage(res)));
                PQclear(res);
                conn_drop(c);
                c->retry_after_ms = now + conf.backoff_ms;
                return -1;
            }
            PQclear(res);
        }
    }
    log_debug("event=db_connected role=%s", role_name(c->role));
    return 0;
}

/* An idle connection has nothing to read: when its socket is readable the
 * server has closed it (restart, failover, idle timeout: a FATAL message and
 * then EOF, which may arrive in separate reads) or sent something we never
 * asked for. Either way it is replaced now, so a thread's first statement
 * after a server restart runs on a new connection instead of failing on the
 * dead one (one poll() per statement). */
static void conn_check(db_conn_t *c)
{
    if (c->pg == NULL || c->in_tx)
        return;
    struct pollfd pf = { .fd = PQsocket(c->pg), .events = POLLIN };
    if (pf.fd < 0 || poll(&pf, 1, 0) != 0) {
        log_info("event=db_stale_connection role=%s", role_name(c->role));
        conn_drop(c);
    }
}

db_conn_t *db_get(db_role_t role, err_t *err)
{
    db_conn_t *c = &tl_conn[role];
    if (role == DB_REPLICA && conf.url[DB_REPLICA] == NULL)
        c = &tl_conn[DB_PRIMARY];
    conn_check(c);
    if (c->pg && PQstatus(c->pg) != CONNECTION_OK)
        conn_drop(c);
    if (c->pg == NULL && conn_open(c) != 0) {
        err_set(err, ERR_SERVICE_UNAVAILABLE, "database unavailable");
        return NULL;
    }
    return c;
}

db_conn_t *db_get_read(err_t *err)
{
    if (conf.url[DB_REPLICA] == NULL)
        return db_get(DB_PRIMARY, err);
    db_conn_t *rc = &tl_conn[DB_REPLICA];
    if (replica_breaker == NULL)
        return db_get(DB_REPLICA, err);
    if (rc->permit) { /* a permit from a read that never ran a statement */
        breaker_release(replica_breaker, rc->ticket, ktime_mono_ms());
        rc->permit = false;
    }
    breaker_ticket_t t;
    if (!breaker_acquire(replica_breaker, ktime_mono_ms(), &t))
        return db_get(DB_PRIMARY, err);
    int64_t t0 = ktime_mono_ms();
    db_conn_t *c = db_get(DB_REPLICA, err);
    if (c == NULL) {
        int64_t now = ktime_mono_ms();
        breaker_record(replica_breaker, t, now, now - t0, 0);
        return db_get(DB_PRIMARY, err);
    }
    c->ticket = t;
    c->permit = true; /* the outcome of the next statement decides */
    return c;
}

db_role_t db_conn_role(const db_conn_t *c)
{
    return c->role;
}

const char *db_sqlstate(const db_conn_t *c)
{
    return c->sqlstate;
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType s = PQresultStatus(res);
    return s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK;
}

PGresult *db_exec(db_conn_t *c, const db_stmt_t *st, const char *const *params, err_t *err)
{
    c->sqlstate[0] = '\0';
    bool retried = false;
    for (;;) {
        conn_check(c);
        if (c->pg == NULL && conn_open(c) != 0) {
            if (c->role == DB_REPLICA && !c->in_tx && (st->flags & DB_RETRY)) {
                /* A read the replica cannot serve is served by the primary. */
                if (c->permit) {
                    breaker_record(replica_breaker, c->ticket, ktime_mono_ms(), 0, 0);
                    c->permit = false;
                }
                c = &tl_conn[DB_PRIMARY];
                continue;
            }
            err_set(err, ERR_SERVICE_UNAVAILABLE, "database unavailable");
            return NULL;
        }
        int64_t t0 = ktime_mono_ms();
        PGresult *res = PQexecPrepared(c->pg, st->name, st->nparams, params, NULL, NULL, 0);
        const char *state = result_ok(res) ? NULL : PQresultErrorField(res, PG_DIAG_SQLSTATE);
        bool broken = PQstatus(c->pg) != CONNECTION_OK;
        bool timeout = state && strcmp(state, "57014") == 0;
        if (c->permit) {
            /* Only the server's health counts for the breaker, not SQL errors. */
            int64_t now = ktime_mono_ms();
            breaker_record(replica_breaker, c->ticket, now, now - t0, !(broken || timeout));
            c->permit = false;
        }
        if (result_ok(res))
            return res;
        snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
        if (broken) {
            bool was_tx = c->in_tx;
            log_warn("event=db_connection_lost role=%s stmt=%s retry=%s", role_name(c->role),
                     st->name, (!retried && !was_tx && (st->flags & DB_RETRY)) ? "yes" : "no");
            PQclear(res);
            conn_drop(c);
            if (!retried && !was_tx && (st->flags & DB_RETRY)) {
                retried = true;
                if (c->role == DB_REPLICA)
                    c = &tl_conn[DB_PRIMARY];
                continue;
            }
            err_set(err, ERR_SERVICE_UNAVAILABLE, "database unavailable");
            return NULL;
        }
        if (timeout) {
            log_warn("event=db_statement_timeout role=%s stmt=%s", role_name(c->role), st->name);
            err_set(err, ERR_SERVICE_UNAVAILABLE, "database timed out");
        } else {
            log_level_t lvl = (state && strncmp(state, "23", 2) == 0) ? LOG_DEBUG : LOG_ERROR;
            if (log_enabled(lvl))
                log_write(lvl, "event=db_error role=%s stmt=%s sqlstate=%s error=%s",
                          role_name(c->role), st->name, c->sqlstate,
                          log_q(PQresultErrorMessage(res)));
            err_set(err, ERR_UNKNOWN, "internal error");
        }
        PQclear(res);
        return NULL;
    }
}

int64_t db_exec_cmd(db_conn_t *c, const db_stmt_t *st, const char *const *params, err_t *err)
{
    PGresult *res = db_exec(c, st, params, err);
    if (res == NULL)
        return -1;
    const char *n = PQcmdTuples(res);
    int64_t rows = (n && *n) ? strtoll(n, NULL, 10) : 0;
    PQclear(res);
    return rows;
}

static int simple(db_conn_t *c, const char *sql, err_t *err)
{
    if (c->pg == NULL && conn_open(c) != 0)
        return err_set(err, ERR_SERVICE_UNAVAILABLE, "database unavailable");
    PGresult *res = PQexec(c->pg, sql);
    int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
        bool broken = PQstatus(c->pg) != CONNECTION_OK;
        log_warn("event=db_tx_failed role=%s sql=%s sqlstate=%s", role_name(c->role), sql,
                 c->sqlstate);
        if (broken)
            conn_drop(c);
        PQclear(res);
        return err_set(err, broken ? ERR_SERVICE_UNAVAILABLE : ERR_UNKNOWN,
                       broken ? "database unavailable" : "internal error");
    }
    PQclear(res);
    return 0;
}

int db_begin(db_conn_t *c, err_t *err)
{
    if (simple(c, "BEGIN", err) != 0)
        return -1;
    c->in_tx = true;
    return 0;
}

int db_commit(db_conn_t *c, err_t *err)
{
    int rc = simple(c, "COMMIT", err);
    c->in_tx = false;
    return rc;
}

void db_rollback(db_conn_t *c)
{
    if (c->pg && c->in_tx) {
        PGresult *res = PQexec(c->pg, "ROLLBACK");
        PQclear(res);
        if (PQstatus(c->pg) != CONNECTION_OK)
            conn_drop(c);
    }
    c->in_tx = false;
}

int db_ping(db_role_t role, int64_t timeout_ms, bool *in_recovery)
{
    if (conf.url[role] == NULL)
        return -1;
    int64_t secs = (timeout_ms + 999) / 1000;
    PGconn *pg = open_conn(role, secs < 1 ? 1 : secs);
    int rc = -1;
    if (PQstatus(pg) == CONNECTION_OK) {
        PGresult *res = PQexec(pg, "SELECT pg_is_in_recovery()");
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
            if (in_recovery)
                *in_recovery = PQgetvalue(res, 0, 0)[0] == 't';
            rc = 0;
        }
        PQclear(res);
    }
    PQfinish(pg);
    return rc;
}

void db_thread_close(void)
{
    conn_drop(&tl_conn[0]);
    conn_drop(&tl_conn[1]);
}

int64_t db_i64(const PGresult *res, int row, int col)
{
    const char *v = PQgetvalue(res, row, col);
    return v ? strtoll(v, NULL, 10) : 0;
}

const char *db_str(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return NULL;
    return PQgetvalue(res, row, col);
}

bool db_isnull(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) != 0;
}
