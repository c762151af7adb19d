/* pool.c: the master process of the worker pool (see srv.h).
 *
 * The master never serves a request. It owns the listening socket and the
 * shared memory, and reacts to signals with sigtimedwait in one loop:
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
#include "server/module.h"
#include "common/config.h"
#include "common/ktime.h"
#include "common/log.h"
#include "common/metrics.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
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
} jobrun[SRV_MAX_JOBS];

static int listen_fd = -1;
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

static int open_listen(void)
{
    const char *addr = srv_cfg.listen;
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
    if (addr[0] == '/') {
        /* FCGX_OpenSocket sets no permissions: the web server's user needs rw. */
        mode_t mode = (mode_t)strtol(srv_cfg.socket_mode, NULL, 8);
        if (chmod(addr, mode) != 0) {
            log_error("event=listen_failed listen=%s error=chmod", log_q(addr));
            close(fd);
            return -1;
        }
    }
    /* Workers wait for readiness with epoll and accept without blocking, so
     * that a stop request can wake them (see worker.c). */
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    log_info("event=listening listen=%s backlog=%lld", log_q(addr), (long long)srv_cfg.backlog);
    return fd;
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
        srv_worker_main(slot, listen_fd, generation);
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
            if (listen_fd >= 0)
                close(listen_fd);
            _exit(job->run() == 0 ? 0 : 1);
        }
        if (pid > 0)
            jobrun[j].pid = pid;
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

int srv_pool_run(void)
{
    if (srv_shm_init() != 0)
        return 1;
    listen_fd = open_listen();
    if (listen_fd < 0)
        return 1;
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

    bool stopping = false;
    int64_t stop_deadline = 0;
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
            char *old_listen = srv_cfg.listen ? strdup(srv_cfg.listen) : NULL;
            if (cfg_load(NULL, err, sizeof(err)) != 0 || srv_config_check(err, sizeof(err)) ||
                srv_modules_reload(err, sizeof(err)) != 0) {
                log_error("event=reload_refused reason=%s", log_q(err));
                free(old_listen);
                break;
            }
            if (old_listen && strcmp(old_listen, srv_cfg.listen) != 0)
                log_warn("event=reload_listen_ignored listen=%s (restart to change it)",
                         log_q(srv_cfg.listen));
            free(old_listen);
            log_open(srv_cfg.log_file, LOG_INFO);
            log_level_t lvl;
            if (log_parse_level(srv_cfg.log_level, &lvl) == 0)
                log_set_level(lvl);
            generation++;
            atomic_store(&srv_shm->generation, generation);
            atomic_fetch_add(&srv_shm->reloads, 1);
            log_info("event=reload generation=%d workers=%lld", generation,
                     (long long)srv_cfg.workers);
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

        /* A reload completes when the new generation is ready. */
        if (reload_gen) {
            int ready = 0, total = 0;
            for (int i = 0; i < SRV_MAX_WORKERS; i++) {
                if (mw[i].pid > 0 && mw[i].generation == reload_gen) {
                    total++;
                    if (atomic_load(&srv_shm->workers[i].state) == SRV_W_READY)
                        ready++;
                }
            }
            if ((total > 0 && ready == total) || now >= reload_deadline) {
                log_info("event=reload_ready generation=%d ready=%d/%d", reload_gen, ready, total);
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

    if (srv_cfg.listen[0] == '/')
        unlink(srv_cfg.listen);
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
