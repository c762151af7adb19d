/* rds.h: Redis client: one hiredis connection per thread, millisecond
 * timeouts, reconnect on error, guarded by a circuit breaker.
 *
 * Redis is only a cache: every failure here is reported to the caller as
 * "no answer" (NULL), and the caller reads from PostgreSQL instead. While the
 * breaker is OPEN no call is attempted at all, so a hung or dead Redis costs
 * nothing but the first few timed-out calls. With Redis Sentinel configured,
 * each new connection asks the sentinels where the master is and checks
 * that it really is a master (ROLE), so a failover costs one reconnect. */
#ifndef MA_INFRA_RDS_H
#define MA_INFRA_RDS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct breaker;

typedef struct rds_config {
    const char *url; /* redis://[:password@]host:port[/db] or unix:///path.sock;
                        "" disables Redis */
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;
    /* Sentinel: "host:port,host:port" and the master's name. When set, the
     * master's address comes from the first sentinel that answers
     * SENTINEL get-master-addr-by-name (asked again on every reconnect, so a
     * failover is followed); the URL's host and port are then unused. */
    const char *sentinels;
    const char *sentinel_master;
} rds_config_t;

/* Returns 0, or -1 when the URL is malformed (message in err). */
int rds_configure(const rds_config_t *cfg, char *err, size_t errlen);
int rds_check_url(const char *url, char *err, size_t errlen);
int rds_check_sentinels(const char *list, char *err, size_t errlen);
void rds_set_breaker(struct breaker *b);
bool rds_enabled(void);

/* A command with argv (binary safe). Returns the reply (freeReplyObject it)
 * or NULL when Redis is disabled, the breaker is open, or the call failed. An
 * error reply (REDIS_REPLY_ERROR) counts as an answer, not a failure. */
redisReply *rds_commandv(int argc, const char **argv, const size_t *argvlen);
/* printf-like convenience for fixed commands (never format input into it:
 * use %s / %b arguments as hiredis does). */
redisReply *rds_command(const char *fmt, ...);

/* Several commands in one round trip; replies[i] NULL on failure. Returns 0
 * when all replies arrived. */
int rds_pipeline(int ncmd, int argc[], const char **argv[], const size_t *argvlen[],
                 redisReply *replies[]);

/* PING on this thread's connection (opened when there is none), with the
 * configured timeouts, past the breaker (for /ready). */
int rds_ping(void);

void rds_thread_close(void);

#endif
