/* notify.c: the sd_notify protocol without libsystemd (see notify.h).
 *
 * systemd passes the path of a datagram socket in $NOTIFY_SOCKET (a leading
 * '@' names an abstract socket); a service tells it "READY=1" once it serves,
 * "RELOADING=1" / "READY=1" around a reload and "STOPPING=1" when it begins
 * to stop. Ten lines of socket code do not justify linking libsystemd. The
 * variable is read at every call: only the master sends, and workers never
 * inherit a reason to. */
#include "server/notify.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int srv_notify(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || path[0] == '\0')
        return 0;
    size_t len = strlen(path);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    ssize_t n = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    close(fd);
    return n == (ssize_t)strlen(state) ? 1 : -1;
}
