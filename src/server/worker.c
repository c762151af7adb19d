/* worker.c: a worker process of the pool: THREADS request threads, each with
 * its own FCGX_Request, arena and (thread-local) database, Redis and HTTP
 * client connections, so one slow query idles one thread, not a process.
 *
 * Accepting (see next_connection): the listening socket is non-blocking; a
 * thread accepts first and, only when the backlog is empty, sleeps in the
 * worker's one epoll set (the listening socket with EPOLLEXCLUSIVE, and the
 * stop eventfd). epoll wakes one sleeping thread per event, so a connection
 * wakes one thread of one worker, a busy worker never sleeps, and a stop
 * wakes threads without signals to threads (a signal could interrupt a
 * thread's read of a request in flight). The pool accepts itself and hands
 * the connection to libfcgi, so libfcgi's 2 s wait for a silent unix-socket
 * peer never applies. There are two listening sockets: the public one and
 * the admin one (ADMIN_LISTEN); the socket a connection came from, not a
 * FastCGI parameter anyone reaching a socket could set, decides whether the
 * admin routes exist for it. The admin socket is accepted from first, so
 * the status page answers while the public queue is long.
 *
 * Nothing pins a thread: an accepted connection has SO_RCVTIMEO and
 * SO_SNDTIMEO of FCGI_READ_TIMEOUT_MS, so a peer that sends half a record
 * and goes silent makes libfcgi's read fail and the connection is closed
 * (counted as a read timeout). A kept connection (nginx's
 * fastcgi_keep_conn on) idle for as long is closed too: a thread waits on
 * it, and an event loop that parks idle connections is a later step.
 * nginx's upstream keepalive_timeout must therefore be shorter (render_nginx
 * sets it), or nginx may reuse a connection just as the pool closes it.
 *
 * The watchdog (one thread per worker) scans the request threads' slots
 * every 100 ms: a request running past SLOW_REQUEST_MS is logged while it
 * runs (route, request id, elapsed); one running past REQUEST_TIMEOUT_MS is
 * answered 504 by the watchdog itself, unless its thread has begun to write
 * (a slot's state decides who writes, under the slot's lock), and the
 * worker is recycled: it stops accepting, the master starts its replacement
 * at once, and it exits when its threads are done, or STOP_TIMEOUT_MS after
 * the last request it owed an answer was answered, whichever comes first. So the client gets the
 * API's envelope, and a thread stuck in a call without a deadline is bounded by the recycle.
 * libfcgi installs handlers for SIGTERM/SIGUSR1/SIGPIPE only when they are at
 * their default, so ours are installed before FCGX_Init.
 *
 * Stopping: SIGTERM (from the master, or PR_SET_PDEATHSIG when the master
 * dies) sets the eventfd; idle threads leave at once, busy ones after their
 * request; then each module's worker_stop flushes its buffers (views). */
#include "server/srv.h"
#include "server/module.h"
#include "common/arena.h"
#include "common/ktime.h"
#include "common/log.h"
#include "common/metrics.h"
#include "http/fcgi.h"
#include "infra/db.h"
#include "infra/httpc.h"
#include "infra/rds.h"

#include <errno.h>
#include <fcgiapp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int w_slot;
static int w_stop_efd = -1; /* readable once the worker stops: wakes every thread */
static int w_main_efd = -1; /* wakes the main thread for a log reopen */
static volatile sig_atomic_t w_stop, w_reopen;
static _Atomic int w_stopping;
static srv_worker_slot_t *w_shm;

/* A request thread's slot, which the watchdog reads. state is the handover:
 * the request thread moves RUNNING -> WRITING before it writes its answer,
 * the watchdog RUNNING -> TIMED_OUT before it writes the 504; whoever wins
 * writes. The watchdog writes under mu; a thread that lost takes mu before
 * it closes the connection, so the watchdog never writes to a closed (or
 * reused) descriptor. */
enum { RQ_IDLE = 0, RQ_RUNNING, RQ_WRITING, RQ_TIMED_OUT };

typedef struct rq_slot {
    _Atomic int state;
    _Atomic int64_t start_us; /* monotonic */
    pthread_mutex_t mu;
    FCGX_Request *fr;
    http_req_t *r;                     /* route is read with an atomic load */
    char rid[HTTP_REQUEST_ID_MAX + 1]; /* copied before RUNNING */
    char method[16];
    bool slow_logged; /* watchdog only */
} rq_slot_t;

static rq_slot_t *w_rq;
static int w_nrq;
/* Per-route metrics, registered by the master before fork (srv_metrics_init).
 * Status codes outside this list are counted as code="other". */
static const int status_codes[] = { 200, 201, 400, 401, 403, 404, 405, 409,
                                    413, 415, 429, 500, 502, 503, 504 };
#define NCODES (sizeof(status_codes) / sizeof(status_codes[0]))
#define NSLOTS (NCODES + 1)
static metrics_id_t *m_requests; /* [route + 1][code]; route 0 = unmatched */
static metrics_id_t *m_latency;  /* [route + 1] */
static size_t m_routes;
static metrics_id_t m_slow, m_slow_running, m_timeouts, m_read_timeouts, m_max_reached;

void srv_metrics_init(void)
{
    m_routes = http_router_count() + 1;
    m_requests = calloc(m_routes * NSLOTS, sizeof(*m_requests));
    m_latency = calloc(m_routes, sizeof(*m_latency));
    for (size_t i = 0; i < m_routes; i++) {
        const http_route_t *rt = i ? http_router_at(i - 1) : NULL;
        const char *name = rt ? rt->name : "unmatched";
        char buf[160];
        snprintf(buf, sizeof(buf), "route=\"%s\"", name);
        m_latency[i] = metrics_register("memberapi_http_request_duration_seconds", strdup(buf),
                                        METRICS_HISTOGRAM, "Request duration by route");
        for (size_t c = 0; c < NSLOTS; c++) {
            if (c < NCODES)
                snprintf(buf, sizeof(buf), "route=\"%s\",code=\"%d\"", name, status_codes[c]);
            else
                snprintf(buf, sizeof(buf), "route=\"%s\",code=\"other\"", name);
            m_requests[i * NSLOTS + c] =
                metrics_register("memberapi_http_requests_total", strdup(buf), METRICS_COUNTER,
                                 "Requests by route and status");
        }
    }
    m_slow = metrics_register("memberapi_http_slow_requests_total", "", METRICS_COUNTER,
                              "Requests slower than SLOW_REQUEST_MS");
    m_slow_running = metrics_register("memberapi_http_slow_running_total", "", METRICS_COUNTER,
                                      "Requests logged while still running past SLOW_REQUEST_MS");
    m_timeouts = metrics_register("memberapi_http_request_timeouts_total", "", METRICS_COUNTER,
                                  "Requests answered 504 after REQUEST_TIMEOUT_MS");
    m_read_timeouts =
        metrics_register("memberapi_fcgi_read_timeouts_total", "", METRICS_COUNTER,
                         "FastCGI connections closed after FCGI_READ_TIMEOUT_MS of silence");
    m_max_reached =
        metrics_register("memberapi_pool_max_threads_reached_total", "", METRICS_COUNTER,
                         "Requests that found every request thread of the pool busy");
}

static void count_request(const http_req_t *r, int64_t dur_us)
{
    if (m_requests == NULL)
        return;
    int idx = r->route ? http_router_index(r->route) + 1 : 0;
    if (idx < 0 || (size_t)idx >= m_routes)
        idx = 0;
    size_t c = 0;
    while (c < NCODES && status_codes[c] != r->status)
        c++;
    metrics_add(m_requests[(size_t)idx * NSLOTS + c], 1);
    metrics_observe_us(m_latency[idx], dur_us);
}

bool srv_worker_draining(void)
{
    return atomic_load(&w_stopping) != 0;
}

static void on_stop_signal(int sig)
{
    (void)sig;
    w_stop = 1;
    uint64_t one = 1;
    ssize_t n = write(w_stop_efd, &one, sizeof(one));
    (void)n;
}

static void on_usr1(int sig)
{
    (void)sig;
    w_reopen = 1;
    uint64_t one = 1;
    ssize_t n = write(w_main_efd, &one, sizeof(one));
    (void)n;
}

/* Begin draining: the master starts a replacement when it sees DRAINING. */
static void request_stop(void)
{
    if (atomic_exchange(&w_stopping, 1))
        return;
    atomic_store(&w_shm->state, SRV_W_DRAINING);
    uint64_t one = 1;
    ssize_t n = write(w_stop_efd, &one, sizeof(one));
    (void)n;
}

/* FCGX_Finish_r without libfcgi's lingering close when nginx does not keep
 * the connection: libfcgi would shutdown() and poll() for the peer's close
 * before close(). The request body has been read to EOF (http_fcgi_read)
 * and nginx sends nothing after it, so a plain close loses nothing and
 * saves two system calls per request. An oversized body may have been
 * drained only in part (DRAIN_MAX): then, and on a stream error, libfcgi
 * closes as it always does, so unread input cannot turn the close into a
 * reset that loses the answer. */
static void finish_request(FCGX_Request *fr, bool lingering)
{
    int keep = fr->keepConnection;
    if (!lingering)
        fr->keepConnection = 1;
    FCGX_Finish_r(fr);
    if (!keep && fr->ipcFd >= 0) {
        close(fr->ipcFd);
        fr->ipcFd = -1;
    }
    fr->keepConnection = keep;
}

/* This request took the last idle thread of the pool (the pool's capacity
 * is the threads of its live workers): the next one waits in the listen
 * queue. Checked only when this worker is full. */
static void count_saturation(int pool_active, int worker_active)
{
    if (worker_active < w_nrq)
        return;
    int cap = 0;
    for (int i = 0; i < SRV_MAX_WORKERS; i++) {
        const srv_worker_slot_t *w = &srv_shm->workers[i];
        if (atomic_load(&w->pid) != 0 && atomic_load(&w->state) != SRV_W_FREE)
            cap += atomic_load(&w->threads);
    }
    if (cap > 0 && pool_active >= cap) {
        atomic_fetch_add(&srv_shm->max_threads_reached, 1);
        metrics_add(m_max_reached, 1);
    }
}

static void read_timed_out(int64_t since_ms)
{
    atomic_fetch_add(&srv_shm->read_timeouts, 1);
    metrics_add(m_read_timeouts, 1);
    log_info("event=fcgi_read_timeout waited_ms=%lld", (long long)(ktime_mono_ms() - since_ms));
}

/* Returns false when the connection was abandoned (a body that stopped
 * arriving): it is closed and nothing was answered. */
static bool serve(FCGX_Request *fr, arena_t *a, rq_slot_t *slot, bool admin, int64_t since_ms)
{
    http_req_t r;
    arena_reset(a);
    http_req_init(&r, a);
    r.start_us = ktime_mono_us();

    int act = atomic_fetch_add(&srv_shm->active, 1) + 1;
    int wact = atomic_fetch_add(&w_shm->active, 1) + 1;
    int prev = atomic_load(&srv_shm->max_active);
    while (act > prev && !atomic_compare_exchange_weak(&srv_shm->max_active, &prev, act))
        ;
    count_saturation(act, wact);

    bool complete = http_fcgi_read(&r, fr, (size_t)srv_cfg.max_body_bytes) == 0;
    /* the socket decides, never a parameter (see the top comment) */
    r.admin = admin;
    if (!complete) {
        read_timed_out(since_ms);
        fr->keepConnection = 0;
        FCGX_Free(fr, 1);
        atomic_fetch_sub(&w_shm->active, 1);
        atomic_fetch_sub(&srv_shm->active, 1);
        return false;
    }
    if (r.request_id == NULL)
        r.request_id = http_request_id_new(a);
    log_set_rid(r.request_id);

    pthread_mutex_lock(&slot->mu);
    slot->fr = fr;
    slot->r = &r;
    snprintf(slot->rid, sizeof(slot->rid), "%s", r.request_id);
    snprintf(slot->method, sizeof(slot->method), "%s", http_method_name(r.method));
    slot->slow_logged = false;
    atomic_store(&slot->start_us, r.start_us);
    atomic_store(&slot->state, RQ_RUNNING);
    pthread_mutex_unlock(&slot->mu);

    http_dispatch(&r);

    int running = RQ_RUNNING;
    bool ours = atomic_compare_exchange_strong(&slot->state, &running, RQ_WRITING);
    bool lingering = r.body_too_large;
    if (ours) {
        http_fcgi_write(&r, fr);
    } else {
        /* The watchdog answered 504 (and shut the connection down): wait
         * until it is done with the descriptor, then close it. */
        pthread_mutex_lock(&slot->mu);
        pthread_mutex_unlock(&slot->mu);
        r.status = 504;
        fr->keepConnection = 0;
        lingering = true;
    }
    finish_request(fr, lingering);
    pthread_mutex_lock(&slot->mu);
    atomic_store(&slot->state, RQ_IDLE);
    slot->fr = NULL;
    slot->r = NULL;
    pthread_mutex_unlock(&slot->mu);

    int64_t dur_us = ktime_mono_us() - r.start_us;
    atomic_fetch_add(&srv_shm->accepted, 1);
    atomic_fetch_add(&w_shm->requests, 1);
    count_request(&r, dur_us);
    const char *route = r.route ? r.route->name : "-";
    if (srv_cfg.access_log)
        log_info("event=request method=%s route=%s status=%d dur_ms=%.2f",
                 http_method_name(r.method), route, r.status, (double)dur_us / 1000.0);
    if (dur_us >= srv_cfg.slow_request_ms * 1000) {
        atomic_fetch_add(&srv_shm->slow_requests, 1);
        metrics_add(m_slow, 1);
        log_warn("event=slow_request method=%s route=%s path=%s status=%d dur_ms=%.1f",
                 http_method_name(r.method), route, log_q(r.path), r.status,
                 (double)dur_us / 1000.0);
    }
    /* the after-work belongs to the answer the handler wrote (a view of a
     * detail the client saw); a client answered 504 saw none */
    if (r.after && ours)
        r.after(r.after_arg);
    log_set_rid(NULL);

    atomic_fetch_sub(&w_shm->active, 1);
    atomic_fetch_sub(&srv_shm->active, 1);
    return true;
}

/* ---- the watchdog ---- */

static pthread_t w_watchdog;
static _Atomic int w_watchdog_stop;

/* FastCGI records around an already serialized CGI response. */
static size_t fcgi_record(unsigned char *out, int type, int id, const void *body, size_t len)
{
    out[0] = 1;
    out[1] = (unsigned char)type;
    out[2] = (unsigned char)(id >> 8);
    out[3] = (unsigned char)id;
    out[4] = (unsigned char)(len >> 8);
    out[5] = (unsigned char)len;
    out[6] = 0;
    out[7] = 0;
    if (len)
        memcpy(out + 8, body, len);
    return 8 + len;
}

/* Answers the slot's request 504 on its connection (under slot->mu, state
 * TIMED_OUT). Never blocks: the answer is far smaller than a socket buffer,
 * and a peer that does not read loses it. */
static void answer_timeout(rq_slot_t *slot, const http_route_t *rt, arena_t *a, int64_t elapsed_ms)
{
    http_req_t r;
    arena_reset(a);
    http_req_init(&r, a);
    r.request_id = slot->rid;
    err_t e;
    err_set_status(&e, ERR_SERVICE_UNAVAILABLE, 504, "the request did not complete within %lld ms",
                   (long long)srv_cfg.request_timeout_ms);
    http_error(&r, &e);
    size_t len;
    const char *resp = http_serialize(&r, &len);
    if (len > 8000)
        len = 8000;
    unsigned char buf[8 * 4 + 8000 + 8];
    size_t n = 0;
    int id = slot->fr->requestId;
    n += fcgi_record(buf + n, 6 /* STDOUT */, id, resp, len);
    n += fcgi_record(buf + n, 6, id, NULL, 0);
    static const unsigned char end[8] = { 0, 0, 0, 0, 0 /* REQUEST_COMPLETE */, 0, 0, 0 };
    n += fcgi_record(buf + n, 3 /* END_REQUEST */, id, end, sizeof(end));
    int fd = slot->fr->ipcFd;
    ssize_t w = send(fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    /* nginx reads to END_REQUEST; shutting both ways tells a kept
     * connection's owner (nginx) at once that no other request can go on
     * it: the stuck thread may hold the descriptor for a long time yet */
    shutdown(fd, SHUT_RDWR);
    log_set_rid(slot->rid);
    log_error("event=request_timeout method=%s route=%s elapsed_ms=%lld timeout_ms=%lld "
              "answered=%s action=recycle_worker",
              slot->method, rt ? rt->name : "-", (long long)elapsed_ms,
              (long long)srv_cfg.request_timeout_ms, w == (ssize_t)n ? "504" : "lost");
    log_set_rid(NULL);
}

static void request_stop(void);

/* Whether a request of this worker is running or being answered. */
static bool owes_answers(void)
{
    for (int i = 0; i < w_nrq; i++) {
        int st = atomic_load(&w_rq[i].state);
        if (st == RQ_RUNNING || st == RQ_WRITING)
            return true;
    }
    return false;
}

static void *watchdog(void *arg)
{
    (void)arg;
    arena_t *a = arena_new(16 * 1024);
    while (!atomic_load(&w_watchdog_stop)) {
        usleep(100 * 1000);
        int64_t now = ktime_mono_us();
        for (int i = 0; i < w_nrq; i++) {
            rq_slot_t *s = &w_rq[i];
            if (atomic_load(&s->state) != RQ_RUNNING)
                continue;
            pthread_mutex_lock(&s->mu);
            int64_t elapsed_ms = (now - atomic_load(&s->start_us)) / 1000;
            if (atomic_load(&s->state) != RQ_RUNNING) {
                pthread_mutex_unlock(&s->mu);
                continue;
            }
            const http_route_t *rt = s->r ? __atomic_load_n(&s->r->route, __ATOMIC_RELAXED) : NULL;
            if (!s->slow_logged && elapsed_ms >= srv_cfg.slow_request_ms) {
                s->slow_logged = true;
                metrics_add(m_slow_running, 1);
                log_set_rid(s->rid);
                log_warn("event=slow_request_running method=%s route=%s elapsed_ms=%lld", s->method,
                         rt ? rt->name : "-", (long long)elapsed_ms);
                log_set_rid(NULL);
            }
            int running = RQ_RUNNING;
            if (elapsed_ms >= srv_cfg.request_timeout_ms &&
                atomic_compare_exchange_strong(&s->state, &running, RQ_TIMED_OUT)) {
                answer_timeout(s, rt, a, elapsed_ms);
                atomic_fetch_add(&srv_shm->request_timeouts, 1);
                metrics_add(m_timeouts, 1);
                pthread_mutex_unlock(&s->mu);
                request_stop();
                continue;
            }
            pthread_mutex_unlock(&s->mu);
        }
    }
    arena_free(a);
    return NULL;
}

/* All idle threads of a worker wait in one epoll instance, whose waiters
 * the kernel wakes one per event; across workers EPOLLEXCLUSIVE does the
 * same. A thread accepts first and waits only when the backlog is empty, so
 * a busy worker accepts without sleeping. Returns a connected fd, or -1
 * when the worker stops. */
static int accept_ep = -1;

/* Accepts from the admin socket first, then the public one. Returns the fd
 * (admin says which), or -1 when neither has a connection waiting. */
static int accept_any(bool *admin)
{
    static const int order[2] = { SRV_LISTEN_ADMIN, SRV_LISTEN_PUBLIC };
    int err = EAGAIN;
    for (int i = 0; i < 2; i++) {
        int lfd = srv_listen_fds[order[i]];
        if (lfd < 0)
            continue;
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            *admin = order[i] == SRV_LISTEN_ADMIN;
            return fd;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            err = errno;
    }
    errno = err;
    return -1;
}

static int next_connection(bool *admin)
{
    /* A thread back from epoll_wait accepts once even when the worker is
     * stopping: with EPOLLEXCLUSIVE its wakeup may have been the only one
     * for a new connection, and leaving without accepting would strand that
     * connection in the backlog until the next one arrives (seen during
     * reloads: requests waiting 20 s). */
    bool woken = false;
    for (;;) {
        bool stopping = atomic_load(&w_stopping) || w_stop;
        if (stopping && !woken)
            return -1;
        int fd = accept_any(admin);
        if (fd >= 0)
            return fd;
        if (stopping)
            return -1;
        woken = false;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct epoll_event out[3];
            epoll_wait(accept_ep, out, 3, -1);
            woken = true;
        } else if (errno != EINTR && errno != ECONNABORTED && errno != EPROTO) {
            log_warn("event=accept_failed error=%s", log_q(strerror(errno)));
            usleep(10000); /* EMFILE and friends: do not spin */
        }
    }
}

/* Reads and writes on a connection give up after FCGI_READ_TIMEOUT_MS. */
static void set_io_timeouts(int fd)
{
    int64_t ms = srv_cfg.fcgi_read_timeout_ms;
    struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void *request_thread(void *arg)
{
    rq_slot_t *slot = arg;
    FCGX_Request req;
    /* No listening socket for libfcgi: after a broken request head it would
     * accept on it by itself (blocking, and without knowing the listener). */
    FCGX_InitRequest(&req, -1, 0);
    arena_t *a = arena_new(64 * 1024);
    bool admin = false;

    while (!atomic_load(&w_stopping) && !w_stop) {
        if (req.ipcFd >= 0) {
            /* nginx kept the connection (fastcgi_keep_conn on): wait for its
             * next request there, or for a stop, but not longer than the
             * read timeout (see the top comment). */
            struct pollfd pf[2] = { { req.ipcFd, POLLIN, 0 }, { w_stop_efd, POLLIN, 0 } };
            int pr = poll(pf, 2, (int)srv_cfg.fcgi_read_timeout_ms);
            if (pr < 0 || (pf[1].revents & POLLIN))
                continue;
            if (pr == 0) {
                close(req.ipcFd);
                req.ipcFd = -1;
                log_debug("event=fcgi_idle_close");
                continue;
            }
        } else {
            int fd = next_connection(&admin);
            if (fd < 0)
                break;
            set_io_timeouts(fd);
            /* The connection is ours; libfcgi reads the request from it.
             * keepConnection = 1 makes FCGX_Accept_r's opening "finish the
             * previous request" step keep this fd; the request's own
             * BEGIN_REQUEST flags then decide whether it stays open. */
            req.ipcFd = fd;
            req.keepConnection = 1;
        }
        int64_t since = ktime_mono_ms();
        int rc = FCGX_Accept_r(&req);
        if (rc < 0) {
            /* A broken or incomplete request head: libfcgi closed the
             * connection. Only reads block, so a failure after the read
             * timeout is the timeout. */
            if (ktime_mono_ms() - since >= srv_cfg.fcgi_read_timeout_ms)
                read_timed_out(since);
            else
                log_debug("event=fcgi_accept_failed error=%d", -rc);
            req.ipcFd = -1;
            continue;
        }
        serve(&req, a, slot, admin, since);
        if (srv_cfg.max_requests > 0 &&
            atomic_load(&w_shm->requests) >= (uint64_t)srv_cfg.max_requests)
            request_stop();
    }
    if (req.ipcFd >= 0)
        FCGX_Free(&req, 1);
    arena_free(a);
    db_thread_close();
    rds_thread_close();
    httpc_thread_close();
    return NULL;
}

void srv_worker_main(int slot, int generation)
{
    w_slot = slot;
    metrics_set_worker(slot);
    w_shm = &srv_shm->workers[slot];
    w_stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    w_main_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

    /* Our handlers first, so libfcgi leaves them alone (see top comment). */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() == 1)
        _exit(0); /* the master died before we got here */

    atomic_store(&w_shm->state, SRV_W_STARTING);
    atomic_store(&w_shm->generation, generation);
    atomic_store(&w_shm->started_at, ktime_now_us() / 1000000);
    atomic_store(&w_shm->requests, 0);
    atomic_store(&w_shm->active, 0);

    /* libfcgi closes a connection "lingering": shutdown, then poll up to 2 s
     * for the web server to close first. The request body has always been
     * read to EOF here, so a plain close loses nothing, and the lingering
     * wait would put a request thread to sleep after every request. */
    setenv("LIBFCGI_OS_CLOSE_POLL_TIMEOUT", "0", 0);
    if (FCGX_Init() != 0) {
        log_error("event=fcgx_init_failed");
        _exit(3);
    }
    for (const srv_module_t *const *m = srv_modules; *m; m++) {
        if ((*m)->worker_start && srv_module_enabled((*m)->name) && (*m)->worker_start() != 0) {
            log_error("event=worker_start_failed module=%s", (*m)->name);
            _exit(3);
        }
    }

    accept_ep = epoll_create1(EPOLL_CLOEXEC);
    for (int i = 0; i < 2; i++) {
        if (srv_listen_fds[i] < 0)
            continue;
        struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE,
                                  .data.fd = srv_listen_fds[i] };
        epoll_ctl(accept_ep, EPOLL_CTL_ADD, srv_listen_fds[i], &ev);
    }
    struct epoll_event sev = { .events = EPOLLIN, .data.fd = w_stop_efd };
    epoll_ctl(accept_ep, EPOLL_CTL_ADD, w_stop_efd, &sev);

    /* Request threads get no process signals: the main thread takes them. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGQUIT);
    sigaddset(&block, SIGUSR1);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int nthreads = (int)srv_cfg.threads;
    pthread_t *threads = calloc((size_t)nthreads, sizeof(*threads));
    w_rq = calloc((size_t)nthreads, sizeof(*w_rq));
    w_nrq = nthreads;
    for (int i = 0; i < nthreads; i++)
        pthread_mutex_init(&w_rq[i].mu, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    int started = 0;
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&threads[i], &attr, request_thread, &w_rq[i]) == 0)
            started++;
        else
            threads[i] = 0;
    bool watching = pthread_create(&w_watchdog, &attr, watchdog, NULL) == 0;
    pthread_attr_destroy(&attr);
    /* The master blocked these before fork; the main thread takes them now. */
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    (void)old;

    atomic_store(&w_shm->threads, started);
    atomic_store(&w_shm->pid, (int)getpid());
    atomic_store(&w_shm->state, SRV_W_READY);
    log_info("event=worker_ready slot=%d generation=%d threads=%d", slot, generation, started);

    while (!w_stop && !atomic_load(&w_stopping)) {
        struct pollfd pf[2] = { { w_stop_efd, POLLIN, 0 }, { w_main_efd, POLLIN, 0 } };
        poll(pf, 2, 1000);
        if (w_reopen) {
            w_reopen = 0;
            uint64_t v;
            ssize_t n = read(w_main_efd, &v, sizeof(v));
            (void)n;
            log_reopen();
        }
        if (getppid() == 1)
            w_stop = 1;
    }
    request_stop();
    int64_t t0 = ktime_mono_ms();
    /* Each eventfd write wakes one thread sleeping in the shared epoll set:
     * keep writing until every thread has left (busy ones finish first).
     * A request still owed an answer is always waited for (the watchdog
     * answers it by REQUEST_TIMEOUT_MS at the latest); once none is owed,
     * threads that have not left within STOP_TIMEOUT_MS (stuck in a call
     * without a deadline, whose request was answered 504) are left behind
     * and the worker exits anyway: its replacement already serves. */
    int64_t owed_until = t0;
    for (int left = started; left > 0;) {
        int64_t now = ktime_mono_ms();
        if (owes_answers())
            owed_until = now;
        else if (now - owed_until >= srv_cfg.stop_timeout_ms) {
            log_error("event=worker_abandoned_threads slot=%d threads=%d waited_ms=%lld", slot,
                      left, (long long)(now - t0));
            break;
        }
        uint64_t one = 1;
        ssize_t wn = write(w_stop_efd, &one, sizeof(one));
        (void)wn;
        usleep(2000);
        left = 0;
        for (int i = 0; i < nthreads; i++) {
            if (threads[i] && pthread_tryjoin_np(threads[i], NULL) != 0)
                left++;
            else
                threads[i] = 0;
        }
    }
    atomic_store(&w_watchdog_stop, 1);
    if (watching)
        pthread_join(w_watchdog, NULL);
    for (const srv_module_t *const *m = srv_modules; *m; m++)
        if ((*m)->worker_stop && srv_module_enabled((*m)->name))
            (*m)->worker_stop();
    log_info("event=worker_stopped slot=%d requests=%llu drain_ms=%lld", slot,
             (unsigned long long)atomic_load(&w_shm->requests), (long long)(ktime_mono_ms() - t0));
    free(threads);
    _exit(0);
}
