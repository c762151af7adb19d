/* test_common.c: arena, strict integer parsing, UTF-8 checks, base64url,
 * HMAC-SHA256, the metrics registry and the log's reopen (common/). */
#include "unit.h"
#include "common/arena.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/str.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void test_arena(void)
{
    arena_t *a = arena_new(1024);
    char *p = arena_alloc(a, 10);
    CU_ASSERT_EQUAL((uintptr_t)p % 16, 0);
    memset(p, 'x', 10);
    char *big = arena_alloc(a, 100000); /* spills into a new block */
    memset(big, 'y', 100000);
    CU_ASSERT_TRUE(arena_footprint(a) > 100000);
    ASSERT_STR(arena_printf(a, "%s-%d", "a", 42), "a-42");
    char longs[600];
    memset(longs, 'z', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    ASSERT_STR(arena_printf(a, "%s", longs), longs);
    arena_reset(a);
    CU_ASSERT_EQUAL(arena_footprint(a), 1024);
    char *g = arena_alloc(a, 16);
    memcpy(g, "0123456789abcde", 16);
    g = arena_grow(a, g, 16, 64); /* in place */
    ASSERT_STR(g, "0123456789abcde");
    char *h = arena_alloc(a, 8);
    (void)h;
    char *g2 = arena_grow(a, g, 64, 4096); /* not last: copies */
    CU_ASSERT_NOT_EQUAL(g2, g);
    ASSERT_STR(g2, "0123456789abcde");
    arena_free(a);
}

static void test_i64(void)
{
    int64_t v;
    CU_ASSERT_EQUAL(str_to_i64("0", 0, 10, &v), 0);
    CU_ASSERT_EQUAL(v, 0);
    CU_ASSERT_EQUAL(str_to_i64("-9223372036854775808", INT64_MIN, 0, &v), 0);
    CU_ASSERT_EQUAL(v, INT64_MIN);
    CU_ASSERT_EQUAL(str_to_i64("9223372036854775807", 0, INT64_MAX, &v), 0);
    CU_ASSERT_EQUAL(str_to_i64("9223372036854775808", 0, INT64_MAX, &v), -1);
    CU_ASSERT_EQUAL(str_to_i64("18446744073709551616", 0, INT64_MAX, &v), -1);
    const char *bad[] = { "", "-", "+1", " 1", "1 ", "01", "-0x1", "1e2", "--1", "１" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CU_ASSERT_EQUAL(str_to_i64(bad[i], INT64_MIN, INT64_MAX, &v), -1);
    CU_ASSERT_EQUAL(str_to_i64("11", 0, 10, &v), -1);
}

static void test_utf8(void)
{
    CU_ASSERT_TRUE(str_utf8_valid("가나다 abc", strlen("가나다 abc")));
    CU_ASSERT_TRUE(str_utf8_valid("\xF0\x9F\x98\x80", 4));
    CU_ASSERT_FALSE(str_utf8_valid("\xC0\x80", 2));
    /* str_utf8_at decodes what str_utf8_valid accepted, one code point */
    size_t len;
    CU_ASSERT_EQUAL(str_utf8_at((const unsigned char *)"a", 1, &len), 0x61);
    CU_ASSERT_EQUAL(len, 1);
    CU_ASSERT_EQUAL(str_utf8_at((const unsigned char *)"\xC2\x85", 2, &len), 0x85);
    CU_ASSERT_EQUAL(len, 2);
    CU_ASSERT_EQUAL(str_utf8_at((const unsigned char *)"가나", 6, &len), 0xAC00);
    CU_ASSERT_EQUAL(len, 3);
    CU_ASSERT_EQUAL(str_utf8_at((const unsigned char *)"\xF0\x9F\x98\x80", 4, &len), 0x1F600);
    CU_ASSERT_EQUAL(len, 4);
    CU_ASSERT_FALSE(str_utf8_valid("\xE0\x80\x80", 3));
    CU_ASSERT_FALSE(str_utf8_valid("\xED\xB0\x80", 3));
    CU_ASSERT_FALSE(str_utf8_valid("\xF4\x90\x80\x80", 4));
    CU_ASSERT_FALSE(str_utf8_valid("\xE2\x82", 2));
    CU_ASSERT_FALSE(str_utf8_valid("a\0b", 3));
    CU_ASSERT_TRUE(str_charset("ord_2024-01", "_-"));
    CU_ASSERT_FALSE(str_charset("ord 1", "_-"));
    CU_ASSERT_TRUE(str_ct_equal("abc", "abc"));
    CU_ASSERT_FALSE(str_ct_equal("abc", "abd"));
    CU_ASSERT_FALSE(str_ct_equal("abc", "abcd"));
    CU_ASSERT_EQUAL(str_hex_val('0'), 0);
    CU_ASSERT_EQUAL(str_hex_val('9'), 9);
    CU_ASSERT_EQUAL(str_hex_val('a'), 10);
    CU_ASSERT_EQUAL(str_hex_val('F'), 15);
    CU_ASSERT_EQUAL(str_hex_val('g'), -1);
    CU_ASSERT_EQUAL(str_hex_val('/'), -1);
    CU_ASSERT_EQUAL(str_hex_val(0xC3), -1);
}

static void test_b64url(void)
{
    unsigned char in[] = { 0xfb, 0xff, 0x01, 'a', 'b' };
    char enc[16];
    unsigned char dec[16];
    for (size_t n = 0; n <= sizeof(in); n++) {
        size_t e = crypto_b64url_encode(in, n, enc);
        CU_ASSERT_EQUAL(strlen(enc), e);
        CU_ASSERT_PTR_NULL(strpbrk(enc, "+/="));
        long d = crypto_b64url_decode(enc, e, dec, sizeof(dec));
        CU_ASSERT_EQUAL(d, (long)n);
        CU_ASSERT_EQUAL(memcmp(dec, in, n), 0);
    }
    CU_ASSERT_EQUAL(crypto_b64url_decode("a", 1, dec, sizeof(dec)), -1);
    CU_ASSERT_EQUAL(crypto_b64url_decode("ab+/", 4, dec, sizeof(dec)), -1);
    CU_ASSERT_EQUAL(crypto_b64url_decode("ab", 2, dec, 0), -1);
    CU_ASSERT_EQUAL(crypto_b64url_decode("ab", 2, dec, sizeof(dec)), -1); /* non-zero tail bits */
}

static void test_hmac(void)
{
    /* RFC 4231 test case 2 */
    unsigned char mac[CRYPTO_MAC_LEN];
    crypto_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, mac);
    static const unsigned char want[] = { 0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e,
                                          0x6a, 0x04, 0x24, 0x26, 0x08, 0x95, 0x75, 0xc7,
                                          0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27, 0x39, 0x83,
                                          0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43 };
    CU_ASSERT_EQUAL(memcmp(mac, want, sizeof(want)), 0);
    char hex1[33], hex2[33];
    crypto_random_hex(hex1, 16);
    crypto_random_hex(hex2, 16);
    CU_ASSERT_EQUAL(strlen(hex1), 32);
    CU_ASSERT_NOT_EQUAL(strcmp(hex1, hex2), 0);
}

static void test_metrics(void)
{
    metrics_id_t c = metrics_register("t_total", "kind=\"a\"", METRICS_COUNTER, "a counter");
    metrics_id_t c2 = metrics_register("t_total", "kind=\"b\"", METRICS_COUNTER, "a counter");
    metrics_id_t g = metrics_register("t_gauge", "", METRICS_GAUGE, "a gauge");
    metrics_id_t h = metrics_register("t_seconds", "", METRICS_HISTOGRAM, "a histogram");
    /* registered after another family: still rendered inside t_total's group */
    metrics_id_t c3 = metrics_register("t_total", "kind=\"c\"", METRICS_COUNTER, "a counter");
    metrics_id_t wg = metrics_register("t_depth", "", METRICS_WORKER_GAUGE, "per worker");
    CU_ASSERT_EQUAL(metrics_register("t_total", "kind=\"a\"", METRICS_COUNTER, "x"), c);
    void *mem = calloc(1, metrics_shm_size());
    metrics_attach(mem);
    CU_ASSERT_EQUAL(metrics_register("late", "", METRICS_COUNTER, "x"), -1);
    metrics_add(c, 2);
    metrics_add(c, 3);
    metrics_add(c2, 1);
    metrics_add(c3, 7);
    /* a worker gauge: each worker its own part, the sum is shown, a gone
     * worker's part is zeroed */
    metrics_set_worker(0);
    metrics_set(wg, 5);
    metrics_set_worker(3);
    metrics_set(wg, 2);
    metrics_add(wg, 1);
    CU_ASSERT_EQUAL(metrics_get(wg), 8);
    metrics_reset_worker(0);
    CU_ASSERT_EQUAL(metrics_get(wg), 3);
    metrics_set_worker(-1);
    metrics_set(g, -4);
    metrics_observe_us(h, 300);     /* <= 0.0005 */
    metrics_observe_us(h, 7000);    /* <= 0.01 */
    metrics_observe_us(h, 9000000); /* +Inf */
    metrics_add(-1, 5);             /* unregistered: no-op */
    CU_ASSERT_EQUAL(metrics_get(c), 5);
    arena_t *a = arena_new(4096);
    jw_t w;
    jw_init(&w, a, 256);
    metrics_render(&w);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(w.buf, "# TYPE t_total counter\nt_total{kind=\"a\"} 5\nt_total{kind=\"b\"} "
                      "1\nt_total{kind=\"c\"} 7\n# HELP t_gauge"));
    /* one HELP/TYPE per family */
    CU_ASSERT_PTR_NULL(strstr(strstr(w.buf, "# TYPE t_total") + 1, "# TYPE t_total"));
    CU_ASSERT_PTR_NOT_NULL(strstr(w.buf, "t_gauge -4\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(w.buf, "# TYPE t_depth gauge\nt_depth 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(w.buf, "t_seconds_bucket{le=\"0.0005\"} 1\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(w.buf, "t_seconds_bucket{le=\"0.01\"} 2\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(w.buf, "t_seconds_bucket{le=\"+Inf\"} 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(w.buf, "t_seconds_count 3\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(w.buf, "t_seconds_sum 9.007300\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(w.buf, "# HELP t_total a counter\n# TYPE t_total counter\n"));
    arena_free(a);
    free(mem);
}

/* log_reopen (SIGUSR1 after logrotate) while request threads write: every
 * line lands whole in the old file or the new one; none is written to a
 * closed descriptor, or to whatever file reused its number. */
#define LOG_WRITERS   4
#define LOG_LINES     5000
#define LOG_ROTATIONS 100

static void *log_writer(void *arg)
{
    int id = (int)(intptr_t)arg;
    for (int i = 0; i < LOG_LINES; i++)
        log_info("event=reopen_test writer=%d i=%d", id, i);
    return NULL;
}

/* Lines of a file that look like whole log lines of this test; -1 on a
 * malformed line. */
static long count_test_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char line[4096];
    long n = 0;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "ts=", 3) != 0 || strstr(line, " event=reopen_test writer=") == NULL ||
            line[strlen(line) - 1] != '\n') {
            n = -1;
            break;
        }
        n++;
    }
    fclose(f);
    return n;
}

/* The descriptor whose /proc link is path, or -1. */
static int fd_of(const char *path)
{
    for (int fd = 0; fd < 1024; fd++) {
        char link[64], target[256];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, target, sizeof(target) - 1);
        if (n < 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, path) == 0)
            return fd;
    }
    return -1;
}

static void test_log_reopen_while_writing(void)
{
    char dir[] = "/tmp/logtestXXXXXX";
    CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
    char path[128], rotated[160], decoy[160];
    snprintf(path, sizeof(path), "%s/app.log", dir);
    snprintf(decoy, sizeof(decoy), "%s/decoy", dir);
    CU_ASSERT_EQUAL_FATAL(log_open(path, LOG_INFO), 0);
    int log_fd = fd_of(path);
    CU_ASSERT_TRUE_FATAL(log_fd > STDERR_FILENO);

    pthread_t th[LOG_WRITERS];
    for (int i = 0; i < LOG_WRITERS; i++)
        pthread_create(&th[i], NULL, log_writer, (void *)(intptr_t)i);
    int decoys[LOG_ROTATIONS];
    for (int r = 0; r < LOG_ROTATIONS; r++) {
        snprintf(rotated, sizeof(rotated), "%s.%d", path, r);
        CU_ASSERT_EQUAL(rename(path, rotated), 0);
        CU_ASSERT_EQUAL(log_reopen(), 0);
        /* The threads' descriptor number now names the new file. */
        CU_ASSERT_EQUAL(fd_of(path), log_fd);
        /* Takes the lowest free descriptor: a number the reopen freed. */
        decoys[r] = open(decoy, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    }
    for (int i = 0; i < LOG_WRITERS; i++)
        pthread_join(th[i], NULL);
    log_open("-", LOG_INFO);

    long total = count_test_lines(path);
    CU_ASSERT_TRUE(total >= 0);
    for (int r = 0; r < LOG_ROTATIONS; r++) {
        snprintf(rotated, sizeof(rotated), "%s.%d", path, r);
        long n = count_test_lines(rotated);
        CU_ASSERT_TRUE(n >= 0);
        total += n;
        unlink(rotated);
        if (decoys[r] >= 0)
            close(decoys[r]);
    }
    CU_ASSERT_EQUAL(total, (long)LOG_WRITERS * LOG_LINES);
    CU_ASSERT_EQUAL(count_test_lines(decoy), 0);
    unlink(path);
    unlink(decoy);
    rmdir(dir);
}

static const unit_test_t tests[] = {
    { "arena", test_arena },
    { "strict integers", test_i64 },
    { "UTF-8 and charsets", test_utf8 },
    { "base64url", test_b64url },
    { "HMAC-SHA256 (RFC 4231) and random", test_hmac },
    { "metrics registry and rendering", test_metrics },
    { "log reopen while threads write", test_log_reopen_while_writing },
};

UNIT_MAIN("common", tests)
