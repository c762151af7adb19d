/* metrics.h: counters, gauges and latency histograms in shared memory.
 *
 * Modules register their series at start-up, before the pool forks; the
 * values live in a region the master maps MAP_SHARED, so every worker adds to
 * the same numbers with atomics and any worker can render /metrics
 * (Prometheus text format). Registration after metrics_attach is refused. */
#ifndef MA_COMMON_METRICS_H
#define MA_COMMON_METRICS_H

#include "common/jw.h"

#include <stddef.h>
#include <stdint.h>

#define METRICS_MAX_SERIES  2048
#define METRICS_BUCKETS     14 /* latency buckets incl. +Inf */
#define METRICS_MAX_WORKERS 64 /* = SRV_MAX_WORKERS */

/* METRICS_WORKER_GAUGE: a gauge each worker sets for itself (e.g. how many
 * views its buffer holds); /metrics shows the sum over workers, and the
 * master zeroes a worker's part when that worker is gone, so a crashed
 * worker leaves nothing behind. */
typedef enum {
    METRICS_COUNTER,
    METRICS_GAUGE,
    METRICS_HISTOGRAM,
    METRICS_WORKER_GAUGE
} metrics_kind_t;
typedef int metrics_id_t; /* -1: not registered (calls are no-ops) */

/* name: e.g. "memberapi_cache_requests_total"; labels: "" or
 * `result="hit",kind="detail"` (constant text). Same name, different labels
 * = one family. Returns the id. */
metrics_id_t metrics_register(const char *name, const char *labels, metrics_kind_t kind,
                              const char *help);

/* Bytes of shared memory the registered series need. */
size_t metrics_shm_size(void);
/* Points the registry at shared memory (zeroed, metrics_shm_size bytes). */
void metrics_attach(void *shm);

void metrics_add(metrics_id_t id, int64_t delta);
void metrics_set(metrics_id_t id, int64_t value);
int64_t metrics_get(metrics_id_t id);
/* Histogram: one observation in microseconds. */
void metrics_observe_us(metrics_id_t id, int64_t us);

/* Which worker slot this process is (after fork); -1 in the master. */
void metrics_set_worker(int slot);
/* Zeroes worker `slot`'s part of every METRICS_WORKER_GAUGE (master). */
void metrics_reset_worker(int slot);

/* A function run by metrics_render before rendering, in the rendering
 * process and thread (e.g. to set a gauge from a quick query). Register
 * before fork; at most 16. */
void metrics_add_collector(void (*fn)(void));

/* Runs the collectors, then appends every series in Prometheus text format. */
void metrics_render(jw_t *out);

#endif
