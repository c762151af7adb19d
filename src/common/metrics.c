/* metrics.c: shared-memory metrics registry and Prometheus rendering. */
#include "common/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Upper bounds of the latency buckets, seconds (the last is +Inf). */
static const double bucket_le[METRICS_BUCKETS - 1] = { 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                       0.025,  0.05,  0.1,    0.25,  0.5,
                                                       1.0,    2.5,   5.0 };

typedef struct {
    const char *name, *labels, *help;
    metrics_kind_t kind;
    size_t offset; /* index of the first slot */
} series_t;

typedef struct {
    _Atomic int64_t v;
} slot_t;

static series_t series[METRICS_MAX_SERIES];
static int nseries;
static size_t nslots;
static slot_t *slots;
static int worker_slot = -1;
static void (*collectors[16])(void);
static int ncollectors;

static size_t slots_for(metrics_kind_t k)
{
    /* histogram: buckets + sum (us) + count; worker gauge: one per worker */
    if (k == METRICS_HISTOGRAM)
        return METRICS_BUCKETS + 2;
    return k == METRICS_WORKER_GAUGE ? METRICS_MAX_WORKERS : 1;
}

void metrics_set_worker(int slot)
{
    worker_slot = slot >= 0 && slot < METRICS_MAX_WORKERS ? slot : -1;
}

void metrics_reset_worker(int slot)
{
    if (slots == NULL || slot < 0 || slot >= METRICS_MAX_WORKERS)
        return;
    for (int i = 0; i < nseries; i++)
        if (series[i].kind == METRICS_WORKER_GAUGE)
            atomic_store(&slots[series[i].offset + (size_t)slot].v, 0);
}

void metrics_add_collector(void (*fn)(void))
{
    if (ncollectors < (int)(sizeof(collectors) / sizeof(collectors[0])))
        collectors[ncollectors++] = fn;
}

/* The slot a write goes to: this worker's part of a worker gauge. */
static slot_t *target(metrics_id_t id)
{
    slot_t *s = &slots[series[id].offset];
    if (series[id].kind == METRICS_WORKER_GAUGE)
        s += worker_slot >= 0 ? worker_slot : 0;
    return s;
}

metrics_id_t metrics_register(const char *name, const char *labels, metrics_kind_t kind,
                              const char *help)
{
    for (int i = 0; i < nseries; i++)
        if (strcmp(series[i].name, name) == 0 && strcmp(series[i].labels, labels) == 0)
            return i;
    if (slots != NULL || nseries == METRICS_MAX_SERIES)
        return -1;
    series_t *s = &series[nseries];
    s->name = name;
    s->labels = labels ? labels : "";
    s->help = help ? help : "";
    s->kind = kind;
    s->offset = nslots;
    nslots += slots_for(kind);
    return nseries++;
}

size_t metrics_shm_size(void)
{
    return (nslots ? nslots : 1) * sizeof(slot_t);
}

void metrics_attach(void *shm)
{
    slots = shm;
}

void metrics_add(metrics_id_t id, int64_t delta)
{
    if (id < 0 || id >= nseries || slots == NULL)
        return;
    atomic_fetch_add_explicit(&target(id)->v, delta, memory_order_relaxed);
}

void metrics_set(metrics_id_t id, int64_t value)
{
    if (id < 0 || id >= nseries || slots == NULL)
        return;
    atomic_store_explicit(&target(id)->v, value, memory_order_relaxed);
}

int64_t metrics_get(metrics_id_t id)
{
    if (id < 0 || id >= nseries || slots == NULL)
        return 0;
    const slot_t *s = &slots[series[id].offset];
    if (series[id].kind != METRICS_WORKER_GAUGE)
        return atomic_load_explicit(&s->v, memory_order_relaxed);
    int64_t sum = 0;
    for (int w = 0; w < METRICS_MAX_WORKERS; w++)
        sum += atomic_load_explicit(&s[w].v, memory_order_relaxed);
    return sum;
}

void metrics_observe_us(metrics_id_t id, int64_t us)
{
    if (id < 0 || id >= nseries || slots == NULL || series[id].kind != METRICS_HISTOGRAM)
        return;
    slot_t *h = &slots[series[id].offset];
    double s = (double)us / 1e6;
    int b = 0;
    while (b < METRICS_BUCKETS - 1 && s > bucket_le[b])
        b++;
    atomic_fetch_add_explicit(&h[b].v, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h[METRICS_BUCKETS].v, us, memory_order_relaxed);
    atomic_fetch_add_explicit(&h[METRICS_BUCKETS + 1].v, 1, memory_order_relaxed);
}

static void line(jw_t *out, const char *name, const char *suffix, const char *labels,
                 const char *extra, const char *value)
{
    char buf[512];
    const char *sep = (labels[0] && extra[0]) ? "," : "";
    int n;
    if (labels[0] || extra[0])
        n = snprintf(buf, sizeof(buf), "%s%s{%s%s%s} %s\n", name, suffix, labels, sep, extra,
                     value);
    else
        n = snprintf(buf, sizeof(buf), "%s%s %s\n", name, suffix, value);
    if (n > 0)
        jw_append(out, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* One series' sample lines. */
static void render_series(jw_t *out, const series_t *s)
{
    const slot_t *v = &slots[s->offset];
    char val[32];
    if (s->kind != METRICS_HISTOGRAM) {
        snprintf(val, sizeof(val), "%lld", (long long)metrics_get((metrics_id_t)(s - series)));
        line(out, s->name, "", s->labels, "", val);
        return;
    }
    int64_t cum = 0;
    for (int b = 0; b < METRICS_BUCKETS; b++) {
        char le[32];
        cum += atomic_load(&v[b].v);
        if (b < METRICS_BUCKETS - 1)
            snprintf(le, sizeof(le), "le=\"%g\"", bucket_le[b]);
        else
            snprintf(le, sizeof(le), "le=\"+Inf\"");
        snprintf(val, sizeof(val), "%lld", (long long)cum);
        line(out, s->name, "_bucket", s->labels, le, val);
    }
    snprintf(val, sizeof(val), "%.6f", (double)atomic_load(&v[METRICS_BUCKETS].v) / 1e6);
    line(out, s->name, "_sum", s->labels, "", val);
    snprintf(val, sizeof(val), "%lld", (long long)atomic_load(&v[METRICS_BUCKETS + 1].v));
    line(out, s->name, "_count", s->labels, "", val);
}

void metrics_render(jw_t *out)
{
    if (slots == NULL)
        return;
    for (int i = 0; i < ncollectors; i++)
        collectors[i]();
    /* The text format wants each family as one group under one HELP/TYPE,
     * whatever order its series were registered in. */
    for (int i = 0; i < nseries; i++) {
        const series_t *s = &series[i];
        bool first = true;
        for (int j = 0; j < i && first; j++)
            if (strcmp(series[j].name, s->name) == 0)
                first = false;
        if (!first)
            continue;
        char buf[512];
        const char *type = s->kind == METRICS_COUNTER     ? "counter"
                           : s->kind == METRICS_HISTOGRAM ? "histogram"
                                                          : "gauge";
        int n = snprintf(buf, sizeof(buf), "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help,
                         s->name, type);
        if (n > 0)
            jw_append(out, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
        for (int j = i; j < nseries; j++)
            if (strcmp(series[j].name, s->name) == 0)
                render_series(out, &series[j]);
    }
}
