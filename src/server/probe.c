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

/* Appends one FastCGI name-value pair at params[*p] (lengths below 128 in
 * one byte, longer ones in four); -1 when it would not fit in cap. */
static int param(unsigned char *params, size_t cap, size_t *p, const char *k, const char *v)
{
    size_t kl = strlen(k), vl = strlen(v);
    size_t need = (kl < 128 ? 1 : 4) + (vl < 128 ? 1 : 4) + kl + vl;
    if (kl > 0x7fffffff || vl > 0x7fffffff || need > cap - *p)
        return -1;
    unsigned char *out = params + *p;
    const size_t lens[2] = { kl, vl };
    for (int i = 0; i < 2; i++) {
        if (lens[i] < 128) {
            *out++ = (unsigned char)lens[i];
        } else {
            *out++ = (unsigned char)((lens[i] >> 24) | 0x80);
            *out++ = (unsigned char)(lens[i] >> 16);
            *out++ = (unsigned char)(lens[i] >> 8);
            *out++ = (unsigned char)lens[i];
        }
    }
    memcpy(out, k, kl);
    memcpy(out + kl, v, vl);
    *p += need;
    return 0;
}

static bool admin_path(const char *path)
{
    size_t n = strcspn(path, "?");
    return strncmp(path, "/internal/", 10) == 0 || (n == 8 && !strncmp(path, "/metrics", n)) ||
           (n == 12 && !strncmp(path, "/pool-status", n));
}

/* Longest PATH the probe sends: a health check's path is short; a longer
 * argument is a mistake, refused with a message rather than truncated. */
#define PROBE_PATH_MAX 1024

int srv_probe(const char *path)
{
    size_t plen = strlen(path);
    if (plen == 0 || path[0] != '/' || plen > PROBE_PATH_MAX) {
        fprintf(stderr, "probe: PATH must start with / and be at most %d characters (got %zu)\n",
                PROBE_PATH_MAX, plen);
        return 2;
    }
    const char *addr = admin_path(path) ? srv_cfg.admin_listen : srv_cfg.listen;
    int fd = connect_to(addr);
    if (fd < 0) {
        fprintf(stderr, "probe: cannot connect to %s\n", addr);
        return 1;
    }
    /* params: the pairs below with PATH at its longest; buf: the records. */
    unsigned char params[PROBE_PATH_MAX + 256], buf[sizeof(params) + 64];
    size_t n = 0, p = 0;
    static const unsigned char begin[8] = { 0, 1, 0, 0, 0, 0, 0, 0 }; /* responder */
    n += record(buf + n, 1, begin, sizeof(begin));
    if (param(params, sizeof(params), &p, "REQUEST_METHOD", "GET") != 0 ||
        param(params, sizeof(params), &p, "DOCUMENT_URI", path) != 0 ||
        param(params, sizeof(params), &p, "QUERY_STRING", "") != 0 ||
        param(params, sizeof(params), &p, "CONTENT_LENGTH", "0") != 0) {
        close(fd);
        return 1;
    }
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
    char status[4] = "";
    if (got > 8 + 15 && memcmp(resp + 8, "Status: ", 8) == 0 &&
        strspn(resp + 16, "0123456789") >= 3)
        memcpy(status, resp + 16, 3);
    bool ok = strcmp(status, "200") == 0;
    printf("probe %s %s: %s\n", addr, path, status[0] ? status : "failed");
    return ok ? 0 : 1;
}
