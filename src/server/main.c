/* main.c: the memberapi binary.
 *
 *   memberapi [serve]        run the worker pool (master + workers)
 *   memberapi job NAME       run a periodic job once (e.g. reconcile)
 *   memberapi check-config   validate the configuration and exit
 *   memberapi token USER_ID  print an HS256 member JWT (MEMBER_JWT_SECRET)
 *   memberapi probe [PATH]   FastCGI GET PATH (/health) to LISTEN: the
 *                            container health check
 *   memberapi version
 * Configuration: environment variables, and CONFIG_FILE (or -c FILE) with
 * KEY=value lines; the environment wins. */
#include "auth/auth.h"
#include "common/ktime.h"
#include "common/str.h"
#include "server/module.h"
#include "server/srv.h"
#include "common/config.h"
#include "common/log.h"
#include "infra/db.h"
#include "infra/httpc.h"
#include "infra/rds.h"
#include "http/http.h"

#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int usage(void)
{
    fprintf(stderr, "usage: memberapi [-c FILE] [serve | job NAME | check-config | token USER_ID "
                    "| probe [PATH] | version]\n");
    return 2;
}

/* Configuration, infrastructure and modules, in the order they depend on
 * each other; with sockets_only, the configuration alone (a probe needs to
 * know where the sockets are, not the secrets or the modules' keys: an
 * operator's or a container's health check runs without them). Returns 0 or
 * prints the reason and returns -1. */
static int setup(const char *file, bool sockets_only)
{
    srv_config_register();
    for (const srv_module_t *const *m = srv_modules; *m; m++)
        if ((*m)->configure)
            (*m)->configure();
    char err[512];
    if (cfg_load(file, err, sizeof(err)) != 0 || srv_config_check(err, sizeof(err)) != 0) {
        fprintf(stderr, "memberapi: configuration error: %s\n", err);
        return -1;
    }
    log_level_t lvl = LOG_INFO;
    log_parse_level(srv_cfg.log_level, &lvl);
    if (log_open(srv_cfg.log_file, lvl) != 0) {
        fprintf(stderr, "memberapi: configuration error: LOG_FILE: cannot open '%s'\n",
                srv_cfg.log_file);
        return -1;
    }
    if (sockets_only)
        return 0;
    db_config_t dbc = {
        .primary_url = srv_cfg.database_url,
        .replica_url = srv_cfg.database_replica_url,
        .connect_timeout_s = srv_cfg.db_connect_timeout_s,
        .statement_timeout_ms = srv_cfg.db_statement_timeout_ms,
        .reconnect_backoff_ms = 250,
        .read_timeout_ms = srv_cfg.db_read_timeout_ms,
        .write_timeout_ms = srv_cfg.db_write_timeout_ms,
    };
    db_configure(&dbc);
    rds_config_t rc = {
        .url = srv_cfg.redis_url ? srv_cfg.redis_url : "",
        .connect_timeout_ms = srv_cfg.redis_connect_timeout_ms,
        .command_timeout_ms = srv_cfg.redis_timeout_ms,
        .sentinels = srv_cfg.redis_sentinels,
        .sentinel_master = srv_cfg.redis_sentinel_master,
    };
    if (rds_configure(&rc, err, sizeof(err)) != 0) {
        fprintf(stderr, "memberapi: configuration error: REDIS_URL: %s\n", err);
        return -1;
    }
    if (httpc_global_init() != 0) {
        fprintf(stderr, "memberapi: libcurl initialisation failed\n");
        return -1;
    }
    for (const srv_module_t *const *m = srv_modules; *m; m++) {
        if (!srv_module_enabled((*m)->name))
            continue;
        if ((*m)->init && (*m)->init(err, sizeof(err)) != 0) {
            fprintf(stderr, "memberapi: configuration error: %s\n", err);
            return -1;
        }
    }
    srv_metrics_init();
    if (srv_shm_init() != 0)
        return -1;
    db_set_replica_breaker(&srv_shm->breakers[SRV_BREAKER_REPLICA]);
    rds_set_breaker(&srv_shm->breakers[SRV_BREAKER_REDIS]);
    return 0;
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "-c") == 0) {
        file = argv[i + 1];
        i += 2;
    }
    const char *cmd = i < argc ? argv[i] : "serve";
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("memberapi %s\n", PACKAGE_VERSION);
        return 0;
    }
    static const char *const commands[] = {
        "serve", "job", "check-config", "token", "probe", NULL
    };
    bool known = false;
    for (int k = 0; commands[k]; k++)
        known |= strcmp(cmd, commands[k]) == 0;
    if (!known)
        return usage();
    if (setup(file, strcmp(cmd, "probe") == 0) != 0)
        return 1;
    if (strcmp(cmd, "check-config") == 0) {
        cfg_dump();
        printf("configuration ok\n");
        return 0;
    }
    if (strcmp(cmd, "probe") == 0)
        return srv_probe(i + 1 < argc ? argv[i + 1] : "/health");
    if (strcmp(cmd, "token") == 0) {
        int64_t uid;
        if (i + 1 >= argc || str_to_i64(argv[i + 1], 1, INT64_MAX, &uid) != 0)
            return usage();
        char tok[AUTH_TOKEN_MAX + 1];
        int64_t exp;
        err_t e;
        if (auth_mint(uid, ktime_now_us() / 1000000, tok, &exp, &e) != 0) {
            fprintf(stderr, "memberapi: %s\n", e.message);
            return 1;
        }
        printf("%s\n", tok);
        return 0;
    }
    if (strcmp(cmd, "job") == 0) {
        if (i + 1 >= argc)
            return usage();
        return srv_job_run_once(argv[i + 1]);
    }
    return srv_pool_run();
}
