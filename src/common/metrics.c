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

static size_t slots_for(metrics_kind_t k)
{
    /* histogram: buckets + sum (us) + count */
    return k == METRICS_HISTOGRAM ? METRICS_BUCKETS + 2 : 1;
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
    atomic_fetch_add_explicit(&slots[series[id].offset].v, delta, memory_order_relaxed);
}

void metrics_set(metrics_id_t id, int64_t value)
{
    if (id < 0 || id >= nseries || slots == NULL)
        return;
    atomic_store_explicit(&slots[series[id].offset].v, value, memory_order_relaxed);
}

int64_t metrics_get(metrics_id_t id)
{
    if (id < 0 || id >= nseries || slots == NULL)
        return 0;
    return atomic_load_explicit(&slots[series[id].offset].v, memory_order_relaxed);
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
        snprintf(val, sizeof(val), "%lld", (long long)atomic_load(&v[0].v));
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
        const char *type = s->kind == METRICS_COUNTER ? "counter"
                           : s->kind == METRICS_GAUGE ? "gauge"
                                                      : "histogram";
        int n = snprintf(buf, sizeof(buf), "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help,
                         s->name, type);
        if (n > 0)
            jw_append(out, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
        for (int j = i; j < nseries; j++)
            if (strcmp(series[j].name, s->name) == 0)
                render_series(out, &series[j]);
    }
}
