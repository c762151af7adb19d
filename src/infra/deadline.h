/* deadline.h: waiting on a socket against an absolute deadline.
 *
 * Every call to another server has a client-side deadline: an absolute time
 * on the monotonic clock (milliseconds, ktime_mono_ms) by which it must be
 * over. A deadline is computed once per call and every wait inside the call
 * (connect, send, each read of the answer) polls for what is left of it, so
 * a server that answers one byte at a time cannot stretch the call. The
 * clock is a parameter so the unit tests can drive the logic with a fake one. */
#ifndef MA_INFRA_DEADLINE_H
#define MA_INFRA_DEADLINE_H

#include <stdint.h>

/* No deadline (only where a cap is optional, see dl_earliest). */
#define DL_NONE 0

typedef int64_t (*dl_clock_fn)(void);

/* now_ms + ms, saturating (an absurd configured duration never wraps into
 * the past); ms <= 0 gives now_ms, a deadline that has already passed. */
int64_t dl_after(int64_t now_ms, int64_t ms);

/* The earlier of two deadlines, DL_NONE meaning "no deadline". */
int64_t dl_earliest(int64_t a, int64_t b);

/* Milliseconds left until deadline_ms, as poll()'s timeout: 0 when it has
 * passed, clamped to INT_MAX. */
int dl_poll_ms(int64_t deadline_ms, int64_t now_ms);

/* Whether at least min_ms are left before deadline_ms (DL_NONE: always). */
int dl_allows(int64_t deadline_ms, int64_t now_ms, int64_t min_ms);

/* Waits until fd is ready for events (POLLIN, POLLOUT) or the deadline
 * passes, retrying after signals and re-reading the clock after every
 * wake-up. Returns 1 when ready (an error or hang-up on fd counts as ready:
 * the caller's next read or write reports it), 0 when the deadline passed,
 * -1 when fd is negative (EBADF) or poll() fails (errno). */
int dl_wait_fd(int fd, short events, int64_t deadline_ms, dl_clock_fn clock);

#endif
