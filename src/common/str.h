/* str.h: strict parsing and small string helpers for outside input. */
#ifndef MA_COMMON_STR_H
#define MA_COMMON_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Whole string is a decimal integer in [min, max]: optional '-', digits only,
 * no spaces, no '+', no leading zeros beyond "0". Returns 0 or -1. */
int str_to_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Same for a counted string. */
int str_to_i64n(const char *s, size_t n, int64_t min, int64_t max, int64_t *out);

/* Valid UTF-8 (no overlongs, no surrogates, no NUL). */
bool str_utf8_valid(const char *s, size_t n);
/* The code point at s[0..n), n >= 1, in UTF-8 that str_utf8_valid accepted;
 * its length in *len. */
uint32_t str_utf8_at(const unsigned char *s, size_t n, size_t *len);

/* Every byte of s is in the set [A-Za-z0-9] plus the characters of extra. */
bool str_charset(const char *s, const char *extra);

/* Case-insensitive ASCII prefix test. */
bool str_ci_prefix(const char *s, const char *prefix);

/* The value of one hexadecimal digit (0-9, a-f, A-F), or -1. */
int str_hex_val(int c);

/* Constant-time comparison of two strings (length is not hidden). */
bool str_ct_equal(const char *a, const char *b);

#endif
