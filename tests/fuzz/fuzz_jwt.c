/* fuzz_jwt.c: libFuzzer target for the member token path (src/auth/auth.c):
 * auth_member_verify on client input, through libjwt and the strict header
 * and claims parsers.
 *
 * The first byte picks what the rest is:
 *   0: a whole token, as a client sends it;
 *   1: the claims JSON of a token signed with the right key (what a leaked
 *      secret would allow), so the claims checks see arbitrary input;
 *   2: the header JSON of such a token with valid claims, so the header
 *      checks and libjwt's header handling see arbitrary input;
 *   3: a user id for a mint / verify round trip.
 * Properties checked beyond "no crash, no sanitizer report":
 *   - a refusal always carries a reason, an acceptance a positive user id;
 *   - an accepted token is refused once its exp has passed (exp is required:
 *     no accepted token lives forever);
 *   - a token accepted whatever its header says is the claims' user;
 *   - a minted token verifies to the user it was minted for.
 * Built and run by tests/fuzz/run.sh (seed corpus in tests/fuzz/corpus/fuzz_jwt/). */
#include "auth/auth.h"
#include "common/crypto.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW    1700000000LL
#define SECRET "fuzz-member-jwt-secret-0123456789abcdef"
#define FAR    ((int64_t)1 << 42) /* after any exp the verifier accepts (<= 2^40) */

static void setup(void)
{
    static int done;
    if (done)
        return;
    char err[512];
    auth_jwt_config_t c = { .alg = "HS256",
                            .secret = SECRET,
                            .issuer = "fz",
                            .audience = "api",
                            .leeway_s = 30,
                            .ttl_s = 3600 };
    if (auth_load(&c, err, sizeof(err)) != 0)
        abort();
    done = 1;
}

/* Verifies tok at NOW; checks the properties of an answer. */
static void verify(const char *tok)
{
    int64_t uid = -1;
    const char *why = NULL;
    if (auth_member_verify(tok, NOW, &uid, &why) != 0) {
        if (why == NULL || uid != 0)
            abort();
        return;
    }
    if (uid <= 0)
        abort();
    int64_t later;
    if (auth_member_verify(tok, FAR, &later, &why) == 0)
        abort(); /* accepted without a usable exp */
}

/* header.claims signed with SECRET into out. */
static void signed_token(const char *header, size_t hn, const char *claims, size_t cn, char *out)
{
    size_t n = crypto_b64url_encode((const unsigned char *)header, hn, out);
    out[n++] = '.';
    n += crypto_b64url_encode((const unsigned char *)claims, cn, out + n);
    unsigned char mac[CRYPTO_MAC_LEN];
    crypto_hmac_sha256(SECRET, strlen(SECRET), out, n, mac);
    out[n++] = '.';
    crypto_b64url_encode(mac, sizeof(mac), out + n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size < 1 || size > 3000)
        return 0;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    static const char claims[] =
        "{\"sub\":\"7\",\"exp\":1700000600,\"iss\":\"fz\",\"aud\":\"api\"}";
    char tok[AUTH_TOKEN_MAX * 2 + 16];
    switch (data[0] % 4) {
    case 0: {
        char *s = malloc(n + 1);
        memcpy(s, rest, n);
        s[n] = '\0';
        verify(s);
        free(s);
        break;
    }
    case 1:
        signed_token(header, sizeof(header) - 1, rest, n, tok);
        verify(tok);
        break;
    case 2: {
        signed_token(rest, n, claims, sizeof(claims) - 1, tok);
        int64_t uid;
        if (auth_member_verify(tok, NOW, &uid, NULL) == 0 && uid != 7)
            abort();
        verify(tok);
        break;
    }
    default: {
        int64_t want = 0, exp = 0, got = 0;
        memcpy(&want, rest, n < sizeof(want) ? n : sizeof(want));
        if (want == 0 || want == INT64_MIN)
            want = 1;
        else if (want < 0)
            want = -want; /* any positive id */
        err_t e;
        if (auth_mint(want, NOW, tok, &exp, &e) != 0 ||
            auth_member_verify(tok, NOW, &got, NULL) != 0 || got != want)
            abort();
        break;
    }
    }
    return 0;
}
