/* jstrict.h: strict JSON input for request bodies and gateway answers.
 *
 * json-c builds the tree, but on its own it is lenient where a payment API
 * must not be: it takes 'single quotes' and NaN, silently clamps integers
 * that overflow int64 to INT64_MAX, keeps the last of two equal keys (so a
 * proxy and this program could read different amounts from one body) and
 * accepts NUL inside strings. jstrict_parse first checks the text against
 * RFC 8259's grammar (plus those rules), then lets json-c build the tree and
 * verifies that no object lost a member to a duplicate key.
 *
 * The member helpers read one typed field and say, in a message safe for a
 * client, which field was wrong. Returned strings belong to the json-c tree:
 * they live until json_object_put() of the root. */
#ifndef MA_COMMON_JSTRICT_H
#define MA_COMMON_JSTRICT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSTRICT_WHY 160 /* enough room for any message below */

/* The one JSON value in buf[0..len) (surrounding whitespace allowed), or
 * NULL with the reason in why. Nesting deeper than max_depth (1..64) is
 * refused. The caller owns the result (json_object_put). */
json_object *jstrict_parse(const char *buf, size_t len, int max_depth, char *why, size_t whylen);

/* -1 with why when o (an object) has a member whose name is not in allowed
 * (a NULL-terminated list); 0 otherwise. */
int jstrict_only(json_object *o, const char *const *allowed, char *why, size_t whylen);

/* A string member of at most max bytes, valid UTF-8 without NUL. Absent (or
 * null when null_ok): *out = NULL and 0 unless required. Wrong type: -1. */
int jstrict_str(json_object *o, const char *key, bool required, bool null_ok, size_t max,
                const char **out, char *why, size_t whylen);

/* An integer member (a JSON number without fraction or exponent) in
 * [min,max]. Absent: 0 with *present false unless required. */
int jstrict_i64(json_object *o, const char *key, bool required, int64_t min, int64_t max,
                int64_t *out, bool *present, char *why, size_t whylen);

#endif
