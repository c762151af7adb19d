/* fuzz_toss_json.c: libFuzzer target for everything that reads a Toss
 * answer: the Payment object parser, the error body parser and the
 * interpretation of a whole HTTP exchange. The first input byte picks the
 * HTTP status the body arrived with, the rest is the body. Crashes,
 * sanitizer reports and an accepted payment without its required fields
 * are findings.
 *
 * Build (from the top of the tree, after configure has made config.h; the
 * library comes from a build configured with --enable-fuzz CC=clang, or
 * compile its sources directly as here):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -Ibuild -D_GNU_SOURCE \
 *     $(pkg-config --cflags json-c) tests/fuzz/fuzz_toss_json.c \
 *     src/payment/gateway_toss.c src/payment/gateway.c src/payment/body.c \
 *     src/common/jstrict.c src/common/str.c src/common/err.c src/common/ktime.c src/common/log.c \
 *     src/common/jw.c src/common/arena.c src/common/mem.c src/common/config.c \
 *     src/infra/httpc.c \
 *     $(pkg-config --libs json-c libcurl) -lcrypto -o fuzz_toss_json
 *   ./fuzz_toss_json -max_total_time=60
 * tests/fuzz/run.sh (on main) builds and runs every tests/fuzz/fuzz_*.c against a
 * fuzzer-instrumented libmemberapi.a, with the seeds in tests/fuzz/corpus/<name>/. */
#include "payment/toss.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = { 200, 400, 401, 403, 404, 409, 500, 502, 302, 201 };
    if (size == 0)
        return 0;
    long status = statuses[data[0] % (sizeof(statuses) / sizeof(statuses[0]))];
    /* httpc hands over a NUL-terminated copy of the body */
    char *body = malloc(size);
    memcpy(body, data + 1, size - 1);
    body[size - 1] = '\0';

    gw_payment_t p;
    char why[160];
    if (toss_parse_payment(body, size - 1, &p, why, sizeof(why)) == 0) {
        /* what the parser promises about an accepted object */
        if (p.payment_key[0] == '\0' || strlen(p.order_id) < 6 || p.total_amount < 0 ||
            strlen(p.method) >= sizeof(p.method))
            abort();
    }
    char code[GW_CODE_MAX], msg[GW_MESSAGE_MAX];
    if (toss_parse_error(body, size - 1, code, msg) == 0 && code[0] == '\0')
        abort();

    httpc_resp_t r = { .result = HTTPC_OK, .status = status, .body = body, .len = size - 1 };
    gw_result_t g;
    toss_interpret(&r, &g);
    if (g.outcome == GW_ANSWER_PAYMENT && status != 200)
        abort();
    if (g.outcome == GW_ANSWER_ERROR && (g.cls == GW_CLASS_NONE || status < 400))
        abort();
    free(body);
    return 0;
}
