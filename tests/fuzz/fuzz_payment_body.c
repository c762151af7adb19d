/* fuzz_payment_body.c: libFuzzer target for the bodies clients send to the
 * payment and points routes: the create body (POST /api/v1/payments), the
 * operator's adjustment (PATCH /internal/v1/users/points) and the strict
 * JSON layer under both. An accepted body must satisfy every rule the
 * handlers rely on; anything else (crash, sanitizer report) is a finding.
 *
 * Build (from the top of the tree, after configure has made config.h):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Isrc -Ibuild -D_GNU_SOURCE \
 *     $(pkg-config --cflags json-c) tests/fuzz/fuzz_payment_body.c \
 *     src/payment/body.c src/points/adjust.c src/common/jstrict.c src/common/str.c \
 *     src/common/err.c $(pkg-config --libs json-c) -o fuzz_payment_body
 *   ./fuzz_payment_body -max_total_time=60
 * tests/fuzz/run.sh (on main) builds and runs every tests/fuzz/fuzz_*.c against a
 * fuzzer-instrumented libmemberapi.a, with the seeds in tests/fuzz/corpus/<name>/. */
#include "payment/body.h"
#include "points/adjust.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The request body as the FastCGI layer delivers it: bytes plus a NUL. */
    char *body = malloc(size + 1);
    memcpy(body, data, size);
    body[size] = '\0';
    err_t e;
    payment_create_t c;
    if (payment_parse_create(body, size, 10000000, &c, &e) == 0) {
        if (!payment_order_id_valid(c.order_id) || c.user_id < 1 || c.amount < 1 ||
            c.amount > 10000000 || !payment_upper_token_valid(c.gateway, PAY_GATEWAY_MAX) ||
            !payment_upper_token_valid(c.pay_type, PAY_TYPE_MAX))
            abort();
    } else if (e.status != 400 || e.message[0] == '\0') {
        abort();
    }
    points_adjust_t a;
    if (points_parse_adjust(body, size, &a, &e) == 0) {
        if (a.user_id < 1 || a.amount == 0 || a.amount > POINTS_ADJUST_MAX ||
            a.amount < -POINTS_ADJUST_MAX || !points_idempotency_key_valid(a.idempotency_key) ||
            a.reason[0] == '\0')
            abort();
    } else if (e.status != 400) {
        abort();
    }
    free(body);
    return 0;
}
