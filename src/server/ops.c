/* ops.c: the operations endpoints served by every pool:
 *   GET /health       liveness, no I/O
 *   GET /ready        primary, replica, Redis and breakers; 503 while the
 *                     primary is unreachable (replica and Redis have fallbacks)
 *   GET /pool-status  the pool's state, like PHP-FPM's status page (admin),
 *                     saturation included: busy threads, how often every
 *                     thread was busy, the listen queue
 *   GET /metrics      Prometheus text format (admin) */
#include "server/module.h"
#include "server/srv.h"
#include "common/ktime.h"
#include "common/metrics.h"
#include "http/http.h"
#include "infra/db.h"
#include "infra/rds.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const db_stmt_t ops_stmts[] = {
    { "ops_ping", "SELECT pg_is_in_recovery()", 0, DB_RETRY },
};

static void health(http_req_t *r)
{
    static const char body[] = "{\"status\":\"UP\"}";
    http_text(r, 200, "application/json; charset=utf-8", body, sizeof(body) - 1);
}

/* Runs the ping on this thread's connection to role. */
static bool ping(db_role_t role, bool *in_recovery)
{
    err_t e;
    /* Connecting (when this thread has no connection yet: a new worker
     * after a reload) is bounded by DB_CONNECT_TIMEOUT_S like any connect;
     * the ping itself is a read: a frozen server answers DOWN within
     * DB_READ_TIMEOUT_MS instead of holding /ready (and the load balancer's
     * probe), and the worker then fails fast on it. */
    db_conn_t *c = db_get(role, &e);
    if (c == NULL || db_conn_role(c) != role)
        return false;
    int64_t cap = db_deadline_cap(ktime_mono_ms() + srv_cfg.db_read_timeout_ms);
    PGresult *res = db_exec(c, &ops_stmts[0], NULL, &e);
    db_deadline_cap(cap);
    if (res == NULL)
        return false;
    *in_recovery = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return true;
}

static void breaker_json(jw_t *w, const breaker_t *b)
{
    breaker_stats_t st;
    breaker_stats(b, &st);
    jw_obj_begin(w);
    jw_kstr(w, "state", breaker_state_name(st.state));
    jw_kint(w, "failureRate", (int64_t)st.failure_rate);
    jw_kint(w, "slowCallRate", (int64_t)st.slow_call_rate);
    jw_kint(w, "bufferedCalls", st.window_calls);
    jw_kint(w, "notPermittedCalls", (int64_t)st.rejected);
    jw_obj_end(w);
}

static void ready(http_req_t *r)
{
    bool p_rec = false, r_rec = false;
    bool primary = ping(DB_PRIMARY, &p_rec) && !p_rec;
    bool has_replica = srv_cfg.database_replica_url && srv_cfg.database_replica_url[0];
    bool replica = has_replica && ping(DB_REPLICA, &r_rec);
    bool redis = rds_enabled() && rds_ping() == 0;
    /* A draining worker still answers for the pool, which keeps serving
     * through reloads and recycling: readiness is about dependencies. */
    bool up = primary;

    jw_t *w = &r->out;
    http_text(r, up ? 200 : 503, "application/json; charset=utf-8", "", 0);
    jw_obj_begin(w);
    jw_kstr(w, "status", up ? "UP" : "DOWN");
    jw_key(w, "components");
    jw_obj_begin(w);
    jw_key(w, "primary");
    jw_obj_begin(w);
    jw_kstr(w, "status", primary ? "UP" : "DOWN");
    jw_obj_end(w);
    jw_key(w, "replica");
    jw_obj_begin(w);
    jw_kstr(w, "status", !has_replica ? "NOT_CONFIGURED" : replica ? "UP" : "DOWN");
    if (replica)
        jw_kbool(w, "inRecovery", r_rec);
    jw_obj_end(w);
    jw_key(w, "redis");
    jw_obj_begin(w);
    jw_kstr(w, "status", !rds_enabled() ? "NOT_CONFIGURED" : redis ? "UP" : "DOWN");
    jw_obj_end(w);
    jw_obj_end(w);
    jw_key(w, "breakers");
    jw_obj_begin(w);
    for (int d = 0; d < 3; d++) {
        jw_key(w, srv_breaker_names[d]);
        breaker_json(w, &srv_shm->breakers[d]);
    }
    jw_obj_end(w);
    jw_obj_end(w);
}

void srv_thread_counts(int active, int threads, int *busy, int *idle)
{
    if (threads < 0)
        threads = 0;
    *busy = active < 0 ? 0 : active > threads ? threads : active;
    *idle = threads - *busy;
}

typedef struct {
    int total, active, idle, threads, busy_threads;
} pool_counts_t;

static pool_counts_t counts(void)
{
    pool_counts_t c = { 0, 0, 0, 0, 0 };
    for (int i = 0; i < SRV_MAX_WORKERS; i++) {
        const srv_worker_slot_t *w = &srv_shm->workers[i];
        if (atomic_load(&w->pid) == 0 || atomic_load(&w->state) == SRV_W_FREE)
            continue;
        c.total++;
        int busy, idle;
        srv_thread_counts(atomic_load(&w->active), atomic_load(&w->threads), &busy, &idle);
        if (busy > 0)
            c.active++;
        else
            c.idle++;
        c.threads += busy + idle;
        c.busy_threads += busy;
    }
    return c;
}

/* The listen queues now; the public one's deepest reading is kept (like
 * PHP-FPM's "max listen queue", it is the deepest a status read saw). */
typedef struct {
    int depth, len, admin_depth, max_seen;
} queue_counts_t;

static queue_counts_t queues(void)
{
    queue_counts_t q = { 0, 0, 0, 0 };
    int d, m;
    if (srv_listen_queue(srv_listen_fds[SRV_LISTEN_PUBLIC], &d, &m) == 0) {
        q.depth = d;
        q.len = m;
    }
    if (srv_listen_queue(srv_listen_fds[SRV_LISTEN_ADMIN], &d, &m) == 0)
        q.admin_depth = d;
    int prev = atomic_load(&srv_shm->max_listen_queue);
    while (q.depth > prev &&
           !atomic_compare_exchange_weak(&srv_shm->max_listen_queue, &prev, q.depth))
        ;
    q.max_seen = q.depth > prev ? q.depth : prev;
    return q;
}

static const char *state_name(int s)
{
    switch (s) {
    case SRV_W_STARTING:
        return "starting";
    case SRV_W_READY:
        return "ready";
    case SRV_W_DRAINING:
        return "draining";
    default:
        return "free";
    }
}

static void pool_status(http_req_t *r)
{
    const char *fmt = NULL;
    err_t e;
    if (http_param_str(r, "format", NULL, &fmt, &e) != 0) {
        http_error(r, &e);
        return;
    }
    bool json = (fmt && strcmp(fmt, "json") == 0) || http_query_get(r, "json", NULL);
    if (fmt && strcmp(fmt, "json") != 0 && strcmp(fmt, "text") != 0) {
        http_fail(r, ERR_INVALID_PARAMETER, "parameter 'format' must be json or text");
        return;
    }
    bool full = http_query_get(r, "full", NULL) != NULL;
    pool_counts_t c = counts();
    queue_counts_t q = queues();
    int64_t now = ktime_now_us() / 1000000;
    char started[KTIME_BUFSZ];
    ktime_format_kst(srv_shm->start_time, started);
    jw_t *w = &r->out;
    if (json) {
        http_text(r, 200, "application/json; charset=utf-8", "", 0);
        jw_obj_begin(w);
        jw_kstr(w, "pool", srv_cfg.pool_name);
        jw_kstr(w, "processManager", "static");
        jw_kstr(w, "startTime", started);
        jw_kint(w, "startSince", now - srv_shm->start_time);
        jw_kint(w, "acceptedConn", (int64_t)atomic_load(&srv_shm->accepted));
        jw_kint(w, "activeProcesses", c.active);
        jw_kint(w, "idleProcesses", c.idle);
        jw_kint(w, "totalProcesses", c.total);
        jw_kint(w, "activeThreads", c.busy_threads);
        jw_kint(w, "idleThreads", c.threads - c.busy_threads);
        jw_kint(w, "totalThreads", c.threads);
        jw_kint(w, "maxActiveThreads", atomic_load(&srv_shm->max_active));
        jw_kint(w, "maxThreadsReached", (int64_t)atomic_load(&srv_shm->max_threads_reached));
        jw_kint(w, "listenQueue", q.depth);
        jw_kint(w, "maxListenQueue", q.max_seen);
        jw_kint(w, "listenQueueLen", q.len);
        jw_kint(w, "adminListenQueue", q.admin_depth);
        jw_kint(w, "slowRequests", (int64_t)atomic_load(&srv_shm->slow_requests));
        jw_kint(w, "requestTimeouts", (int64_t)atomic_load(&srv_shm->request_timeouts));
        jw_kint(w, "readTimeouts", (int64_t)atomic_load(&srv_shm->read_timeouts));
        jw_kint(w, "respawnedWorkers", (int64_t)atomic_load(&srv_shm->respawns));
        jw_kint(w, "recycledWorkers", (int64_t)atomic_load(&srv_shm->recycled));
        jw_kint(w, "reloads", (int64_t)atomic_load(&srv_shm->reloads));
        jw_kint(w, "generation", atomic_load(&srv_shm->generation));
        jw_key(w, "breakers");
        jw_obj_begin(w);
        for (int d = 0; d < 3; d++) {
            jw_key(w, srv_breaker_names[d]);
            breaker_json(w, &srv_shm->breakers[d]);
        }
        jw_obj_end(w);
        if (full) {
            jw_key(w, "workers");
            jw_arr_begin(w);
            for (int i = 0; i < SRV_MAX_WORKERS; i++) {
                const srv_worker_slot_t *ws = &srv_shm->workers[i];
                if (atomic_load(&ws->pid) == 0)
                    continue;
                jw_obj_begin(w);
                jw_kint(w, "slot", i);
                jw_kint(w, "pid", atomic_load(&ws->pid));
                jw_kstr(w, "state", state_name(atomic_load(&ws->state)));
                jw_kint(w, "generation", atomic_load(&ws->generation));
                jw_kint(w, "startSince", now - atomic_load(&ws->started_at));
                jw_kint(w, "requests", (int64_t)atomic_load(&ws->requests));
                jw_kint(w, "activeThreads", atomic_load(&ws->active));
                jw_kint(w, "threads", atomic_load(&ws->threads));
                jw_obj_end(w);
            }
            jw_arr_end(w);
        }
        jw_obj_end(w);
        return;
    }
    char buf[2048];
    int n = snprintf(
        buf, sizeof(buf),
        "pool:                 %s\n"
        "process manager:      static\n"
        "start time:           %s +0900\n"
        "start since:          %lld\n"
        "accepted conn:        %llu\n"
        "active processes:     %d\n"
        "idle processes:       %d\n"
        "total processes:      %d\n"
        "active threads:       %d\n"
        "idle threads:         %d\n"
        "total threads:        %d\n"
        "max active threads:   %d\n"
        "max threads reached:  %llu\n"
        "listen queue:         %d\n"
        "max listen queue:     %d\n"
        "listen queue len:     %d\n"
        "admin listen queue:   %d\n"
        "slow requests:        %llu\n"
        "request timeouts:     %llu\n"
        "read timeouts:        %llu\n"
        "respawned workers:    %llu\n"
        "recycled workers:     %llu\n"
        "reloads:              %llu\n"
        "generation:           %d\n",
        srv_cfg.pool_name, started, (long long)(now - srv_shm->start_time),
        (unsigned long long)atomic_load(&srv_shm->accepted), c.active, c.idle, c.total,
        c.busy_threads, c.threads - c.busy_threads, c.threads, atomic_load(&srv_shm->max_active),
        (unsigned long long)atomic_load(&srv_shm->max_threads_reached), q.depth, q.max_seen, q.len,
        q.admin_depth, (unsigned long long)atomic_load(&srv_shm->slow_requests),
        (unsigned long long)atomic_load(&srv_shm->request_timeouts),
        (unsigned long long)atomic_load(&srv_shm->read_timeouts),
        (unsigned long long)atomic_load(&srv_shm->respawns),
        (unsigned long long)atomic_load(&srv_shm->recycled),
        (unsigned long long)atomic_load(&srv_shm->reloads), atomic_load(&srv_shm->generation));
    http_text(r, 200, "text/plain; charset=utf-8", buf, (size_t)n);
    for (int d = 0; d < 3; d++) {
        n = snprintf(buf, sizeof(buf), "breaker %-13s %s\n", srv_breaker_names[d],
                     breaker_state_name(breaker_state(&srv_shm->breakers[d])));
        jw_append(w, buf, (size_t)n);
    }
    if (full) {
        for (int i = 0; i < SRV_MAX_WORKERS; i++) {
            const srv_worker_slot_t *ws = &srv_shm->workers[i];
            if (atomic_load(&ws->pid) == 0)
                continue;
            n = snprintf(buf, sizeof(buf),
                         "\n************************\n"
                         "pid:                  %d\n"
                         "state:                %s\n"
                         "generation:           %d\n"
                         "start since:          %lld\n"
                         "requests:             %llu\n"
                         "active threads:       %d/%d\n",
                         atomic_load(&ws->pid), state_name(atomic_load(&ws->state)),
                         atomic_load(&ws->generation),
                         (long long)(now - atomic_load(&ws->started_at)),
                         (unsigned long long)atomic_load(&ws->requests), atomic_load(&ws->active),
                         atomic_load(&ws->threads));
            jw_append(w, buf, (size_t)n);
        }
    }
}

static metrics_id_t m_workers, m_threads, m_busy, m_respawns, m_recycled, m_accepted, m_queue[2],
    m_queue_len, m_breaker_state[3], m_breaker_trans[3][3], m_breaker_rejected[3];

static void metrics(http_req_t *r)
{
    pool_counts_t c = counts();
    metrics_set(m_workers, c.total);
    metrics_set(m_threads, c.threads);
    metrics_set(m_busy, c.busy_threads);
    metrics_set(m_respawns, (int64_t)atomic_load(&srv_shm->respawns));
    metrics_set(m_recycled, (int64_t)atomic_load(&srv_shm->recycled));
    metrics_set(m_accepted, (int64_t)atomic_load(&srv_shm->accepted));
    queue_counts_t q = queues();
    metrics_set(m_queue[SRV_LISTEN_PUBLIC], q.depth);
    metrics_set(m_queue[SRV_LISTEN_ADMIN], q.admin_depth);
    metrics_set(m_queue_len, q.len);
    for (int d = 0; d < 3; d++) {
        breaker_stats_t st;
        breaker_stats(&srv_shm->breakers[d], &st);
        metrics_set(m_breaker_state[d], st.state);
        for (int s = 0; s < 3; s++)
            metrics_set(m_breaker_trans[d][s], (int64_t)st.transitions_to[s]);
        metrics_set(m_breaker_rejected[d], (int64_t)st.rejected);
    }
    http_text(r, 200, "text/plain; version=0.0.4; charset=utf-8", "", 0);
    metrics_render(&r->out);
}

static const http_route_t ops_routes[] = {
    { HTTP_GET, "/health", health, 0, "health" },
    { HTTP_GET, "/ready", ready, 0, "ready" },
    { HTTP_GET, "/pool-status", pool_status, HTTP_ROUTE_ADMIN, "pool_status" },
    { HTTP_GET, "/metrics", metrics, HTTP_ROUTE_ADMIN, "metrics" },
};

static int ops_init(char *err, size_t errlen)
{
    db_register(ops_stmts, sizeof(ops_stmts) / sizeof(ops_stmts[0]));
    if (http_router_add(ops_routes, sizeof(ops_routes) / sizeof(ops_routes[0])) != 0) {
        snprintf(err, errlen, "ops: bad route");
        return -1;
    }
    m_workers = metrics_register("memberapi_pool_workers", "", METRICS_GAUGE, "Live workers");
    m_threads = metrics_register("memberapi_pool_threads", "", METRICS_GAUGE, "Request threads");
    m_busy = metrics_register("memberapi_pool_busy_threads", "", METRICS_GAUGE,
                              "Request threads serving a request");
    m_respawns = metrics_register("memberapi_pool_respawns_total", "", METRICS_COUNTER,
                                  "Workers replaced after an unexpected exit");
    m_recycled = metrics_register("memberapi_pool_recycled_total", "", METRICS_COUNTER,
                                  "Workers retired after MAX_REQUESTS");
    m_accepted = metrics_register("memberapi_pool_accepted_total", "", METRICS_COUNTER,
                                  "Requests accepted by the pool");
    m_queue[SRV_LISTEN_PUBLIC] =
        metrics_register("memberapi_pool_listen_queue", "listener=\"public\"", METRICS_GAUGE,
                         "Connections waiting to be accepted");
    m_queue[SRV_LISTEN_ADMIN] =
        metrics_register("memberapi_pool_listen_queue", "listener=\"admin\"", METRICS_GAUGE,
                         "Connections waiting to be accepted");
    m_queue_len = metrics_register("memberapi_pool_listen_queue_length", "", METRICS_GAUGE,
                                   "Limit of the public listen queue (the backlog)");
    static const char *const sname[3] = { "closed", "open", "half_open" };
    static char labels[3][4][96];
    for (int d = 0; d < 3; d++) {
        snprintf(labels[d][3], sizeof(labels[d][3]), "breaker=\"%s\"", srv_breaker_names[d]);
        m_breaker_state[d] =
            metrics_register("memberapi_breaker_state", labels[d][3], METRICS_GAUGE,
                             "Breaker state (0 closed, 1 open, 2 half-open)");
        m_breaker_rejected[d] =
            metrics_register("memberapi_breaker_not_permitted_total", labels[d][3], METRICS_COUNTER,
                             "Calls refused by an open breaker");
        for (int s = 0; s < 3; s++) {
            snprintf(labels[d][s], sizeof(labels[d][s]), "breaker=\"%s\",to=\"%s\"",
                     srv_breaker_names[d], sname[s]);
            m_breaker_trans[d][s] =
                metrics_register("memberapi_breaker_transitions_total", labels[d][s],
                                 METRICS_COUNTER, "Breaker transitions by target state");
        }
    }
    return 0;
}

const srv_module_t srv_ops_module = {
    .name = "ops",
    .configure = NULL,
    .init = ops_init,
    .worker_start = NULL,
    .worker_stop = NULL,
};
