/* profile_cursor.c: the keyset cursor of GET /api/v1/profiles (nextCursor).
 *
 * A cursor says "continue after the row (key, id) of sort S; offset rows came
 * before". It is opaque to clients and tamper-evident, not secret:
 *
 *   base64url( payload || HMAC-SHA256(CURSOR_SECRET, payload)[0..16) )
 *   payload = 0x02 (version) | sort (1) | id (8) | offset (8) | bind (8) | key
 *   key     = int64 (8)                      createdAt (epoch us), viewCount,
 *                                            viewedAt (epoch us) of the view log
 *           | length (2) + UTF-8 bytes       name
 * integers big-endian. bind is what else the page depended on: the first 8
 * bytes of a digest (HMAC-SHA256 under a fixed label) of the search prefix q (zero without q), or
 * of the owner's profile id for the view log; the caller compares it with its own request
 * (profile_cursor_bound), so a cursor reused with another q is refused.
 * Version 1 (no bind field) is still read, as a cursor without q. The tag is checked (in constant
 * time) before any field is believed, then every field is range-checked again, so a cursor is only
 * ever turned into SQL parameters that the statement accepts. The sort is in
 * the payload: a cursor presented with another sort is refused (its key
 * would mean something else). Cursors do not expire; rotating CURSOR_SECRET
 * invalidates all of them (clients start again from page 0).
 * Fuzzed by tests/fuzz/fuzz_cursor.c. */
#include "profile/profile.h"
#include "common/crypto.h"
#include "common/str.h"

#include <string.h>

#define VERSION    2
#define HEADER_LEN 26 /* version, sort, id, offset, bind */
#define HEADER_V1  18 /* version 1: no bind */

/* createdAt bounds: years 1900..9999, so the SQL timestamp arithmetic on the
 * key can never leave PostgreSQL's range. */
#define CREATED_MIN_US (-2208988800LL * 1000000)
#define CREATED_MAX_US (253402300799LL * 1000000)
#define OFFSET_MAX     (INT64_MAX / 4)

static unsigned char cursor_key[256];
static size_t cursor_key_len;

void profile_cursor_set_key(const void *key, size_t len)
{
    if (len > sizeof(cursor_key))
        len = sizeof(cursor_key);
    memcpy(cursor_key, key, len);
    cursor_key_len = len;
}

static void put64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
}

static int64_t get64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | p[i];
    return (int64_t)u;
}

static bool fields_valid(const profile_cursor_t *c)
{
    if (c->sort < 0 || c->sort > PROFILE_CURSOR_VIEW_LOG || c->id < 1 || c->offset < 0 ||
        c->offset > OFFSET_MAX)
        return false;
    switch (c->sort) {
    case PROFILE_SORT_CREATED_DESC:
    case PROFILE_SORT_CREATED_ASC:
    case PROFILE_CURSOR_VIEW_LOG:
        return c->key >= CREATED_MIN_US && c->key <= CREATED_MAX_US;
    case PROFILE_SORT_VIEWS_DESC:
    case PROFILE_SORT_VIEWS_ASC:
        return c->key >= 0;
    default:
        return c->name_len >= 1 && c->name_len <= PROFILE_NAME_MAX_BYTES &&
               str_utf8_valid(c->name, c->name_len);
    }
}

static void tag_of(const unsigned char *payload, size_t n,
                   unsigned char tag[PROFILE_CURSOR_TAG_LEN])
{
    unsigned char mac[CRYPTO_MAC_LEN];
    crypto_hmac_sha256(cursor_key, cursor_key_len, payload, n, mac);
    memcpy(tag, mac, PROFILE_CURSOR_TAG_LEN);
}

int profile_cursor_encode(profile_cursor_t *c, char *out, size_t cap)
{
    unsigned char buf[HEADER_LEN + 2 + PROFILE_NAME_MAX_BYTES + PROFILE_CURSOR_TAG_LEN];
    if (!fields_valid(c))
        return -1;
    size_t n = 0;
    buf[n++] = VERSION;
    buf[n++] = (unsigned char)c->sort;
    put64(buf + n, c->id);
    n += 8;
    put64(buf + n, c->offset);
    n += 8;
    memcpy(buf + n, c->bind, PROFILE_CURSOR_BIND_LEN);
    n += PROFILE_CURSOR_BIND_LEN;
    if (profile_sort_by_name(c->sort)) {
        buf[n++] = (unsigned char)(c->name_len >> 8);
        buf[n++] = (unsigned char)(c->name_len & 0xff);
        memcpy(buf + n, c->name, c->name_len);
        n += c->name_len;
    } else {
        put64(buf + n, c->key);
        n += 8;
    }
    tag_of(buf, n, c->tag);
    memcpy(buf + n, c->tag, PROFILE_CURSOR_TAG_LEN);
    n += PROFILE_CURSOR_TAG_LEN;
    if (cap < 4 * ((n + 2) / 3) + 1)
        return -1;
    return (int)crypto_b64url_encode(buf, n, out);
}

static bool ct_equal(const unsigned char *a, const unsigned char *b, size_t n)
{
    unsigned char d = 0;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

int profile_cursor_decode(const char *s, profile_sort_t expect, profile_cursor_t *c,
                          const char **why)
{
    static const char malformed[] = "parameter 'cursor' is malformed";
    unsigned char buf[HEADER_LEN + 2 + PROFILE_NAME_MAX_BYTES + PROFILE_CURSOR_TAG_LEN];
    memset(c, 0, sizeof(*c));
    size_t slen = s ? strlen(s) : 0;
    if (slen == 0 || slen >= PROFILE_CURSOR_MAX) {
        *why = malformed;
        return -1;
    }
    long n = crypto_b64url_decode(s, slen, buf, sizeof(buf));
    /* the shortest payload: a name key of one byte (length 2 + 1) */
    if (n < HEADER_V1 + 3 + PROFILE_CURSOR_TAG_LEN) {
        *why = malformed;
        return -1;
    }
    size_t plen = (size_t)n - PROFILE_CURSOR_TAG_LEN;
    unsigned char tag[PROFILE_CURSOR_TAG_LEN];
    tag_of(buf, plen, tag);
    if (!ct_equal(tag, buf + plen, PROFILE_CURSOR_TAG_LEN)) {
        *why = "parameter 'cursor' was not issued by this server or was altered";
        return -1;
    }
    if ((buf[0] != VERSION && buf[0] != 1) || buf[1] > PROFILE_CURSOR_VIEW_LOG) {
        *why = malformed;
        return -1;
    }
    c->sort = (profile_sort_t)buf[1];
    if (c->sort != expect) {
        *why = "parameter 'cursor' belongs to another sort order";
        return -1;
    }
    c->id = get64(buf + 2);
    c->offset = get64(buf + 10);
    size_t p = HEADER_V1;
    if (buf[0] == VERSION) {
        if (plen < HEADER_LEN) {
            *why = malformed;
            return -1;
        }
        memcpy(c->bind, buf + p, PROFILE_CURSOR_BIND_LEN);
        p += PROFILE_CURSOR_BIND_LEN;
    }
    if (profile_sort_by_name(c->sort)) {
        if (plen < p + 2) {
            *why = malformed;
            return -1;
        }
        size_t len = (size_t)buf[p] << 8 | buf[p + 1];
        p += 2;
        if (len > PROFILE_NAME_MAX_BYTES || plen != p + len) {
            *why = malformed;
            return -1;
        }
        memcpy(c->name, buf + p, len);
        c->name[len] = '\0';
        c->name_len = len;
    } else {
        if (plen != p + 8) {
            *why = malformed;
            return -1;
        }
        c->key = get64(buf + p);
    }
    if (!fields_valid(c)) {
        *why = malformed;
        return -1;
    }
    memcpy(c->tag, tag, sizeof(tag));
    return 0;
}

void profile_cursor_bind(profile_cursor_t *c, const char *bind)
{
    memset(c->bind, 0, sizeof(c->bind));
    if (bind == NULL || bind[0] == '\0')
        return;
    /* A digest, not a secret: the tag already protects it. */
    static const char label[] = "profile-cursor-bind";
    unsigned char d[CRYPTO_MAC_LEN];
    crypto_hmac_sha256(label, sizeof(label) - 1, bind, strlen(bind), d);
    memcpy(c->bind, d, PROFILE_CURSOR_BIND_LEN);
}

bool profile_cursor_bound(const profile_cursor_t *c, const char *bind)
{
    profile_cursor_t want;
    profile_cursor_bind(&want, bind);
    return ct_equal(c->bind, want.bind, PROFILE_CURSOR_BIND_LEN);
}
