/* jw.c: streaming JSON writer (see jw.h). */
#include "common/jw.h"

#include <string.h>

static void reserve(jw_t *w, size_t extra)
{
    if (w->len + extra <= w->cap)
        return;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + extra)
        cap *= 2;
    w->buf = arena_grow(w->arena, w->buf, w->cap, cap);
    w->cap = cap;
}

void jw_append(jw_t *w, const char *s, size_t n)
{
    reserve(w, n + 1);
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = '\0';
}

static void putc1(jw_t *w, char c)
{
    reserve(w, 2);
    w->buf[w->len++] = c;
    w->buf[w->len] = '\0';
}

void jw_init(jw_t *w, arena_t *a, size_t initial)
{
    memset(w, 0, sizeof(*w));
    w->arena = a;
    w->cap = initial < 64 ? 64 : initial;
    w->buf = arena_alloc(a, w->cap);
    w->buf[0] = '\0';
}

/* Comma before a value unless it follows a key. */
static void value_prefix(jw_t *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->need_comma[w->depth])
        putc1(w, ',');
    w->need_comma[w->depth] = true;
}

static void open(jw_t *w, char c)
{
    value_prefix(w);
    putc1(w, c);
    if (w->depth < JW_MAX_DEPTH - 1)
        w->depth++;
    w->need_comma[w->depth] = false;
}

static void close_(jw_t *w, char c)
{
    putc1(w, c);
    if (w->depth > 0)
        w->depth--;
}

void jw_obj_begin(jw_t *w)
{
    open(w, '{');
}
void jw_obj_end(jw_t *w)
{
    close_(w, '}');
}
void jw_arr_begin(jw_t *w)
{
    open(w, '[');
}
void jw_arr_end(jw_t *w)
{
    close_(w, ']');
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

static void escaped(jw_t *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    reserve(w, n + 2);
    putc1(w, '"');
    size_t i = 0;
    while (i < n) {
        /* copy the longest run that needs no escaping */
        size_t run = i;
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run > i) {
            jw_append(w, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = p[i];
        if (c >= 0x80) {
            size_t len = utf8_seq(p + i, n - i);
            if (len == 0) {
                jw_append(w, "\xEF\xBF\xBD", 3); /* U+FFFD */
                i++;
            } else {
                jw_append(w, s + i, len);
                i += len;
            }
            continue;
        }
        switch (c) {
        case '"':
            jw_append(w, "\\\"", 2);
            break;
        case '\\':
            jw_append(w, "\\\\", 2);
            break;
        case '\n':
            jw_append(w, "\\n", 2);
            break;
        case '\r':
            jw_append(w, "\\r", 2);
            break;
        case '\t':
            jw_append(w, "\\t", 2);
            break;
        default: {
            char u[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };
            jw_append(w, u, 6);
        }
        }
        i++;
    }
    putc1(w, '"');
}

void jw_key(jw_t *w, const char *key)
{
    if (w->need_comma[w->depth])
        putc1(w, ',');
    w->need_comma[w->depth] = true;
    escaped(w, key, strlen(key));
    putc1(w, ':');
    w->after_key = true;
}

void jw_strn(jw_t *w, const char *s, size_t n)
{
    value_prefix(w);
    escaped(w, s, n);
}

void jw_str(jw_t *w, const char *s)
{
    jw_strn(w, s, strlen(s));
}

void jw_str_or_null(jw_t *w, const char *s)
{
    if (s == NULL)
        jw_null(w);
    else
        jw_str(w, s);
}

void jw_int(jw_t *w, int64_t v)
{
    char tmp[24];
    char *e = tmp + sizeof(tmp);
    char *p = e;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    value_prefix(w);
    jw_append(w, p, (size_t)(e - p));
}

void jw_bool(jw_t *w, bool v)
{
    value_prefix(w);
    if (v)
        jw_append(w, "true", 4);
    else
        jw_append(w, "false", 5);
}

void jw_null(jw_t *w)
{
    value_prefix(w);
    jw_append(w, "null", 4);
}

void jw_raw(jw_t *w, const char *json, size_t n)
{
    value_prefix(w);
    jw_append(w, json, n);
}

void jw_kstr(jw_t *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_str_or_null(w, s);
}

void jw_kint(jw_t *w, const char *key, int64_t v)
{
    jw_key(w, key);
    jw_int(w, v);
}

void jw_kbool(jw_t *w, const char *key, bool v)
{
    jw_key(w, key);
    jw_bool(w, v);
}

void jw_knull(jw_t *w, const char *key)
{
    jw_key(w, key);
    jw_null(w);
}
