/* auth.h: who is calling.
 *
 * Two kinds of credentials, both as "Authorization: Bearer <token>":
 *   - the operators' admin token (ADMIN_TOKEN or ADMIN_TOKEN_FILE), required
 *     on the admin listener's /internal/ routes;
 *   - member tokens: standard JSON Web Tokens (RFC 7519) issued by the
 *     operator's identity provider, verified with libjwt. The algorithm is
 *     configured (MEMBER_JWT_ALG: HS256 with MEMBER_JWT_SECRET, or RS256 /
 *     ES256 with the PEM public key in MEMBER_JWT_PUBLIC_KEY_FILE), never
 *     taken from the token. `sub` is the user id; `exp` is required;
 *     nbf/iat/iss/aud/kid are checked as docs/API.md "Member tokens" says.
 *     With HS256 the admin route POST /internal/v1/users/{id}/tokens (and
 *     `memberapi token USER_ID`) mints tokens for tests, demos and the
 *     local front end.
 * Keys are loaded at start (auth_init) and again on SIGHUP (auth_reload);
 * a reload that fails leaves the running keys untouched. */
#ifndef MA_AUTH_AUTH_H
#define MA_AUTH_AUTH_H

#include "common/err.h"
#include "http/http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest member token accepted (and minted), NUL excluded. */
#define AUTH_TOKEN_MAX 4096

/* Registers ADMIN_TOKEN and the MEMBER_JWT_* keys. */
void auth_configure(void);
/* After cfg_load: loads the member token keys from the configuration.
 * -1 with a message naming the key (never its value) when they are missing
 * or unusable. auth_reload does the same and swaps the keys in only when
 * everything loaded. */
int auth_init(char *err, size_t errlen);
int auth_reload(char *err, size_t errlen);

/* Member token settings, as the configuration gives them (for auth_load and
 * the unit tests). alg: "HS256", "RS256" or "ES256". secret for HS256,
 * public_key_file for RS256/ES256; issuer/audience/kid NULL or "" when not
 * checked. */
typedef struct auth_jwt_config {
    const char *alg;
    const char *secret;
    const char *public_key_file;
    const char *issuer;
    const char *audience;
    const char *kid;
    int64_t leeway_s;
    int64_t ttl_s;
} auth_jwt_config_t;

/* Loads c as the active member token settings (0), or -1 with a message
 * naming the key; the active settings are unchanged on failure. */
int auth_load(const auth_jwt_config_t *c, char *err, size_t errlen);

/* 0 when r carries the admin token; else -1 with err 401 (no/other scheme)
 * or 403 (wrong token). Also 403 when r did not come through the admin
 * listener. */
int auth_admin(const http_req_t *r, err_t *err);

/* The member making the request: 0 with *user_id = 0 when there is no
 * Authorization header; 0 with the id for a valid member token; -1 with err
 * 401 for a malformed, forged, expired or not-yet-valid token. */
int auth_member(const http_req_t *r, int64_t *user_id, err_t *err);

/* A member route: like auth_member, but no token is 401 too. */
int auth_member_required(const http_req_t *r, int64_t *user_id, err_t *err);

/* 0 when member (from auth_member_required) is owner; else -1 with err 403
 * naming what (e.g. "user 7's points"). */
int auth_owner(int64_t member, int64_t owner, const char *what, err_t *err);

/* Verifies a member token at time now (epoch seconds): 0 with *user_id, else
 * -1 with *why (a constant string, safe to log: never token content). */
int auth_member_verify(const char *token, int64_t now, int64_t *user_id, const char **why);

/* Mints an HS256 member token for user_id valid from now for the configured
 * MEMBER_JWT_TTL_S into out (AUTH_TOKEN_MAX + 1 bytes), with *expires_at.
 * -1 with err 503 when minting is off (RS256/ES256: this service holds no
 * private key). */
int auth_mint(int64_t user_id, int64_t now, char *out, int64_t *expires_at, err_t *err);

#endif
