/* crypto.h: HMAC-SHA256, base64url and random bytes.
 *
 * Tamper-evident values (list cursors, user tokens) are signed with
 * HMAC-SHA256 from OpenSSL's libcrypto: a well-kept Debian package does this
 * better than code we would write. */
#ifndef MA_COMMON_CRYPTO_H
#define MA_COMMON_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_MAC_LEN 32

void crypto_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                        unsigned char out[CRYPTO_MAC_LEN]);

/* base64url without padding. encode writes a NUL; out needs 4*ceil(n/3)+1.
 * decode returns the byte count or -1 on a bad character or length. */
size_t crypto_b64url_encode(const unsigned char *in, size_t n, char *out);
long crypto_b64url_decode(const char *in, size_t n, unsigned char *out, size_t outcap);

/* Random bytes from the kernel (getrandom); aborts if it cannot. */
void crypto_random(void *buf, size_t n);

/* Fast per-thread pseudo-random numbers for ids (seeded from crypto_random). */
uint64_t crypto_fast_rand(void);

/* n random bytes as 2n lowercase hex characters + NUL. */
void crypto_random_hex(char *out, size_t nbytes);

#endif
