/* ktime.h: clocks and Korea-time formatting.
 *
 * Bodies carry Korea time as "yyyy-MM-dd HH:mm:ss". Korea has used UTC+9
 * without daylight saving since 1988, so the conversion is arithmetic on the
 * epoch and never consults the machine's TZ or tzdata. */
#ifndef MA_COMMON_KTIME_H
#define MA_COMMON_KTIME_H

#include <stdint.h>

#define KTIME_KST_OFFSET_S (9 * 3600)
#define KTIME_BUFSZ        20 /* "yyyy-MM-dd HH:mm:ss" + NUL */

int64_t ktime_now_us(void);  /* wall clock, microseconds since the epoch */
int64_t ktime_mono_ms(void); /* monotonic milliseconds (durations, breakers) */
int64_t ktime_mono_us(void);

/* epoch seconds -> "yyyy-MM-dd HH:mm:ss" in Asia/Seoul. out has KTIME_BUFSZ. */
void ktime_format_kst(int64_t epoch_s, char *out);

/* "2024-01-15T10:30:05+09:00" (ISO-8601 with offset; 'Z' accepted; optional
 * fraction ignored) -> epoch seconds. Returns 0, or -1 when malformed. */
int ktime_parse_iso8601(const char *s, int64_t *epoch_s);

/* civil date <-> days since 1970-01-01 (proleptic Gregorian). */
int64_t ktime_days_from_civil(int64_t y, unsigned m, unsigned d);
void ktime_civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d);

#endif
