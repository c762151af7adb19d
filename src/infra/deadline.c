/* deadline.c: deadline arithmetic and a poll() loop bounded by a deadline
 * (see deadline.h). */
#include "infra/deadline.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>

int64_t dl_after(int64_t now_ms, int64_t ms)
{
    if (ms <= 0)
        return now_ms;
    if (now_ms > INT64_MAX - ms)
        return INT64_MAX;
    return now_ms + ms;
}

int64_t dl_earliest(int64_t a, int64_t b)
{
    if (a == DL_NONE)
        return b;
    if (b == DL_NONE)
        return a;
    return a < b ? a : b;
}

int dl_poll_ms(int64_t deadline_ms, int64_t now_ms)
{
    if (deadline_ms <= now_ms)
        return 0;
    /* deadline - now cannot overflow when now is past INT64_MIN / 2, which a
     * monotonic clock always is; guard the arithmetic anyway. */
    if (now_ms < 0 && deadline_ms > INT64_MAX + now_ms)
        return INT_MAX;
    int64_t left = deadline_ms - now_ms;
    return left > INT_MAX ? INT_MAX : (int)left;
}

int dl_allows(int64_t deadline_ms, int64_t now_ms, int64_t min_ms)
{
    if (deadline_ms == DL_NONE)
        return 1;
    return dl_poll_ms(deadline_ms, now_ms) >= min_ms;
}

int dl_wait_fd(int fd, short events, int64_t deadline_ms, dl_clock_fn clock)
{
    if (fd < 0) { /* poll() would ignore it and sleep until the deadline */
        errno = EBADF;
        return -1;
    }
    for (;;) {
        int left = dl_poll_ms(deadline_ms, clock());
        if (left == 0)
            return 0;
        struct pollfd pf = { .fd = fd, .events = events };
        int rc = poll(&pf, 1, left);
        if (rc > 0)
            return 1;
        if (rc < 0 && errno != EINTR)
            return -1;
        /* Timed out or interrupted: the clock, not poll's count, decides. */
    }
}
