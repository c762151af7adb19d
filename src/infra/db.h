/* db.h: PostgreSQL access: one primary and one replica connection per thread.
 *
 * Statements are constant SQL registered at start-up (db_register) and
 * prepared on every new connection, so a typo in SQL stops the start rather
 * than a request, and no SQL is ever built from input. A connection that
 * broke (server restart) is re-established on its next use; a statement
 * flagged DB_RETRY (safe to send twice: reads) is retried once on the new
 * connection, so after a restart at most the in-flight write fails.
 * Reads go to the replica while its breaker is closed, else to the primary.
 *
 * Deadlines. Every call has a client-side deadline, enforced with libpq's
 * non-blocking API and poll() (a frozen server, a hung VM or a network
 * black hole enforces no statement_timeout of its own):
 *   - a statement flagged DB_RETRY (a read) outside a transaction:
 *     DB_READ_TIMEOUT_MS (default 1000), on the replica or the primary;
 *   - any other statement outside a transaction: DB_WRITE_TIMEOUT_MS
 *     (default 5000);
 *   - a transaction as a whole, BEGIN to COMMIT's answer: DB_WRITE_TIMEOUT_MS
 *     from BEGIN (a bound per transaction, not per statement, so a thread
 *     holds row locks and its connection for at most that long); ROLLBACK
 *     gets its own bound of at most 1 s;
 *   - connecting (and preparing the statements, one pipelined round trip)
 *     takes at most DB_CONNECT_TIMEOUT_S and never outlasts the deadline of
 *     what needed the connection (db_get: the role's, i.e. a replica
 *     connection the read deadline, a primary one the write deadline).
 * On expiry the connection is dropped (the server rolls back an open
 * transaction when it sees it go) and the call fails SERVICE_UNAVAILABLE
 * "database timed out". A COMMIT whose answer did not come is an unknown
 * outcome: also SERVICE_UNAVAILABLE, which the payment state machine and
 * its reconciler, the points adjustment's idempotency key and the view
 * batches' ids already treat as "may or may not have happened". A timeout
 * on the replica is a failure (and a slow call) for the replica breaker,
 * and the read is run again on the primary in the same call when the cap
 * (db_deadline_cap) leaves time. After a call that got no answer at all (a
 * connect timed out, or a statement outside a transaction waited past its
 * connection's server-side statement_timeout, which a live server would
 * have answered with a cancellation), the worker's
 * threads fail fast on that server for the reconnect backoff while one of
 * them probes, so a frozen server costs one timeout per backoff and worker,
 * not one per request (a replica read that fails fast goes to the primary
 * and counts as a failure for the breaker, which so opens quickly).
 * The server-side statement_timeout of each connection is
 * db_server_timeout_ms(DB_STATEMENT_TIMEOUT_MS, that role's deadline):
 * below the client deadline, so a merely slow statement is cancelled by the
 * server first and its connection kept. Connections also set keepalives and
 * tcp_user_timeout (= DB_WRITE_TIMEOUT_MS) for black holes. URLs should
 * name hosts by address: PQconnectStartParams resolves names blocking. */
#ifndef MA_INFRA_DB_H
#define MA_INFRA_DB_H

#include "common/err.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#define DB_RETRY 0x1u /* idempotent: may be resent after a broken connection */

typedef struct db_stmt {
    const char *name; /* unique, used as the prepared statement's name */
    const char *sql;  /* constant text with $1..$n */
    int nparams;
    unsigned flags;
} db_stmt_t;

typedef enum { DB_PRIMARY = 0, DB_REPLICA = 1 } db_role_t;

typedef struct db_conn db_conn_t;
struct breaker;

typedef struct db_config {
    const char *primary_url;
    const char *replica_url; /* NULL or "": reads use the primary */
    int64_t connect_timeout_s;
    int64_t statement_timeout_ms;
    int64_t reconnect_backoff_ms; /* after a slow failed connect, fail fast for this long */
    int64_t read_timeout_ms;      /* DB_READ_TIMEOUT_MS; <= 0: the default */
    int64_t write_timeout_ms;     /* DB_WRITE_TIMEOUT_MS; <= 0: the default */
} db_config_t;

#define DB_READ_TIMEOUT_DEFAULT_MS  1000
#define DB_WRITE_TIMEOUT_DEFAULT_MS 5000

/* Once, before threads. Copies the strings. */
void db_configure(const db_config_t *cfg);
/* Breaker guarding the replica (shared memory); NULL: none. */
void db_set_replica_breaker(struct breaker *b);

/* Caps the deadline of this thread's following calls at deadline_ms
 * (monotonic, ktime_mono_ms; 0: no cap) and returns the previous cap, to
 * be restored by the caller. A call then ends by the earlier of its own
 * deadline and the cap: /ready's pings, a stopping view flush. */
int64_t db_deadline_cap(int64_t deadline_ms);

/* The statement_timeout a connection whose calls have client_timeout_ms
 * gets: statement_timeout_ms (0: none) but always below the client's. */
int64_t db_server_timeout_ms(int64_t statement_timeout_ms, int64_t client_timeout_ms);

/* Statement tables (static storage), before any connection is made. */
void db_register(const db_stmt_t *stmts, size_t n);

/* This thread's connection for role, connected and prepared; NULL with err
 * (SERVICE_UNAVAILABLE) when it cannot be had. */
db_conn_t *db_get(db_role_t role, err_t *err);
/* For reads: the replica, or the primary when the replica is down/open. */
db_conn_t *db_get_read(err_t *err);
db_role_t db_conn_role(const db_conn_t *c);

/* Executes a registered statement. Returns a result with status TUPLES_OK or
 * COMMAND_OK (PQclear it), or NULL with err filled: SERVICE_UNAVAILABLE for a
 * lost server or a statement timeout, UNKNOWN for other SQL errors (the
 * SQLSTATE is in db_sqlstate; details are logged, never put in err). */
PGresult *db_exec(db_conn_t *c, const db_stmt_t *st, const char *const *params, err_t *err);
/* Same, returns the affected row count (UPDATE/INSERT/DELETE) or -1. */
int64_t db_exec_cmd(db_conn_t *c, const db_stmt_t *st, const char *const *params, err_t *err);

int db_begin(db_conn_t *c, err_t *err);
int db_commit(db_conn_t *c, err_t *err);
void db_rollback(db_conn_t *c);

/* SQLSTATE of the last failed statement on c ("" when none). */
const char *db_sqlstate(const db_conn_t *c);
#define DB_UNIQUE_VIOLATION "23505"
#define DB_CHECK_VIOLATION  "23514"
#define DB_SERIALIZATION    "40001"
#define DB_DEADLOCK         "40P01"

/* Checks that a server answers on a fresh short-lived connection within
 * timeout_ms, connect included. Returns 0 or -1. in_recovery gets
 * pg_is_in_recovery(). (/ready pings on the thread's own connections under
 * a db_deadline_cap instead.) */
int db_ping(db_role_t role, int64_t timeout_ms, bool *in_recovery);

/* Closes this thread's connections (thread exit). */
void db_thread_close(void);

/* Result helpers */
int64_t db_i64(const PGresult *res, int row, int col);
const char *db_str(const PGresult *res, int row, int col); /* NULL for SQL NULL */
bool db_isnull(const PGresult *res, int row, int col);

#endif
