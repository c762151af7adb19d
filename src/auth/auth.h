/* auth.h: who is calling.
 *
 * Two kinds of credentials, both as "Authorization: Bearer <token>":
 *   - the operators' admin token (ADMIN_TOKEN or ADMIN_TOKEN_FILE), required
 *     on the admin listener's /internal/ routes;
 *   - member tokens, which identify the viewer of a profile. A member token is
 *     "v1.<userId>.<expiresAt>.<mac>" where mac is base64url(HMAC-SHA256(
 *     USER_TOKEN_SECRET, "v1.<userId>.<expiresAt>")): stateless, checked without
 *     I/O, minted by operators (POST /internal/v1/users/{id}/tokens or
 *     `memberapi token USER_ID`). In a deployment with a login service, that
 *     service mints them with the same secret. */
#ifndef MA_AUTH_AUTH_H
#define MA_AUTH_AUTH_H

#include "common/err.h"
#include "http/http.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_TOKEN_MAX 128

/* Registers ADMIN_TOKEN, USER_TOKEN_SECRET and USER_TOKEN_TTL_S. */
void auth_configure(void);
/* After cfg_load: checks the secrets. */
int auth_init(char *err, size_t errlen);

/* 0 when r carries the admin token; else -1 with err 401 (no/other scheme)
 * or 403 (wrong token). Also 403 when r did not come through the admin
 * listener. */
int auth_admin(const http_req_t *r, err_t *err);

/* The member making the request: 0 with *user_id = 0 when there is no
 * Authorization header; 0 with the id for a valid member token; -1 with err
 * 401 for a malformed, forged or expired token. */
int auth_member(const http_req_t *r, int64_t *user_id, err_t *err);

/* Whether USER_TOKEN_SECRET is set: without it no token is minted (the
 * mint route answers 503, `memberapi token` exits 1) and none verifies. */
bool auth_member_tokens_configured(void);
/* Mints a member token valid until expires_at (epoch seconds) into out
 * (AUTH_TOKEN_MAX bytes); "" when auth_member_tokens_configured() is false. */
void auth_member_token(int64_t user_id, int64_t expires_at, char *out);
/* Verifies a member token at time now; 0 with *user_id, else -1. */
int auth_member_verify(const char *token, int64_t now, int64_t *user_id);

int64_t auth_token_ttl_s(void);

#endif
