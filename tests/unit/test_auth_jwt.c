/* test_auth_jwt.c: member JSON Web Tokens (src/auth/auth.c): what is
 * accepted, and every way a token must be refused: another algorithm than
 * the configured one (none, HS256 keyed with the RS256 public key), a wrong
 * kid, bad sub, expired, not yet valid, wrong issuer or audience, truncated,
 * re-signed, duplicate claims; key loading errors that stop the start; and
 * the minting of HS256 tokens. Tokens are built here, signed with libjwt or
 * by hand. The keys below are test-only keys made for this file. */
#include "auth/auth.h"
#include "common/crypto.h"
#include "unit.h"

#include <jwt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOW    1700000000LL
#define SECRET "unit-test-secret-0123456789abcdef-xyz"

static const char RSA_PEM[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCZoemopW4WV5dT\n"
                              "JCnUsd12pXPUBvwBC7OHGxPwvR6xEmSwNQe1o8muuHnQjYMA4ZulnsTw9Bl75txB\n"
                              "ImEgUVDEMk/hHI/BkcemRMXBA3tfamAAjVfnqItrOpqCOTJTo/U0NjtYEZp2a/eY\n"
                              "8HxMT+VywWRt4K5U91havELNOdr/Kqo4l06i2a56kqeng4erlFtbun4Ti89f7yhH\n"
                              "V8HcYAAMXIapymt7GjIJa8imRkh78uImf2frHzrVfBY+P74/SB9/tqMLn6qo2kZN\n"
                              "AGdiASaDbzy/X7W0l/k5j4od/SCRnxZEbg4k0lUXOKtyvpDlN8cuO+mxtsWMzhjK\n"
                              "EYgKK2PfAgMBAAECggEAC7FJeGw4GoY0aP+obrIncfIPWd864GoqEd8gijgdNQp6\n"
                              "fvis615EVBe2hFteJuaEyJBIBTNRbzR3pei+bfhnsQ7yimZN60RePAwhkC+PfQhl\n"
                              "DGsKz4GXNCQugeO62KfIBTRtbtCkKggh53zCEQgcT+VicIRi8D+E9MmS503/Ggq1\n"
                              "2AyFBDmTH/Pi6Go220P/x04rfMEfJKcGVJzaRBebqFWAcNdEjG/JWLMMsdghFzbh\n"
                              "r1xWSZIShFP69Bxgo7GOE5Emwej4dYCsvizXJo3ZRcD0a7p8oO8lm2wj5ztvcD6I\n"
                              "YUyb4ht8Mfycm5/U0zq9YVxOjiOViXFS4+dXbj6L5QKBgQDPp4bpqeJufwhPzMS9\n"
                              "hANzK3o2S5wuLsSiSQdUDd/R6iwERixE0DgrksreTBv09uFyrGwWEDsRHgwnraEe\n"
                              "YEjAdBlmm4uhR6WqgaGA69KK5xOXYHjZZLGRXA4DxCGZFojp/1R390mH0br2fEiS\n"
                              "9OdUMM21WYoSboog3I0K6mkYgwKBgQC9Zpu2ZT1THebfO+w08hE3ico+aNexHUcT\n"
                              "+gcXhhZ2uh6+0K5XVrOR+3Z1RLqnue8lpGIWWTwT9+1WnxfmosrCCUjKPJ0FXFKh\n"
                              "LJNlvoZHmGCQcBeBvq3gtvci3T+9qYC+IHRcyRkr+dKIlItwljxZj9ec7iOHdwwv\n"
                              "19i2fgkQdQKBgFPYUvM6M0FmbZa7GZ1kFniET55ovTEwlRjp39mimIMLyKYZJ3rJ\n"
                              "kESXyu4jUQ6CONmyoRnvh8oLleDXjLzVJ8r9ldwGZkTCxzOnj+ycS7DmSNTQkTtG\n"
                              "GySURNxkbyR/It1IyXR/FuOOXa101WDxHg6yff0BoGx80a0fIJwNtk29AoGBALbh\n"
                              "if8/mExWdiQdZ0Hkbw1yhg9nCsYhYA2BAjILrkssAh37wCvjMvcFmWc4WwczeSCe\n"
                              "rnun5GPfpJNcgSaZEDD16AwnJPMVJ1Ari5PVuTEOiEdPhNMp/Bkcclt+yVpofkCX\n"
                              "c+RX5W9aBZkN3epzlohgZTBJnZLjN6hGwiHMZxI1AoGANMHVMI9sQk1koIyfsRPn\n"
                              "unzPFwmkapZAcVeJ0bfJXnMHrLwssgrL/N4kcqFA2gUVDMfLErMWXAKFwJlS3UVH\n"
                              "V5QEyo3ZCljJVLcVO53pZLB+hYByUQZhSrrXGLgzrNbAn5STm51HQLqe8Mp0EuBs\n"
                              "Hq69Jy0Mx5FYtQPL3YeSaPg=\n"
                              "-----END PRIVATE KEY-----\n";
static const char RSA_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
                              "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmaHpqKVuFleXUyQp1LHd\n"
                              "dqVz1Ab8AQuzhxsT8L0esRJksDUHtaPJrrh50I2DAOGbpZ7E8PQZe+bcQSJhIFFQ\n"
                              "xDJP4RyPwZHHpkTFwQN7X2pgAI1X56iLazqagjkyU6P1NDY7WBGadmv3mPB8TE/l\n"
                              "csFkbeCuVPdYWrxCzTna/yqqOJdOotmuepKnp4OHq5RbW7p+E4vPX+8oR1fB3GAA\n"
                              "DFyGqcprexoyCWvIpkZIe/LiJn9n6x861XwWPj++P0gff7ajC5+qqNpGTQBnYgEm\n"
                              "g288v1+1tJf5OY+KHf0gkZ8WRG4OJNJVFzircr6Q5TfHLjvpsbbFjM4YyhGICitj\n"
                              "3wIDAQAB\n"
                              "-----END PUBLIC KEY-----\n";
static const char EC_PEM[] = "-----BEGIN EC PRIVATE KEY-----\n"
                             "MHcCAQEEILStYpwh5QTSTA14U8Ylxpkc2OcVVlDdVbG8/N/Tvw8moAoGCCqGSM49\n"
                             "AwEHoUQDQgAE5KQNdcvZF6N6c2bTloF5txMGQ67QamBIgFhltYAaVNDrrUNLLy4Z\n"
                             "Lo0Tx/DVAJNr/9vZqXGgdg6KOKfXMQv3Wg==\n"
                             "-----END EC PRIVATE KEY-----\n";
static const char EC_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
                             "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE5KQNdcvZF6N6c2bTloF5txMGQ67Q\n"
                             "amBIgFhltYAaVNDrrUNLLy4ZLo0Tx/DVAJNr/9vZqXGgdg6KOKfXMQv3Wg==\n"
                             "-----END PUBLIC KEY-----\n";
static const char EC384_PUB[] = "-----BEGIN PUBLIC KEY-----\n"
                                "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEyEUmAvXViacMtwEo4uQ2iJ2zL4mSEhhr\n"
                                "JHOJnLn4knrWviytqo8sXNOfwXuOElCvAywPD/2YFRTNQfKFoUpr/ZGVNWHqiUe7\n"
                                "q5xmhmH6wgsvTKS3mwzOWAkwzuudzVJ/\n"
                                "-----END PUBLIC KEY-----\n";
static const char RSA2_PEM[] = "-----BEGIN PRIVATE KEY-----\n"
                               "MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQChnXeZ7gY2GmOE\n"
                               "QZrqia2b7iLNaj7Zgxjy7D6xxNhrALr6RcYO8DhOcz4vra2+qwF5vE30RW2C6GMb\n"
                               "wx/YN+lLkmKlsfHKzTcLg1DGQ0M8wLzkZHh/WNzKkUfddpcCs2M0idWtkzEuC0cM\n"
                               "nJAPZFxgqgGqqNN+yRrlmYrK0vsN5DCZwjie703T4+s22dAlb/Y/vwXranV+nTv/\n"
                               "sfu+aEAQBfFUjAqrT92ufSSfSBu/CiXJXjwk9QbH9xYLHTpgt5VcEmn6/CDBCRo6\n"
                               "Bl2yvwqORdgXQQHdbrwoDrjW/HXGDULaZ8oMFs/nQUHrigzCN1e2CUj9tc8bGNHD\n"
                               "PTfk0ew/AgMBAAECggEAStyruaBhvS8FGQ7gqTLEOf4ZnehQm6XX6TLYqbTigNJS\n"
                               "SjsGzwWkN2a3kBNV74O8B71bqMJ+Q0zNF9+PQTNI/EofKtyeAZCEpm8Z+/TNUPeA\n"
                               "qBUIIgkyIR0h2mqj8crRsdUFJ0WO2uK7cxKUwqR9DAPECN7yNQEH1gIFIgWP6HMl\n"
                               "occAT89+Mpp2EN5SKOkTDdNSpzlxSeIapFE61NoiSh7GQWhtryom/VwR0ImFE8HX\n"
                               "YJTFR5UWKihbBPm/A4EGDDPkhOklRU6d1g5ITU1rA5mR8be2AV01eK1p2cBUgMqf\n"
                               "+lnW3pWGRVWhkhiNq6hDtnmhoPgSbN2dKcxIo1ny8QKBgQDc11dDsB26CyQDort8\n"
                               "UcRUVUzLJA6Xv1TR/HqZ/FNC5gNXdztwr21Gym1mUBPlYiUzfBe0Uzope+I3eXQd\n"
                               "oi8cb9gbp1dVtRLs/cbN+lYQwPbHGhkpa1NZJ1VFHuedbqeuU4s08O20RFPeRqPy\n"
                               "FoOTF+7weIDmj/5NFvUUNqWg7wKBgQC7WEsn4JTaMYFZLchc4brwOm20n932uPey\n"
                               "7phLiF4vTs9/wlUZgkBNYsos2bO+14RXyrETkuKj2+qG0GT81zlhWvOT7clH0LNm\n"
                               "aJdlFmAX5PmT+3Nub5NINEeSCswyvqFtAJU0e7WGQQkVX2+9EqR40jkxNsm5P5Dq\n"
                               "RLSzOi7JsQKBgAhagOuHiuhRqZAVpL/kG+gQvfHlMEQfMacrxLt0ZvXd23yAfxgZ\n"
                               "GqoV2COJnecMWlnjNMZWa5nMHNd6WaERVHTf6i3Jm60bR1b9lnqOIJlLo0oOu6rs\n"
                               "a1+w9DHEJIC5AdC/SkG7Z1JtTzrWMzdiEKIMwrYH6OBPzA/AcY7NLmCzAoGBAKGT\n"
                               "zgYPmPHynneWl+cbvInyKqoM83gWIXQOegUzEOBGXYn3xkOg5eqYWHyEKpVe9UJu\n"
                               "i3ixR41BX610UJUM3u1LbybXf7DTm9aoQGKsAKa7ElICHZVS37j3df7MFz9w0HLd\n"
                               "fNHuHCo1Lytiy1FLodSeozsB4MtHuqmCJkMp3C6RAoGBAJoYgKtBmgBnUUs6EWSl\n"
                               "cSgLlwvab2SCwHgwd8MYcqheajAWXRQ6PAFFWlKHwKE8b68gjFl7lngmLgMgDMKD\n"
                               "uXVUUNlalzxZruxgjJkuAEQhvm50RPU2RwoQMP75a8QRE52lLpeQzxUsbSG6wzIp\n"
                               "o9SUfndnXSto/YkFfgJ8VHpU\n"
                               "-----END PRIVATE KEY-----\n";

static char tmp_paths[64][64];
static int ntmp;

/* A file holding text; removed at exit. */
static const char *tmp_file(const char *text)
{
    char *p = tmp_paths[ntmp++];
    snprintf(p, 64, "/tmp/test_auth_jwt_XXXXXX");
    int fd = mkstemp(p);
    CU_ASSERT_FATAL(fd >= 0);
    size_t n = strlen(text);
    CU_ASSERT_FATAL(write(fd, text, n) == (ssize_t)n);
    close(fd);
    return p;
}

static void cleanup(void)
{
    for (int i = 0; i < ntmp; i++)
        unlink(tmp_paths[i]);
}

static int load(const char *alg, const char *secret, const char *pem, const char *iss,
                const char *aud, const char *kid, char *err)
{
    auth_jwt_config_t c = {
        .alg = alg,
        .secret = secret,
        .public_key_file = pem ? tmp_file(pem) : NULL,
        .issuer = iss,
        .audience = aud,
        .kid = kid,
        .leeway_s = 30,
        .ttl_s = 3600,
    };
    return auth_load(&c, err, 512);
}

static void load_hs(void)
{
    char err[512];
    CU_ASSERT_EQUAL_FATAL(load("HS256", SECRET, NULL, "iss-test", "aud-test", NULL, err), 0);
}

/* A token signed by libjwt with alg and key; header_json adds header
 * members (may be NULL), claims_json are the claims. Caller frees. */
static char *sign(jwt_alg_t alg, const void *key, size_t keylen, const char *header_json,
                  const char *claims_json)
{
    jwt_t *j = NULL;
    CU_ASSERT_EQUAL_FATAL(jwt_new(&j), 0);
    CU_ASSERT_EQUAL_FATAL(jwt_add_grants_json(j, claims_json), 0);
    if (header_json)
        CU_ASSERT_EQUAL_FATAL(jwt_add_headers_json(j, header_json), 0);
    CU_ASSERT_EQUAL_FATAL(jwt_set_alg(j, alg, key, (int)keylen), 0);
    char *t = jwt_encode_str(j);
    jwt_free(j);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    return t;
}

static char *hs(const char *claims)
{
    return sign(JWT_ALG_HS256, SECRET, strlen(SECRET), NULL, claims);
}

/* header.claims.HMAC-SHA256(key) built by hand, for tokens libjwt would not
 * write (alg none, duplicate members, odd headers). sig NULL: computed. */
static void raw(const char *header, const char *claims, const char *key, const char *sig, char *out)
{
    char h[1024], c[2048];
    crypto_b64url_encode((const unsigned char *)header, strlen(header), h);
    crypto_b64url_encode((const unsigned char *)claims, strlen(claims), c);
    int n = sprintf(out, "%s.%s", h, c);
    if (sig) {
        sprintf(out + n, ".%s", sig);
        return;
    }
    unsigned char mac[CRYPTO_MAC_LEN];
    char b64[48];
    crypto_hmac_sha256(key, strlen(key), out, (size_t)n, mac);
    crypto_b64url_encode(mac, sizeof(mac), b64);
    sprintf(out + n, ".%s", b64);
}

static int64_t verify(const char *token)
{
    int64_t uid = -7;
    const char *why = NULL;
    if (auth_member_verify(token, NOW, &uid, &why) != 0) {
        CU_ASSERT_PTR_NOT_NULL(why);
        CU_ASSERT_EQUAL(uid, 0);
        return -1;
    }
    return uid;
}

/* Claims valid at NOW for the HS256 configuration, with sub. */
#define CLAIMS(sub)                                                                                \
    "{\"sub\":" sub                                                                                \
    ",\"exp\":1700000600,\"iat\":1699999990,\"iss\":\"iss-test\",\"aud\":\"aud-test\"}"

static void expect_hs(const char *claims, int64_t want)
{
    char *t = hs(claims);
    int64_t got = verify(t);
    if (got != want)
        fprintf(stderr, "\n  claims %s: got %lld, expected %lld\n", claims, (long long)got,
                (long long)want);
    CU_ASSERT_EQUAL(got, want);
    free(t);
}

static void test_hs256_valid(void)
{
    load_hs();
    expect_hs(CLAIMS("\"42\""), 42);
    expect_hs(CLAIMS("43"), 43);
    expect_hs(CLAIMS("\"9223372036854775807\""), INT64_MAX);
    /* aud as an array that contains ours; no iat; nbf in the past */
    expect_hs("{\"sub\":\"5\",\"exp\":1700000600,\"iss\":\"iss-test\",\"aud\":[\"x\",\"aud-test\"],"
              "\"nbf\":1699990000}",
              5);
}

static void test_bad_sub(void)
{
    load_hs();
    expect_hs(CLAIMS("\"0\""), -1);
    expect_hs(CLAIMS("0"), -1);
    expect_hs(CLAIMS("\"-3\""), -1);
    expect_hs(CLAIMS("-3"), -1);
    expect_hs(CLAIMS("\"abc\""), -1);
    expect_hs(CLAIMS("\"42abc\""), -1);
    expect_hs(CLAIMS("\"007\""), -1);
    expect_hs(CLAIMS("\" 7\""), -1);
    expect_hs(CLAIMS("1.5"), -1);
    expect_hs(CLAIMS("null"), -1);
    expect_hs(CLAIMS("true"), -1);
    expect_hs(CLAIMS("[7]"), -1);
    expect_hs(CLAIMS("\"9223372036854775808\""), -1);
    expect_hs("{\"exp\":1700000600,\"iss\":\"iss-test\",\"aud\":\"aud-test\"}", -1);
}

static void test_times(void)
{
    load_hs();
    /* exp is required, an integer, and checked with the 30 s leeway */
    expect_hs("{\"sub\":\"1\",\"iss\":\"iss-test\",\"aud\":\"aud-test\"}", -1);
    expect_hs("{\"sub\":\"1\",\"exp\":\"1700000600\",\"iss\":\"iss-test\",\"aud\":\"aud-test\"}",
              -1);
    expect_hs("{\"sub\":\"1\",\"exp\":1700000600.5,\"iss\":\"iss-test\",\"aud\":\"aud-test\"}", -1);
    expect_hs("{\"sub\":\"1\",\"exp\":1699999969,\"iss\":\"iss-test\",\"aud\":\"aud-test\"}", -1);
    expect_hs("{\"sub\":\"1\",\"exp\":1699999970,\"iss\":\"iss-test\",\"aud\":\"aud-test\"}", -1);
    expect_hs("{\"sub\":\"1\",\"exp\":1699999971,\"iss\":\"iss-test\",\"aud\":\"aud-test\"}", 1);
    /* nbf / iat in the future beyond the leeway */
    expect_hs("{\"sub\":\"1\",\"exp\":1700009999,\"nbf\":1700000031,\"iss\":\"iss-test\","
              "\"aud\":\"aud-test\"}",
              -1);
    expect_hs("{\"sub\":\"1\",\"exp\":1700009999,\"nbf\":1700000030,\"iss\":\"iss-test\","
              "\"aud\":\"aud-test\"}",
              1);
    expect_hs("{\"sub\":\"1\",\"exp\":1700009999,\"iat\":1700000031,\"iss\":\"iss-test\","
              "\"aud\":\"aud-test\"}",
              -1);
    expect_hs("{\"sub\":\"1\",\"exp\":1700009999,\"nbf\":\"x\",\"iss\":\"iss-test\","
              "\"aud\":\"aud-test\"}",
              -1);
}

static void test_issuer_audience(void)
{
    load_hs();
    expect_hs("{\"sub\":\"1\",\"exp\":1700000600,\"iss\":\"other\",\"aud\":\"aud-test\"}", -1);
    expect_hs("{\"sub\":\"1\",\"exp\":1700000600,\"aud\":\"aud-test\"}", -1);
    expect_hs("{\"sub\":\"1\",\"exp\":1700000600,\"iss\":\"iss-test\"}", -1);
    expect_hs("{\"sub\":\"1\",\"exp\":1700000600,\"iss\":\"iss-test\",\"aud\":\"aud-other\"}", -1);
    expect_hs("{\"sub\":\"1\",\"exp\":1700000600,\"iss\":\"iss-test\",\"aud\":[\"a\",\"b\"]}", -1);
    expect_hs("{\"sub\":\"1\",\"exp\":1700000600,\"iss\":\"iss-test\",\"aud\":[]}", -1);
    expect_hs("{\"sub\":\"1\",\"exp\":1700000600,\"iss\":\"iss-test\",\"aud\":[\"aud-test\",7]}",
              -1);
    /* Without MEMBER_JWT_AUDIENCE a token that names an audience is not for us
     * (RFC 7519 4.1.3); without MEMBER_JWT_ISSUER any iss passes. */
    char err[512];
    CU_ASSERT_EQUAL_FATAL(load("HS256", SECRET, NULL, "", "", NULL, err), 0);
    expect_hs("{\"sub\":\"1\",\"exp\":1700000600,\"iss\":\"anyone\"}", 1);
    expect_hs("{\"sub\":\"1\",\"exp\":1700000600,\"aud\":\"someone\"}", -1);
}

static void test_alg_none_and_others(void)
{
    load_hs();
    char t[4096];
    const char *claims = CLAIMS("\"1\"");
    raw("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, SECRET, "", t);
    CU_ASSERT_EQUAL(verify(t), -1);
    /* none with some signature: still refused (the header's alg) */
    raw("{\"alg\":\"none\",\"typ\":\"JWT\"}", claims, SECRET, "AAAA", t);
    CU_ASSERT_EQUAL(verify(t), -1);
    /* HS384/HS512 keyed with our secret: not the configured algorithm */
    char *h = sign(JWT_ALG_HS512, SECRET, strlen(SECRET), NULL, claims);
    CU_ASSERT_EQUAL(verify(h), -1);
    free(h);
    /* the right MAC, but the header says HS384 */
    raw("{\"alg\":\"HS384\",\"typ\":\"JWT\"}", claims, SECRET, NULL, t);
    CU_ASSERT_EQUAL(verify(t), -1);
    /* the same token with HS256 is fine: the checks above are the header's */
    raw("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims, SECRET, NULL, t);
    CU_ASSERT_EQUAL(verify(t), 1);
    /* typ other than JWT, crit, alg missing or not a string */
    raw("{\"alg\":\"HS256\",\"typ\":\"JOSE+JSON\"}", claims, SECRET, NULL, t);
    CU_ASSERT_EQUAL(verify(t), -1);
    raw("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", claims, SECRET, NULL, t);
    CU_ASSERT_EQUAL(verify(t), -1);
    raw("{\"typ\":\"JWT\"}", claims, SECRET, NULL, t);
    CU_ASSERT_EQUAL(verify(t), -1);
    raw("{\"alg\":[\"HS256\"]}", claims, SECRET, NULL, t);
    CU_ASSERT_EQUAL(verify(t), -1);
}

static void test_rs256_key_confusion(void)
{
    char err[512];
    CU_ASSERT_EQUAL_FATAL(load("RS256", NULL, RSA_PUB, "iss-test", "aud-test", NULL, err), 0);
    const char *claims = CLAIMS("\"77\"");
    char *good = sign(JWT_ALG_RS256, RSA_PEM, strlen(RSA_PEM), NULL, claims);
    CU_ASSERT_EQUAL(verify(good), 77);
    /* the classic confusion: HS256 with the public key as the HMAC secret */
    char *conf = sign(JWT_ALG_HS256, RSA_PUB, strlen(RSA_PUB), NULL, claims);
    CU_ASSERT_EQUAL(verify(conf), -1);
    /* and the same with the PEM without its final newline */
    char *conf2 = sign(JWT_ALG_HS256, RSA_PUB, strlen(RSA_PUB) - 1, NULL, claims);
    CU_ASSERT_EQUAL(verify(conf2), -1);
    /* libjwt itself accepts the confused token: the check above is ours */
    jwt_t *j = NULL;
    CU_ASSERT_EQUAL(jwt_decode(&j, conf, (const unsigned char *)RSA_PUB, (int)strlen(RSA_PUB)), 0);
    jwt_free(j);
    /* signed by another RSA key */
    char *other = sign(JWT_ALG_RS256, RSA2_PEM, strlen(RSA2_PEM), NULL, claims);
    CU_ASSERT_EQUAL(verify(other), -1);
    /* a valid RS256 token, truncated */
    good[strlen(good) - 1] = '\0';
    CU_ASSERT_EQUAL(verify(good), -1);
    /* HS256 tokens are not accepted at all under RS256 */
    char *h = hs(claims);
    CU_ASSERT_EQUAL(verify(h), -1);
    free(good);
    free(conf);
    free(conf2);
    free(other);
    free(h);
}

static void test_es256(void)
{
    char err[512];
    CU_ASSERT_EQUAL_FATAL(load("ES256", NULL, EC_PUB, "iss-test", "aud-test", NULL, err), 0);
    const char *claims = CLAIMS("\"9\"");
    char *good = sign(JWT_ALG_ES256, EC_PEM, strlen(EC_PEM), NULL, claims);
    CU_ASSERT_EQUAL(verify(good), 9);
    char *conf = sign(JWT_ALG_HS256, EC_PUB, strlen(EC_PUB), NULL, claims);
    CU_ASSERT_EQUAL(verify(conf), -1);
    char *rs = sign(JWT_ALG_RS256, RSA_PEM, strlen(RSA_PEM), NULL, claims);
    CU_ASSERT_EQUAL(verify(rs), -1);
    free(good);
    free(conf);
    free(rs);
}

static void test_kid(void)
{
    char err[512];
    const char *claims = CLAIMS("\"3\"");
    /* no MEMBER_JWT_KID: a token naming a key is refused */
    load_hs();
    char *k1 = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), "{\"kid\":\"k1\"}", claims);
    char *k2 = sign(JWT_ALG_HS256, SECRET, strlen(SECRET), "{\"kid\":\"k2\"}", claims);
    char *none = hs(claims);
    CU_ASSERT_EQUAL(verify(k1), -1);
    CU_ASSERT_EQUAL(verify(none), 3);
    /* MEMBER_JWT_KID=k1: exactly that kid */
    CU_ASSERT_EQUAL_FATAL(load("HS256", SECRET, NULL, "iss-test", "aud-test", "k1", err), 0);
    CU_ASSERT_EQUAL(verify(k1), 3);
    CU_ASSERT_EQUAL(verify(k2), -1);
    CU_ASSERT_EQUAL(verify(none), -1);
    free(k1);
    free(k2);
    free(none);
}

static void test_malformed(void)
{
    load_hs();
    char *t = hs(CLAIMS("\"8\""));
    CU_ASSERT_EQUAL(verify(t), 8);
    size_t n = strlen(t);
    char buf[8192];
    /* truncated at every length */
    for (size_t i = 0; i < n; i++) {
        memcpy(buf, t, i);
        buf[i] = '\0';
        CU_ASSERT_EQUAL(verify(buf), -1);
    }
    /* a trailing dot, a fourth segment, padding, whitespace, a changed byte */
    snprintf(buf, sizeof(buf), "%s.", t);
    CU_ASSERT_EQUAL(verify(buf), -1);
    snprintf(buf, sizeof(buf), "%s.e30", t);
    CU_ASSERT_EQUAL(verify(buf), -1);
    snprintf(buf, sizeof(buf), "%s=", t);
    CU_ASSERT_EQUAL(verify(buf), -1);
    snprintf(buf, sizeof(buf), "%s ", t);
    CU_ASSERT_EQUAL(verify(buf), -1);
    for (size_t i = 0; i < n; i++) {
        if (t[i] == '.')
            continue;
        memcpy(buf, t, n + 1);
        buf[i] = buf[i] == 'A' ? 'B' : 'A';
        int64_t got = verify(buf);
        /* the last base64url character of a segment may carry unused bits;
         * canonical decoding refuses those too */
        CU_ASSERT_EQUAL(got, -1);
    }
    /* far too long */
    memset(buf, 'a', sizeof(buf) - 1);
    buf[sizeof(buf) - 1] = '\0';
    buf[100] = '.';
    buf[200] = '.';
    CU_ASSERT_EQUAL(verify(buf), -1);
    CU_ASSERT_EQUAL(verify(""), -1);
    CU_ASSERT_EQUAL(verify(".."), -1);
    free(t);
}

static void test_resigned_and_duplicates(void)
{
    load_hs();
    char *t =
        sign(JWT_ALG_HS256, "another-secret-of-enough-length-000000", 38, NULL, CLAIMS("\"1\""));
    CU_ASSERT_EQUAL(verify(t), -1);
    free(t);
    char r[4096];
    /* correctly signed, but two subs (jansson would keep the last) */
    raw("{\"alg\":\"HS256\",\"typ\":\"JWT\"}",
        "{\"sub\":\"1\",\"sub\":\"2\",\"exp\":1700000600,\"iss\":\"iss-test\",\"aud\":\"aud-"
        "test\"}",
        SECRET, NULL, r);
    CU_ASSERT_EQUAL(verify(r), -1);
    /* claims that are not an object, or not JSON */
    raw("{\"alg\":\"HS256\"}", "[1]", SECRET, NULL, r);
    CU_ASSERT_EQUAL(verify(r), -1);
    raw("{\"alg\":\"HS256\"}", "{'sub':'1'}", SECRET, NULL, r);
    CU_ASSERT_EQUAL(verify(r), -1);
}

static void test_key_loading(void)
{
    char err[512];
    load_hs();
    char *keep = hs(CLAIMS("\"11\""));
    CU_ASSERT_EQUAL(verify(keep), 11);
    /* a short secret: the message names the key, never the value */
    CU_ASSERT_EQUAL(load("HS256", "short-secret-value", NULL, "", "", NULL, err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "MEMBER_JWT_SECRET"));
    CU_ASSERT_PTR_NULL(strstr(err, "short-secret-value"));
    CU_ASSERT_EQUAL(load("HS256", NULL, NULL, "", "", NULL, err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "MEMBER_JWT_SECRET"));
    /* RS256 without a key file, with an unreadable one, with a private key,
     * with an EC key; ES256 with an RSA or a P-384 key */
    CU_ASSERT_EQUAL(load("RS256", NULL, NULL, "", "", NULL, err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "MEMBER_JWT_PUBLIC_KEY_FILE"));
    auth_jwt_config_t c = { .alg = "RS256", .public_key_file = "/nonexistent/key.pem" };
    CU_ASSERT_EQUAL(auth_load(&c, err, sizeof(err)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "MEMBER_JWT_PUBLIC_KEY_FILE"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/key.pem"));
    CU_ASSERT_EQUAL(load("RS256", NULL, RSA_PEM, "", "", NULL, err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "not a PEM public key"));
    CU_ASSERT_PTR_NULL(strstr(err, "MII"));
    CU_ASSERT_EQUAL(load("RS256", NULL, EC_PUB, "", "", NULL, err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "RSA"));
    CU_ASSERT_EQUAL(load("ES256", NULL, RSA_PUB, "", "", NULL, err), -1);
    CU_ASSERT_EQUAL(load("ES256", NULL, EC384_PUB, "", "", NULL, err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "P-256"));
    CU_ASSERT_EQUAL(load("RS256", NULL, "garbage\n", "", "", NULL, err), -1);
    /* both a secret and a key file, or an unknown algorithm */
    CU_ASSERT_EQUAL(load("RS256", SECRET, RSA_PUB, "", "", NULL, err), -1);
    CU_ASSERT_PTR_NULL(strstr(err, SECRET));
    CU_ASSERT_EQUAL(load("HS256", SECRET, RSA_PUB, "", "", NULL, err), -1);
    CU_ASSERT_EQUAL(load("PS256", NULL, RSA_PUB, "", "", NULL, err), -1);
    /* none of the failures changed the keys in use */
    CU_ASSERT_EQUAL(verify(keep), 11);
    free(keep);
}

static void test_mint(void)
{
    char err[512], tok[AUTH_TOKEN_MAX + 1];
    int64_t exp = 0;
    err_t e;
    CU_ASSERT_EQUAL_FATAL(load("HS256", SECRET, NULL, "iss-test", "aud-test", "k1", err), 0);
    CU_ASSERT_EQUAL_FATAL(auth_mint(12345, NOW, tok, &exp, &e), 0);
    CU_ASSERT_EQUAL(exp, NOW + 3600);
    CU_ASSERT_EQUAL(verify(tok), 12345);
    /* what it carries, read back with libjwt */
    jwt_t *j = NULL;
    CU_ASSERT_EQUAL_FATAL(jwt_decode(&j, tok, (const unsigned char *)SECRET, (int)strlen(SECRET)),
                          0);
    CU_ASSERT_EQUAL(jwt_get_alg(j), JWT_ALG_HS256);
    ASSERT_STR(jwt_get_grant(j, "sub"), "12345");
    ASSERT_STR(jwt_get_grant(j, "iss"), "iss-test");
    ASSERT_STR(jwt_get_grant(j, "aud"), "aud-test");
    ASSERT_STR(jwt_get_header(j, "kid"), "k1");
    CU_ASSERT_EQUAL(jwt_get_grant_int(j, "exp"), NOW + 3600);
    jwt_free(j);
    /* valid until exp + leeway, not after */
    int64_t uid;
    CU_ASSERT_EQUAL(auth_member_verify(tok, NOW + 3600 + 29, &uid, NULL), 0);
    CU_ASSERT_EQUAL(auth_member_verify(tok, NOW + 3600 + 30, &uid, NULL), -1);
    /* RS256: no private key here, minting is off (503) */
    CU_ASSERT_EQUAL_FATAL(load("RS256", NULL, RSA_PUB, "", "", NULL, err), 0);
    CU_ASSERT_EQUAL(auth_mint(1, NOW, tok, &exp, &e), -1);
    CU_ASSERT_EQUAL(e.type, ERR_SERVICE_UNAVAILABLE);
    CU_ASSERT_EQUAL(tok[0], '\0');
}

static const unit_test_t tests[] = {
    { "HS256 tokens that are valid", test_hs256_valid },
    { "sub must be a positive 64-bit integer", test_bad_sub },
    { "exp required; exp, nbf, iat with leeway", test_times },
    { "iss and aud", test_issuer_audience },
    { "alg none and algorithms other than the configured one", test_alg_none_and_others },
    { "RS256: HS256 keyed with the public key is refused", test_rs256_key_confusion },
    { "ES256", test_es256 },
    { "kid", test_kid },
    { "truncated and altered tokens", test_malformed },
    { "re-signed tokens and duplicate claims", test_resigned_and_duplicates },
    { "key loading errors name the key, keep the keys in use", test_key_loading },
    { "minting HS256 tokens; off with RS256", test_mint },
};

int main(void)
{
    atexit(cleanup);
    return unit_run("auth_jwt", tests, sizeof(tests) / sizeof(tests[0]));
}
