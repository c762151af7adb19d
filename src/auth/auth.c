/* auth.c: the admin bearer token and member JSON Web Tokens (see auth.h).
 *
 * libjwt (1.10) verifies signatures and mints HS256 tokens. It is not
 * trusted with the rest, for reasons of that version:
 *   - jwt_decode uses the algorithm named in the token's header: a token
 *     "HS256" under an RS256 configuration would be checked as an HMAC keyed
 *     with the (public) PEM key. The header's alg is checked against the
 *     configuration before jwt_decode and jwt_get_alg() after it.
 *   - its HMAC comparison is strcmp (timing leaks the matching prefix): an
 *     HS256 signature is first compared here in constant time.
 *   - jansson keeps the last of two equal JSON keys, so two readers of one
 *     token could see different `sub`s: header and claims are parsed again
 *     with jstrict (RFC 8259, duplicates refused) and the claims read from
 *     that tree. */
#include "auth/auth.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/jstrict.h"
#include "common/ktime.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/str.h"

#include <errno.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_FILE_MAX 16384 /* a PEM public key is far smaller */
#define SEG_MAX      AUTH_TOKEN_MAX

static char *admin_token;
static char *cfg_alg, *cfg_secret, *cfg_pubfile, *cfg_issuer, *cfg_audience, *cfg_kid;
static int64_t cfg_leeway_s, cfg_ttl_s;

static int check_alg(const char *v, char *err, size_t errlen)
{
    if (strcmp(v, "HS256") && strcmp(v, "RS256") && strcmp(v, "ES256")) {
        snprintf(err, errlen, "expected HS256, RS256 or ES256");
        return -1;
    }
    return 0;
}

static const cfg_key_t keys[] = {
    { "ADMIN_TOKEN", CFG_SECRET, &admin_token, NULL, 16, 256,
      "the operators' bearer token for /internal/ (16..256 characters)", NULL },
    { "MEMBER_JWT_ALG", CFG_STR, &cfg_alg, "HS256", 5, 5,
      "the member tokens' algorithm: HS256, RS256 or ES256", check_alg },
    { "MEMBER_JWT_SECRET", CFG_SECRET, &cfg_secret, NULL, 32, 1024,
      "the HS256 key of member tokens (32..1024 bytes)", NULL },
    { "MEMBER_JWT_PUBLIC_KEY_FILE", CFG_STR, &cfg_pubfile, "", 0, 1024,
      "PEM public key file of RS256/ES256 member tokens", NULL },
    { "MEMBER_JWT_ISSUER", CFG_STR, &cfg_issuer, "", 0, 200,
      "the `iss` member tokens must carry ('' = not checked)", NULL },
    { "MEMBER_JWT_AUDIENCE", CFG_STR, &cfg_audience, "", 0, 200,
      "the `aud` member tokens must contain ('' = tokens must carry no aud)", NULL },
    { "MEMBER_JWT_KID", CFG_STR, &cfg_kid, "", 0, 64,
      "the `kid` member tokens must carry ('' = tokens must carry no kid)", NULL },
    { "MEMBER_JWT_LEEWAY_S", CFG_INT, &cfg_leeway_s, "30", 0, 600,
      "clock skew allowed on exp, nbf and iat", NULL },
    { "MEMBER_JWT_TTL_S", CFG_INT, &cfg_ttl_s, "86400", 60, 31536000,
      "lifetime of member tokens minted by the admin route", NULL },
};

/* The settings in use: built whole by auth_load, swapped in only when
 * complete. Workers are forked after it is set and only read it. */
typedef struct {
    bool loaded;
    jwt_alg_t alg;
    const char *alg_name;
    unsigned char *key; /* HS256 secret or PEM public key */
    size_t key_len;
    char *issuer, *audience, *kid; /* NULL: not configured */
    int64_t leeway_s, ttl_s;
} jwt_keys_t;

static jwt_keys_t active;

static void keys_free(jwt_keys_t *k)
{
    if (k->key) {
        OPENSSL_cleanse(k->key, k->key_len);
        free(k->key);
    }
    free(k->issuer);
    free(k->audience);
    free(k->kid);
    memset(k, 0, sizeof(*k));
}

static char *opt_dup(const char *s)
{
    return s && *s ? xstrdup(s) : NULL;
}

/* Reads a PEM public key file and checks it fits alg: RSA of at least 2048
 * bits for RS256, an EC key on P-256 for ES256. Messages name the key and the
 * path, never the content. */
static int load_public_key(const char *path, jwt_alg_t alg, jwt_keys_t *k, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "MEMBER_JWT_PUBLIC_KEY_FILE: cannot open '%s': %s", path,
                 strerror(errno));
        return -1;
    }
    unsigned char *buf = xmalloc(KEY_FILE_MAX + 1);
    size_t n = fread(buf, 1, KEY_FILE_MAX + 1, f);
    fclose(f);
    if (n == 0 || n > KEY_FILE_MAX) {
        free(buf);
        snprintf(err, errlen, "MEMBER_JWT_PUBLIC_KEY_FILE: '%s' is %s", path,
                 n == 0 ? "empty" : "larger than 16 KiB: not a PEM public key");
        return -1;
    }
    buf[n] = '\0';
    BIO *bio = BIO_new_mem_buf(buf, (int)n);
    EVP_PKEY *pk = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    const char *why = NULL;
    if (pk == NULL) {
        why = "is not a PEM public key (-----BEGIN PUBLIC KEY-----)";
    } else if (alg == JWT_ALG_RS256) {
        if (EVP_PKEY_base_id(pk) != EVP_PKEY_RSA)
            why = "is not an RSA public key, which MEMBER_JWT_ALG=RS256 needs";
        else if (EVP_PKEY_bits(pk) < 2048)
            why = "is an RSA key shorter than 2048 bits";
    } else {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_base_id(pk) != EVP_PKEY_EC)
            why = "is not an EC public key, which MEMBER_JWT_ALG=ES256 needs";
        else if (EVP_PKEY_get_utf8_string_param(pk, "group", group, sizeof(group), &glen) != 1 ||
                 (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0))
            why = "is not a P-256 key, which MEMBER_JWT_ALG=ES256 needs";
    }
    EVP_PKEY_free(pk);
    if (why) {
        free(buf);
        snprintf(err, errlen, "MEMBER_JWT_PUBLIC_KEY_FILE: '%s' %s", path, why);
        return -1;
    }
    k->key = buf;
    k->key_len = n;
    return 0;
}

int auth_load(const auth_jwt_config_t *c, char *err, size_t errlen)
{
    jwt_keys_t k;
    memset(&k, 0, sizeof(k));
    const char *alg = c->alg ? c->alg : "HS256";
    bool has_secret = c->secret && *c->secret;
    bool has_file = c->public_key_file && *c->public_key_file;
    if (strcmp(alg, "HS256") == 0) {
        k.alg = JWT_ALG_HS256;
        k.alg_name = "HS256";
        if (has_file) {
            snprintf(err, errlen,
                     "MEMBER_JWT_PUBLIC_KEY_FILE: set, but MEMBER_JWT_ALG is HS256 (set "
                     "MEMBER_JWT_ALG=RS256 or ES256 to verify with a public key)");
            return -1;
        }
        if (!has_secret) {
            snprintf(err, errlen,
                     "MEMBER_JWT_SECRET: missing; member tokens need MEMBER_JWT_SECRET (or "
                     "MEMBER_JWT_SECRET_FILE, at least 32 bytes) for HS256, or "
                     "MEMBER_JWT_ALG=RS256|ES256 with MEMBER_JWT_PUBLIC_KEY_FILE");
            return -1;
        }
        if (strlen(c->secret) < 32) {
            snprintf(err, errlen, "MEMBER_JWT_SECRET: expected at least 32 bytes");
            return -1;
        }
        k.key_len = strlen(c->secret);
        k.key = (unsigned char *)xstrdup(c->secret);
    } else if (strcmp(alg, "RS256") == 0 || strcmp(alg, "ES256") == 0) {
        k.alg = alg[0] == 'R' ? JWT_ALG_RS256 : JWT_ALG_ES256;
        k.alg_name = alg[0] == 'R' ? "RS256" : "ES256";
        if (has_secret) {
            snprintf(err, errlen,
                     "MEMBER_JWT_SECRET: set, but MEMBER_JWT_ALG is %s (which verifies with "
                     "MEMBER_JWT_PUBLIC_KEY_FILE); unset one of them",
                     k.alg_name);
            return -1;
        }
        if (!has_file) {
            snprintf(err, errlen,
                     "MEMBER_JWT_PUBLIC_KEY_FILE: missing; MEMBER_JWT_ALG=%s needs "
                     "the identity provider's PEM public key",
                     k.alg_name);
            return -1;
        }
        if (load_public_key(c->public_key_file, k.alg, &k, err, errlen) != 0)
            return -1;
    } else {
        snprintf(err, errlen, "MEMBER_JWT_ALG: expected HS256, RS256 or ES256");
        return -1;
    }
    k.issuer = opt_dup(c->issuer);
    k.audience = opt_dup(c->audience);
    k.kid = opt_dup(c->kid);
    k.leeway_s = c->leeway_s;
    k.ttl_s = c->ttl_s > 0 ? c->ttl_s : 86400;
    k.loaded = true;
    keys_free(&active);
    active = k;
    return 0;
}

void auth_configure(void)
{
    cfg_register(keys, sizeof(keys) / sizeof(keys[0]));
}

int auth_reload(char *err, size_t errlen)
{
    auth_jwt_config_t c = {
        .alg = cfg_alg,
        .secret = cfg_secret,
        .public_key_file = cfg_pubfile,
        .issuer = cfg_issuer,
        .audience = cfg_audience,
        .kid = cfg_kid,
        .leeway_s = cfg_leeway_s,
        .ttl_s = cfg_ttl_s,
    };
    if (auth_load(&c, err, errlen) != 0)
        return -1;
    log_info("event=member_jwt_keys alg=%s issuer=%s audience=%s kid=%s minting=%s",
             active.alg_name, log_q(active.issuer ? active.issuer : ""),
             log_q(active.audience ? active.audience : ""), log_q(active.kid ? active.kid : ""),
             active.alg == JWT_ALG_HS256 ? "on" : "off");
    return 0;
}

int auth_init(char *err, size_t errlen)
{
    return auth_reload(err, errlen);
}

/* The token after "Bearer ", or NULL. */
static const char *bearer(const http_req_t *r)
{
    const char *h = r->authorization;
    if (h == NULL || !str_ci_prefix(h, "Bearer "))
        return NULL;
    h += 7;
    while (*h == ' ')
        h++;
    return *h ? h : NULL;
}

int auth_admin(const http_req_t *r, err_t *err)
{
    const char *tok = bearer(r);
    if (tok == NULL)
        return err_set(err, ERR_UNAUTHORIZED, "an admin bearer token is required");
    if (!r->admin || admin_token == NULL || !str_ct_equal(tok, admin_token))
        return err_set(err, ERR_FORBIDDEN, "this token may not use operator routes");
    return 0;
}

/* ---- verification --------------------------------------------------------- */

/* One base64url segment as a strict JSON object (caller puts it), or NULL. */
static json_object *segment_json(const char *s, size_t n)
{
    unsigned char buf[SEG_MAX];
    long len = crypto_b64url_decode(s, n, buf, sizeof(buf) - 1);
    if (len <= 0)
        return NULL;
    char why[JSTRICT_WHY];
    json_object *o = jstrict_parse((const char *)buf, (size_t)len, 8, why, sizeof(why));
    if (o && !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* A member of o that is a string, or NULL. *present says whether the member
 * exists at all (of any type). */
static const char *str_member(json_object *o, const char *key, bool *present)
{
    json_object *v = NULL;
    *present = json_object_object_get_ex(o, key, &v);
    return *present && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static int check_header(json_object *h, const char **why)
{
    bool present;
    const char *alg = str_member(h, "alg", &present);
    if (alg == NULL || strcmp(alg, active.alg_name) != 0) {
        *why = "alg is not the configured algorithm";
        return -1;
    }
    const char *typ = str_member(h, "typ", &present);
    if (present && (typ == NULL || strcasecmp(typ, "JWT") != 0)) {
        *why = "typ is not JWT";
        return -1;
    }
    /* RFC 7515 4.1.11: extensions we do not understand must be refused. */
    if (json_object_object_get_ex(h, "crit", NULL)) {
        *why = "crit header";
        return -1;
    }
    const char *kid = str_member(h, "kid", &present);
    if (active.kid ? (kid == NULL || strcmp(kid, active.kid) != 0) : present) {
        *why = "kid does not name the configured key";
        return -1;
    }
    return 0;
}

/* A NumericDate claim (an integer: fractions are refused). */
static int time_claim(json_object *c, const char *key, bool required, int64_t *out, bool *has,
                      const char **why)
{
    char w[JSTRICT_WHY];
    *has = false;
    if (jstrict_i64(c, key, required, 0, (int64_t)1 << 40, out, has, w, sizeof(w)) != 0) {
        *why = required ? "exp missing or not an integer NumericDate"
                        : "nbf/iat not an integer NumericDate";
        return -1;
    }
    return 0;
}

static int check_claims(json_object *c, int64_t now, int64_t *user_id, const char **why)
{
    int64_t exp = 0, nbf = 0, iat = 0;
    bool has_exp, has_nbf, has_iat, present;
    if (time_claim(c, "exp", true, &exp, &has_exp, why) != 0 ||
        time_claim(c, "nbf", false, &nbf, &has_nbf, why) != 0 ||
        time_claim(c, "iat", false, &iat, &has_iat, why) != 0)
        return -1;
    if (now >= exp + active.leeway_s) {
        *why = "expired";
        return -1;
    }
    if (has_nbf && nbf > now + active.leeway_s) {
        *why = "not valid yet (nbf)";
        return -1;
    }
    if (has_iat && iat > now + active.leeway_s) {
        *why = "issued in the future (iat)";
        return -1;
    }
    /* sub: a positive 64-bit integer, as a canonical decimal string or a
     * JSON integer. */
    json_object *sub = NULL;
    int64_t uid = 0;
    if (!json_object_object_get_ex(c, "sub", &sub)) {
        *why = "no sub";
        return -1;
    }
    if (json_object_is_type(sub, json_type_string)) {
        if (str_to_i64(json_object_get_string(sub), 1, INT64_MAX, &uid) != 0) {
            *why = "sub is not a positive integer";
            return -1;
        }
    } else {
        char w[JSTRICT_WHY];
        if (jstrict_i64(c, "sub", true, 1, INT64_MAX, &uid, NULL, w, sizeof(w)) != 0) {
            *why = "sub is not a positive integer";
            return -1;
        }
    }
    const char *iss = str_member(c, "iss", &present);
    if (active.issuer && (iss == NULL || strcmp(iss, active.issuer) != 0)) {
        *why = "iss is not the configured issuer";
        return -1;
    }
    /* aud: RFC 7519 4.1.3: a token naming an audience must be refused by a
     * recipient that is not in it, so without MEMBER_JWT_AUDIENCE a token
     * with an aud is refused too. */
    json_object *aud = NULL;
    bool has_aud = json_object_object_get_ex(c, "aud", &aud);
    if (active.audience == NULL) {
        if (has_aud) {
            *why = "aud present but no audience configured";
            return -1;
        }
    } else {
        bool ok = false;
        if (has_aud && json_object_is_type(aud, json_type_string)) {
            ok = strcmp(json_object_get_string(aud), active.audience) == 0;
        } else if (has_aud && json_object_is_type(aud, json_type_array)) {
            size_t n = json_object_array_length(aud);
            for (size_t i = 0; i < n; i++) {
                json_object *e = json_object_array_get_idx(aud, i);
                if (!json_object_is_type(e, json_type_string)) {
                    ok = false;
                    break;
                }
                ok |= strcmp(json_object_get_string(e), active.audience) == 0;
            }
        }
        if (!ok) {
            *why = "aud does not contain the configured audience";
            return -1;
        }
    }
    *user_id = uid;
    return 0;
}

int auth_member_verify(const char *token, int64_t now, int64_t *user_id, const char **why)
{
    const char *w = NULL;
    *user_id = 0;
    if (why == NULL)
        why = &w;
    if (!active.loaded) {
        *why = "member tokens are not configured";
        return -1;
    }
    size_t n = strnlen(token, AUTH_TOKEN_MAX + 1);
    if (n > AUTH_TOKEN_MAX || !str_charset(token, "-_.")) {
        *why = "not a compact JWS";
        return -1;
    }
    const char *d1 = strchr(token, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (d1 == NULL || d2 == NULL || strchr(d2 + 1, '.') != NULL || d1 == token || d2 == d1 + 1 ||
        d2[1] == '\0') {
        *why = "not a compact JWS (three non-empty segments)";
        return -1;
    }
    json_object *h = segment_json(token, (size_t)(d1 - token));
    if (h == NULL) {
        *why = "header is not a JSON object";
        return -1;
    }
    int rc = check_header(h, why);
    json_object_put(h);
    if (rc != 0)
        return -1;
    if (active.alg == JWT_ALG_HS256) {
        unsigned char mac[CRYPTO_MAC_LEN];
        char b64[48];
        crypto_hmac_sha256(active.key, active.key_len, token, (size_t)(d2 - token), mac);
        crypto_b64url_encode(mac, sizeof(mac), b64);
        if (!str_ct_equal(b64, d2 + 1)) {
            *why = "bad signature";
            return -1;
        }
    }
    jwt_t *jwt = NULL;
    if (jwt_decode(&jwt, token, active.key, (int)active.key_len) != 0 || jwt == NULL) {
        *why = "bad signature";
        return -1;
    }
    jwt_alg_t got = jwt_get_alg(jwt);
    jwt_free(jwt);
    if (got != active.alg || got == JWT_ALG_NONE) {
        *why = "alg is not the configured algorithm";
        return -1;
    }
    json_object *c = segment_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (c == NULL) {
        *why = "claims are not a JSON object";
        return -1;
    }
    rc = check_claims(c, now, user_id, why);
    json_object_put(c);
    return rc;
}

static int invalid(err_t *err)
{
    return err_set(err, ERR_UNAUTHORIZED, "the bearer token is invalid or expired");
}

int auth_member(const http_req_t *r, int64_t *user_id, err_t *err)
{
    *user_id = 0;
    if (r->authorization == NULL || r->authorization[0] == '\0')
        return 0;
    const char *tok = bearer(r);
    const char *why = "not a bearer token";
    if (tok == NULL || auth_member_verify(tok, ktime_now_us() / 1000000, user_id, &why) != 0) {
        log_info("event=member_token_refused reason=%s", log_q(why));
        return invalid(err);
    }
    return 0;
}

int auth_member_required(const http_req_t *r, int64_t *user_id, err_t *err)
{
    if (auth_member(r, user_id, err) != 0)
        return -1;
    if (*user_id == 0)
        return err_set(err, ERR_UNAUTHORIZED, "a member bearer token is required");
    return 0;
}

int auth_owner(int64_t member, int64_t owner, const char *what, err_t *err)
{
    if (member != owner)
        return err_set(err, ERR_FORBIDDEN, "this token's member may not access %s", what);
    return 0;
}

/* ---- minting -------------------------------------------------------------- */

int auth_mint(int64_t user_id, int64_t now, char *out, int64_t *expires_at, err_t *err)
{
    out[0] = '\0';
    if (!active.loaded || active.alg != JWT_ALG_HS256)
        return err_set(err, ERR_SERVICE_UNAVAILABLE,
                       "minting member tokens is off: MEMBER_JWT_ALG=%s verifies tokens of the "
                       "identity provider, and this service holds no private key",
                       active.loaded ? active.alg_name : "(unset)");
    int64_t exp = now + active.ttl_s;
    char sub[24];
    snprintf(sub, sizeof(sub), "%lld", (long long)user_id);
    jwt_t *jwt = NULL;
    char *tok = NULL;
    if (jwt_new(&jwt) == 0 &&
        jwt_set_alg(jwt, JWT_ALG_HS256, active.key, (int)active.key_len) == 0 &&
        (active.kid == NULL || jwt_add_header(jwt, "kid", active.kid) == 0) &&
        jwt_add_grant(jwt, "sub", sub) == 0 && jwt_add_grant_int(jwt, "iat", (long)now) == 0 &&
        jwt_add_grant_int(jwt, "exp", (long)exp) == 0 &&
        (active.issuer == NULL || jwt_add_grant(jwt, "iss", active.issuer) == 0) &&
        (active.audience == NULL || jwt_add_grant(jwt, "aud", active.audience) == 0))
        tok = jwt_encode_str(jwt);
    jwt_free(jwt);
    if (tok == NULL || strlen(tok) > AUTH_TOKEN_MAX) {
        free(tok);
        return err_set(err, ERR_UNKNOWN, "could not mint a member token");
    }
    memcpy(out, tok, strlen(tok) + 1);
    free(tok);
    *expires_at = exp;
    return 0;
}
