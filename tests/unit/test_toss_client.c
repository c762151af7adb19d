/* test_toss_client.c: the Toss client on the wire (payment/gateway_toss over
 * infra/httpc) against a scripted HTTP server on 127.0.0.1 in a thread:
 * what it sends (Basic auth with the colon, Idempotency-Key, en-US, the JSON
 * body, the paths of confirm, lookup and cancel) and how it reads a dropped
 * connection, a timeout, a cut body and an oversized one. */
#include "unit.h"
#include "payment/toss.h"
#include "common/arena.h"
#include "infra/httpc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

typedef enum { M_REPLY, M_DROP, M_DELAY, M_PARTIAL, M_HUGE } mode_t_;

static struct {
    int lfd, port;
    pthread_t th;
    _Atomic bool stop;
    /* script */
    mode_t_ mode;
    int status;
    const char *body;
    int delay_ms;
    /* last request */
    char req[16384];
    size_t req_len;
    pthread_mutex_t mu;
} srv = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

/* Reads one request (headers and a Content-Length body). */
static size_t read_request(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t k = recv(fd, buf + got, cap - 1 - got, 0);
        if (k <= 0)
            break;
        got += (size_t)k;
        buf[got] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            size_t head = (size_t)(end + 4 - buf);
            char *cl = strcasestr(buf, "Content-Length:");
            size_t want = cl ? (size_t)atol(cl + 15) : 0;
            if (got >= head + want)
                break;
        }
        if (got + 1 >= cap)
            break;
    }
    buf[got] = '\0';
    return got;
}

static void *serve(void *arg)
{
    (void)arg;
    while (!atomic_load(&srv.stop)) {
        struct pollfd p = { srv.lfd, POLLIN, 0 };
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(srv.lfd, NULL, NULL);
        if (fd < 0)
            continue;
        char buf[16384];
        size_t n = read_request(fd, buf, sizeof(buf));
        pthread_mutex_lock(&srv.mu);
        memcpy(srv.req, buf, n + 1);
        srv.req_len = n;
        mode_t_ mode = srv.mode;
        int status = srv.status, delay = srv.delay_ms;
        const char *body = srv.body;
        pthread_mutex_unlock(&srv.mu);
        char head[256];
        if (mode == M_DELAY)
            usleep((useconds_t)delay * 1000);
        if (mode == M_REPLY || mode == M_DELAY) {
            int k = snprintf(head, sizeof(head),
                             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                             status, strlen(body));
            send_all(fd, head, (size_t)k);
            send_all(fd, body, strlen(body));
        } else if (mode == M_PARTIAL) {
            /* promises more than it sends, then closes */
            int k = snprintf(head, sizeof(head),
                             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                             strlen(body) + 500);
            send_all(fd, head, (size_t)k);
            send_all(fd, body, strlen(body));
        } else if (mode == M_HUGE) {
            size_t big = TOSS_MAX_RESPONSE + 4096;
            int k = snprintf(head, sizeof(head),
                             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                             big);
            send_all(fd, head, (size_t)k);
            char *blob = malloc(big);
            memset(blob, ' ', big);
            send_all(fd, blob, big);
            free(blob);
        }
        /* M_DROP: close with zero response bytes */
        close(fd);
    }
    return NULL;
}

static void script(mode_t_ m, int status, const char *body, int delay_ms)
{
    pthread_mutex_lock(&srv.mu);
    srv.mode = m;
    srv.status = status;
    srv.body = body;
    srv.delay_ms = delay_ms;
    srv.req[0] = '\0';
    pthread_mutex_unlock(&srv.mu);
}

static const char *last_request(void)
{
    static char copy[16384];
    pthread_mutex_lock(&srv.mu);
    memcpy(copy, srv.req, sizeof(copy));
    pthread_mutex_unlock(&srv.mu);
    return copy;
}

static int start_server(void)
{
    srv.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    if (bind(srv.lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(srv.lfd, 16) != 0 ||
        getsockname(srv.lfd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    srv.port = ntohs(a.sin_port);
    return pthread_create(&srv.th, NULL, serve, NULL);
}

static const char PAYMENT[] =
    "{\"paymentKey\":\"pk_1\",\"orderId\":\"order_1\",\"status\":\"DONE\",\"totalAmount\":15000,"
    "\"method\":\"CARD\",\"requestedAt\":\"2024-10-01T12:00:00+09:00\","
    "\"approvedAt\":\"2024-10-01T12:00:05+09:00\",\"failure\":null,\"card\":{\"number\":\"4330****"
    "\"}}";

static arena_t *A;

static void configure_ok(int64_t timeout_ms)
{
    char base[64], err[256];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d/", srv.port);
    CU_ASSERT_EQUAL_FATAL(toss_configure(base, "test_sk_unit_1234",
                                         timeout_ms < 1000 ? timeout_ms : 1000, timeout_ms, err,
                                         sizeof(err)),
                          0);
}

static void confirm(gw_result_t *r)
{
    gw_confirm_t rq = { "pk_1", "order_1", 15000, "3f1c5a2e-attempt-key" };
    arena_reset(A);
    gateway_toss.confirm(&rq, A, r);
}

static void test_confirm_request(void)
{
    configure_ok(2000);
    script(M_REPLY, 200, PAYMENT, 0);
    gw_result_t r;
    confirm(&r);
    CU_ASSERT_EQUAL(r.outcome, GW_ANSWER_PAYMENT);
    CU_ASSERT_EQUAL(r.pay.total_amount, 15000);
    const char *q = last_request();
    CU_ASSERT_PTR_NOT_NULL(strstr(q, "POST /v1/payments/confirm HTTP/1.1\r\n"));
    /* base64("test_sk_unit_1234:"): the key, a colon, an empty password */
    CU_ASSERT_PTR_NOT_NULL(strstr(q, "\r\nAuthorization: Basic dGVzdF9za191bml0XzEyMzQ6\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(q, "\r\nIdempotency-Key: 3f1c5a2e-attempt-key\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(q, "\r\nAccept-Language: en-US\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(q, "\r\nContent-Type: application/json\r\n"));
    CU_ASSERT_PTR_NOT_NULL(
        strstr(q, "\r\n\r\n{\"paymentKey\":\"pk_1\",\"orderId\":\"order_1\",\"amount\":15000}"));
}

static void test_lookup_and_cancel_requests(void)
{
    configure_ok(2000);
    script(M_REPLY, 200, PAYMENT, 0);
    gw_result_t r;
    arena_reset(A);
    gateway_toss.lookup_order("order_1", A, &r);
    CU_ASSERT_EQUAL(r.outcome, GW_ANSWER_PAYMENT);
    const char *q = last_request();
    CU_ASSERT_PTR_NOT_NULL(strstr(q, "GET /v1/payments/orders/order_1 HTTP/1.1\r\n"));
    CU_ASSERT_PTR_NULL(strstr(q, "Idempotency-Key")); /* GET ignores it; not sent */
    CU_ASSERT_PTR_NOT_NULL(strstr(q, "Authorization: Basic dGVzdF9za191bml0XzEyMzQ6"));

    script(M_REPLY, 200, PAYMENT, 0);
    arena_reset(A);
    gateway_toss.cancel("pk_1", "고객 요청", 5000, "cancel-key-1", A, &r);
    CU_ASSERT_EQUAL(r.outcome, GW_ANSWER_PAYMENT);
    q = last_request();
    CU_ASSERT_PTR_NOT_NULL(strstr(q, "POST /v1/payments/pk_1/cancel HTTP/1.1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(q, "Idempotency-Key: cancel-key-1\r\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(q, "{\"cancelReason\":\"고객 요청\",\"cancelAmount\":5000}"));

    /* a full cancel omits cancelAmount */
    arena_reset(A);
    gateway_toss.cancel("pk_1", "all", 0, "cancel-key-2", A, &r);
    CU_ASSERT_PTR_NOT_NULL(strstr(last_request(), "\r\n\r\n{\"cancelReason\":\"all\"}"));

    /* invalid input is never sent */
    script(M_REPLY, 200, PAYMENT, 0);
    arena_reset(A);
    gateway_toss.lookup_order("../x", A, &r);
    CU_ASSERT_EQUAL(r.outcome, GW_ANSWER_ERROR);
    CU_ASSERT_EQUAL(r.cls, GW_CLASS_CONFIG);
    ASSERT_STR(last_request(), "");
}

static void test_refusals(void)
{
    configure_ok(2000);
    gw_result_t r;
    script(M_REPLY, 403, "{\"code\":\"REJECT_CARD_COMPANY\",\"message\":\"declined\"}", 0);
    confirm(&r);
    CU_ASSERT_EQUAL(r.outcome, GW_ANSWER_ERROR);
    CU_ASSERT_EQUAL(r.http_status, 403);
    CU_ASSERT_EQUAL(r.cls, GW_CLASS_DECLINE);
    ASSERT_STR(r.code, "REJECT_CARD_COMPANY");
    ASSERT_STR(r.message, "declined");
    script(M_REPLY, 500, "{\"code\":\"FAILED_INTERNAL_SYSTEM_PROCESSING\",\"message\":\"m\"}", 0);
    confirm(&r);
    CU_ASSERT_EQUAL(r.outcome, GW_ANSWER_ERROR);
    CU_ASSERT_EQUAL(r.cls, GW_CLASS_TRANSIENT);
    script(M_REPLY, 409, "{\"code\":\"IDEMPOTENT_REQUEST_PROCESSING\",\"message\":\"m\"}", 0);
    confirm(&r);
    CU_ASSERT_EQUAL(r.cls, GW_CLASS_TRANSIENT);
}

static void test_lost_answers(void)
{
    configure_ok(700);
    gw_result_t r;
    script(M_DROP, 0, "", 0);
    confirm(&r);
    CU_ASSERT_EQUAL(r.outcome, GW_NO_ANSWER);
    CU_ASSERT_FALSE(r.timed_out);
    ASSERT_STR(r.code, "NETWORK");

    script(M_DELAY, 200, PAYMENT, 1500);
    confirm(&r);
    CU_ASSERT_EQUAL(r.outcome, GW_NO_ANSWER);
    CU_ASSERT_TRUE(r.timed_out);
    CU_ASSERT_TRUE(r.elapsed_ms >= 600 && r.elapsed_ms < 1500);
    usleep(1200 * 1000); /* the one-connection server is still sleeping */

    script(M_PARTIAL, 200, "{\"paymentKey\":\"pk_1\",\"orderId\":\"order_1\",\"sta", 0);
    confirm(&r);
    CU_ASSERT_EQUAL(r.outcome, GW_NO_ANSWER);
    CU_ASSERT_FALSE(r.timed_out);

    script(M_HUGE, 200, "", 0);
    confirm(&r);
    CU_ASSERT_EQUAL(r.outcome, GW_NO_ANSWER);
    ASSERT_STR(r.code, "TOO_LARGE");

    /* nothing listens: the request was never sent */
    char err[256];
    CU_ASSERT_EQUAL(
        toss_configure("http://127.0.0.1:1", "test_sk_unit_1234", 500, 700, err, sizeof(err)), 0);
    confirm(&r);
    CU_ASSERT_EQUAL(r.outcome, GW_NO_ANSWER);
    ASSERT_STR(r.code, "CONNECT_FAILED");
}

static void test_configuration(void)
{
    char err[256];
    CU_ASSERT_EQUAL(toss_configure("https://api.tosspayments.com", "live_sk_abc", 3000, 15000, err,
                                   sizeof(err)),
                    0);
    CU_ASSERT_EQUAL(toss_configure("http://localhost:18090", "k", 100, 500, err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(toss_configure("http://[::1]:18090", "k", 100, 500, err, sizeof(err)), 0);
    /* the secret key never crosses the network in clear text */
    CU_ASSERT_EQUAL(toss_configure("http://api.tosspayments.com", "k", 100, 500, err, sizeof(err)),
                    -1);
    CU_ASSERT_EQUAL(
        toss_configure("http://127.0.0.1.evil.example", "k", 100, 500, err, sizeof(err)), -1);
    CU_ASSERT_EQUAL(toss_configure("http://localhost.evil:80", "k", 100, 500, err, sizeof(err)),
                    -1);
    CU_ASSERT_EQUAL(toss_configure("http://127.0.0.2:8/x", "k", 100, 500, err, sizeof(err)), 0);
    /* a sandbox in a container or namespace, reached with a test key */
    CU_ASSERT_EQUAL(toss_configure("http://sandbox:8090", "test_sk_x", 100, 500, err, sizeof(err)),
                    0);
    CU_ASSERT_EQUAL(toss_configure("http://sandbox:8090", "live_sk_x", 100, 500, err, sizeof(err)),
                    -1);
    CU_ASSERT_EQUAL(toss_configure("https://x", "", 100, 500, err, sizeof(err)), -1);
    CU_ASSERT_EQUAL(toss_configure("https://x", NULL, 100, 500, err, sizeof(err)), -1);
    CU_ASSERT_EQUAL(toss_configure("https://x", "a:b", 100, 500, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NULL(strstr(err, "a:b")); /* the message does not echo the key */
    CU_ASSERT_EQUAL(toss_configure("https://x", "a b", 100, 500, err, sizeof(err)), -1);
    CU_ASSERT_EQUAL(toss_configure("https://x", "k", 600, 500, err, sizeof(err)), -1);
    CU_ASSERT_EQUAL(toss_configure("ftp://x", "k", 100, 500, err, sizeof(err)), -1);
}

static const unit_test_t tests[] = {
    { "confirm request on the wire", test_confirm_request },
    { "lookup and cancel requests", test_lookup_and_cancel_requests },
    { "refusals and their classes", test_refusals },
    { "drop, timeout, cut and oversized answers", test_lost_answers },
    { "configuration checks", test_configuration },
};

int main(void)
{
    if (httpc_global_init() != 0 || start_server() != 0)
        return 2;
    A = arena_new(64 * 1024);
    int rc = unit_run("toss_client", tests, sizeof(tests) / sizeof(tests[0]));
    atomic_store(&srv.stop, true);
    pthread_join(srv.th, NULL);
    close(srv.lfd);
    arena_free(A);
    httpc_thread_close();
    httpc_global_cleanup();
    return rc;
}
