/* module.c: the auth module's configuration and its operator route
 *   POST /internal/v1/users/{id}/tokens   mint a member token (admin)
 * It does not check that the user exists: a token for an unknown member
 * identifies nobody who can be found, and minting stays free of I/O. */
#include "auth/auth.h"
#include "common/ktime.h"
#include "server/module.h"

#include <stdio.h>

static void mint(http_req_t *r)
{
    err_t e;
    int64_t uid;
    if (auth_admin(r, &e) != 0 || http_path_id(r, 0, "user id", &uid, &e) != 0) {
        http_error(r, &e);
        return;
    }
    if (!auth_member_tokens_configured()) {
        err_set(&e, ERR_SERVICE_UNAVAILABLE,
                "member tokens are not configured (USER_TOKEN_SECRET is not set)");
        http_error(r, &e);
        return;
    }
    int64_t exp = ktime_now_us() / 1000000 + auth_token_ttl_s();
    char tok[AUTH_TOKEN_MAX], when[KTIME_BUFSZ];
    auth_member_token(uid, exp, tok);
    ktime_format_kst(exp, when);
    jw_t *w = http_ok_begin(r, 201, NULL);
    jw_obj_begin(w);
    jw_kint(w, "userId", uid);
    jw_kstr(w, "token", tok);
    jw_kstr(w, "expiresAt", when);
    jw_obj_end(w);
    http_ok_end(r);
}

static const http_route_t routes[] = {
    { HTTP_POST, "/internal/v1/users/{id}/tokens", mint, HTTP_ROUTE_ADMIN, "auth_mint_token" },
};

static int init(char *err, size_t errlen)
{
    if (auth_init(err, errlen) != 0)
        return -1;
    if (http_router_add(routes, 1) != 0) {
        snprintf(err, errlen, "auth: bad route");
        return -1;
    }
    return 0;
}

const srv_module_t auth_module = {
    .name = "auth",
    .configure = auth_configure,
    .init = init,
};
