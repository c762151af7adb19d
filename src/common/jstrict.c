/* jstrict.c: RFC 8259 validation in front of json-c (see jstrict.h).
 *
 * The validator is a recursive-descent recognizer over the bytes: it builds
 * nothing, it only decides. It counts the members of every object in
 * document (pre-)order, so that after json-c has built the tree a walk in the
 * same order finds any object with fewer members than were written: that is
 * a duplicate key, whatever escapes spelled it ("a" and "\u0061"). */
#include "common/jstrict.h"
#include "common/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OBJECTS 4096 /* objects counted per document; more is refused */

typedef struct {
    const unsigned char *p, *end;
    int depth, max_depth;
    const char *why;
    size_t nobj;
    uint32_t members[MAX_OBJECTS];
} scan_t;

static int fail(scan_t *s, const char *why)
{
    if (s->why == NULL)
        s->why = why;
    return -1;
}

static void ws(scan_t *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static int string(scan_t *s)
{
    s->p++; /* opening quote */
    while (s->p < s->end) {
        unsigned char c = *s->p++;
        if (c == '"')
            return 0;
        if (c < 0x20)
            return fail(s, "control character in a string");
        if (c != '\\')
            continue;
        if (s->p >= s->end)
            break;
        c = *s->p++;
        if (c == 'u') {
            if (s->end - s->p < 4)
                break;
            int v = 0;
            for (int i = 0; i < 4; i++) {
                int h = str_hex_val((unsigned char)s->p[i]);
                if (h < 0)
                    return fail(s, "bad \\u escape");
                v = v * 16 + h;
            }
            if (v == 0)
                return fail(s, "NUL in a string");
            s->p += 4;
        } else if (!strchr("\"\\/bfnrt", c) || c == '\0') {
            return fail(s, "bad escape in a string");
        }
    }
    return fail(s, "unterminated string");
}

/* "9223372036854775807" fits in int64; compares digit strings. */
static bool int_fits(const unsigned char *d, size_t n, bool neg)
{
    static const char max_pos[] = "9223372036854775807";
    static const char max_neg[] = "9223372036854775808";
    if (n < 19)
        return true;
    if (n > 19)
        return false;
    return memcmp(d, neg ? max_neg : max_pos, 19) <= 0;
}

static int number(scan_t *s)
{
    bool neg = false;
    if (*s->p == '-') {
        neg = true;
        s->p++;
    }
    const unsigned char *d = s->p;
    if (s->p >= s->end || *s->p < '0' || *s->p > '9')
        return fail(s, "malformed number");
    if (*s->p == '0') {
        s->p++;
    } else {
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
    }
    size_t ndig = (size_t)(s->p - d);
    bool integer = true;
    if (s->p < s->end && *s->p == '.') {
        integer = false;
        s->p++;
        const unsigned char *f = s->p;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
        if (s->p == f)
            return fail(s, "malformed number");
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        integer = false;
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        const unsigned char *e = s->p;
        while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
            s->p++;
        if (s->p == e)
            return fail(s, "malformed number");
    }
    if (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        return fail(s, "malformed number"); /* "01" */
    if (integer && !int_fits(d, ndig, neg))
        return fail(s, "integer out of range");
    return 0;
}

static int literal(scan_t *s, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0)
        return fail(s, "unexpected character");
    s->p += n;
    return 0;
}

static int value(scan_t *s);

static int object(scan_t *s)
{
    if (s->nobj == MAX_OBJECTS)
        return fail(s, "too many objects");
    size_t me = s->nobj++;
    s->members[me] = 0;
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        ws(s);
        if (s->p >= s->end || *s->p != '"')
            return fail(s, "expected a member name in double quotes");
        if (string(s) != 0)
            return -1;
        ws(s);
        if (s->p >= s->end || *s->p != ':')
            return fail(s, "expected ':'");
        s->p++;
        if (value(s) != 0)
            return -1;
        s->members[me]++;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            return 0;
        }
        return fail(s, "expected ',' or '}'");
    }
}

static int array(scan_t *s)
{
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return 0;
    }
    for (;;) {
        if (value(s) != 0)
            return -1;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return 0;
        }
        return fail(s, "expected ',' or ']'");
    }
}

static int value(scan_t *s)
{
    ws(s);
    if (s->p >= s->end)
        return fail(s, "unexpected end of JSON");
    int rc;
    switch (*s->p) {
    case '{':
    case '[':
        if (++s->depth > s->max_depth)
            return fail(s, "JSON nested too deeply");
        rc = *s->p == '{' ? object(s) : array(s);
        s->depth--;
        return rc;
    case '"':
        return string(s);
    case 't':
        return literal(s, "true");
    case 'f':
        return literal(s, "false");
    case 'n':
        return literal(s, "null");
    default:
        if (*s->p == '-' || (*s->p >= '0' && *s->p <= '9'))
            return number(s);
        return fail(s, "unexpected character");
    }
}

/* Walks the tree in the validator's order; false when an object has fewer
 * members than the text had (a duplicate key collapsed by json-c). */
static bool same_counts(json_object *o, const scan_t *s, size_t *k)
{
    switch (json_object_get_type(o)) {
    case json_type_object: {
        if (*k >= s->nobj || (size_t)json_object_object_length(o) != s->members[*k])
            return false;
        (*k)++;
        json_object_object_foreach(o, key, v)
        {
            (void)key;
            if (!same_counts(v, s, k))
                return false;
        }
        return true;
    }
    case json_type_array: {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            if (!same_counts(json_object_array_get_idx(o, i), s, k))
                return false;
        return true;
    }
    default:
        return true;
    }
}

json_object *jstrict_parse(const char *buf, size_t len, int max_depth, char *why, size_t whylen)
{
    if (buf == NULL || len == 0) {
        snprintf(why, whylen, "a JSON body is required");
        return NULL;
    }
    if (len > INT32_MAX || !str_utf8_valid(buf, len)) {
        snprintf(why, whylen, "the body is not valid UTF-8 text");
        return NULL;
    }
    /* The scan state is a few KiB: heap, not the request thread's stack. */
    scan_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        abort();
    s->p = (const unsigned char *)buf;
    s->end = s->p + len;
    s->max_depth = max_depth < 1 ? 1 : (max_depth > 64 ? 64 : max_depth);
    json_object *root = NULL;
    if (value(s) == 0) {
        ws(s);
        if (s->p != s->end)
            fail(s, "unexpected data after the JSON value");
    }
    if (s->why) {
        snprintf(why, whylen, "malformed JSON: %s", s->why);
        goto out;
    }
    json_tokener *tok = json_tokener_new_ex(s->max_depth + 1);
    if (tok == NULL)
        abort();
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    root = json_tokener_parse_ex(tok, buf, (int)len);
    bool ok = root != NULL && json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (!ok) {
        /* The grammar check passed, so this is json-c refusing (e.g. depth). */
        json_object_put(root);
        root = NULL;
        snprintf(why, whylen, "malformed JSON");
        goto out;
    }
    size_t k = 0;
    if (!same_counts(root, s, &k)) {
        json_object_put(root);
        root = NULL;
        snprintf(why, whylen, "malformed JSON: duplicate member name");
    }
out:
    free(s);
    return root;
}

int jstrict_only(json_object *o, const char *const *allowed, char *why, size_t whylen)
{
    json_object_object_foreach(o, key, v)
    {
        (void)v;
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = strcmp(*a, key) == 0;
        if (!ok) {
            /* The name came from outside: show it only when it is tame. */
            if (strlen(key) <= 40 && str_charset(key, "_-"))
                snprintf(why, whylen, "unknown field '%s'", key);
            else
                snprintf(why, whylen, "unknown field");
            return -1;
        }
    }
    return 0;
}

int jstrict_str(json_object *o, const char *key, bool required, bool null_ok, size_t max,
                const char **out, char *why, size_t whylen)
{
    json_object *v = NULL;
    *out = NULL;
    if (!json_object_object_get_ex(o, key, &v) || (v == NULL && null_ok)) {
        if (!required)
            return 0;
        snprintf(why, whylen, "field '%s' is required", key);
        return -1;
    }
    if (v == NULL || !json_object_is_type(v, json_type_string)) {
        snprintf(why, whylen, "field '%s' must be a string", key);
        return -1;
    }
    const char *sv = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v);
    if (n > max || strlen(sv) != n || !str_utf8_valid(sv, n)) {
        snprintf(why, whylen, "field '%s' must be a string of at most %zu bytes", key, max);
        return -1;
    }
    *out = sv;
    return 0;
}

int jstrict_i64(json_object *o, const char *key, bool required, int64_t min, int64_t max,
                int64_t *out, bool *present, char *why, size_t whylen)
{
    json_object *v = NULL;
    if (present)
        *present = false;
    if (!json_object_object_get_ex(o, key, &v)) {
        if (!required)
            return 0;
        snprintf(why, whylen, "field '%s' is required", key);
        return -1;
    }
    if (v == NULL || !json_object_is_type(v, json_type_int)) {
        snprintf(why, whylen, "field '%s' must be an integer", key);
        return -1;
    }
    int64_t x = json_object_get_int64(v);
    if (x < min || x > max) {
        snprintf(why, whylen, "field '%s' must be between %lld and %lld", key, (long long)min,
                 (long long)max);
        return -1;
    }
    *out = x;
    if (present)
        *present = true;
    return 0;
}
