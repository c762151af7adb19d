/* auth.c: admin bearer token and signed member tokens (see auth.h). */
#include "auth/auth.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/ktime.h"
#include "common/log.h"
#include "common/str.h"

#include <stdio.h>
#include <string.h>

static char *admin_token;
static char *user_secret;
static int64_t token_ttl_s;

static const cfg_key_t keys[] = {
    { "ADMIN_TOKEN", CFG_SECRET, &admin_token, NULL, 16, 256,
      "the operators' bearer token for /internal/ (16..256 characters)", NULL },
    { "USER_TOKEN_SECRET", CFG_SECRET, &user_secret, NULL, 32, 256,
      "the HMAC key of member tokens (32..256 characters)", NULL },
    { "USER_TOKEN_TTL_S", CFG_INT, &token_ttl_s, "86400", 60, 31536000,
      "lifetime of member tokens minted by operators", NULL },
};

void auth_configure(void)
{
    cfg_register(keys, sizeof(keys) / sizeof(keys[0]));
}

int auth_init(char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    /* Like a missing ADMIN_TOKEN: the server starts (`check-config` with an
     * empty environment works), but no member token is minted (503) and
     * none is accepted (401) until the secret is set. */
    if (!auth_member_tokens_configured())
        log_warn("event=auth_not_configured key=USER_TOKEN_SECRET: member tokens are neither "
                 "minted (503) nor accepted (401) until it is set");
    return 0;
}

bool auth_member_tokens_configured(void)
{
    return user_secret != NULL && user_secret[0] != '\0';
}

int64_t auth_token_ttl_s(void)
{
    return token_ttl_s;
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

static void mac_of(const char *msg, size_t n, char *out)
{
    unsigned char mac[CRYPTO_MAC_LEN];
    crypto_hmac_sha256(user_secret, strlen(user_secret), msg, n, mac);
    crypto_b64url_encode(mac, sizeof(mac), out);
}

void auth_member_token(int64_t user_id, int64_t expires_at, char *out)
{
    if (!auth_member_tokens_configured()) {
        out[0] = '\0'; /* callers check auth_member_tokens_configured first */
        return;
    }
    char msg[64];
    int n = snprintf(msg, sizeof(msg), "v1.%lld.%lld", (long long)user_id, (long long)expires_at);
    char mac[48];
    mac_of(msg, (size_t)n, mac);
    snprintf(out, AUTH_TOKEN_MAX, "%s.%s", msg, mac);
}

int auth_member_verify(const char *token, int64_t now, int64_t *user_id)
{
    if (user_secret == NULL || strncmp(token, "v1.", 3) != 0 || strlen(token) >= AUTH_TOKEN_MAX)
        return -1;
    const char *p = token + 3;
    const char *d1 = strchr(p, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    if (d1 == NULL || d2 == NULL)
        return -1;
    int64_t uid, exp;
    if (str_to_i64n(p, (size_t)(d1 - p), 1, INT64_MAX, &uid) != 0 ||
        str_to_i64n(d1 + 1, (size_t)(d2 - d1 - 1), 1, INT64_MAX, &exp) != 0)
        return -1;
    char mac[48];
    mac_of(token, (size_t)(d2 - token), mac);
    if (!str_ct_equal(d2 + 1, mac) || exp < now)
        return -1;
    *user_id = uid;
    return 0;
}

int auth_member(const http_req_t *r, int64_t *user_id, err_t *err)
{
    *user_id = 0;
    if (r->authorization == NULL || r->authorization[0] == '\0')
        return 0;
    const char *tok = bearer(r);
    if (tok == NULL || auth_member_verify(tok, ktime_now_us() / 1000000, user_id) != 0)
        return err_set(err, ERR_UNAUTHORIZED, "the bearer token is invalid or expired");
    return 0;
}
