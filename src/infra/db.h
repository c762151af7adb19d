/* db.h: PostgreSQL access: one primary and one replica connection per thread.
 *
 * Statements are constant SQL registered at start-up (db_register) and
 * prepared on every new connection, so a typo in SQL stops the start rather
 * than a request, and no SQL is ever built from input. A connection that
 * broke (server restart) is re-established on its next use; a statement
 * flagged DB_RETRY (safe to send twice: reads) is retried once on the new
 * connection, so after a restart at most the in-flight write fails.
 * Reads go to the replica while its breaker is closed, else to the primary. */
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
} db_config_t;

/* Once, before threads. Copies the strings. */
void db_configure(const db_config_t *cfg);
/* Breaker guarding the replica (shared memory); NULL: none. */
void db_set_replica_breaker(struct breaker *b);

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

/* Checks that a server answers (SELECT 1) on a fresh short-lived
 * connection; for /ready. Returns 0 or -1. is_replica gets
 * pg_is_in_recovery(). */
int db_ping(db_role_t role, int64_t timeout_ms, bool *in_recovery);

/* Closes this thread's connections (thread exit). */
void db_thread_close(void);

/* Result helpers */
int64_t db_i64(const PGresult *res, int row, int col);
const char *db_str(const PGresult *res, int row, int col); /* NULL for SQL NULL */
bool db_isnull(const PGresult *res, int row, int col);

#endif
