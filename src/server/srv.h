/* srv.h: the worker pool (master + prefork workers with request threads),
 * its configuration and its shared memory.
 *
 * The master opens the FastCGI listening sockets (public and admin: the
 * admin routes exist only on the admin one), creates the shared memory,
 * forks WORKERS processes of THREADS request threads each, and then only
 * supervises: it respawns a worker that died (with a brake when they die in
 * a loop), replaces a worker that retires after MAX_REQUESTS, reloads on
 * SIGHUP (the new generation accepts before the old one drains), stops on
 * SIGTERM (in-flight requests finish, bounded by STOP_TIMEOUT_MS) and runs
 * the modules' periodic jobs in child processes. */
#ifndef MA_SERVER_SRV_H
#define MA_SERVER_SRV_H

#include "infra/breaker.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SRV_MAX_WORKERS 64
#define SRV_MAX_JOBS    8

typedef struct srv_config {
    char *listen;
    char *admin_listen; /* the admin routes' socket ("" in the file: derived from LISTEN) */
    int64_t workers, threads, max_requests, backlog;
    int64_t slow_request_ms, stop_timeout_ms, max_body_bytes;
    int64_t fcgi_read_timeout_ms, request_timeout_ms;
    int64_t respawn_burst, respawn_window_s;
    char *socket_mode, *socket_group;
    char *log_file, *log_level, *pid_file, *modules, *pool_name;
    bool access_log;
    /* infrastructure */
    char *database_url, *database_replica_url;
    int64_t db_connect_timeout_s, db_statement_timeout_ms, db_read_timeout_ms, db_write_timeout_ms;
    char *redis_url, *redis_sentinels, *redis_sentinel_master;
    int64_t redis_connect_timeout_ms, redis_timeout_ms;
    breaker_config_t breaker[3];
} srv_config_t;

extern srv_config_t srv_cfg;

enum { SRV_BREAKER_REDIS = 0, SRV_BREAKER_REPLICA = 1, SRV_BREAKER_GATEWAY = 2 };
extern const char *const srv_breaker_names[3];

enum { SRV_W_FREE = 0, SRV_W_STARTING, SRV_W_READY, SRV_W_DRAINING };

typedef struct srv_worker_slot {
    _Atomic int pid;
    _Atomic int state;
    _Atomic int generation;
    _Atomic int64_t started_at; /* epoch seconds */
    _Atomic uint64_t requests;
    _Atomic int active; /* request threads busy now */
    _Atomic int threads;
} srv_worker_slot_t;

typedef struct srv_shm {
    int64_t start_time; /* epoch seconds */
    _Atomic int generation;
    _Atomic uint64_t accepted;
    _Atomic uint64_t slow_requests;
    _Atomic uint64_t respawns; /* workers replaced after an unexpected exit */
    _Atomic uint64_t recycled; /* workers retired after MAX_REQUESTS */
    _Atomic uint64_t reloads;
    _Atomic int active;     /* request threads busy, whole pool */
    _Atomic int max_active; /* highest `active` seen */
    /* times a request took the last idle request thread of the pool, so
     * that the next one waits in the listen queue (PHP-FPM's "max children
     * reached") */
    _Atomic uint64_t max_threads_reached;
    _Atomic uint64_t read_timeouts;    /* connections closed by FCGI_READ_TIMEOUT_MS */
    _Atomic uint64_t request_timeouts; /* requests answered 504 by REQUEST_TIMEOUT_MS */
    _Atomic int max_listen_queue;      /* deepest public listen queue seen by a status read */
    srv_worker_slot_t workers[SRV_MAX_WORKERS];
    breaker_t breakers[3];
} srv_shm_t;

extern srv_shm_t *srv_shm;

/* A worker slot's busy and idle request threads as /pool-status and the
 * pool gauges report them. The slot's counters are read one by one, not as
 * a snapshot: a worker that is starting (its threads accept before their
 * number is stored) or that the master is reaping can show busy threads it
 * has not counted or no longer has. Busy is clamped to threads, so idle is
 * never negative and busy never exceeds the total. */
void srv_thread_counts(int active, int threads, int *busy, int *idle);

/* Registers the server's configuration keys (srv_cfg). */
void srv_config_register(void);
/* Checks relations between keys after cfg_load. */
int srv_config_check(char *err, size_t errlen);
/* Whether module `name` is enabled by MODULES. */
bool srv_module_enabled(const char *name);
/* SIGHUP: each enabled module's reload hook; -1 with the first error. */
int srv_modules_reload(char *err, size_t errlen);

/* Master: runs the pool until stopped. Returns the exit status. */
int srv_pool_run(void);
/* Runs job NAME once in the foreground. */
int srv_job_run_once(const char *name);

/* The listening sockets, opened by the master before it forks: the public
 * one (LISTEN) and the admin one (ADMIN_LISTEN). Which of the two a
 * connection arrived on decides whether admin routes exist for it; no
 * FastCGI parameter does. -1 when not open. */
enum { SRV_LISTEN_PUBLIC = 0, SRV_LISTEN_ADMIN = 1 };
extern int srv_listen_fds[2];

/* The accept queue of listening socket fd: connections waiting for a
 * thread to accept them (depth) and the queue's limit (max, the backlog).
 * Returns 0, or -1 when the kernel does not say. */
int srv_listen_queue(int fd, int *depth, int *max);

/* Worker process entry (never returns). */
void srv_worker_main(int slot, int generation) __attribute__((noreturn));

/* `memberapi probe PATH`: FastCGI GET to LISTEN, or to ADMIN_LISTEN for an
 * admin path (/internal/..., /metrics, /pool-status); 0 when it answers 200. */
int srv_probe(const char *path);

/* In a worker: whether it has begun to drain (stop or recycle). */
bool srv_worker_draining(void);

/* Registers per-route request metrics (after every module's routes). */
void srv_metrics_init(void);
/* Creates the shared memory (breakers, counters) if not done yet. */
int srv_shm_init(void);

/* Breaker transitions are logged and counted. */
void srv_breaker_hook_install(void);

#endif
