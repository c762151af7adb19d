/* config.c: the server's configuration keys (pool, logging, PostgreSQL,
 * Redis, circuit breakers) and their checks. The breaker keys carry
 * resilience4j's names: REDIS_BREAKER_SLIDING_WINDOW_SIZE is the Redis
 * breaker's slidingWindowSize, and so on. */
#include "server/srv.h"
#include "server/module.h"
#include "common/config.h"
#include "common/log.h"
#include "infra/rds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

srv_config_t srv_cfg;
const char *const srv_breaker_names[3] = { "redis", "replica", "gateway" };

static int check_modules(const char *v, char *err, size_t errlen)
{
    static const char *const known[] = { "ops", "auth", "profile", "points", "payment", NULL };
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", v);
    if (strcmp(buf, "all") == 0)
        return 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        bool ok = false;
        for (int i = 0; known[i]; i++)
            ok |= strcmp(tok, known[i]) == 0;
        if (!ok) {
            snprintf(err, errlen,
                     "expected 'all' or a comma list of ops,auth,profile,points,payment");
            return -1;
        }
    }
    return 0;
}

static int check_mode(const char *v, char *err, size_t errlen)
{
    if (strlen(v) != 4 || v[0] != '0' || strspn(v, "01234567") != 4) {
        snprintf(err, errlen, "expected an octal mode like 0660");
        return -1;
    }
    return 0;
}

static int check_pg_url(const char *v, char *err, size_t errlen)
{
    if (v[0] && strncmp(v, "postgresql://", 13) != 0 && strncmp(v, "postgres://", 11) != 0) {
        snprintf(err, errlen, "expected a libpq URI postgresql://user@host:port/db");
        return -1;
    }
    return 0;
}

static int check_redis(const char *v, char *err, size_t errlen)
{
    return rds_check_url(v, err, errlen);
}

static int check_sentinels(const char *v, char *err, size_t errlen)
{
    return rds_check_sentinels(v, err, errlen);
}

static int check_listen_or_empty(const char *v, char *err, size_t errlen)
{
    return v[0] ? cfg_check_listen(v, err, errlen) : 0;
}

/* ADMIN_LISTEN left empty: next to LISTEN. /run/x/memberapi.sock gives
 * /run/x/memberapi-admin.sock; host:9000 gives host:9001. */
static int derive_admin_listen(char *err, size_t errlen)
{
    const char *l = srv_cfg.listen;
    char buf[300];
    if (l[0] == '/') {
        size_t n = strlen(l);
        if (n > 5 && strcmp(l + n - 5, ".sock") == 0)
            n -= 5;
        snprintf(buf, sizeof(buf), "%.*s-admin.sock", (int)n, l);
    } else {
        const char *colon = strrchr(l, ':');
        long port = colon ? strtol(colon + 1, NULL, 10) : 0;
        if (colon == NULL || port < 1 || port >= 65535) {
            snprintf(err, errlen, "ADMIN_LISTEN: set it (LISTEN's port + 1 is not a port)");
            return -1;
        }
        snprintf(buf, sizeof(buf), "%.*s:%ld", (int)(colon - l), l, port + 1);
    }
    /* the key's string is heap memory that cfg_load frees on the next load */
    free(srv_cfg.admin_listen);
    srv_cfg.admin_listen = strdup(buf);
    return srv_cfg.admin_listen ? 0 : -1;
}

#define NCPU_DEFAULT "0" /* 0: number of CPUs */

static const cfg_key_t keys[] = {
    { "LISTEN", CFG_STR, &srv_cfg.listen, "127.0.0.1:9000", 1, 255,
      "the FastCGI socket: /path/to.sock or host:port", cfg_check_listen },
    { "ADMIN_LISTEN", CFG_STR, &srv_cfg.admin_listen, "", 0, 255,
      "the admin routes' FastCGI socket: /path/to.sock or host:port ('': LISTEN's path with "
      "-admin.sock, or LISTEN's port + 1)",
      check_listen_or_empty },
    { "SOCKET_MODE", CFG_STR, &srv_cfg.socket_mode, "0660", 4, 4,
      "permissions of the unix FastCGI sockets", check_mode },
    { "SOCKET_GROUP", CFG_STR, &srv_cfg.socket_group, "", 0, 64,
      "group of the unix FastCGI sockets, e.g. the web server's ('': the pool's own)", NULL },
    { "FCGI_READ_TIMEOUT_MS", CFG_INT, &srv_cfg.fcgi_read_timeout_ms, "5000", 100, 600000,
      "a FastCGI connection that sends nothing for this long (mid-request or idle between "
      "requests) is closed",
      NULL },
    { "REQUEST_TIMEOUT_MS", CFG_INT, &srv_cfg.request_timeout_ms, "30000", 100, 3600000,
      "a request running this long is answered 504 and its worker recycled", NULL },
    { "WORKERS", CFG_INT, &srv_cfg.workers, NCPU_DEFAULT, 0, SRV_MAX_WORKERS,
      "worker processes (0: number of CPUs)", NULL },
    { "THREADS", CFG_INT, &srv_cfg.threads, "16", 1, 256, "request threads per worker", NULL },
    { "MAX_REQUESTS", CFG_INT, &srv_cfg.max_requests, "0", 0, INT64_MAX / 2,
      "requests after which a worker is recycled (0: never)", NULL },
    { "LISTEN_BACKLOG", CFG_INT, &srv_cfg.backlog, "1024", 16, 65535, "listen backlog", NULL },
    { "SLOW_REQUEST_MS", CFG_INT, &srv_cfg.slow_request_ms, "500", 1, 3600000,
      "duration above which a request is logged as slow", NULL },
    { "STOP_TIMEOUT_MS", CFG_INT, &srv_cfg.stop_timeout_ms, "10000", 100, 600000,
      "how long a graceful stop waits for in-flight requests", NULL },
    { "MAX_BODY_BYTES", CFG_INT, &srv_cfg.max_body_bytes, "65536", 1024, 16777216,
      "largest accepted request body", NULL },
    { "RESPAWN_BURST", CFG_INT, &srv_cfg.respawn_burst, "10", 1, 10000,
      "worker deaths within RESPAWN_WINDOW_S that engage the respawn brake", NULL },
    { "RESPAWN_WINDOW_S", CFG_INT, &srv_cfg.respawn_window_s, "10", 1, 3600,
      "window of the respawn brake", NULL },
    { "LOG_FILE", CFG_STR, &srv_cfg.log_file, "-", 0, 1024, "log file path or - for stderr", NULL },
    { "LOG_LEVEL", CFG_STR, &srv_cfg.log_level, "info", 1, 16, "debug, info, warn or error",
      cfg_check_loglevel },
    { "ACCESS_LOG", CFG_BOOL, &srv_cfg.access_log, "true", 0, 0, "log one line per request", NULL },
    { "PID_FILE", CFG_STR, &srv_cfg.pid_file, "", 0, 1024, "where the master writes its pid",
      NULL },
    { "MODULES", CFG_STR, &srv_cfg.modules, "all", 1, 255,
      "'all' or a comma list of ops,auth,profile,points,payment", check_modules },
    { "POOL_NAME", CFG_STR, &srv_cfg.pool_name, "www", 1, 64, "pool name in status and logs",
      NULL },
    { "DATABASE_URL", CFG_STR, &srv_cfg.database_url,
      "postgresql://memberapi@127.0.0.1:15432/memberapi", 1, 1024, "libpq URI of the primary",
      check_pg_url },
    { "DATABASE_REPLICA_URL", CFG_STR, &srv_cfg.database_replica_url,
      "postgresql://memberapi@127.0.0.1:15433/memberapi", 0, 1024,
      "libpq URI of the read replica ('' = use the primary)", check_pg_url },
    { "DB_CONNECT_TIMEOUT_S", CFG_INT, &srv_cfg.db_connect_timeout_s, "2", 1, 60,
      "PostgreSQL connect timeout", NULL },
    { "DB_STATEMENT_TIMEOUT_MS", CFG_INT, &srv_cfg.db_statement_timeout_ms, "5000", 0, 600000,
      "server-side statement_timeout (kept below the client deadlines)", NULL },
    { "DB_READ_TIMEOUT_MS", CFG_INT, &srv_cfg.db_read_timeout_ms, "1000", 10, 600000,
      "client-side deadline of a read statement (replica or primary), connect included", NULL },
    { "DB_WRITE_TIMEOUT_MS", CFG_INT, &srv_cfg.db_write_timeout_ms, "5000", 10, 600000,
      "client-side deadline of a write statement or of a whole transaction", NULL },
    { "REDIS_URL", CFG_STR, &srv_cfg.redis_url, "redis://127.0.0.1:16379/0", 0, 1024,
      "redis://[:password@]host:port[/db] or unix:///path ('' disables the cache)", check_redis },
    { "REDIS_SENTINELS", CFG_STR, &srv_cfg.redis_sentinels, "", 0, 1024,
      "Redis Sentinel addresses host:port,host:port ('' = no Sentinel)", check_sentinels },
    { "REDIS_SENTINEL_MASTER", CFG_STR, &srv_cfg.redis_sentinel_master, "mymaster", 1, 127,
      "the master's name at the sentinels", NULL },
    { "REDIS_CONNECT_TIMEOUT_MS", CFG_INT, &srv_cfg.redis_connect_timeout_ms, "50", 1, 10000,
      "Redis connect timeout", NULL },
    { "REDIS_TIMEOUT_MS", CFG_INT, &srv_cfg.redis_timeout_ms, "25", 1, 10000,
      "Redis command timeout", NULL },
};

/* Breaker keys: <DEP>_BREAKER_<resilience4j name in upper snake case>. */
static int64_t braw[3][8];
static char bnames[3][8][64];
static cfg_key_t bkeys[3 * 8];

static const struct {
    const char *suffix;
    int64_t min, max;
    const char *help;
    const char *def[3]; /* redis, replica, gateway */
} bspec[8] = {
    { "SLIDING_WINDOW_SIZE", 1, BREAKER_MAX_WINDOW, "slidingWindowSize", { "20", "20", "20" } },
    { "MINIMUM_NUMBER_OF_CALLS",
      1,
      BREAKER_MAX_WINDOW,
      "minimumNumberOfCalls",
      { "10", "10", "10" } },
    { "FAILURE_RATE_THRESHOLD", 1, 100, "failureRateThreshold (percent)", { "50", "50", "50" } },
    { "SLOW_CALL_RATE_THRESHOLD", 1, 100, "slowCallRateThreshold (percent)", { "80", "80", "80" } },
    { "SLOW_CALL_DURATION_THRESHOLD_MS",
      1,
      600000,
      "slowCallDurationThreshold",
      { "50", "500", "10000" } },
    { "WAIT_DURATION_IN_OPEN_STATE_MS",
      1,
      3600000,
      "waitDurationInOpenState",
      { "2000", "5000", "10000" } },
    { "PERMITTED_NUMBER_OF_CALLS_IN_HALF_OPEN_STATE",
      1,
      BREAKER_MAX_WINDOW,
      "permittedNumberOfCallsInHalfOpenState",
      { "5", "3", "3" } },
    { "MAX_WAIT_DURATION_IN_HALF_OPEN_STATE_MS",
      1,
      3600000,
      "maxWaitDurationInHalfOpenState",
      { "2000", "5000", "30000" } },
};

/* Read once at start: the listening socket and pid file (master), the
 * modules' init, the database and Redis clients' configuration. A reload
 * that changes one names it (event=reload_needs_restart) and keeps it. */
static const char *const restart_only[] = {
    "LISTEN",
    "ADMIN_LISTEN",
    "SOCKET_MODE",
    "SOCKET_GROUP",
    "LISTEN_BACKLOG",
    "PID_FILE",
    "MODULES",
    "DATABASE_URL",
    "DATABASE_REPLICA_URL",
    "DB_CONNECT_TIMEOUT_S",
    "DB_STATEMENT_TIMEOUT_MS",
    "DB_READ_TIMEOUT_MS",
    "DB_WRITE_TIMEOUT_MS",
    "REDIS_URL",
    "REDIS_SENTINELS",
    "REDIS_SENTINEL_MASTER",
    "REDIS_CONNECT_TIMEOUT_MS",
    "REDIS_TIMEOUT_MS",
};

/* URLs that may carry a password: errors name them, never echo them. */
static const char *const secret_valued[] = { "DATABASE_URL", "DATABASE_REPLICA_URL", "REDIS_URL" };

void srv_config_register(void)
{
    static const char *const dep[3] = { "REDIS", "REPLICA", "GATEWAY" };
    cfg_register(keys, sizeof(keys) / sizeof(keys[0]));
    cfg_flag(secret_valued, sizeof(secret_valued) / sizeof(secret_valued[0]), CFG_F_SECRET_VALUE);
    cfg_flag(restart_only, sizeof(restart_only) / sizeof(restart_only[0]), CFG_F_RESTART);
    for (int d = 0; d < 3; d++) {
        for (int i = 0; i < 8; i++) {
            snprintf(bnames[d][i], sizeof(bnames[d][i]), "%s_BREAKER_%s", dep[d], bspec[i].suffix);
            cfg_key_t *k = &bkeys[d * 8 + i];
            k->name = bnames[d][i];
            k->type = CFG_INT;
            k->dst = &braw[d][i];
            k->def = bspec[i].def[d];
            k->min = bspec[i].min;
            k->max = bspec[i].max;
            k->help = bspec[i].help;
        }
    }
    cfg_register(bkeys, sizeof(bkeys) / sizeof(bkeys[0]));
    /* The breakers live in shared memory, configured when it is created. */
    static const char *bkey_names[3 * 8];
    for (int i = 0; i < 3 * 8; i++)
        bkey_names[i] = bkeys[i].name;
    cfg_flag(bkey_names, 3 * 8, CFG_F_RESTART);
}

int srv_config_check(char *err, size_t errlen)
{
    if (srv_cfg.admin_listen == NULL || srv_cfg.admin_listen[0] == '\0') {
        if (derive_admin_listen(err, errlen) != 0)
            return -1;
    }
    if (strcmp(srv_cfg.admin_listen, srv_cfg.listen) == 0) {
        snprintf(err, errlen, "ADMIN_LISTEN: must differ from LISTEN");
        return -1;
    }
    if (srv_cfg.workers == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        srv_cfg.workers = n < 1 ? 1 : (n > SRV_MAX_WORKERS ? SRV_MAX_WORKERS : n);
    }
    for (int d = 0; d < 3; d++) {
        breaker_config_t *b = &srv_cfg.breaker[d];
        b->sliding_window_size = (int)braw[d][0];
        b->minimum_number_of_calls = (int)braw[d][1];
        b->failure_rate_threshold = (int)braw[d][2];
        b->slow_call_rate_threshold = (int)braw[d][3];
        b->slow_call_duration_threshold_ms = braw[d][4];
        b->wait_duration_in_open_state_ms = braw[d][5];
        b->permitted_number_of_calls_in_half_open_state = (int)braw[d][6];
        b->max_wait_duration_in_half_open_state_ms = braw[d][7];
        char why[200];
        if (breaker_config_validate(b, why, sizeof(why)) != 0) {
            snprintf(err, errlen, "%s breaker: %s", srv_breaker_names[d], why);
            return -1;
        }
    }
    return 0;
}

bool srv_module_enabled(const char *name)
{
    /* ops and auth are part of every pool */
    if (strcmp(name, "ops") == 0 || strcmp(name, "auth") == 0)
        return true;
    const char *m = srv_cfg.modules;
    if (m == NULL || strcmp(m, "all") == 0)
        return true;
    size_t n = strlen(name);
    for (const char *p = m; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

int srv_modules_reload(char *err, size_t errlen)
{
    for (const srv_module_t *const *m = srv_modules; *m; m++)
        if ((*m)->reload && srv_module_enabled((*m)->name) && (*m)->reload(err, errlen) != 0)
            return -1;
    return 0;
}
