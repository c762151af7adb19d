/* jw.h: a small streaming JSON writer into arena memory.
 *
 * Responses are built with this rather than with json-c objects: no tree, no
 * per-value allocation, commas and escaping handled here. Strings are escaped
 * per RFC 8259 and invalid UTF-8 is replaced by U+FFFD so that the output is
 * always valid JSON. The buffer belongs to the arena given to jw_init. */
#ifndef MA_COMMON_JW_H
#define MA_COMMON_JW_H

#include "common/arena.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JW_MAX_DEPTH 32

typedef struct jw {
    arena_t *arena;
    char *buf;
    size_t len, cap;
    int depth;
    bool need_comma[JW_MAX_DEPTH];
    bool after_key;
} jw_t;

void jw_init(jw_t *w, arena_t *a, size_t initial);

void jw_obj_begin(jw_t *w);
void jw_obj_end(jw_t *w);
void jw_arr_begin(jw_t *w);
void jw_arr_end(jw_t *w);
void jw_key(jw_t *w, const char *key);

void jw_str(jw_t *w, const char *s);
void jw_strn(jw_t *w, const char *s, size_t n);
void jw_str_or_null(jw_t *w, const char *s);
void jw_int(jw_t *w, int64_t v);
void jw_bool(jw_t *w, bool v);
void jw_null(jw_t *w);
/* A value that is already JSON text (trusted, from this program). */
void jw_raw(jw_t *w, const char *json, size_t n);

/* key + value shorthands */
void jw_kstr(jw_t *w, const char *key, const char *s);
void jw_kint(jw_t *w, const char *key, int64_t v);
void jw_kbool(jw_t *w, const char *key, bool v);
void jw_knull(jw_t *w, const char *key);

/* Raw bytes appended without any JSON bookkeeping (used for HTTP heads). */
void jw_append(jw_t *w, const char *s, size_t n);

#endif
