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
 * peer never applies.
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
#include <unistd.h>

static int w_slot;
static int w_listen = -1;
static int w_stop_efd = -1; /* readable once the worker stops: wakes every thread */
static int w_main_efd = -1; /* wakes the main thread for a log reopen */
static volatile sig_atomic_t w_stop, w_reopen;
static _Atomic int w_stopping;
static srv_worker_slot_t *w_shm;

/* Per-route metrics, registered by the master before fork (srv_metrics_init).
 * Status codes outside this list are counted as code="other". */
static const int status_codes[] = { 200, 201, 400, 401, 403, 404, 405, 409,
                                    413, 415, 429, 500, 502, 503, 504 };
#define NCODES (sizeof(status_codes) / sizeof(status_codes[0]))
#define NSLOTS (NCODES + 1)
static metrics_id_t *m_requests; /* [route + 1][code]; route 0 = unmatched */
static metrics_id_t *m_latency;  /* [route + 1] */
static size_t m_routes;
static metrics_id_t m_slow;

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

static void serve(FCGX_Request *fr, arena_t *a)
{
    http_req_t r;
    arena_reset(a);
    http_req_init(&r, a);
    r.start_us = ktime_mono_us();

    int act = atomic_fetch_add(&srv_shm->active, 1) + 1;
    atomic_fetch_add(&w_shm->active, 1);
    int prev = atomic_load(&srv_shm->max_active);
    while (act > prev && !atomic_compare_exchange_weak(&srv_shm->max_active, &prev, act))
        ;

    http_fcgi_read(&r, fr, (size_t)srv_cfg.max_body_bytes);
    if (r.request_id == NULL)
        r.request_id = http_request_id_new(a);
    log_set_rid(r.request_id);
    http_dispatch(&r);
    http_fcgi_write(&r, fr);
    finish_request(fr, r.body_too_large);

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
    if (r.after)
        r.after(r.after_arg);
    log_set_rid(NULL);

    atomic_fetch_sub(&w_shm->active, 1);
    atomic_fetch_sub(&srv_shm->active, 1);
}

/* All idle threads of a worker wait in one epoll instance, whose waiters
 * the kernel wakes one per event; across workers EPOLLEXCLUSIVE does the
 * same. A thread accepts first and waits only when the backlog is empty, so
 * a busy worker accepts without sleeping. Returns a connected fd, or -1
 * when the worker stops. */
static int accept_ep = -1;

static int next_connection(void)
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
        int fd = accept4(w_listen, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (stopping)
            return -1;
        woken = false;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            struct epoll_event out[2];
            epoll_wait(accept_ep, out, 2, -1);
            woken = true;
        } else if (errno != EINTR && errno != ECONNABORTED && errno != EPROTO) {
            log_warn("event=accept_failed error=%s", log_q(strerror(errno)));
            usleep(10000); /* EMFILE and friends: do not spin */
        }
    }
}

static void *request_thread(void *arg)
{
    (void)arg;
    FCGX_Request req;
    FCGX_InitRequest(&req, w_listen, 0);
    arena_t *a = arena_new(64 * 1024);

    while (!atomic_load(&w_stopping) && !w_stop) {
        if (req.ipcFd >= 0) {
            /* nginx kept the connection (fastcgi_keep_conn on): wait for its
             * next request there, or for a stop. */
            struct pollfd pf[2] = { { req.ipcFd, POLLIN, 0 }, { w_stop_efd, POLLIN, 0 } };
            if (poll(pf, 2, -1) < 0 || (pf[1].revents & POLLIN))
                continue;
        } else {
            int fd = next_connection();
            if (fd < 0)
                break;
            /* The connection is ours; libfcgi reads the request from it.
             * keepConnection = 1 makes FCGX_Accept_r's opening "finish the
             * previous request" step keep this fd; the request's own
             * BEGIN_REQUEST flags then decide whether it stays open. */
            req.ipcFd = fd;
            req.keepConnection = 1;
        }
        int rc = FCGX_Accept_r(&req);
        if (rc < 0) {
            /* a broken request head: libfcgi closed the connection */
            if (rc != -EAGAIN && rc != -EWOULDBLOCK && rc != -EINTR)
                log_debug("event=fcgi_accept_failed error=%d", -rc);
            continue;
        }
        serve(&req, a);
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

void srv_worker_main(int slot, int listen_fd, int generation)
{
    w_slot = slot;
    w_listen = listen_fd;
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
    struct epoll_event ev = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data.fd = listen_fd };
    epoll_ctl(accept_ep, EPOLL_CTL_ADD, listen_fd, &ev);
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
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 512 * 1024);
    int started = 0;
    for (int i = 0; i < nthreads; i++)
        if (pthread_create(&threads[i], &attr, request_thread, NULL) == 0)
            started++;
        else
            threads[i] = 0;
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
     * keep writing until every thread has left (busy ones finish first). */
    for (int left = started; left > 0;) {
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
    for (const srv_module_t *const *m = srv_modules; *m; m++)
        if ((*m)->worker_stop && srv_module_enabled((*m)->name))
            (*m)->worker_stop();
    log_info("event=worker_stopped slot=%d requests=%llu drain_ms=%lld", slot,
             (unsigned long long)atomic_load(&w_shm->requests), (long long)(ktime_mono_ms() - t0));
    free(threads);
    _exit(0);
}
