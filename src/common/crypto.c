/* crypto.c: HMAC-SHA256, base64url and random bytes (see crypto.h). */
#include "common/crypto.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void crypto_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                        unsigned char out[CRYPTO_MAC_LEN])
{
    unsigned int len = CRYPTO_MAC_LEN;
    if (HMAC(EVP_sha256(), key, (int)keylen, msg, msglen, out, &len) == NULL)
        abort();
}

static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t crypto_b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    while (i + 2 < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64u[v >> 18];
        out[o++] = b64u[(v >> 12) & 63];
        out[o++] = b64u[(v >> 6) & 63];
        out[o++] = b64u[v & 63];
        i += 3;
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64u[v >> 18];
        out[o++] = b64u[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64u[v >> 18];
        out[o++] = b64u[(v >> 12) & 63];
        out[o++] = b64u[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

static int b64u_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

long crypto_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outcap)
{
    if (n % 4 == 1)
        return -1;
    size_t need = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (need > outcap)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64u_val(in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    /* leftover bits must be zero (canonical encoding) */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

void crypto_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            abort();
        }
        p += r;
        n -= (size_t)r;
    }
}

uint64_t crypto_fast_rand(void)
{
    /* xoshiro256** per thread */
    static __thread uint64_t s[4];
    static __thread int seeded;
    if (!seeded) {
        crypto_random(s, sizeof(s));
        seeded = 1;
    }
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

void crypto_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char buf[64];
    if (nbytes > sizeof(buf))
        nbytes = sizeof(buf);
    crypto_random(buf, nbytes);
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[buf[i] >> 4];
        out[2 * i + 1] = hex[buf[i] & 15];
    }
    out[2 * nbytes] = '\0';
}
