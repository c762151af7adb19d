/* pool.c: the master process of the worker pool (see srv.h).
 *
 * The master never serves a request. It owns the listening sockets (the
 * public LISTEN and the admin ADMIN_LISTEN, unix sockets with SOCKET_MODE
 * and SOCKET_GROUP) and the shared memory, and reacts to signals with
 * sigtimedwait in one loop:
 *   SIGCHLD  reap; respawn a worker that died unexpectedly (brake: after
 *            RESPAWN_BURST deaths in RESPAWN_WINDOW_S, wait 1 s, 2 s, ... 30 s)
 *   SIGHUP   re-read the configuration; start a new generation of workers;
 *            once all of it is READY (or 30 s passed) ask the old one to drain
 *   SIGTERM, SIGINT, SIGQUIT
 *            graceful stop: workers stop accepting, finish in-flight requests
 *            and flush buffers; after STOP_TIMEOUT_MS the rest is killed
 *   SIGUSR1  reopen the log file (master and workers)
 * A worker that reached MAX_REQUESTS marks itself DRAINING; the master starts
 * its replacement at once, so capacity never dips. */
#include "server/srv.h"
#include "server/notify.h"
#include "server/module.h"
#include "common/config.h"
#include "common/ktime.h"
#include "common/log.h"
#include "common/metrics.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

srv_shm_t *srv_shm;

static const srv_job_t *jobs[SRV_MAX_JOBS];
static int njobs;

/* Master-only bookkeeping per worker slot. */
static struct {
    pid_t pid;
    int generation;
    bool told_to_stop;
    bool replaced;         /* a DRAINING worker whose replacement was started */
    int64_t respawn_at_ms; /* > 0: slot reserved, respawn when due */
} mw[SRV_MAX_WORKERS];

static struct {
    pid_t pid;
    int64_t next_ms;
    int64_t started_ms;
    bool killed; /* SIGKILLed past its max_run_ms */
} jobrun[SRV_MAX_JOBS];

int srv_listen_fds[2] = { -1, -1 };
static int64_t deaths[64];
static int ndeaths;
static int64_t brake_ms;

int srv_add_job(const srv_job_t *job)
{
    if (njobs == SRV_MAX_JOBS)
        return -1;
    jobs[njobs++] = job;
    return 0;
}

/* ---- listening socket ---- */

/* A unix socket that accepts connections belongs to a live pool: refuse to
 * steal it (FCGX_OpenSocket would unlink it). */
static bool socket_in_use(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISSOCK(st.st_mode))
        return false;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    bool live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return live;
}

/* Unix sockets get SOCKET_MODE and, when set, SOCKET_GROUP (the web
 * server's group): FCGX_OpenSocket leaves them at the umask's mercy. */
static int socket_perms(const char *path)
{
    mode_t mode = (mode_t)strtol(srv_cfg.socket_mode, NULL, 8);
    if (srv_cfg.socket_group && srv_cfg.socket_group[0]) {
        struct group gr, *g = NULL;
        char buf[4096];
        if (getgrnam_r(srv_cfg.socket_group, &gr, buf, sizeof(buf), &g) != 0 || g == NULL) {
            log_error("event=listen_failed listen=%s error=\"unknown SOCKET_GROUP\" group=%s",
                      log_q(path), log_q(srv_cfg.socket_group));
            return -1;
        }
        if (chown(path, (uid_t)-1, g->gr_gid) != 0) {
            log_error("event=listen_failed listen=%s error=chown group=%s", log_q(path),
                      log_q(srv_cfg.socket_group));
            return -1;
        }
    }
    if (chmod(path, mode) != 0) {
        log_error("event=listen_failed listen=%s error=chmod", log_q(path));
        return -1;
    }
    return 0;
}

static int open_listen(const char *addr, const char *which)
{
    if (addr[0] == '/' && socket_in_use(addr)) {
        log_error("event=listen_failed listen=%s reason=\"socket in use by a running pool\"",
                  log_q(addr));
        return -1;
    }
    int fd = FCGX_OpenSocket(addr, (int)srv_cfg.backlog);
    if (fd < 0) {
        log_error("event=listen_failed listen=%s error=%s", log_q(addr), log_q(strerror(errno)));
        return -1;
    }
    if (addr[0] == '/' && socket_perms(addr) != 0) {
        close(fd);
        unlink(addr);
        return -1;
    }
    /* Workers wait for readiness with epoll and accept without blocking, so
     * that a stop request can wake them (see worker.c). */
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    log_info("event=listening listener=%s listen=%s backlog=%lld", which, log_q(addr),
             (long long)srv_cfg.backlog);
    return fd;
}

static void close_listen(void)
{
    const char *addr[2] = { srv_cfg.listen, srv_cfg.admin_listen };
    for (int i = 0; i < 2; i++) {
        if (srv_listen_fds[i] < 0)
            continue;
        close(srv_listen_fds[i]);
        srv_listen_fds[i] = -1;
        if (addr[i][0] == '/')
            unlink(addr[i]);
    }
}

/* The accept queue: for a unix socket, sock_diag (UDIAG_SHOW_RQLEN gives a
 * listening socket's queue length and backlog; /proc/net/unix does not);
 * for TCP, TCP_INFO (tcpi_unacked and tcpi_sacked are the same two numbers
 * on a listening socket). */
static int unix_queue(int fd, int *depth, int *max)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return -1;
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0)
        return -1;
    struct timeval tv = { 0, 200 * 1000 };
    setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req req;
    } msg = {
        .nlh = { .nlmsg_len = sizeof(msg),
                 .nlmsg_type = SOCK_DIAG_BY_FAMILY,
                 .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
        .req = { .sdiag_family = AF_UNIX,
                 .udiag_states = 1u << 10 /* TCP_LISTEN */,
                 .udiag_show = UDIAG_SHOW_RQLEN },
    };
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    int rc = -1;
    if (sendto(nl, &msg, sizeof(msg), 0, (struct sockaddr *)&sa, sizeof(sa)) != sizeof(msg)) {
        close(nl);
        return -1;
    }
    long buf[8192 / sizeof(long)];
    for (bool done = false; !done;) {
        ssize_t n = recv(nl, buf, sizeof(buf), 0);
        if (n <= 0)
            break;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
                done = true;
                break;
            }
            struct unix_diag_msg *m = NLMSG_DATA(h);
            if (m->udiag_ino != st.st_ino)
                continue;
            int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
            for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, len);
                 a = RTA_NEXT(a, len)) {
                if (a->rta_type == UNIX_DIAG_RQLEN &&
                    RTA_PAYLOAD(a) >= sizeof(struct unix_diag_rqlen)) {
                    const struct unix_diag_rqlen *q = RTA_DATA(a);
                    *depth = (int)q->udiag_rqueue;
                    *max = (int)q->udiag_wqueue;
                    rc = 0;
                }
            }
        }
    }
    close(nl);
    return rc;
}

int srv_listen_queue(int fd, int *depth, int *max)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_UNIX)
        return unix_queue(fd, depth, max);
    struct tcp_info ti;
    socklen_t tl = sizeof(ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) != 0)
        return -1;
    *depth = (int)ti.tcpi_unacked;
    *max = (int)ti.tcpi_sacked;
    return 0;
}

/* ---- shared memory ---- */

static void breaker_hook(const breaker_t *b, breaker_state_t from, breaker_state_t to,
                         const char *reason)
{
    log_warn("event=breaker_transition breaker=%s from=%s to=%s reason=%s", breaker_name(b),
             breaker_state_name(from), breaker_state_name(to), log_q(reason));
}

void srv_breaker_hook_install(void)
{
    breaker_set_transition_hook(breaker_hook);
}

static int shm_create(void)
{
    size_t msize = metrics_shm_size();
    size_t total = sizeof(srv_shm_t) + msize;
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        log_error("event=shm_failed error=%s", log_q(strerror(errno)));
        return -1;
    }
    memset(p, 0, total);
    srv_shm = p;
    srv_shm->start_time = ktime_now_us() / 1000000;
    metrics_attach((char *)p + sizeof(srv_shm_t));
    for (int d = 0; d < 3; d++) {
        if (breaker_init(&srv_shm->breakers[d], srv_breaker_names[d], &srv_cfg.breaker[d]) != 0) {
            log_error("event=breaker_init_failed breaker=%s", srv_breaker_names[d]);
            return -1;
        }
    }
    srv_breaker_hook_install();
    return 0;
}

int srv_shm_init(void)
{
    return srv_shm ? 0 : shm_create();
}

/* ---- workers ---- */

static int spawn(int slot, int generation)
{
    pid_t pid = fork();
    if (pid < 0) {
        log_error("event=fork_failed error=%s", log_q(strerror(errno)));
        mw[slot].respawn_at_ms = ktime_mono_ms() + 1000;
        return -1;
    }
    if (pid == 0)
        srv_worker_main(slot, generation);
    mw[slot].pid = pid;
    mw[slot].generation = generation;
    mw[slot].told_to_stop = false;
    mw[slot].replaced = false;
    mw[slot].respawn_at_ms = 0;
    atomic_store(&srv_shm->workers[slot].pid, pid);
    atomic_store(&srv_shm->workers[slot].generation, generation);
    log_info("event=worker_started slot=%d pid=%d generation=%d", slot, (int)pid, generation);
    return 0;
}

static int free_slot(void)
{
    for (int i = 0; i < SRV_MAX_WORKERS; i++)
        if (mw[i].pid == 0 && mw[i].respawn_at_ms == 0)
            return i;
    return -1;
}

static void spawn_generation(int generation, int count)
{
    for (int i = 0; i < count; i++) {
        int slot = free_slot();
        if (slot < 0) {
            log_error("event=no_worker_slot max=%d", SRV_MAX_WORKERS);
            return;
        }
        spawn(slot, generation);
    }
}

static void tell_stop(int slot)
{
    if (mw[slot].pid > 0 && !mw[slot].told_to_stop) {
        mw[slot].told_to_stop = true;
        kill(mw[slot].pid, SIGTERM);
    }
}

/* The respawn brake: many deaths in a short window slow respawning down. */
static int64_t respawn_delay(int64_t now)
{
    deaths[ndeaths++ % 64] = now;
    int recent = 0;
    int n = ndeaths < 64 ? ndeaths : 64;
    for (int i = 0; i < n; i++)
        if (now - deaths[i] <= srv_cfg.respawn_window_s * 1000)
            recent++;
    if (recent < srv_cfg.respawn_burst) {
        brake_ms = 0;
        return 0;
    }
    brake_ms = brake_ms ? (brake_ms * 2 > 30000 ? 30000 : brake_ms * 2) : 1000;
    log_error("event=respawn_brake deaths=%d window_s=%lld delay_ms=%lld", recent,
              (long long)srv_cfg.respawn_window_s, (long long)brake_ms);
    return brake_ms;
}

static void reap(bool stopping)
{
    for (;;) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            return;
        for (int j = 0; j < njobs; j++) {
            if (jobrun[j].pid == pid) {
                jobrun[j].pid = 0;
                jobrun[j].killed = false;
                if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                    log_warn("event=job_failed job=%s status=%d", jobs[j]->name, status);
            }
        }
        int slot = -1;
        for (int i = 0; i < SRV_MAX_WORKERS; i++)
            if (mw[i].pid == pid)
                slot = i;
        if (slot < 0)
            continue;
        bool expected = mw[slot].told_to_stop || mw[slot].replaced || stopping;
        bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        srv_worker_slot_t *ws = &srv_shm->workers[slot];
        int draining = atomic_load(&ws->state) == SRV_W_DRAINING;
        /* A dead worker's busy threads no longer count as active. */
        int was_active = atomic_exchange(&ws->active, 0);
        if (was_active > 0)
            atomic_fetch_sub(&srv_shm->active, was_active);
        atomic_store(&ws->pid, 0);
        atomic_store(&ws->state, SRV_W_FREE);
        atomic_store(&ws->threads, 0);
        metrics_reset_worker(slot); /* its gauges: a dead worker holds nothing */
        mw[slot].pid = 0;
        if (expected && (clean || mw[slot].told_to_stop)) {
            log_info("event=worker_exited slot=%d pid=%d status=%d", slot, (int)pid, status);
            continue;
        }
        if (draining && clean) {
            /* retired after MAX_REQUESTS before the master saw it draining */
            atomic_fetch_add(&srv_shm->recycled, 1);
            log_info("event=worker_retired slot=%d pid=%d", slot, (int)pid);
            if (!stopping)
                mw[slot].respawn_at_ms = ktime_mono_ms();
            continue;
        }
        atomic_fetch_add(&srv_shm->respawns, 1);
        if (WIFSIGNALED(status))
            log_error("event=worker_died slot=%d pid=%d signal=%d", slot, (int)pid,
                      WTERMSIG(status));
        else
            log_error("event=worker_died slot=%d pid=%d exit=%d", slot, (int)pid,
                      WEXITSTATUS(status));
        if (!stopping) {
            int64_t now = ktime_mono_ms();
            mw[slot].respawn_at_ms = now + respawn_delay(now);
            if (mw[slot].respawn_at_ms == 0)
                mw[slot].respawn_at_ms = 1;
        }
    }
}

static int live_workers(void)
{
    int n = 0;
    for (int i = 0; i < SRV_MAX_WORKERS; i++)
        if (mw[i].pid > 0)
            n++;
    return n;
}

static void run_jobs(int64_t now)
{
    for (int j = 0; j < njobs; j++) {
        const srv_job_t *job = jobs[j];
        if (jobrun[j].pid > 0 && !jobrun[j].killed && job->max_run_ms &&
            now - jobrun[j].started_ms > job->max_run_ms()) {
            log_error("event=job_killed job=%s pid=%d ran_ms=%lld max_ms=%lld", job->name,
                      (int)jobrun[j].pid, (long long)(now - jobrun[j].started_ms),
                      (long long)job->max_run_ms());
            kill(jobrun[j].pid, SIGKILL);
            jobrun[j].killed = true; /* reaped like any exit; the next run at its time */
        }
        if (job->interval_s == NULL || *job->interval_s <= 0 || jobrun[j].pid > 0)
            continue;
        if (jobrun[j].next_ms == 0)
            jobrun[j].next_ms = now + *job->interval_s * 1000;
        if (now < jobrun[j].next_ms)
            continue;
        jobrun[j].next_ms = now + *job->interval_s * 1000;
        pid_t pid = fork();
        if (pid == 0) {
            sigset_t all;
            sigemptyset(&all);
            sigprocmask(SIG_SETMASK, &all, NULL);
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_DFL);
            for (int i = 0; i < 2; i++)
                if (srv_listen_fds[i] >= 0)
                    close(srv_listen_fds[i]);
            _exit(job->run() == 0 ? 0 : 1);
        }
        if (pid > 0) {
            jobrun[j].pid = pid;
            jobrun[j].started_ms = now;
        }
    }
}

static void write_pid_file(void)
{
    if (srv_cfg.pid_file == NULL || srv_cfg.pid_file[0] == '\0')
        return;
    FILE *f = fopen(srv_cfg.pid_file, "w");
    if (f) {
        fprintf(f, "%d\n", (int)getpid());
        fclose(f);
    }
}

/* The checks of a reload beyond each key's own: relations between keys, and
 * that a new LOG_FILE can be opened (so a reload never ends half applied). */
static int reload_check(char *err, size_t errlen)
{
    if (srv_config_check(err, errlen) != 0)
        return -1;
    const char *lf = srv_cfg.log_file;
    if (lf && lf[0] && strcmp(lf, "-") != 0) {
        int fd = open(lf, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
        if (fd < 0) {
            snprintf(err, errlen, "LOG_FILE: cannot open it: %s", strerror(errno));
            return -1;
        }
        close(fd);
    }
    /* Last, as it swaps in what it loaded (the member-token keys) when all
     * of it loads: nothing after it can refuse the reload. */
    return srv_modules_reload(err, errlen);
}

/* How many live workers of generation gen there are, and how many of them
 * serve. */
static void generation_ready(int gen, int *ready, int *total)
{
    *ready = *total = 0;
    for (int i = 0; i < SRV_MAX_WORKERS; i++) {
        if (mw[i].pid > 0 && mw[i].generation == gen) {
            (*total)++;
            if (atomic_load(&srv_shm->workers[i].state) == SRV_W_READY)
                (*ready)++;
        }
    }
}

int srv_pool_run(void)
{
    if (srv_shm_init() != 0)
        return 1;
    srv_listen_fds[SRV_LISTEN_PUBLIC] = open_listen(srv_cfg.listen, "public");
    if (srv_listen_fds[SRV_LISTEN_PUBLIC] < 0)
        return 1;
    srv_listen_fds[SRV_LISTEN_ADMIN] = open_listen(srv_cfg.admin_listen, "admin");
    if (srv_listen_fds[SRV_LISTEN_ADMIN] < 0) {
        close_listen();
        return 1;
    }
    write_pid_file();

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    int generation = 1;
    atomic_store(&srv_shm->generation, generation);
    log_info("event=pool_start pool=%s workers=%lld threads=%lld pid=%d", srv_cfg.pool_name,
             (long long)srv_cfg.workers, (long long)srv_cfg.threads, (int)getpid());
    spawn_generation(generation, (int)srv_cfg.workers);

    bool stopping = false, announced = false;
    int64_t stop_deadline = 0, start_deadline = ktime_mono_ms() + 30000;
    int reload_gen = 0;
    int64_t reload_deadline = 0;

    for (;;) {
        struct timespec tmo = { 0, 100 * 1000 * 1000 };
        siginfo_t info;
        int sig = sigtimedwait(&set, &info, &tmo);
        int64_t now = ktime_mono_ms();
        switch (sig) {
        case SIGCHLD:
            break; /* reaped below */
        case SIGHUP: {
            if (stopping)
                break;
            char err[512];
            static cfg_reload_t rl; /* 4 KiB: not on the stack */
            if (cfg_reload(NULL, reload_check, &rl, err, sizeof(err)) != 0) {
                log_error("event=reload_refused reason=%s (the running configuration is kept)",
                          log_q(err));
                break;
            }
            if (rl.restart[0])
                log_warn("event=reload_needs_restart keys=%s (read only at start: they keep "
                         "their running values until a restart)",
                         rl.restart);
            log_open(srv_cfg.log_file, LOG_INFO);
            log_level_t lvl;
            if (log_parse_level(srv_cfg.log_level, &lvl) == 0)
                log_set_level(lvl);
            srv_notify("RELOADING=1");
            generation++;
            atomic_store(&srv_shm->generation, generation);
            atomic_fetch_add(&srv_shm->reloads, 1);
            log_info("event=reload generation=%d workers=%lld changed=%s", generation,
                     (long long)srv_cfg.workers, rl.applied[0] ? rl.applied : "-");
            spawn_generation(generation, (int)srv_cfg.workers);
            reload_gen = generation;
            reload_deadline = now + 30000;
            break;
        }
        case SIGTERM:
        case SIGINT:
        case SIGQUIT:
            if (!stopping) {
                stopping = true;
                stop_deadline = now + srv_cfg.stop_timeout_ms;
                log_info("event=pool_stopping signal=%d timeout_ms=%lld", sig,
                         (long long)srv_cfg.stop_timeout_ms);
                srv_notify("STOPPING=1");
                for (int i = 0; i < SRV_MAX_WORKERS; i++) {
                    tell_stop(i);
                    mw[i].respawn_at_ms = 0;
                }
                for (int j = 0; j < njobs; j++)
                    if (jobrun[j].pid > 0)
                        kill(jobrun[j].pid, SIGTERM);
            }
            break;
        case SIGUSR1:
            log_reopen();
            for (int i = 0; i < SRV_MAX_WORKERS; i++)
                if (mw[i].pid > 0)
                    kill(mw[i].pid, SIGUSR1);
            break;
        default:
            break;
        }

        reap(stopping);

        if (stopping) {
            if (live_workers() == 0) {
                bool jobs_left = false;
                for (int j = 0; j < njobs; j++)
                    jobs_left |= jobrun[j].pid > 0;
                if (!jobs_left || now >= stop_deadline)
                    break;
            }
            if (now >= stop_deadline) {
                for (int i = 0; i < SRV_MAX_WORKERS; i++) {
                    if (mw[i].pid > 0) {
                        log_error("event=worker_killed slot=%d pid=%d reason=stop_timeout", i,
                                  (int)mw[i].pid);
                        kill(mw[i].pid, SIGKILL);
                    }
                }
                for (int j = 0; j < njobs; j++)
                    if (jobrun[j].pid > 0)
                        kill(jobrun[j].pid, SIGKILL);
                stop_deadline = now + 1000;
            }
            continue;
        }

        /* Replacements for retiring workers, respawns that are due. */
        for (int i = 0; i < SRV_MAX_WORKERS; i++) {
            if (mw[i].pid > 0 && !mw[i].replaced && !mw[i].told_to_stop &&
                atomic_load(&srv_shm->workers[i].state) == SRV_W_DRAINING) {
                mw[i].replaced = true;
                atomic_fetch_add(&srv_shm->recycled, 1);
                int slot = free_slot();
                if (slot >= 0)
                    spawn(slot, mw[i].generation);
            }
            if (mw[i].pid == 0 && mw[i].respawn_at_ms > 0 && now >= mw[i].respawn_at_ms)
                spawn(i, generation);
        }

        /* The pool is ready (for systemd's Type=notify) once its first
         * generation serves. */
        if (!announced) {
            int ready, total;
            generation_ready(1, &ready, &total);
            if ((total > 0 && ready == total) || now >= start_deadline) {
                log_info("event=pool_ready ready=%d/%d", ready, total);
                srv_notify("READY=1");
                announced = true;
            }
        }

        /* A reload completes when the new generation is ready. */
        if (reload_gen) {
            int ready, total;
            generation_ready(reload_gen, &ready, &total);
            if ((total > 0 && ready == total) || now >= reload_deadline) {
                log_info("event=reload_ready generation=%d ready=%d/%d", reload_gen, ready, total);
                srv_notify("READY=1");
                for (int i = 0; i < SRV_MAX_WORKERS; i++) {
                    if (mw[i].pid > 0 && mw[i].generation < reload_gen)
                        tell_stop(i);
                    if (mw[i].pid == 0 && mw[i].respawn_at_ms > 0 && mw[i].generation < reload_gen)
                        mw[i].respawn_at_ms = 0;
                }
                reload_gen = 0;
            }
        }

        run_jobs(now);
    }

    close_listen();
    if (srv_cfg.pid_file && srv_cfg.pid_file[0])
        unlink(srv_cfg.pid_file);
    log_info("event=pool_stopped");
    return 0;
}

int srv_job_run_once(const char *name)
{
    for (int j = 0; j < njobs; j++)
        if (strcmp(jobs[j]->name, name) == 0)
            return jobs[j]->run();
    log_error("event=unknown_job job=%s", log_q(name));
    return 2;
}
