/* db.c: per-thread PostgreSQL connections with prepared statements, every
 * call bounded by a client-side deadline (see db.h).
 *
 * Only libpq's non-blocking calls are used: PQconnectStartParams and
 * PQconnectPoll to connect, PQsend* to send, PQflush, PQconsumeInput and
 * PQisBusy to read the answer, each wait a poll() for what is left of the
 * call's deadline (infra/deadline.h). On expiry the connection is dropped:
 * no PQcancel (it is a blocking new connection to the very server that does
 * not answer); the server rolls back an open transaction when it sees the
 * connection go. */
#include "infra/db.h"
#include "infra/breaker.h"
#include "infra/deadline.h"
#include "common/ktime.h"
#include "common/log.h"
#include "common/mem.h"

#include <poll.h>
#include <stdatomic.h>
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
    int64_t tx_deadline_ms;    /* in_tx: when the whole transaction must be over */
    int64_t retry_after_ms;    /* monotonic; connect attempts wait until then */
    int64_t server_timeout_ms; /* this connection's statement_timeout */
    char sqlstate[6];
};

static struct {
    char *url[2];
    int64_t connect_timeout_s;
    int64_t statement_timeout_ms;
    int64_t backoff_ms;
    int64_t read_timeout_ms;
    int64_t write_timeout_ms;
} conf = { { NULL, NULL }, 3, 5000, 250, DB_READ_TIMEOUT_DEFAULT_MS, DB_WRITE_TIMEOUT_DEFAULT_MS };

static struct {
    const db_stmt_t *stmts;
    size_t n;
} tables[MAX_TABLES];
static size_t ntables;
static breaker_t *replica_breaker;

/* Per process and role: after a call to the server timed out (connect or
 * statement: it did not answer at all, not even to a server-side
 * statement_timeout), the worker's threads fail fast until then; when it
 * passes, one of them probes while the others keep failing fast, so a
 * frozen server costs one timeout per backoff and worker, not one per
 * thread and request. 0: up. */
static _Atomic int64_t down_until_ms[2];

static __thread db_conn_t tl_conn[2] = { { .role = DB_PRIMARY }, { .role = DB_REPLICA } };
static __thread int64_t tl_cap_ms; /* db_deadline_cap; DL_NONE: none */

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
    conf.read_timeout_ms =
        cfg->read_timeout_ms > 0 ? cfg->read_timeout_ms : DB_READ_TIMEOUT_DEFAULT_MS;
    conf.write_timeout_ms =
        cfg->write_timeout_ms > 0 ? cfg->write_timeout_ms : DB_WRITE_TIMEOUT_DEFAULT_MS;
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

int64_t db_deadline_cap(int64_t deadline_ms)
{
    int64_t old = tl_cap_ms;
    tl_cap_ms = deadline_ms;
    return old;
}

int64_t db_server_timeout_ms(int64_t statement_timeout_ms, int64_t client_timeout_ms)
{
    /* The server should cancel a slow statement before the client gives up
     * on it: a cancelled statement leaves a usable connection, a client
     * timeout drops it. A tenth of the deadline (at least 20 ms) is left for
     * the cancellation to travel back. */
    int64_t margin = client_timeout_ms / 10 < 20 ? 20 : client_timeout_ms / 10;
    int64_t bound = client_timeout_ms - margin;
    if (bound < 1)
        bound = 1;
    if (statement_timeout_ms > 0 && statement_timeout_ms < bound)
        return statement_timeout_ms;
    return bound;
}

/* The deadline of a call of timeout_ms starting at now, within the cap. */
static int64_t call_deadline(int64_t now, int64_t timeout_ms)
{
    return dl_earliest(dl_after(now, timeout_ms), tl_cap_ms);
}

static int64_t role_timeout_ms(db_role_t role)
{
    return role == DB_REPLICA ? conf.read_timeout_ms : conf.write_timeout_ms;
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

/* ---- waiting for libpq, bounded -------------------------------------- */

typedef enum { W_DONE = 0, W_TIMEOUT, W_BROKEN } wait_t;

/* Connects to role's server by deadline. Returns the connection (check
 * PQstatus) or NULL (out of memory); *why says how it ended. */
static PGconn *connect_by(db_role_t role, int64_t deadline, wait_t *why)
{
    char tmo[24], stmo[48], tcp_tmo[24];
    snprintf(tmo, sizeof(tmo), "%lld", (long long)conf.connect_timeout_s);
    int64_t server_ms = db_server_timeout_ms(conf.statement_timeout_ms, role_timeout_ms(role));
    snprintf(stmo, sizeof(stmo), "-c statement_timeout=%lld", (long long)server_ms);
    /* A black hole (packets dropped, no RST): the kernel gives up on
     * unacknowledged data after tcp_user_timeout, and an idle connection
     * is found dead by keepalives instead of at its next use. */
    snprintf(tcp_tmo, sizeof(tcp_tmo), "%lld", (long long)conf.write_timeout_ms);
    const char *keys[] = { "dbname",
                           "connect_timeout",
                           "application_name",
                           "options",
                           "keepalives",
                           "keepalives_idle",
                           "keepalives_interval",
                           "keepalives_count",
                           "tcp_user_timeout",
                           NULL };
    const char *vals[] = { conf.url[role], tmo, "memberapi", stmo,    "1",
                           "10",           "5", "3",         tcp_tmo, NULL };
    *why = W_BROKEN;
    PGconn *pg = PQconnectStartParams(keys, vals, 1);
    if (pg == NULL || PQstatus(pg) == CONNECTION_BAD)
        return pg;
    /* connect_timeout is not applied by PQconnectPoll: the deadline is. */
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK && st != PGRES_POLLING_FAILED) {
        int w = dl_wait_fd(PQsocket(pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline,
                           ktime_mono_ms);
        if (w == 0) {
            *why = W_TIMEOUT;
            return pg;
        }
        if (w < 0)
            return pg;
        st = PQconnectPoll(pg);
    }
    if (st == PGRES_POLLING_OK && PQsetnonblocking(pg, 1) == 0)
        *why = W_DONE;
    return pg;
}

/* Sends what libpq has queued for the server, by deadline. */
static wait_t flush_by(PGconn *pg, int64_t deadline)
{
    for (;;) {
        int f = PQflush(pg);
        if (f == 0)
            return W_DONE;
        if (f < 0)
            return W_BROKEN;
        /* libpq's rule: wait for write- or read-readiness, and consume what
         * the server sends meanwhile so neither side blocks on the other. */
        int w = dl_wait_fd(PQsocket(pg), POLLOUT | POLLIN, deadline, ktime_mono_ms);
        if (w == 0)
            return W_TIMEOUT;
        if (w < 0 || PQconsumeInput(pg) == 0)
            return W_BROKEN;
    }
}

/* Waits for the answer to what was just sent on pg: flushes the request,
 * then reads until libpq has every result. *res gets the last result (an
 * error result wins over a later one), NULL when none; with W_BROKEN it may
 * hold libpq's error result for the lost connection (PQclear it). */
static wait_t await_result(PGconn *pg, int64_t deadline, PGresult **res)
{
    *res = NULL;
    int fd = PQsocket(pg);
    wait_t fw = flush_by(pg, deadline);
    if (fw != W_DONE)
        return fw;
    PGresult *last = NULL;
    for (;;) {
        while (!PQisBusy(pg)) {
            PGresult *r = PQgetResult(pg);
            if (r == NULL) {
                *res = last;
                return PQstatus(pg) == CONNECTION_OK ? W_DONE : W_BROKEN;
            }
            ExecStatusType s = PQresultStatus(r);
            bool err = s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK;
            if (last && !err && PQresultStatus(last) != PGRES_TUPLES_OK &&
                PQresultStatus(last) != PGRES_COMMAND_OK) {
                PQclear(r); /* keep the earlier error */
                continue;
            }
            PQclear(last);
            last = r;
        }
        int w = dl_wait_fd(fd, POLLIN, deadline, ktime_mono_ms);
        if (w == 0) {
            PQclear(last);
            return W_TIMEOUT;
        }
        if (w < 0 || PQconsumeInput(pg) == 0) {
            /* A lost connection: libpq turns it into an error result. */
            if (PQstatus(pg) == CONNECTION_BAD && !PQisBusy(pg))
                continue;
            PQclear(last);
            return W_BROKEN;
        }
    }
}

/* Whether role counts as down for this call: true while its backoff runs;
 * when it is over, the first caller becomes the probe (false) and marks it
 * down for as long as a probe may take. */
static bool role_down(db_role_t role)
{
    int64_t down = atomic_load_explicit(&down_until_ms[role], memory_order_relaxed);
    if (down == 0)
        return false;
    int64_t now = ktime_mono_ms();
    if (now < down)
        return true;
    int64_t probe = dl_after(now, conf.connect_timeout_s * 1000 + role_timeout_ms(role));
    return !atomic_compare_exchange_strong(&down_until_ms[role], &down, probe);
}

static void mark_down(db_role_t role)
{
    atomic_store_explicit(&down_until_ms[role], dl_after(ktime_mono_ms(), conf.backoff_ms),
                          memory_order_relaxed);
}

static void mark_up(db_role_t role)
{
    if (atomic_load_explicit(&down_until_ms[role], memory_order_relaxed) != 0)
        atomic_store_explicit(&down_until_ms[role], 0, memory_order_relaxed);
}

/* A connect that got no answer for this long marks the server down for the
 * worker; a shorter one was cut by a short cap (/ready, a stopping flush),
 * which says nothing about the server. */
static int64_t connect_budget_ms(void)
{
    int64_t c = conf.connect_timeout_s * 1000;
    return c < conf.read_timeout_ms ? c : conf.read_timeout_ms;
}

/* A failed connect that took this long was a timeout, not a refusal. */
#define SLOW_CONNECT_MS 50

/* Prepares every registered statement on pg in one pipeline (one round
 * trip, not one per statement: a worker's threads reconnecting after a
 * server restart must not spend their deadline on dozens of round trips).
 * W_DONE with *err_res NULL: all prepared. W_DONE with *err_res: the first
 * error (PQclear it), *failed naming its statement. */
static wait_t prepare_all(PGconn *pg, int64_t deadline, const char **failed, PGresult **err_res)
{
    *err_res = NULL;
    if (!PQenterPipelineMode(pg))
        return W_BROKEN;
    const db_stmt_t *sent[MAX_TABLES * 128];
    size_t n = 0;
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++) {
            const db_stmt_t *st = &tables[t].stmts[i];
            if (n == sizeof(sent) / sizeof(sent[0]))
                abort(); /* a static table far larger than any module's */
            if (!PQsendPrepare(pg, st->name, st->sql, st->nparams, NULL))
                return W_BROKEN;
            sent[n++] = st;
        }
    if (!PQpipelineSync(pg))
        return W_BROKEN;
    wait_t fw = flush_by(pg, deadline);
    if (fw != W_DONE)
        return fw;
    /* Results: each statement's, then a NULL; PGRES_PIPELINE_SYNC last. */
    size_t idx = 0, nulls = 0;
    for (;;) {
        while (!PQisBusy(pg)) {
            if (PQstatus(pg) != CONNECTION_OK)
                return W_BROKEN;
            PGresult *r = PQgetResult(pg);
            if (r == NULL) {
                idx++;
                if (++nulls > n + 1) /* never more separators than statements */
                    return W_BROKEN;
                continue;
            }
            ExecStatusType s = PQresultStatus(r);
            if (s == PGRES_PIPELINE_SYNC) {
                PQclear(r);
                return PQexitPipelineMode(pg) ? W_DONE : W_BROKEN;
            }
            if (s != PGRES_COMMAND_OK && s != PGRES_PIPELINE_ABORTED && *err_res == NULL) {
                *err_res = r;
                *failed = idx < n ? sent[idx]->name : "?";
                continue;
            }
            PQclear(r);
        }
        int w = dl_wait_fd(PQsocket(pg), POLLIN, deadline, ktime_mono_ms);
        if (w == 0)
            return W_TIMEOUT;
        if (w < 0 || PQconsumeInput(pg) == 0)
            return W_BROKEN;
    }
}

/* Connects and prepares every registered statement, all by deadline. */
static int conn_open(db_conn_t *c, int64_t deadline)
{
    int64_t now = ktime_mono_ms();
    if (now < c->retry_after_ms)
        return -1;
    int64_t cdl = dl_earliest(deadline, dl_after(now, conf.connect_timeout_s * 1000));
    wait_t why;
    c->pg = connect_by(c->role, cdl, &why);
    if (why != W_DONE) {
        /* libpq's message names hosts; it goes to the log, not the client */
        log_warn("event=db_connect_failed role=%s timeout=%s waited_ms=%lld error=%s",
                 role_name(c->role), why == W_TIMEOUT ? "yes" : "no",
                 (long long)(ktime_mono_ms() - now),
                 log_q(c->pg ? PQerrorMessage(c->pg) : "out of memory"));
        conn_drop(c);
        /* Fail fast for a while only after a slow failure (a connect
         * timeout: every request would wait for it). A refused connection
         * costs next to nothing to try again, and trying at once means a
         * restarted server is used by the very next request, not one
         * backoff later. */
        int64_t end = ktime_mono_ms();
        if (end - now >= SLOW_CONNECT_MS)
            c->retry_after_ms = end + conf.backoff_ms;
        if (why == W_TIMEOUT && end - now >= connect_budget_ms())
            mark_down(c->role); /* no answer in a whole connect budget */
        else if (why != W_TIMEOUT && end - now < SLOW_CONNECT_MS)
            mark_up(c->role); /* refused: someone is there, try again at once */
        return -1;
    }
    const char *failed = "";
    PGresult *res = NULL;
    wait_t w = prepare_all(c->pg, deadline, &failed, &res);
    if (w != W_DONE || res) {
        log_error("event=db_prepare_failed role=%s stmt=%s timeout=%s error=%s", role_name(c->role),
                  failed, w == W_TIMEOUT ? "yes" : "no",
                  log_q(res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg)));
        PQclear(res);
        conn_drop(c);
        /* A statement that does not prepare is a bug or a schema
         * mismatch: this thread backs off. A server that stopped
         * answering: the whole worker does, as after a connect
         * timeout. */
        c->retry_after_ms = ktime_mono_ms() + conf.backoff_ms;
        if (w == W_TIMEOUT && ktime_mono_ms() - now >= connect_budget_ms())
            mark_down(c->role);
        return -1;
    }
    mark_up(c->role);
    c->server_timeout_ms =
        db_server_timeout_ms(conf.statement_timeout_ms, role_timeout_ms(c->role));
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

/* Whether a connect now would be refused here without trying: the server
 * is marked down for this worker (role_down, which may make this call the
 * probe instead), or this connection's reconnect backoff runs. */
static bool fails_fast(db_conn_t *c)
{
    return role_down(c->role) || ktime_mono_ms() < c->retry_after_ms;
}

/* Ends the replica permit of a read that failed without reaching the
 * replica (fails_fast). Outside HALF_OPEN it counts as the failure it stands
 * for, so the breaker opens sooner; a HALF_OPEN trial permit is handed back
 * instead, so the trial is decided by calls that reached the server (else
 * one worker's stale backoff reopens a recovered breaker). */
static void permit_unreached(breaker_ticket_t t, int64_t t0)
{
    int64_t now = ktime_mono_ms();
    if (breaker_ticket_trial(t))
        breaker_release(replica_breaker, t, now);
    else
        breaker_record(replica_breaker, t, now, now - t0, 0);
}

/* The connection of role, connected; NULL with err when it cannot be had.
 * *reached: whether a failure came from the server (a connect tried), not
 * from fails_fast. */
static db_conn_t *get_by(db_role_t role, int64_t deadline, bool *reached, err_t *err)
{
    db_conn_t *c = &tl_conn[role];
    if (role == DB_REPLICA && conf.url[DB_REPLICA] == NULL)
        c = &tl_conn[DB_PRIMARY];
    *reached = false;
    /* Not in a transaction: its statements must go to its connection. */
    if (!c->in_tx && role_down(c->role)) {
        err_set(err, ERR_SERVICE_UNAVAILABLE, "database unavailable");
        return NULL;
    }
    conn_check(c);
    if (c->pg && PQstatus(c->pg) != CONNECTION_OK)
        conn_drop(c);
    if (c->pg == NULL) {
        *reached = ktime_mono_ms() >= c->retry_after_ms;
        if (conn_open(c, deadline) != 0) {
            err_set(err, ERR_SERVICE_UNAVAILABLE, "database unavailable");
            return NULL;
        }
    }
    return c;
}

db_conn_t *db_get(db_role_t role, err_t *err)
{
    bool reached;
    return get_by(role, call_deadline(ktime_mono_ms(), role_timeout_ms(role)), &reached, err);
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
    bool reached;
    db_conn_t *c = get_by(DB_REPLICA, call_deadline(t0, conf.read_timeout_ms), &reached, err);
    if (c == NULL) {
        if (reached) {
            int64_t now = ktime_mono_ms();
            breaker_record(replica_breaker, t, now, now - t0, 0);
        } else {
            permit_unreached(t, t0);
        }
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

/* Time a read that failed on the replica must still have to be tried on
 * the primary within the caller's cap. */
#define RETRY_MIN_MS 50

PGresult *db_exec(db_conn_t *c, const db_stmt_t *st, const char *const *params, err_t *err)
{
    c->sqlstate[0] = '\0';
    bool retried = false;
    bool read = (st->flags & DB_RETRY) != 0;
    for (;;) {
        int64_t t0 = ktime_mono_ms();
        /* A statement of a transaction shares the transaction's deadline;
         * any other one has its own: reads DB_READ_TIMEOUT_MS, writes
         * DB_WRITE_TIMEOUT_MS. */
        int64_t deadline =
            c->in_tx ? c->tx_deadline_ms
                     : call_deadline(t0, read ? conf.read_timeout_ms : conf.write_timeout_ms);
        bool may_retry = !retried && !c->in_tx && read;
        conn_check(c);
        bool fast = false;
        if (c->pg == NULL && ((fast = fails_fast(c)) || conn_open(c, deadline) != 0)) {
            if (c->role == DB_REPLICA && may_retry &&
                dl_allows(tl_cap_ms, ktime_mono_ms(), RETRY_MIN_MS)) {
                /* A read the replica cannot serve is served by the primary. */
                if (c->permit) {
                    if (fast) {
                        permit_unreached(c->ticket, t0);
                    } else {
                        int64_t now = ktime_mono_ms();
                        breaker_record(replica_breaker, c->ticket, now, now - t0, 0);
                    }
                    c->permit = false;
                }
                c = &tl_conn[DB_PRIMARY];
                continue;
            }
            err_set(err, ERR_SERVICE_UNAVAILABLE, "database unavailable");
            return NULL;
        }
        PGresult *res = NULL;
        wait_t w = PQsendQueryPrepared(c->pg, st->name, st->nparams, params, NULL, NULL, 0)
                       ? await_result(c->pg, deadline, &res)
                       : W_BROKEN;
        const char *state = (w == W_DONE && res && !result_ok(res))
                                ? PQresultErrorField(res, PG_DIAG_SQLSTATE)
                                : NULL;
        bool ok = w == W_DONE && res && result_ok(res);
        bool broken = w == W_BROKEN || PQstatus(c->pg) != CONNECTION_OK || (w == W_DONE && !res);
        bool client_timeout = w == W_TIMEOUT;
        bool timeout = client_timeout || (state && strcmp(state, "57014") == 0);
        if (c->permit) {
            /* Only the server's health counts for the breaker, not SQL
             * errors; a timeout is a failure and, by its duration, slow. */
            int64_t now = ktime_mono_ms();
            breaker_record(replica_breaker, c->ticket, now, now - t0, !(broken || timeout));
            c->permit = false;
        }
        if (ok) {
            mark_up(c->role);
            return res;
        }
        /* No answer at all, not even the server's own statement_timeout
         * cancelling it: the server is not answering. (A statement in a
         * transaction may have run out of the transaction's budget, and a
         * read on the primary, whose statement_timeout is the writes', may
         * just be slow: neither says the server is gone.) */
        if (client_timeout && !c->in_tx && ktime_mono_ms() - t0 >= c->server_timeout_ms)
            mark_down(c->role);
        snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
        if (client_timeout || broken) {
            bool was_tx = c->in_tx;
            /* A broken connection is retried on a new one; a timeout only
             * on the primary after the replica (the same server again would
             * just double the wait). */
            bool retry = may_retry && (broken || c->role == DB_REPLICA) &&
                         dl_allows(tl_cap_ms, ktime_mono_ms(), RETRY_MIN_MS);
            if (client_timeout)
                log_warn("event=db_timeout role=%s stmt=%s waited_ms=%lld in_tx=%s retry=%s",
                         role_name(c->role), st->name, (long long)(ktime_mono_ms() - t0),
                         was_tx ? "yes" : "no", retry ? "yes" : "no");
            else
                log_warn("event=db_connection_lost role=%s stmt=%s retry=%s", role_name(c->role),
                         st->name, retry ? "yes" : "no");
            PQclear(res);
            /* Dropping the connection is the cancellation: the server
             * rolls back an open transaction when it sees it go. */
            conn_drop(c);
            if (retry) {
                retried = true;
                if (c->role == DB_REPLICA)
                    c = &tl_conn[DB_PRIMARY];
                continue;
            }
            err_set(err, ERR_SERVICE_UNAVAILABLE,
                    client_timeout ? "database timed out" : "database unavailable");
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

/* BEGIN, COMMIT or ROLLBACK by deadline. */
static int simple(db_conn_t *c, const char *sql, int64_t deadline, err_t *err)
{
    if (c->pg == NULL && (role_down(c->role) || conn_open(c, deadline) != 0))
        return err_set(err, ERR_SERVICE_UNAVAILABLE, "database unavailable");
    int64_t t0 = ktime_mono_ms();
    PGresult *res = NULL;
    wait_t w = PQsendQuery(c->pg, sql) ? await_result(c->pg, deadline, &res) : W_BROKEN;
    if (w == W_DONE && res && PQresultStatus(res) == PGRES_COMMAND_OK) {
        PQclear(res);
        mark_up(c->role);
        return 0;
    }
    if (w == W_TIMEOUT && !c->in_tx && ktime_mono_ms() - t0 >= c->server_timeout_ms)
        mark_down(c->role); /* BEGIN: see db_exec */
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(c->sqlstate, sizeof(c->sqlstate), "%s", state ? state : "");
    bool broken = w != W_DONE || !res || PQstatus(c->pg) != CONNECTION_OK;
    log_warn("event=db_tx_failed role=%s sql=%s sqlstate=%s timeout=%s waited_ms=%lld",
             role_name(c->role), sql, c->sqlstate, w == W_TIMEOUT ? "yes" : "no",
             (long long)(ktime_mono_ms() - t0));
    if (broken)
        conn_drop(c);
    PQclear(res);
    if (w == W_TIMEOUT)
        return err_set(err, ERR_SERVICE_UNAVAILABLE, "database timed out");
    return err_set(err, broken ? ERR_SERVICE_UNAVAILABLE : ERR_UNKNOWN,
                   broken ? "database unavailable" : "internal error");
}

int db_begin(db_conn_t *c, err_t *err)
{
    int64_t deadline = call_deadline(ktime_mono_ms(), conf.write_timeout_ms);
    conn_check(c);
    if (simple(c, "BEGIN", deadline, err) != 0)
        return -1;
    c->in_tx = true;
    c->tx_deadline_ms = deadline;
    return 0;
}

int db_commit(db_conn_t *c, err_t *err)
{
    if (!c->in_tx || c->pg == NULL) {
        /* The transaction is gone with its connection (a timeout or a lost
         * server in one of its statements): nothing was committed. */
        c->in_tx = false;
        return err_set(err, ERR_SERVICE_UNAVAILABLE, "database unavailable");
    }
    int rc = simple(c, "COMMIT", c->tx_deadline_ms, err);
    if (rc != 0 && c->pg == NULL)
        /* Sent, and no answer: committed or not, nobody here knows. The
         * callers treat SERVICE_UNAVAILABLE from a commit as that. */
        log_warn("event=db_commit_outcome_unknown role=%s", role_name(c->role));
    c->in_tx = false;
    return rc;
}

/* ROLLBACK gets its own short bound: the transaction's may be spent. */
#define ROLLBACK_TIMEOUT_MS 1000

void db_rollback(db_conn_t *c)
{
    if (c->pg && c->in_tx) {
        int64_t ms = conf.write_timeout_ms < ROLLBACK_TIMEOUT_MS ? conf.write_timeout_ms
                                                                 : ROLLBACK_TIMEOUT_MS;
        err_t e;
        /* On failure simple() drops the connection, which rolls back too. */
        simple(c, "ROLLBACK", dl_after(ktime_mono_ms(), ms), &e);
    }
    c->in_tx = false;
}

int db_ping(db_role_t role, int64_t timeout_ms, bool *in_recovery)
{
    if (conf.url[role] == NULL)
        return -1;
    int64_t deadline = call_deadline(ktime_mono_ms(), timeout_ms);
    wait_t w;
    PGconn *pg = connect_by(role, deadline, &w);
    int rc = -1;
    PGresult *res = NULL;
    if (w == W_DONE && PQsendQuery(pg, "SELECT pg_is_in_recovery()") &&
        await_result(pg, deadline, &res) == W_DONE && res &&
        PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
        if (in_recovery)
            *in_recovery = PQgetvalue(res, 0, 0)[0] == 't';
        rc = 0;
    }
    PQclear(res);
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
