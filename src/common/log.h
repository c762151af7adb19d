/* log.h: one line per event, key=value, with the request id.
 *
 * Lines look like
 *   ts=2024-10-01T03:00:00.123Z level=info pid=41 rid=7f3a... event=request route=... status=200
 * and are written with a single write(2), so lines from threads and processes
 * sharing the file never interleave. Values from outside (messages from the
 * gateway, paths) go through log_q() which quotes and escapes them. Secrets
 * must never be passed here. */
#ifndef MA_COMMON_LOG_H
#define MA_COMMON_LOG_H

#include <stdbool.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 } log_level_t;

/* path NULL or "" or "-": stderr. Reopened on log_reopen (SIGUSR1). */
int log_open(const char *path, log_level_t level);
int log_reopen(void);
void log_set_level(log_level_t level);
bool log_enabled(log_level_t level);
int log_parse_level(const char *s, log_level_t *out);

/* The request id attached to lines from this thread (NULL clears). */
void log_set_rid(const char *rid);

void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Quoted, escaped copy of s for a log value; a thread-local ring of buffers,
 * valid until 8 further calls from the same thread. Truncates at 200 bytes. */
const char *log_q(const char *s);

#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_enabled(LOG_DEBUG))                                                                \
            log_write(LOG_DEBUG, __VA_ARGS__);                                                     \
    } while (0)
#define log_info(...)  log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...)  log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

#endif
