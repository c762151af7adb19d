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

static struct {
    char host[256];
    int port;
    int db;
    char password[256];
    bool enabled;
    struct timeval connect_tv, cmd_tv;
} conf;

static breaker_t *rbreaker;
static __thread redisContext *tl_ctx;

int rds_check_url(const char *url, char *err, size_t errlen)
{
    if (url[0] == '\0')
        return 0;
    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(err, errlen, "expected redis://[:password@]host:port[/db]");
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

int rds_configure(const rds_config_t *cfg, char *err, size_t errlen)
{
    memset(&conf, 0, sizeof(conf));
    if (rds_check_url(cfg->url, err, errlen) != 0)
        return -1;
    conf.connect_tv.tv_sec = cfg->connect_timeout_ms / 1000;
    conf.connect_tv.tv_usec = (cfg->connect_timeout_ms % 1000) * 1000;
    conf.cmd_tv.tv_sec = cfg->command_timeout_ms / 1000;
    conf.cmd_tv.tv_usec = (cfg->command_timeout_ms % 1000) * 1000;
    if (cfg->url[0] == '\0')
        return 0;
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

static redisContext *connect_new(void)
{
    redisContext *c = redisConnectWithTimeout(conf.host, conf.port, conf.connect_tv);
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

int rds_ping(void)
{
    if (!conf.enabled)
        return -1;
    redisContext *c = connect_new();
    if (c == NULL)
        return -1;
    redisReply *r = redisCommand(c, "PING");
    int rc = (r && r->type == REDIS_REPLY_STATUS) ? 0 : -1;
    if (r)
        freeReplyObject(r);
    redisFree(c);
    return rc;
}

void rds_thread_close(void)
{
    drop();
}
