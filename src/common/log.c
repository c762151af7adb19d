/* log.c: key=value event log (see log.h). */
#include "common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int log_fd = STDERR_FILENO;
static char log_path[512];
static log_level_t log_min = LOG_INFO;
static __thread char tl_rid[130];

static const char *const level_names[] = { "debug", "info", "warn", "error" };

int log_parse_level(const char *s, log_level_t *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return -1;
}

int log_open(const char *path, log_level_t level)
{
    log_min = level;
    if (path == NULL || path[0] == '\0' || strcmp(path, "-") == 0) {
        log_path[0] = '\0';
        log_fd = STDERR_FILENO;
        return 0;
    }
    snprintf(log_path, sizeof(log_path), "%s", path);
    return log_reopen();
}

/* Request threads call write(2) on log_fd at any time, without a lock: the
 * descriptor number must stay valid. The new file is opened on a temporary
 * descriptor and dup3'd onto log_fd, which atomically switches the number to
 * the new file (a write lands in the old file or the new one, never on a
 * closed or reused descriptor); then the temporary is closed. Only the first
 * open (at start, before any thread runs) assigns log_fd. */
int log_reopen(void)
{
    if (log_path[0] == '\0')
        return 0;
    int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    int cur = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
    if (cur == STDERR_FILENO) {
        __atomic_store_n(&log_fd, fd, __ATOMIC_RELEASE);
        return 0;
    }
    int rc = dup3(fd, cur, O_CLOEXEC) < 0 ? -1 : 0;
    close(fd);
    return rc;
}

void log_set_level(log_level_t level)
{
    log_min = level;
}

bool log_enabled(log_level_t level)
{
    return level >= log_min;
}

void log_set_rid(const char *rid)
{
    if (rid == NULL)
        tl_rid[0] = '\0';
    else
        snprintf(tl_rid, sizeof(tl_rid), "%s", rid);
}

/* The pid of the process, cached (a log line per request should not cost
 * a system call); reset in a forked child. */
static pid_t cached_pid;

static void forget_pid(void)
{
    cached_pid = 0;
}

static void register_fork_handler(void)
{
    pthread_atfork(NULL, NULL, forget_pid);
}

static pid_t log_pid(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, register_fork_handler);
    pid_t p = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
    if (p == 0) {
        p = getpid();
        __atomic_store_n(&cached_pid, p, __ATOMIC_RELAXED);
    }
    return p;
}

void log_write(log_level_t level, const char *fmt, ...)
{
    if (level < log_min)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s pid=%d",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000L, level_names[level], (int)log_pid());
    if (tl_rid[0] && n > 0 && (size_t)n < sizeof(line))
        n += snprintf(line + n, sizeof(line) - (size_t)n, " rid=%s", tl_rid);
    if (n > 0 && (size_t)n < sizeof(line) - 2) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n > sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    ssize_t w;
    do {
        w = write(__atomic_load_n(&log_fd, __ATOMIC_ACQUIRE), line, (size_t)n);
    } while (w < 0 && errno == EINTR);
}

const char *log_q(const char *s)
{
    static __thread char ring[8][208];
    static __thread unsigned next;
    char *out = ring[next++ & 7];
    size_t o = 0;
    out[o++] = '"';
    if (s == NULL)
        s = "";
    for (; *s && o < 200; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            out[o++] = '?';
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}
