/* probe.c: `memberapi probe [PATH]`: a FastCGI client that sends GET PATH
 * (default /health) to the pool's LISTEN socket, or to ADMIN_LISTEN for the
 * admin routes (/internal/..., /metrics, /pool-status: the pool serves them
 * only there), and exits 0 on a 200. It is the container health check: the
 * pool speaks FastCGI, not HTTP, and this keeps the runtime image free of an
 * extra FastCGI client package. */
#include "server/srv.h"

#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int connect_to(const char *addr)
{
    if (addr[0] == '/') {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", addr);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char host[256];
    const char *colon = strrchr(addr, ':');
    snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM }, *res;
    if (getaddrinfo(host[0] ? host : "127.0.0.1", colon + 1, &hints, &res) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

static size_t record(unsigned char *out, int type, const void *content, size_t len)
{
    out[0] = 1;
    out[1] = (unsigned char)type;
    out[2] = 0;
    out[3] = 1; /* request id 1 */
    out[4] = (unsigned char)(len >> 8);
    out[5] = (unsigned char)len;
    out[6] = 0;
    out[7] = 0;
    memcpy(out + 8, content, len);
    return 8 + len;
}

static size_t param(unsigned char *out, const char *k, const char *v)
{
    size_t kl = strlen(k), vl = strlen(v);
    out[0] = (unsigned char)kl;
    out[1] = (unsigned char)vl;
    memcpy(out + 2, k, kl);
    memcpy(out + 2 + kl, v, vl);
    return 2 + kl + vl;
}

static bool admin_path(const char *path)
{
    size_t n = strcspn(path, "?");
    return strncmp(path, "/internal/", 10) == 0 || (n == 8 && !strncmp(path, "/metrics", n)) ||
           (n == 12 && !strncmp(path, "/pool-status", n));
}

int srv_probe(const char *path)
{
    const char *addr = admin_path(path) ? srv_cfg.admin_listen : srv_cfg.listen;
    int fd = connect_to(addr);
    if (fd < 0) {
        fprintf(stderr, "probe: cannot connect to %s\n", addr);
        return 1;
    }
    unsigned char buf[1024], params[512];
    size_t n = 0, p = 0;
    static const unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 }; /* responder */
    n += record(buf + n, 1, begin, sizeof(begin));
    p += param(params + p, "REQUEST_METHOD", "GET");
    p += param(params + p, "DOCUMENT_URI", path);
    p += param(params + p, "QUERY_STRING", "");
    p += param(params + p, "CONTENT_LENGTH", "0");
    n += record(buf + n, 4, params, p);
    n += record(buf + n, 4, "", 0);
    n += record(buf + n, 5, "", 0);
    if (write(fd, buf, n) != (ssize_t)n) {
        close(fd);
        return 1;
    }
    char resp[4096];
    size_t got = 0;
    struct pollfd pf = { fd, POLLIN, 0 };
    while (got < sizeof(resp) - 1 && poll(&pf, 1, 3000) == 1) {
        ssize_t r = read(fd, resp + got, sizeof(resp) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    resp[got] = '\0';
    /* The first STDOUT record starts with the Status line. */
    bool ok = got > 8 + 15 && memcmp(resp + 8, "Status: 200", 11) == 0;
    printf("probe %s %s: %s\n", addr, path, ok ? "200" : "failed");
    return ok ? 0 : 1;
}
