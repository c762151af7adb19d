/* httpc.c: libcurl easy handle per thread (see httpc.h). */
#include "infra/httpc.h"
#include "common/ktime.h"
#include "common/log.h"

#include <curl/curl.h>
#include <string.h>

static __thread CURL *tl_curl;

typedef struct {
    arena_t *a;
    char *buf;
    size_t len, cap, max;
    bool overflow;
} sink_t;

int httpc_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void httpc_global_cleanup(void)
{
    curl_global_cleanup();
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink_t *s = ud;
    size_t n = size * nmemb;
    if (s->len + n > s->max) {
        s->overflow = true;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n + 1)
            cap *= 2;
        s->buf = arena_grow(s->a, s->buf, s->cap, cap);
        s->cap = cap;
    }
    memcpy(s->buf + s->len, ptr, n);
    s->len += n;
    s->buf[s->len] = '\0';
    return n;
}

const char *httpc_result_name(httpc_result_t r)
{
    switch (r) {
    case HTTPC_OK:
        return "ok";
    case HTTPC_CONNECT_FAILED:
        return "connect_failed";
    case HTTPC_TIMEOUT:
        return "timeout";
    case HTTPC_NETWORK:
        return "network";
    case HTTPC_TOO_LARGE:
        return "too_large";
    case HTTPC_TLS:
        return "tls";
    default:
        return "other";
    }
}

static httpc_result_t classify(CURLcode c, bool overflow)
{
    if (overflow)
        return HTTPC_TOO_LARGE;
    switch (c) {
    case CURLE_OK:
        return HTTPC_OK;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return HTTPC_CONNECT_FAILED;
    case CURLE_OPERATION_TIMEDOUT:
        return HTTPC_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
        return HTTPC_TLS;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_WEIRD_SERVER_REPLY:
        return HTTPC_NETWORK;
    default:
        return HTTPC_OTHER;
    }
}

void httpc_perform(const httpc_req_t *req, arena_t *a, httpc_resp_t *out)
{
    memset(out, 0, sizeof(*out));
    out->body = "";
    if (tl_curl == NULL)
        tl_curl = curl_easy_init();
    if (tl_curl == NULL) {
        out->result = HTTPC_OTHER;
        return;
    }
    CURL *c = tl_curl;
    curl_easy_reset(c); /* keeps the connection cache */
    sink_t sink = { .a = a, .max = req->max_response ? req->max_response : (1u << 20) };
    struct curl_slist *hdrs = NULL;
    for (const char *const *h = req->headers; h && *h; h++)
        hdrs = curl_slist_append(hdrs, *h);
    hdrs = curl_slist_append(hdrs, "Expect:");

    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "memberapi/0.1");
    if (strcmp(req->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
    } else if (strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
        }
    }
    int64_t t0 = ktime_mono_ms();
    CURLcode rc = curl_easy_perform(c);
    out->elapsed_ms = ktime_mono_ms() - t0;
    out->curl_code = (int)rc;
    out->result = classify(rc, sink.overflow);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    if (sink.buf) {
        out->body = sink.buf;
        out->len = sink.len;
    }
    if (out->result != HTTPC_OK)
        log_info("event=http_client_error result=%s curl=%d elapsed_ms=%lld",
                 httpc_result_name(out->result), (int)rc, (long long)out->elapsed_ms);
    curl_slist_free_all(hdrs);
}

void httpc_thread_close(void)
{
    if (tl_curl) {
        curl_easy_cleanup(tl_curl);
        tl_curl = NULL;
    }
}
