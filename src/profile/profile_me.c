/* profile_me.c: the member's own routes, and the rules for names and prefixes.
 *
 *   GET /api/v1/me                   who I am: user, points, my profile
 *   PUT /api/v1/me/profile           create (201) or rename (200) my profile
 *   GET /api/v1/me/profile-views     who viewed my profile, newest first
 *
 * The member is the token's (auth_member); without a token these are 401
 * with WWW-Authenticate: Bearer (API.md "Members and authorization"). A
 * member's own data is read from the primary so that a rename is seen by the
 * next request of the same member; the view log is read from the replica
 * (views are written asynchronously anyway).
 *
 * A rename is written through to the detail key in Redis and this worker's
 * near cache with the value read back from the primary; other workers' near
 * copies and the list pages age out (the bound is in docs/profiles.md). */
#include "profile/profile.h"
#include "auth/auth.h"
#include "common/jstrict.h"
#include "common/log.h"
#include "common/str.h"
#include "http/http.h"

#include <stdio.h>
#include <string.h>

/* ---- names and prefixes ----------------------------------------------------- */

/* Unicode White_Space (PropList.txt). */
static bool is_space(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* General category Cc: C0 controls, DEL and the C1 controls. */
static bool is_control(uint32_t c)
{
    return c < 0x20 || (c >= 0x7F && c <= 0x9F);
}

int profile_name_clean(const char *s, size_t n, arena_t *a, const char **out, const char **why)
{
    static const char bad_len[] =
        "field 'name' must be 1..50 characters after trimming white space";
    if (!str_utf8_valid(s, n) || memchr(s, '\0', n) != NULL) {
        *why = "field 'name' must be valid UTF-8";
        return -1;
    }
    const unsigned char *u = (const unsigned char *)s;
    size_t start = 0, end = n, len;
    /* leading white space */
    while (start < end && is_space(str_utf8_at(u + start, end - start, &len)))
        start += len;
    /* trailing white space: walk forward, remembering where the last
     * non-space code point ended */
    size_t last_end = start, chars = 0;
    for (size_t i = start; i < end; i += len) {
        uint32_t c = str_utf8_at(u + i, end - i, &len);
        if (!is_space(c))
            last_end = i + len;
    }
    end = last_end;
    for (size_t i = start; i < end; i += len) {
        uint32_t c = str_utf8_at(u + i, end - i, &len);
        if (is_control(c)) {
            *why = "field 'name' must not contain control characters";
            return -1;
        }
        chars++;
    }
    if (chars < 1 || chars > PROFILE_NAME_MAX_CHARS) {
        *why = bad_len;
        return -1;
    }
    *out = arena_strndup(a, s + start, end - start);
    return 0;
}

int profile_prefix_valid(const char *q, const char **why)
{
    static const char bad[] = "parameter 'q' must be 1..50 characters";
    size_t n = strlen(q);
    if (!str_utf8_valid(q, n)) {
        *why = "parameter 'q' must be valid UTF-8";
        return -1;
    }
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)q[i] & 0xC0) != 0x80)
            chars++;
    if (chars < 1 || chars > PROFILE_PREFIX_MAX) {
        *why = bad;
        return -1;
    }
    return 0;
}

static size_t utf8_put(uint32_t c, char *o)
{
    if (c < 0x80) {
        o[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (char)(0xC0 | c >> 6);
        o[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (char)(0xE0 | c >> 12);
        o[1] = (char)(0x80 | (c >> 6 & 0x3F));
        o[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | c >> 18);
    o[1] = (char)(0x80 | (c >> 12 & 0x3F));
    o[2] = (char)(0x80 | (c >> 6 & 0x3F));
    o[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

const char *profile_prefix_upper(const char *q, arena_t *a)
{
    size_t n = strlen(q);
    /* Code point starts, to step back from the end. */
    size_t cut = n;
    while (cut > 0) {
        size_t i = cut - 1;
        while (i > 0 && ((unsigned char)q[i] & 0xC0) == 0x80)
            i--;
        size_t len;
        uint32_t c = str_utf8_at((const unsigned char *)q + i, cut - i, &len);
        if (c < 0x10FFFF) {
            c = c + 1 == 0xD800 ? 0xE000 : c + 1; /* no surrogates in UTF-8 */
            char *out = arena_alloc(a, i + 5);
            memcpy(out, q, i);
            out[i + utf8_put(c, out + i)] = '\0';
            return out;
        }
        cut = i;
    }
    /* q is all U+10FFFF: above every name of at most 100 characters that
     * starts with it. */
    char *out = arena_alloc(a, n + 101 * 4 + 1);
    memcpy(out, q, n);
    for (int i = 0; i < 101; i++)
        utf8_put(0x10FFFF, out + n + 4 * (size_t)i);
    out[n + 101 * 4] = '\0';
    return out;
}

/* ---- handlers ---------------------------------------------------------------- */

/* The token's member, or -1 after answering 401 (no token counts as a bad
 * one here: these routes are about "me"). */
static int member_of(http_req_t *r, int64_t *user)
{
    err_t e;
    err_clear(&e);
    *user = 0;
    int rc = auth_member(r, user, &e);
    if (rc == 0 && *user > 0)
        return 0;
    if (rc == 0) /* no Authorization header: anonymous, which "me" cannot be */
        err_set(&e, ERR_UNAUTHORIZED,
                "this route needs a member token (Authorization: Bearer <token>)");
    if (e.type == ERR_UNAUTHORIZED)
        http_header(r, "WWW-Authenticate", "Bearer");
    http_error(r, &e);
    return -1;
}

static void me(http_req_t *r)
{
    int64_t user;
    if (member_of(r, &user) != 0)
        return;
    err_t e;
    err_clear(&e);
    const char *json;
    size_t len;
    bool found;
    if (profile_db_me(user, r->arena, &json, &len, &found, &e) != 0) {
        http_error(r, &e);
        return;
    }
    if (!found) {
        http_fail(r, ERR_NO_RESOURCE, "user %lld does not exist", (long long)user);
        return;
    }
    jw_t *w = http_ok_begin(r, 200, NULL);
    jw_raw(w, json, len);
    http_ok_end(r);
}

/* {"name": "..."} and nothing else. */
static int parse_name(http_req_t *r, const char **name, err_t *err)
{
    static const char *const fields[] = { "name", NULL };
    char why[JSTRICT_WHY];
    json_object *o = jstrict_parse(r->body ? r->body : "", r->body_len, 4, why, sizeof(why));
    if (o == NULL)
        return err_set(err, ERR_INVALID_PARAMETER, "%s", why);
    int rc = -1;
    const char *raw, *msg;
    if (!json_object_is_type(o, json_type_object)) {
        err_set(err, ERR_INVALID_PARAMETER, "the body must be a JSON object");
    } else if (jstrict_only(o, fields, why, sizeof(why)) != 0 ||
               jstrict_str(o, "name", true, false, PROFILE_NAME_MAX_BYTES, &raw, why,
                           sizeof(why)) != 0) {
        err_set(err, ERR_INVALID_PARAMETER, "%s", why);
    } else if (profile_name_clean(raw, strlen(raw), r->arena, name, &msg) != 0) {
        err_set(err, ERR_INVALID_PARAMETER, "%s", msg);
    } else {
        rc = 0;
    }
    json_object_put(o);
    return rc;
}

static void put_profile(http_req_t *r)
{
    int64_t user;
    if (member_of(r, &user) != 0)
        return;
    err_t e;
    err_clear(&e);
    const char *name, *json = NULL;
    size_t len = 0;
    int64_t pid = 0;
    bool created = false, found = false;
    if (parse_name(r, &name, &e) != 0 ||
        profile_db_me_put(user, name, r->arena, &json, &len, &pid, &created, &found, &e) != 0) {
        http_error(r, &e);
        return;
    }
    if (!found) {
        http_fail(r, ERR_NO_RESOURCE, "user %lld does not exist", (long long)user);
        return;
    }
    char key[PROFILE_KEY_MAX];
    if (profile_key_detail(key, sizeof(key), profile_cfg.generation, pid) > 0)
        profile_cache_put(key, json, len, profile_cfg.detail_ttl_s);
    log_info("event=profile_%s profile=%lld user=%lld", created ? "created" : "renamed",
             (long long)pid, (long long)user);
    jw_t *w = http_ok_begin(r, created ? 201 : 200, NULL);
    jw_raw(w, json, len);
    http_ok_end(r);
}

static void profile_views(http_req_t *r)
{
    int64_t user;
    if (member_of(r, &user) != 0)
        return;
    err_t e;
    err_clear(&e);
    int64_t size;
    const char *cursor_s;
    if (http_param_i64(r, "size", 20, 1, 100, &size, &e) != 0 ||
        http_param_str(r, "cursor", NULL, &cursor_s, &e) != 0) {
        http_error(r, &e);
        return;
    }
    profile_cursor_t *cur = NULL;
    if (cursor_s != NULL) {
        cur = arena_alloc(r->arena, sizeof(*cur));
        const char *why;
        if (profile_cursor_decode(cursor_s, PROFILE_CURSOR_VIEW_LOG, cur, &why) != 0) {
            http_fail(r, ERR_INVALID_PARAMETER, "%s", why);
            return;
        }
    }
    int64_t pid, anonymous;
    if (profile_db_my_profile(user, &pid, &anonymous, &e) != 0) {
        http_error(r, &e);
        return;
    }
    if (pid == 0) {
        http_fail(r, ERR_NO_RESOURCE, "user %lld has no profile", (long long)user);
        return;
    }
    char bind[24];
    snprintf(bind, sizeof(bind), "%lld", (long long)pid);
    if (cur && !profile_cursor_bound(cur, bind)) {
        http_fail(r, ERR_INVALID_PARAMETER, "parameter 'cursor' belongs to another profile");
        return;
    }
    const char *json;
    size_t len;
    if (profile_db_view_log(pid, user, anonymous, size, cur, r->arena, &json, &len, &e) != 0) {
        http_error(r, &e);
        return;
    }
    jw_t *w = http_ok_begin(r, 200, NULL);
    jw_raw(w, json, len);
    http_ok_end(r);
}

static const http_route_t routes[] = {
    { HTTP_GET, "/api/v1/me", me, 0, "me" },
    { HTTP_PUT, "/api/v1/me/profile", put_profile, HTTP_ROUTE_JSON_BODY, "me_profile_put" },
    { HTTP_GET, "/api/v1/me/profile-views", profile_views, 0, "me_profile_views" },
};

int profile_me_routes(void)
{
    return http_router_add(routes, sizeof(routes) / sizeof(routes[0]));
}
