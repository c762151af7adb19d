/* test_config.c: configuration from environment and file, validation that
 * names the key, secrets from files, atomic apply, reload all or nothing with
 * restart-only keys kept (common/config.c). */
#include "unit.h"
#include "common/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int64_t workers, timeout;
static char *listen_, *token, *optional, *dburl;
static bool flag;

static int check_even(const char *v, char *err, size_t n)
{
    if (atoi(v) % 2) {
        snprintf(err, n, "expected an even number");
        return -1;
    }
    return 0;
}

static const cfg_key_t keys[] = {
    { "T_WORKERS", CFG_INT, &workers, "4", 1, 64, "worker processes", NULL },
    { "T_TIMEOUT", CFG_INT, &timeout, "10", 0, 1000, "timeout", check_even },
    { "T_LISTEN", CFG_STR, &listen_, "127.0.0.1:9000", 1, 255, "a socket", cfg_check_listen },
    { "T_FLAG", CFG_BOOL, &flag, "false", 0, 0, "a flag", NULL },
    { "T_TOKEN", CFG_SECRET, &token, NULL, 8, 64, "a token", NULL },
    { "T_OPTIONAL", CFG_STR, &optional, NULL, 0, 10, "optional", NULL },
    { "T_DB_URL", CFG_STR, &dburl, "http://db/x", 1, 80, "a URL", cfg_check_url },
};

static char tmpdir[] = "/tmp/cfgtestXXXXXX";

static const char *file_with(const char *name, const char *content)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    fputs(content, f);
    fclose(f);
    return path;
}

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        unsetenv(keys[i].name);
    unsetenv("T_TOKEN_FILE");
    unsetenv("CONFIG_FILE");
}

/* CFG_F_SECRET_VALUE: errors name the key and what was expected, never the
 * value or any part of it. */
static void test_secret_valued_keys_never_echoed(void)
{
    clear_env();
    char err[256];
    setenv("T_DB_URL", "postgresql://memberapi:hunter2-secret@db.internal:5432/memberapi", 1);
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), -1); /* not http(s) */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "T_DB_URL: expected an http:// or https:// URL"));
    CU_ASSERT_PTR_NULL(strstr(err, "hunter2"));
    CU_ASSERT_PTR_NULL(strstr(err, "memberapi"));
    CU_ASSERT_PTR_NULL(strstr(err, "postgresql"));
    setenv("T_DB_URL",
           "http://memberapi:hunter2-secret@db.internal:5432/a-very-long-path-to-be-refused/x", 1);
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), -1); /* over 80 characters */
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "T_DB_URL: expected a URL (1..80 characters, got 81)"));
    CU_ASSERT_PTR_NULL(strstr(err, "hunter2"));
    CU_ASSERT_PTR_NULL(strstr(err, "db.internal"));
    /* a key not marked still shows what it got */
    unsetenv("T_DB_URL");
    setenv("T_LISTEN", "nowhere", 1);
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "'nowhere'"));
    unsetenv("T_LISTEN");
}

static void test_defaults(void)
{
    clear_env();
    char err[256];
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(workers, 4);
    CU_ASSERT_EQUAL(timeout, 10);
    ASSERT_STR(listen_, "127.0.0.1:9000");
    CU_ASSERT_FALSE(flag);
    CU_ASSERT_PTR_NULL(token);
    CU_ASSERT_PTR_NULL(optional);
}

static void test_env_wins_over_file(void)
{
    clear_env();
    const char *f =
        file_with("a.conf", "# comment\nT_WORKERS = 8\nT_FLAG=yes\nT_LISTEN=\"/run/x.sock\"\n");
    setenv("T_WORKERS", "16", 1);
    char err[256];
    CU_ASSERT_EQUAL(cfg_load(f, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(workers, 16);
    CU_ASSERT_TRUE(flag);
    ASSERT_STR(listen_, "/run/x.sock");
    ASSERT_STR(cfg_raw("T_WORKERS"), "16");
    setenv("CONFIG_FILE", f, 1);
    unsetenv("T_WORKERS");
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(workers, 8);
}

static void test_errors_name_the_key(void)
{
    clear_env();
    char err[256];
    workers = 0;
    setenv("T_WORKERS", "many", 1);
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "T_WORKERS"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "1..64"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "'many'"));
    CU_ASSERT_EQUAL(workers, 0); /* nothing applied */
    setenv("T_WORKERS", "65", 1);
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), -1);
    setenv("T_WORKERS", " 5", 1);
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), -1);
    unsetenv("T_WORKERS");
    setenv("T_TIMEOUT", "3", 1);
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "T_TIMEOUT: expected an even number"));
    unsetenv("T_TIMEOUT");
    setenv("T_LISTEN", "nowhere", 1);
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "T_LISTEN"));
    unsetenv("T_LISTEN");
    setenv("T_FLAG", "maybe", 1);
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "T_FLAG"));
    unsetenv("T_FLAG");
    const char *f = file_with("bad.conf", "T_WORKERS\n");
    CU_ASSERT_EQUAL(cfg_load(f, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "line 1"));
    CU_ASSERT_EQUAL(cfg_load("/nonexistent/x.conf", err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "CONFIG_FILE"));
}

static void test_secrets(void)
{
    clear_env();
    char err[256];
    const char *f = file_with("token", "s3cr3t-value-123\n");
    setenv("T_TOKEN_FILE", f, 1);
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), 0);
    ASSERT_STR(token, "s3cr3t-value-123");
    CU_ASSERT_PTR_NULL(cfg_raw("T_TOKEN")); /* secrets are not kept as raw values */
    setenv("T_TOKEN", "short", 1);
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "T_TOKEN"));
    CU_ASSERT_PTR_NULL(strstr(err, "short")); /* the value is never echoed */
    unsetenv("T_TOKEN");
    setenv("T_TOKEN_FILE", "/nonexistent/secret", 1);
    CU_ASSERT_EQUAL(cfg_load(NULL, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "T_TOKEN_FILE"));
    unsetenv("T_TOKEN_FILE");
}

static void test_url_check(void)
{
    char err[128];
    CU_ASSERT_EQUAL(cfg_check_url("https://api.tosspayments.com", err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(cfg_check_url("HTTP://127.0.0.1:18090", err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(cfg_check_url("ftp://x", err, sizeof(err)), -1);
    CU_ASSERT_EQUAL(cfg_check_url("http://a b", err, sizeof(err)), -1);
    CU_ASSERT_EQUAL(cfg_check_listen("/tmp/x.sock", err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(cfg_check_listen(":9000", err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(cfg_check_listen("host:0", err, sizeof(err)), -1);
    CU_ASSERT_EQUAL(cfg_check_loglevel("warn", err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(cfg_check_loglevel("loud", err, sizeof(err)), -1);
}

/* A relation between keys, checked on reload after each key's own check. */
static int relation_check(char *err, size_t n)
{
    if (workers > 10 && flag) {
        snprintf(err, n, "T_WORKERS above 10 needs T_FLAG=false");
        return -1;
    }
    return 0;
}

static void test_reload(void)
{
    clear_env();
    char err[256];
    cfg_reload_t rl;
    setenv("T_LISTEN", "/run/a.sock", 1);
    CU_ASSERT_EQUAL_FATAL(cfg_load(NULL, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(workers, 4);
    /* nothing changed: nothing listed */
    CU_ASSERT_EQUAL(cfg_reload(NULL, relation_check, &rl, err, sizeof(err)), 0);
    ASSERT_STR(rl.applied, "");
    ASSERT_STR(rl.restart, "");
    /* a module normalised the value in place at start: it stays so */
    listen_[strlen(listen_) - 5] = '\0'; /* "/run/a" */
    CU_ASSERT_EQUAL(cfg_reload(NULL, relation_check, &rl, err, sizeof(err)), 0);
    ASSERT_STR(listen_, "/run/a");
    /* T_LISTEN is read only at start: named, kept as it runs; the rest applied */
    setenv("T_WORKERS", "8", 1);
    setenv("T_LISTEN", "/run/b.sock", 1);
    setenv("T_TOKEN", "a-new-secret-token", 1);
    CU_ASSERT_EQUAL(cfg_reload(NULL, relation_check, &rl, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(workers, 8);
    ASSERT_STR(token, "a-new-secret-token");
    ASSERT_STR(listen_, "/run/a");
    ASSERT_STR(cfg_raw("T_LISTEN"), "/run/a.sock");
    ASSERT_STR(rl.applied, "T_WORKERS,T_TOKEN");
    ASSERT_STR(rl.restart, "T_LISTEN");
    /* one bad value: nothing of the reload is applied */
    setenv("T_WORKERS", "9", 1);
    setenv("T_FLAG", "true", 1);
    setenv("T_TIMEOUT", "3", 1); /* odd */
    CU_ASSERT_EQUAL(cfg_reload(NULL, relation_check, &rl, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "T_TIMEOUT"));
    CU_ASSERT_EQUAL(workers, 8);
    CU_ASSERT_FALSE(flag);
    CU_ASSERT_EQUAL(timeout, 10);
    /* each value fine, the relation not: nothing applied either */
    setenv("T_TIMEOUT", "20", 1);
    setenv("T_WORKERS", "12", 1);
    CU_ASSERT_EQUAL(cfg_reload(NULL, relation_check, &rl, err, sizeof(err)), -1);
    ASSERT_STR(err, "T_WORKERS above 10 needs T_FLAG=false");
    CU_ASSERT_EQUAL(workers, 8);
    CU_ASSERT_FALSE(flag);
    CU_ASSERT_EQUAL(timeout, 10);
    ASSERT_STR(cfg_raw("T_WORKERS"), "8");
    ASSERT_STR(listen_, "/run/a");
    ASSERT_STR(token, "a-new-secret-token");
    /* fixed: all of it applies */
    setenv("T_FLAG", "false", 1);
    CU_ASSERT_EQUAL(cfg_reload(NULL, relation_check, &rl, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(workers, 12);
    CU_ASSERT_EQUAL(timeout, 20);
    ASSERT_STR(rl.applied, "T_WORKERS,T_TIMEOUT");
    ASSERT_STR(rl.restart, "T_LISTEN");
    clear_env();
}

static const unit_test_t tests[] = {
    { "defaults", test_defaults },
    { "environment wins over the file", test_env_wins_over_file },
    { "errors name the key and change nothing", test_errors_name_the_key },
    { "secrets from files, never echoed", test_secrets },
    { "URL, listen and level checks", test_url_check },
    { "secret-valued keys are named, never echoed", test_secret_valued_keys_never_echoed },
    { "reload: all or nothing, restart-only keys kept and named", test_reload },
};

int main(void)
{
    if (mkdtemp(tmpdir) == NULL)
        return 2;
    cfg_register(keys, sizeof(keys) / sizeof(keys[0]));
    static const char *const secret_valued[] = { "T_DB_URL" };
    cfg_flag(secret_valued, 1, CFG_F_SECRET_VALUE);
    static const char *const restart_only[] = { "T_LISTEN" };
    cfg_flag(restart_only, 1, CFG_F_RESTART);
    int rc = unit_run("config", tests, sizeof(tests) / sizeof(tests[0]));
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        rc = rc ? rc : 0;
    return rc;
}
