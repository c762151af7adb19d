/* module.c: the auth module's configuration, its key reload on SIGHUP and
 * its operator route
 *   POST /internal/v1/users/{id}/tokens   mint an HS256 member JWT (admin)
 * It does not check that the user exists: a token for an unknown member
 * identifies nobody who can be found (routes about that user answer 404),
 * and minting stays free of I/O. With RS256/ES256 this service holds no
 * private key and the route answers 503. */
#include "auth/auth.h"
#include "common/ktime.h"
#include "server/module.h"

#include <stdio.h>

static void mint(http_req_t *r)
{
    err_t e;
    int64_t uid, exp;
    char tok[AUTH_TOKEN_MAX + 1], when[KTIME_BUFSZ];
    if (auth_admin(r, &e) != 0 || http_path_id(r, 0, "user id", &uid, &e) != 0 ||
        auth_mint(uid, ktime_now_us() / 1000000, tok, &exp, &e) != 0) {
        http_error(r, &e);
        return;
    }
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
    .reload = auth_reload,
};
