/* test_httpc.c: the gateway HTTP client (infra/httpc.c) against a small
 * HTTP server in a thread: a complete answer, a timeout, a response over the
 * cap, a connection dropped after the request, a refused connection, and
 * TLS verification (an https:// URL to a server that is not a verified TLS
 * peer must fail, never fall back to plain text). */
#include "unit.h"
#include "infra/httpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static int port;
static int lfd;
static arena_t *A;

static void *server(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(lfd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[4096];
        ssize_t n = recv(c, req, sizeof(req) - 1, 0);
        if (n <= 0) {
            close(c);
            continue;
        }
        req[n] = '\0';
        if (strstr(req, "GET /ok ")) {
            const char r[] =
                "HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{\"ok\":true}";
            send(c, r, sizeof(r) - 1, 0);
        } else if (strstr(req, "POST /echo ")) {
            const char *body = strstr(req, "\r\n\r\n");
            char r[512];
            int len = snprintf(r, sizeof(r),
                               "HTTP/1.1 403 Forbidden\r\nContent-Length: %zu\r\n"
                               "Connection: close\r\n\r\n%s",
                               strlen(body + 4), body + 4);
            send(c, r, (size_t)len, 0);
        } else if (strstr(req, "GET /slow ")) {
            sleep(2);
        } else if (strstr(req, "GET /big ")) {
            const char h[] =
                "HTTP/1.1 200 OK\r\nContent-Length: 300000\r\nConnection: close\r\n\r\n";
            send(c, h, sizeof(h) - 1, 0);
            static char blob[300000];
            memset(blob, 'x', sizeof(blob));
            send(c, blob, sizeof(blob), MSG_NOSIGNAL);
        } else if (strstr(req, "GET /drop ")) {
            /* read the request, answer nothing */
        }
        close(c);
    }
}

static void get(const char *path, int64_t timeout_ms, size_t max, httpc_resp_t *out)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    httpc_req_t req = { .method = "GET",
                        .url = url,
                        .connect_timeout_ms = 1000,
                        .timeout_ms = timeout_ms,
                        .max_response = max };
    httpc_perform(&req, A, out);
}

static void test_ok(void)
{
    httpc_resp_t r;
    get("/ok", 2000, 0, &r);
    CU_ASSERT_EQUAL(r.result, HTTPC_OK);
    CU_ASSERT_EQUAL(r.status, 200);
    ASSERT_STR(r.body, "{\"ok\":true}");
}

static void test_post_and_status(void)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/echo", port);
    const char *hdrs[] = { "Content-Type: application/json", NULL };
    httpc_req_t req = { .method = "POST",
                        .url = url,
                        .headers = hdrs,
                        .body = "{\"a\":1}",
                        .body_len = 7,
                        .connect_timeout_ms = 1000,
                        .timeout_ms = 2000 };
    httpc_resp_t r;
    httpc_perform(&req, A, &r);
    CU_ASSERT_EQUAL(r.result, HTTPC_OK); /* an answer, whatever its status */
    CU_ASSERT_EQUAL(r.status, 403);
    ASSERT_STR(r.body, "{\"a\":1}");
}

static void test_timeout(void)
{
    httpc_resp_t r;
    get("/slow", 300, 0, &r);
    CU_ASSERT_EQUAL(r.result, HTTPC_TIMEOUT);
    CU_ASSERT_TRUE(r.elapsed_ms >= 250 && r.elapsed_ms < 1900);
}

static void test_too_large(void)
{
    httpc_resp_t r;
    get("/big", 3000, 100000, &r);
    CU_ASSERT_EQUAL(r.result, HTTPC_TOO_LARGE);
}

static void test_dropped(void)
{
    httpc_resp_t r;
    get("/drop", 2000, 0, &r);
    CU_ASSERT_EQUAL(r.result, HTTPC_NETWORK);
}

static void test_refused(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(s, (struct sockaddr *)&sa, sizeof(sa));
    socklen_t len = sizeof(sa);
    getsockname(s, (struct sockaddr *)&sa, &len);
    close(s); /* nothing listens there now */
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
    httpc_req_t req = {
        .method = "GET", .url = url, .connect_timeout_ms = 500, .timeout_ms = 1000
    };
    httpc_resp_t r;
    httpc_perform(&req, A, &r);
    CU_ASSERT_EQUAL(r.result, HTTPC_CONNECT_FAILED);
}

static void test_tls_is_verified(void)
{
    char url[64];
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/ok", port);
    httpc_req_t req = {
        .method = "GET", .url = url, .connect_timeout_ms = 1000, .timeout_ms = 2000
    };
    httpc_resp_t r;
    httpc_perform(&req, A, &r);
    CU_ASSERT_NOT_EQUAL(r.result, HTTPC_OK);
    CU_ASSERT_EQUAL(r.status, 0);
}

static void test_bad_scheme(void)
{
    httpc_req_t req = {
        .method = "GET", .url = "file:///etc/passwd", .connect_timeout_ms = 100, .timeout_ms = 100
    };
    httpc_resp_t r;
    httpc_perform(&req, A, &r);
    CU_ASSERT_NOT_EQUAL(r.result, HTTPC_OK);
    CU_ASSERT_EQUAL(r.len, 0);
}

static const unit_test_t tests[] = {
    { "a complete answer", test_ok },
    { "a POST answered with 403 is still an answer", test_post_and_status },
    { "no answer in time is a timeout", test_timeout },
    { "a response over the cap", test_too_large },
    { "a connection dropped after the request", test_dropped },
    { "a refused connection was never sent", test_refused },
    { "TLS is verified", test_tls_is_verified },
    { "only http and https", test_bad_scheme },
};

int main(void)
{
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 16) != 0)
        return 2;
    socklen_t len = sizeof(sa);
    getsockname(lfd, (struct sockaddr *)&sa, &len);
    port = ntohs(sa.sin_port);
    pthread_t t;
    pthread_create(&t, NULL, server, NULL);
    pthread_detach(t);
    httpc_global_init();
    A = arena_new(4096);
    int rc = unit_run("httpc", tests, sizeof(tests) / sizeof(tests[0]));
    httpc_thread_close();
    arena_free(A);
    return rc;
}
