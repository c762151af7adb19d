/* fuzz_cursor.c: libFuzzer target for the profile list cursor
 * (src/profile/profile_cursor.c) and the sort parser (profile_sort.c),
 * the two parsers of GET /api/v1/profiles that take raw client input.
 *
 * Properties checked beyond "no crash, no sanitizer report":
 *   - decode accepts only what it can re-encode to the very same string
 *     (a version-1 cursor, still read, re-encodes as version 2 with the
 *     same fields and no bind);
 *   - the bind digest (the search q, the view log's owner) survives the
 *     round trip, and profile_cursor_bound accepts exactly the bound string;
 *   - a cursor built from arbitrary fields either is refused by encode, or
 *     decodes back to the same fields, and only for its own sort;
 *   - arbitrary payloads signed with the right key (what a leaked secret
 *     would allow) reach the field parser behind the tag, which must refuse
 *     or accept them cleanly.
 *
 * Built and run by tests/fuzz/run.sh (every tests/fuzz/fuzz_*.c, seed corpus
 * in tests/fuzz/corpus/fuzz_cursor/). By hand:
 *   clang -std=gnu11 -D_GNU_SOURCE -Isrc -Ibuild-fuzz -g -fno-omit-frame-pointer \
 *     -fsanitize=fuzzer,address,undefined tests/fuzz/fuzz_cursor.c \
 *     build-fuzz/libmemberapi.a $(pkg-config --libs fcgi libpq hiredis json-c libcurl libcrypto) \
 *     -pthread -o fuzz_cursor && ./fuzz_cursor -max_len=1024
 * with build-fuzz configured CC=clang CFLAGS="-fsanitize=fuzzer-no-link,address,undefined". */
#include "profile/profile.h"
#include "common/crypto.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char KEY[] = "fuzz-cursor-secret-0123456789abcdef";

static void check_decode(const uint8_t *data, size_t size)
{
    char s[PROFILE_CURSOR_MAX + 64];
    /* the six list orders and the view log's cursor */
    profile_sort_t sort = (profile_sort_t)(data[0] % (PROFILE_CURSOR_VIEW_LOG + 1));
    size_t n = size - 1 < sizeof(s) - 1 ? size - 1 : sizeof(s) - 1;
    memcpy(s, data + 1, n);
    s[n] = '\0';
    profile_cursor_t c;
    const char *why = NULL;
    if (profile_cursor_decode(s, sort, &c, &why) != 0) {
        if (why == NULL)
            abort(); /* every refusal carries a reason for the 400 */
        return;
    }
    char again[PROFILE_CURSOR_MAX];
    if (c.sort != sort || profile_cursor_encode(&c, again, sizeof(again)) < 0 ||
        strcmp(again, s) != 0)
        abort();
}

static int64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (int64_t)v;
}

static void check_encode(const uint8_t *data, size_t size)
{
    if (size < 26)
        return;
    profile_cursor_t c;
    memset(&c, 0, sizeof(c));
    c.sort = (profile_sort_t)(data[1] % (PROFILE_CURSOR_VIEW_LOG + 2)); /* one invalid value */
    c.id = rd64(data + 2);
    c.offset = rd64(data + 10);
    c.key = rd64(data + 18);
    c.name_len = size - 26 > PROFILE_NAME_MAX_BYTES ? PROFILE_NAME_MAX_BYTES : size - 26;
    memcpy(c.name, data + 26, c.name_len);
    c.name[c.name_len] = '\0';
    /* bound to the name bytes as a string (empty: no bind) */
    char bind[PROFILE_NAME_MAX_BYTES + 1];
    size_t bl = strnlen(c.name, c.name_len);
    memcpy(bind, c.name, bl);
    bind[bl] = '\0';
    profile_cursor_bind(&c, bind);
    char enc[PROFILE_CURSOR_MAX];
    if (profile_cursor_encode(&c, enc, sizeof(enc)) < 0)
        return;
    profile_cursor_t d;
    const char *why;
    if (profile_cursor_decode(enc, c.sort, &d, &why) != 0 || d.id != c.id || d.offset != c.offset)
        abort();
    if (profile_sort_by_name(c.sort)
            ? (d.name_len != c.name_len || memcmp(d.name, c.name, c.name_len) != 0)
            : d.key != c.key)
        abort();
    if (!profile_cursor_bound(&d, bind))
        abort();
    char other_bind[PROFILE_NAME_MAX_BYTES + 2];
    memcpy(other_bind, bind, bl);
    memcpy(other_bind + bl, "x", 2);
    if (profile_cursor_bound(&d, other_bind))
        abort();
    profile_sort_t other = (profile_sort_t)((c.sort + 1) % (PROFILE_CURSOR_VIEW_LOG + 1));
    if (profile_cursor_decode(enc, other, &d, &why) == 0)
        abort();
}

static void check_signed(const uint8_t *data, size_t size)
{
    unsigned char buf[512], mac[CRYPTO_MAC_LEN];
    size_t n = size - 1 > 400 ? 400 : size - 1;
    memcpy(buf, data + 1, n);
    crypto_hmac_sha256(KEY, sizeof(KEY) - 1, buf, n, mac);
    memcpy(buf + n, mac, PROFILE_CURSOR_TAG_LEN);
    char enc[PROFILE_CURSOR_MAX + 128];
    crypto_b64url_encode(buf, n + PROFILE_CURSOR_TAG_LEN, enc);
    profile_cursor_t c;
    const char *why;
    profile_sort_t sort = (profile_sort_t)(data[0] % (PROFILE_CURSOR_VIEW_LOG + 1));
    if (profile_cursor_decode(enc, sort, &c, &why) != 0)
        return;
    char again[PROFILE_CURSOR_MAX];
    if (profile_cursor_encode(&c, again, sizeof(again)) < 0)
        abort();
    if (n > 0 && buf[0] == 1) {
        /* version 1: re-encoded as version 2, same fields, no bind */
        profile_cursor_t d;
        if (profile_cursor_decode(again, sort, &d, &why) != 0 || d.id != c.id ||
            d.offset != c.offset || d.key != c.key || d.name_len != c.name_len ||
            !profile_cursor_bound(&d, NULL))
            abort();
    } else if (strcmp(again, enc) != 0) {
        abort();
    }
}

static void check_sort(const uint8_t *data, size_t size)
{
    char s[64];
    size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
    memcpy(s, data, n);
    s[n] = '\0';
    profile_sort_t sort;
    if (profile_sort_parse(s, &sort) == 0 && (sort < 0 || sort >= PROFILE_SORT__COUNT))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    if (!init) {
        profile_cursor_set_key(KEY, sizeof(KEY) - 1);
        init = 1;
    }
    if (size == 0)
        return 0;
    check_decode(data, size);
    check_encode(data, size);
    check_signed(data, size);
    check_sort(data, size);
    return 0;
}
