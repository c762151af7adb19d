/* arena.h: per-request arena memory (nginx pools, h2o mem pools).
 *
 * Everything a request allocates comes from its thread's arena and is freed
 * at once when the request ends (arena_reset). Pointers returned by arena_*
 * are owned by the arena: never free() them, never keep them past a reset. */
#ifndef MA_COMMON_ARENA_H
#define MA_COMMON_ARENA_H

#include <stdarg.h>
#include <stddef.h>

typedef struct arena arena_t;

/* A new arena whose first block holds first_block bytes (kept across resets). */
arena_t *arena_new(size_t first_block);
void arena_free(arena_t *a);

/* Frees every block but the first; all earlier pointers become invalid. */
void arena_reset(arena_t *a);

/* n bytes aligned to 16; never NULL (aborts on out-of-memory). */
void *arena_alloc(arena_t *a, size_t n);
void *arena_calloc(arena_t *a, size_t n);
char *arena_strdup(arena_t *a, const char *s);
char *arena_strndup(arena_t *a, const char *s, size_t n);
char *arena_printf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(arena_t *a, const char *fmt, va_list ap);

/* Grows the most recent allocation p (of old bytes) to n bytes; copies when
 * it cannot grow in place. Used by growing buffers (jw_t). */
void *arena_grow(arena_t *a, void *p, size_t old, size_t n);

/* Bytes currently held from the system (for tests and status). */
size_t arena_footprint(const arena_t *a);

#endif
