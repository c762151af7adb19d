/* config.c: configuration loading and validation (see config.h). */
#include "common/config.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TABLES    32
#define MAX_FILE_KEYS 256

static struct {
    const cfg_key_t *keys;
    size_t n;
} tables[MAX_TABLES];
static size_t ntables;

/* The raw values of the last successful load: cfg_raw (secrets excluded),
 * what a reload compares against, and what it restores. */
typedef struct raw {
    char *name;
    char *val; /* NULL: no value */
    bool secret;
} raw_t;
static raw_t *raws;
static size_t nraws;

/* Flags by key name (cfg_flag). */
#define MAX_FLAGGED 128
static struct {
    const char *name;
    unsigned flags;
} flagged[MAX_FLAGGED];
static size_t nflagged;

void cfg_flag(const char *const *names, size_t n, unsigned flags)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < nflagged && strcmp(flagged[j].name, names[i]) != 0)
            j++;
        if (j == nflagged) {
            if (nflagged == MAX_FLAGGED)
                abort();
            flagged[nflagged++].name = names[i];
        }
        flagged[j].flags |= flags;
    }
}

static unsigned key_flags(const cfg_key_t *k)
{
    for (size_t j = 0; j < nflagged; j++)
        if (strcmp(flagged[j].name, k->name) == 0)
            return flagged[j].flags;
    return 0;
}

void cfg_register(const cfg_key_t *keys, size_t n)
{
    for (size_t i = 0; i < ntables; i++)
        if (tables[i].keys == keys)
            return;
    if (ntables == MAX_TABLES)
        abort();
    tables[ntables].keys = keys;
    tables[ntables].n = n;
    ntables++;
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

typedef struct {
    char *name[MAX_FILE_KEYS];
    char *val[MAX_FILE_KEYS];
    size_t n;
} kvfile_t;

static void kv_free(kvfile_t *kv)
{
    for (size_t i = 0; i < kv->n; i++) {
        free(kv->name[i]);
        free(kv->val[i]);
    }
    kv->n = 0;
}

static const char *kv_get(const kvfile_t *kv, const char *name)
{
    for (size_t i = kv->n; i-- > 0;)
        if (strcmp(kv->name[i], name) == 0)
            return kv->val[i];
    return NULL;
}

static int read_file(const char *path, kvfile_t *kv, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "CONFIG_FILE: cannot open '%s': %s", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (eq == NULL || kv->n == MAX_FILE_KEYS) {
            snprintf(err, errlen, "CONFIG_FILE: %s line %d: expected KEY=value", path, lineno);
            fclose(f);
            return -1;
        }
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        size_t vl = strlen(v);
        if (vl >= 2 && ((v[0] == '"' && v[vl - 1] == '"') || (v[0] == '\'' && v[vl - 1] == '\''))) {
            v[vl - 1] = '\0';
            v++;
        }
        kv->name[kv->n] = xstrdup(k);
        kv->val[kv->n] = xstrdup(v);
        kv->n++;
    }
    fclose(f);
    return 0;
}

/* First line of a secret file, without the newline. */
static char *read_secret_file(const char *path, const char *key, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s_FILE: cannot open '%s': %s", key, path, strerror(errno));
        return NULL;
    }
    char line[4096];
    char *r = NULL;
    if (fgets(line, sizeof(line), f))
        r = xstrdup(trim(line));
    fclose(f);
    if (r == NULL)
        snprintf(err, errlen, "%s_FILE: '%s' is empty", key, path);
    return r;
}

/* Environment first, then the file, then the default. Returns an xstrdup'd
 * value or NULL (no value); -1 in *bad on a read error. */
static char *lookup(const cfg_key_t *k, const kvfile_t *kv, char *err, size_t errlen, int *bad)
{
    const char *v = getenv(k->name);
    if (v != NULL)
        return xstrdup(v);
    if (k->type == CFG_SECRET) {
        char fkey[128];
        snprintf(fkey, sizeof(fkey), "%s_FILE", k->name);
        const char *path = getenv(fkey);
        if (path == NULL && kv_get(kv, k->name) == NULL)
            path = kv_get(kv, fkey);
        if (path != NULL && *path) {
            char *s = read_secret_file(path, k->name, err, errlen);
            if (s == NULL)
                *bad = 1;
            return s;
        }
    }
    v = kv_get(kv, k->name);
    if (v != NULL)
        return xstrdup(v);
    return k->def ? xstrdup(k->def) : NULL;
}

/* Whether an error may quote the key's value. */
static bool echoable(const cfg_key_t *k)
{
    return k->type != CFG_SECRET && !(key_flags(k) & CFG_F_SECRET_VALUE);
}

static int validate(const cfg_key_t *k, const char *v, char *err, size_t errlen)
{
    if (v == NULL) {
        if (k->type == CFG_SECRET || (k->type == CFG_STR && k->min == 0))
            return 0;
        snprintf(err, errlen, "%s: missing; expected %s", k->name, k->help);
        return -1;
    }
    switch (k->type) {
    case CFG_INT: {
        int64_t x;
        if (str_to_i64(v, k->min, k->max, &x) != 0) {
            snprintf(err, errlen, "%s: expected %s (an integer %lld..%lld), got '%.64s'", k->name,
                     k->help, (long long)k->min, (long long)k->max, v);
            return -1;
        }
        break;
    }
    case CFG_BOOL:
        if (strcmp(v, "0") && strcmp(v, "1") && strcmp(v, "true") && strcmp(v, "false") &&
            strcmp(v, "yes") && strcmp(v, "no") && strcmp(v, "on") && strcmp(v, "off")) {
            snprintf(err, errlen, "%s: expected %s (true/false), got '%.64s'", k->name, k->help, v);
            return -1;
        }
        break;
    case CFG_STR:
    case CFG_SECRET: {
        size_t len = strlen(v);
        size_t max = k->max > 0 ? (size_t)k->max : 4096;
        if (len < (size_t)k->min || len > max) {
            if (k->type == CFG_SECRET)
                snprintf(err, errlen, "%s: expected %s (%lld..%zu characters)", k->name, k->help,
                         (long long)k->min, max);
            else if (!echoable(k))
                snprintf(err, errlen, "%s: expected %s (%lld..%zu characters, got %zu)", k->name,
                         k->help, (long long)k->min, max, len);
            else
                snprintf(err, errlen, "%s: expected %s (%lld..%zu characters), got '%.64s'",
                         k->name, k->help, (long long)k->min, max, v);
            return -1;
        }
        break;
    }
    }
    if (k->check) {
        char why[256] = "";
        if (k->check(v, why, sizeof(why)) != 0) {
            if (!echoable(k))
                snprintf(err, errlen, "%s: %s (the value is not shown: it may hold a secret)",
                         k->name, why);
            else
                snprintf(err, errlen, "%s: %s, got '%.64s'", k->name, why, v);
            return -1;
        }
    }
    return 0;
}

static void store(const cfg_key_t *k, char *v)
{
    switch (k->type) {
    case CFG_INT: {
        int64_t x = 0;
        if (v)
            str_to_i64(v, k->min, k->max, &x);
        *(int64_t *)k->dst = x;
        break;
    }
    case CFG_BOOL:
        *(bool *)k->dst =
            v && (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"));
        break;
    case CFG_STR:
    case CFG_SECRET: {
        char **dst = k->dst;
        free(*dst);
        *dst = v ? xstrdup(v) : NULL;
        break;
    }
    }
}

static const raw_t *raw_find(const raw_t *r, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(r[i].name, name) == 0)
            return &r[i];
    return NULL;
}

static bool same_value(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void raws_free(raw_t *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].name);
        free(r[i].val);
    }
    free(r);
}

static raw_t *raws_copy(const raw_t *r, size_t n)
{
    raw_t *c = xcalloc(n ? n : 1, sizeof(*c));
    for (size_t i = 0; i < n; i++) {
        c[i].name = xstrdup(r[i].name);
        c[i].val = r[i].val ? xstrdup(r[i].val) : NULL;
        c[i].secret = r[i].secret;
    }
    return c;
}

int cfg_load(const char *file, char *err, size_t errlen)
{
    kvfile_t kv = { .n = 0 };
    if (file == NULL || *file == '\0')
        file = getenv("CONFIG_FILE");
    if (file != NULL && *file != '\0' && read_file(file, &kv, err, errlen) != 0)
        return -1;

    size_t total = 0;
    for (size_t t = 0; t < ntables; t++)
        total += tables[t].n;
    char **vals = xcalloc(total ? total : 1, sizeof(char *));
    int rc = 0;
    size_t idx = 0;
    for (size_t t = 0; t < ntables && rc == 0; t++) {
        for (size_t i = 0; i < tables[t].n; i++, idx++) {
            int bad = 0;
            vals[idx] = lookup(&tables[t].keys[i], &kv, err, errlen, &bad);
            if (bad || validate(&tables[t].keys[i], vals[idx], err, errlen) != 0) {
                rc = -1;
                break;
            }
        }
    }
    if (rc == 0) {
        raw_t *next = xcalloc(total ? total : 1, sizeof(*next));
        idx = 0;
        for (size_t t = 0; t < ntables; t++) {
            for (size_t i = 0; i < tables[t].n; i++, idx++) {
                const cfg_key_t *k = &tables[t].keys[i];
                /* A value that did not change is left as it is: a module may
                 * have normalised it in place at start. */
                const raw_t *was = raw_find(raws, nraws, k->name);
                if (was == NULL || !same_value(was->val, vals[idx]))
                    store(k, vals[idx]);
                next[idx].name = xstrdup(k->name);
                next[idx].val = vals[idx] ? xstrdup(vals[idx]) : NULL;
                next[idx].secret = k->type == CFG_SECRET;
            }
        }
        raws_free(raws, nraws);
        raws = next;
        nraws = total;
    }
    for (size_t i = 0; i < total; i++)
        free(vals[i]);
    free(vals);
    kv_free(&kv);
    return rc;
}

/* A key's stored value, as a reload saves it to put it back exactly (a
 * module may have normalised it in place at start). */
typedef union {
    int64_t i;
    bool b;
    char *s;
} stored_t;

static size_t key_count(void)
{
    size_t total = 0;
    for (size_t t = 0; t < ntables; t++)
        total += tables[t].n;
    return total;
}

/* Every key's stored value, in table order (strings copied). */
static stored_t *stored_save(void)
{
    size_t total = key_count();
    stored_t *v = xcalloc(total ? total : 1, sizeof(*v));
    size_t idx = 0;
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; i < tables[t].n; i++, idx++) {
            const cfg_key_t *k = &tables[t].keys[i];
            if (k->type == CFG_INT)
                v[idx].i = *(int64_t *)k->dst;
            else if (k->type == CFG_BOOL)
                v[idx].b = *(bool *)k->dst;
            else
                v[idx].s = *(char **)k->dst ? xstrdup(*(char **)k->dst) : NULL;
        }
    }
    return v;
}

/* Puts a saved value back (a string's ownership moves to the key). */
static void stored_put(const cfg_key_t *k, stored_t *v)
{
    if (k->type == CFG_INT) {
        *(int64_t *)k->dst = v->i;
    } else if (k->type == CFG_BOOL) {
        *(bool *)k->dst = v->b;
    } else {
        free(*(char **)k->dst);
        *(char **)k->dst = v->s;
        v->s = NULL;
    }
}

static void stored_free(stored_t *v)
{
    size_t idx = 0;
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++, idx++)
            if (tables[t].keys[i].type == CFG_STR || tables[t].keys[i].type == CFG_SECRET)
                free(v[idx].s);
    free(v);
}

/* Appends name to a comma list, "..." once it is full. */
static void list_add(char *list, size_t cap, const char *name)
{
    size_t n = strlen(list);
    if (n + strlen(name) + 5 > cap) {
        if (n + 4 <= cap && (n < 3 || strcmp(list + n - 3, "...") != 0))
            snprintf(list + n, cap - n, "%s...", n ? "," : "");
        return;
    }
    snprintf(list + n, cap - n, "%s%s", n ? "," : "", name);
}

/* Every key back to its saved value, and the raw values to prev (whose
 * ownership moves here). */
static void rollback(stored_t *saved, raw_t *prev, size_t nprev)
{
    size_t idx = 0;
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++, idx++)
            stored_put(&tables[t].keys[i], &saved[idx]);
    raws_free(raws, nraws);
    raws = prev;
    nraws = nprev;
}

int cfg_reload(const char *file, int (*check)(char *err, size_t errlen), cfg_reload_t *out,
               char *err, size_t errlen)
{
    out->applied[0] = out->restart[0] = '\0';
    size_t nprev = nraws;
    raw_t *prev = raws_copy(raws, nraws);
    stored_t *saved = stored_save();
    char ignored[256];
    int rc = -1;
    if (cfg_load(file, err, errlen) != 0)
        goto out;
    /* The new values as a whole, restart-only ones included: a relation
     * they break is refused now rather than at the next start. */
    if (check && check(err, errlen) != 0)
        goto rollback;
    size_t idx = 0;
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; i < tables[t].n; i++, idx++) {
            const cfg_key_t *k = &tables[t].keys[i];
            const raw_t *was = raw_find(prev, nprev, k->name);
            raw_t *now = (raw_t *)raw_find(raws, nraws, k->name);
            if (was == NULL || now == NULL || same_value(was->val, now->val))
                continue;
            if (!(key_flags(k) & CFG_F_RESTART)) {
                list_add(out->applied, sizeof(out->applied), k->name);
                continue;
            }
            /* Read only at start: keep the running value, so what the
             * process reports is what it uses. */
            list_add(out->restart, sizeof(out->restart), k->name);
            stored_put(k, &saved[idx]);
            free(now->val);
            now->val = was->val ? xstrdup(was->val) : NULL;
        }
    }
    if (out->restart[0] && check && check(err, errlen) != 0)
        goto rollback;
    rc = 0;
    goto out;
rollback:
    rollback(saved, prev, nprev);
    prev = NULL;
    nprev = 0;
    if (check)
        check(ignored, sizeof(ignored)); /* the derived values of the running configuration */
    out->applied[0] = out->restart[0] = '\0';
out:
    stored_free(saved);
    raws_free(prev, nprev);
    return rc;
}

const char *cfg_raw(const char *name)
{
    const raw_t *r = raw_find(raws, nraws, name);
    return r && !r->secret ? r->val : NULL;
}

/* A URL's user:password part is a secret too. */
static void redact_url(const char *v, char *out, size_t outlen)
{
    const char *scheme = strstr(v, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *slash = scheme ? strchr(scheme + 3, '/') : NULL;
    if (at && (!slash || at < slash))
        snprintf(out, outlen, "%.*s://***@%s", (int)(scheme - v), v, at + 1);
    else
        snprintf(out, outlen, "%s", v);
}

void cfg_dump(void)
{
    for (size_t t = 0; t < ntables; t++) {
        for (size_t i = 0; i < tables[t].n; i++) {
            const cfg_key_t *k = &tables[t].keys[i];
            switch (k->type) {
            case CFG_INT:
                log_info("event=config key=%s value=%lld", k->name, (long long)*(int64_t *)k->dst);
                break;
            case CFG_BOOL:
                log_info("event=config key=%s value=%s", k->name,
                         *(bool *)k->dst ? "true" : "false");
                break;
            case CFG_STR: {
                const char *s = *(char **)k->dst;
                char red[512];
                redact_url(s ? s : "", red, sizeof(red));
                log_info("event=config key=%s value=%s", k->name, log_q(red));
                break;
            }
            case CFG_SECRET:
                log_info("event=config key=%s value=%s", k->name,
                         *(char **)k->dst ? "(set)" : "(unset)");
                break;
            }
        }
    }
}

int cfg_check_url(const char *val, char *err, size_t errlen)
{
    if (!str_ci_prefix(val, "http://") && !str_ci_prefix(val, "https://")) {
        snprintf(err, errlen, "expected an http:// or https:// URL");
        return -1;
    }
    for (const char *p = val; *p; p++) {
        if ((unsigned char)*p <= 0x20 || *p == 0x7f) {
            snprintf(err, errlen, "expected a URL without spaces or control characters");
            return -1;
        }
    }
    return 0;
}

int cfg_check_listen(const char *val, char *err, size_t errlen)
{
    if (val[0] == '/')
        return 0;
    const char *colon = strrchr(val, ':');
    int64_t port;
    if (colon == NULL || str_to_i64(colon + 1, 1, 65535, &port) != 0) {
        snprintf(err, errlen, "expected a unix socket path (/...) or host:port");
        return -1;
    }
    return 0;
}

int cfg_check_loglevel(const char *val, char *err, size_t errlen)
{
    log_level_t l;
    if (log_parse_level(val, &l) != 0) {
        snprintf(err, errlen, "expected one of debug, info, warn, error");
        return -1;
    }
    return 0;
}
