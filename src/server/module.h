/* module.h: what a feature module (profile, points, payment, ops) gives the
 * server. A module owns its routes, SQL, configuration keys, metrics and
 * background work; the server calls these hooks at fixed points:
 *
 *   configure()      register config keys                (master, before cfg_load)
 *   init()           check config; register statements,
 *                    routes, metrics, jobs               (master, before fork)
 *   reload()         re-read what init() derived from the
 *                    configuration (keys, files)         (master, on SIGHUP, after
 *                                                         cfg_load; -1 refuses the
 *                                                         reload, nothing swapped)
 *   worker_start()   start per-worker threads            (each worker, after fork)
 *   worker_stop()    flush buffers, stop those threads   (each worker, after the
 *                                                         request threads drained)
 * Any hook may be NULL. A module reaches another only through that module's
 * public header. */
#ifndef MA_SERVER_MODULE_H
#define MA_SERVER_MODULE_H

#include <stddef.h>
#include <stdint.h>

typedef struct srv_module {
    const char *name;
    void (*configure)(void);
    int (*init)(char *err, size_t errlen);
    int (*reload)(char *err, size_t errlen);
    int (*worker_start)(void);
    void (*worker_stop)(void);
} srv_module_t;

/* A periodic job (e.g. the payment reconciler). The master forks a child to
 * run it every interval_s seconds (never two runs of the same job at once);
 * `memberapi job NAME` runs it once in the foreground. run returns 0 on
 * success. interval_s points at a config value so it can be tuned (<= 0:
 * not scheduled by the master). */
typedef struct srv_job {
    const char *name;
    const int64_t *interval_s;
    int (*run)(void);
    /* The longest a run may take (NULL: unbounded). The master SIGKILLs a
     * run past it, whatever hangs in it, and starts the next one at its
     * interval: a job's own time checks live in the process they guard. */
    int64_t (*max_run_ms)(void);
} srv_job_t;

/* From a module's init(). At most 8 jobs. */
int srv_add_job(const srv_job_t *job);

/* The modules compiled in, NULL-terminated (modules.c). */
extern const srv_module_t *const srv_modules[];

#endif
