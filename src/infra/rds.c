/* rds.c: per-thread Redis connections with timeouts and a breaker (see rds.h). */
#include "infra/rds.h"
#include "infra/breaker.h"
#include "common/ktime.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SENTINELS 8

static struct {
    char host[256];
    char unix_path[256]; /* unix:///path/redis.sock: a local socket instead */
    int port;
    int db;
    char password[256];
    bool enabled;
    struct timeval connect_tv, cmd_tv;
    int nsentinels;
    struct {
        char host[256];
        int port;
    } sentinel[MAX_SENTINELS];
    char master_name[128];
} conf;

static breaker_t *rbreaker;
static __thread redisContext *tl_ctx;

int rds_check_url(const char *url, char *err, size_t errlen)
{
    if (url[0] == '\0')
        return 0;
    if (strncmp(url, "unix://", 7) == 0) {
        if (url[7] != '/' || strlen(url + 7) >= sizeof(conf.unix_path)) {
            snprintf(err, errlen, "expected unix:///absolute/path/to/redis.sock");
            return -1;
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "expected redis://[:password@]host:port[/db] or unix:///path");
        return -1;
    }
    const char *p = url + 8;
    const char *at = strrchr(p, '@');
    if (at)
        p = at + 1;
    const char *colon = strchr(p, ':');
    const char *slash = strchr(p, '/');
    size_t hostlen = colon ? (size_t)(colon - p) : (slash ? (size_t)(slash - p) : strlen(p));
    if (hostlen == 0 || hostlen >= sizeof(conf.host)) {
        snprintf(err, errlen, "expected redis://[:password@]host:port[/db] with a host");
        return -1;
    }
    int64_t v;
    if (colon) {
        const char *pe = slash ? slash : colon + strlen(colon);
        if (str_to_i64n(colon + 1, (size_t)(pe - colon - 1), 1, 65535, &v) != 0) {
            snprintf(err, errlen, "expected a port 1..65535 in the Redis URL");
            return -1;
        }
    }
    if (slash && slash[1] && str_to_i64(slash + 1, 0, 15, &v) != 0) {
        snprintf(err, errlen, "expected a database number 0..15 in the Redis URL");
        return -1;
    }
    return 0;
}

/* "host:port,host:port" -> conf.sentinel (when out is set). */
static int parse_sentinels(const char *list, bool store, char *err, size_t errlen)
{
    int n = 0;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        int64_t port;
        if (len == 0 || colon == NULL || colon == p || (size_t)(colon - p) >= 256 ||
            str_to_i64n(colon + 1, len - (size_t)(colon - p) - 1, 1, 65535, &port) != 0 ||
            n == MAX_SENTINELS) {
            snprintf(err, errlen, "expected up to %d host:port entries separated by commas",
                     MAX_SENTINELS);
            return -1;
        }
        if (store) {
            snprintf(conf.sentinel[n].host, sizeof(conf.sentinel[n].host), "%.*s", (int)(colon - p),
                     p);
            conf.sentinel[n].port = (int)port;
        }
        n++;
        if (!end)
            break;
        p = end + 1;
    }
    if (store)
        conf.nsentinels = n;
    return 0;
}

int rds_check_sentinels(const char *list, char *err, size_t errlen)
{
    return parse_sentinels(list, false, err, errlen);
}

int rds_configure(const rds_config_t *cfg, char *err, size_t errlen)
{
    memset(&conf, 0, sizeof(conf));
    if (rds_check_url(cfg->url, err, errlen) != 0)
        return -1;
    if (cfg->sentinels && cfg->sentinels[0]) {
        if (parse_sentinels(cfg->sentinels, true, err, errlen) != 0)
            return -1;
        if (cfg->sentinel_master == NULL || cfg->sentinel_master[0] == '\0') {
            snprintf(err, errlen, "REDIS_SENTINEL_MASTER is required with REDIS_SENTINELS");
            return -1;
        }
        snprintf(conf.master_name, sizeof(conf.master_name), "%s", cfg->sentinel_master);
    }
    conf.connect_tv.tv_sec = cfg->connect_timeout_ms / 1000;
    conf.connect_tv.tv_usec = (cfg->connect_timeout_ms % 1000) * 1000;
    conf.cmd_tv.tv_sec = cfg->command_timeout_ms / 1000;
    conf.cmd_tv.tv_usec = (cfg->command_timeout_ms % 1000) * 1000;
    if (cfg->url[0] == '\0')
        return 0;
    if (strncmp(cfg->url, "unix://", 7) == 0) {
        snprintf(conf.unix_path, sizeof(conf.unix_path), "%s", cfg->url + 7);
        conf.enabled = true;
        return 0;
    }
    const char *p = cfg->url + 8;
    const char *at = strrchr(p, '@');
    if (at) {
        const char *cred = p;
        const char *pc = memchr(cred, ':', (size_t)(at - cred));
        const char *pw = pc ? pc + 1 : cred;
        snprintf(conf.password, sizeof(conf.password), "%.*s", (int)(at - pw), pw);
        p = at + 1;
    }
    const char *colon = strchr(p, ':');
    const char *slash = strchr(p, '/');
    size_t hostlen = colon ? (size_t)(colon - p) : (slash ? (size_t)(slash - p) : strlen(p));
    snprintf(conf.host, sizeof(conf.host), "%.*s", (int)hostlen, p);
    conf.port = colon ? atoi(colon + 1) : 6379;
    conf.db = (slash && slash[1]) ? atoi(slash + 1) : 0;
    conf.enabled = true;
    return 0;
}

void rds_set_breaker(struct breaker *b)
{
    rbreaker = b;
}

bool rds_enabled(void)
{
    return conf.enabled;
}

static void drop(void)
{
    if (tl_ctx) {
        redisFree(tl_ctx);
        tl_ctx = NULL;
    }
}

/* Where the sentinels say the master is. Returns 0 and fills host/port. */
static int sentinel_master(char *host, size_t hostlen, int *port)
{
    for (int i = 0; i < conf.nsentinels; i++) {
        redisContext *s =
            redisConnectWithTimeout(conf.sentinel[i].host, conf.sentinel[i].port, conf.connect_tv);
        if (s == NULL || s->err) {
            if (s)
                redisFree(s);
            continue;
        }
        redisSetTimeout(s, conf.cmd_tv);
        redisReply *r = redisCommand(s, "SENTINEL get-master-addr-by-name %s", conf.master_name);
        int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                 r->element[0]->type == REDIS_REPLY_STRING &&
                 r->element[1]->type == REDIS_REPLY_STRING;
        if (ok) {
            snprintf(host, hostlen, "%s", r->element[0]->str);
            *port = atoi(r->element[1]->str);
        }
        if (r)
            freeReplyObject(r);
        redisFree(s);
        if (ok && *port > 0)
            return 0;
    }
    log_debug("event=redis_sentinel_no_master master=%s", log_q(conf.master_name));
    return -1;
}

/* After a failover the old master may come back as a replica: only a
 * master takes our writes. */
static bool is_master(redisContext *c)
{
    redisReply *r = redisCommand(c, "ROLE");
    bool ok = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
              r->element[0]->type == REDIS_REPLY_STRING &&
              strcmp(r->element[0]->str, "master") == 0;
    if (r)
        freeReplyObject(r);
    return ok;
}

static redisContext *connect_new(void)
{
    char host[256];
    int port = conf.port;
    snprintf(host, sizeof(host), "%s", conf.host);
    if (conf.nsentinels > 0 && sentinel_master(host, sizeof(host), &port) != 0)
        return NULL;
    redisContext *c = conf.unix_path[0] && conf.nsentinels == 0
                          ? redisConnectUnixWithTimeout(conf.unix_path, conf.connect_tv)
                          : redisConnectWithTimeout(host, port, conf.connect_tv);
    if (c == NULL || c->err) {
        log_debug("event=redis_connect_failed error=%s", log_q(c ? c->errstr : "oom"));
        if (c)
            redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, conf.cmd_tv) != REDIS_OK) {
        redisFree(c);
        return NULL;
    }
    redisReply *r;
    if (conf.password[0]) {
        r = redisCommand(c, "AUTH %s", conf.password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            log_warn("event=redis_auth_failed");
            if (r)
                freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    if (conf.db) {
        r = redisCommand(c, "SELECT %d", conf.db);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            if (r)
                freeReplyObject(r);
            redisFree(c);
            return NULL;
        }
        freeReplyObject(r);
    }
    if (conf.nsentinels > 0 && !is_master(c)) {
        log_warn("event=redis_not_master host=%s port=%d", log_q(host), port);
        redisFree(c);
        return NULL;
    }
    return c;
}

typedef struct {
    int64_t t0;
    breaker_ticket_t ticket;
} call_t;

/* Takes a breaker permit and makes sure a connection exists. */
static bool begin(call_t *c)
{
    if (!conf.enabled)
        return false;
    c->t0 = ktime_mono_ms();
    if (rbreaker && !breaker_acquire(rbreaker, c->t0, &c->ticket))
        return false;
    if (tl_ctx == NULL)
        tl_ctx = connect_new();
    if (tl_ctx == NULL) {
        if (rbreaker) {
            int64_t now = ktime_mono_ms();
            breaker_record(rbreaker, c->ticket, now, now - c->t0, 0);
        }
        return false;
    }
    return true;
}

static void end(const call_t *c, bool ok)
{
    int64_t now = ktime_mono_ms();
    if (rbreaker)
        breaker_record(rbreaker, c->ticket, now, now - c->t0, ok);
    if (!ok) {
        log_debug("event=redis_call_failed error=%s", log_q(tl_ctx ? tl_ctx->errstr : ""));
        drop();
    }
}

redisReply *rds_commandv(int argc, const char **argv, const size_t *argvlen)
{
    call_t c;
    if (!begin(&c))
        return NULL;
    redisReply *r = redisCommandArgv(tl_ctx, argc, argv, argvlen);
    end(&c, r != NULL);
    return r;
}

redisReply *rds_command(const char *fmt, ...)
{
    call_t c;
    if (!begin(&c))
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(tl_ctx, fmt, ap);
    va_end(ap);
    end(&c, r != NULL);
    return r;
}

int rds_pipeline(int ncmd, int argc[], const char **argv[], const size_t *argvlen[],
                 redisReply *replies[])
{
    for (int i = 0; i < ncmd; i++)
        replies[i] = NULL;
    call_t c;
    if (!begin(&c))
        return -1;
    bool ok = true;
    for (int i = 0; i < ncmd && ok; i++)
        ok = redisAppendCommandArgv(tl_ctx, argc[i], argv[i], argvlen[i]) == REDIS_OK;
    for (int i = 0; i < ncmd && ok; i++) {
        void *rep = NULL;
        ok = redisGetReply(tl_ctx, &rep) == REDIS_OK;
        replies[i] = rep;
    }
    end(&c, ok);
    if (!ok) {
        for (int i = 0; i < ncmd; i++) {
            if (replies[i])
                freeReplyObject(replies[i]);
            replies[i] = NULL;
        }
        return -1;
    }
    return 0;
}

/* On this thread's connection (opened if needed, kept for its commands):
 * /ready is public, and a new connection per call would let anyone make the
 * pool open connections to Redis as fast as they can ask. The breaker is not
 * consulted, so /ready reports Redis as it is even while the breaker is open;
 * a failed PING drops the connection like a failed command does. */
int rds_ping(void)
{
    if (!conf.enabled)
        return -1;
    if (tl_ctx == NULL)
        tl_ctx = connect_new();
    if (tl_ctx == NULL)
        return -1;
    redisReply *r = redisCommand(tl_ctx, "PING");
    int rc = (r && r->type == REDIS_REPLY_STATUS) ? 0 : -1;
    if (r)
        freeReplyObject(r);
    /* A kept connection may outlive a failover: only a master is UP. */
    if (rc == 0 && conf.nsentinels > 0 && !is_master(tl_ctx))
        rc = -1;
    if (rc != 0)
        drop();
    return rc;
}

void rds_thread_close(void)
{
    drop();
}
