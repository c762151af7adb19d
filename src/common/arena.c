/* arena.c: bump allocator with a chain of blocks (see arena.h). */
#include "common/arena.h"
#include "common/mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define ARENA_ALIGN 16

typedef struct block {
    struct block *next;
    size_t size; /* usable bytes in data */
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
} block_t;

struct arena {
    block_t *head; /* current block (most recent) */
    block_t *first;
    size_t first_size;
    size_t footprint;
};

static size_t align_up(size_t n)
{
    return (n + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);
}

static block_t *block_new(size_t size)
{
    block_t *b = xmalloc(sizeof(block_t) + size);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

arena_t *arena_new(size_t first_block)
{
    arena_t *a = xcalloc(1, sizeof(*a));
    a->first_size = first_block < 1024 ? 1024 : align_up(first_block);
    a->first = a->head = block_new(a->first_size);
    a->footprint = a->first_size;
    return a;
}

void arena_free(arena_t *a)
{
    if (a == NULL)
        return;
    block_t *b = a->head;
    while (b != NULL) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

void arena_reset(arena_t *a)
{
    block_t *b = a->head;
    while (b != a->first) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
    a->head = a->first;
    a->first->used = 0;
    a->footprint = a->first_size;
}

void *arena_alloc(arena_t *a, size_t n)
{
    size_t need = align_up(n ? n : 1);
    block_t *b = a->head;
    if (b->size - b->used < need) {
        size_t size = a->first_size;
        while (size < need)
            size *= 2;
        b = block_new(size);
        b->next = a->head;
        a->head = b;
        a->footprint += size;
    }
    void *p = b->data + b->used;
    b->used += need;
    return p;
}

void *arena_calloc(arena_t *a, size_t n)
{
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

void *arena_grow(arena_t *a, void *p, size_t old, size_t n)
{
    if (p == NULL)
        return arena_alloc(a, n);
    block_t *b = a->head;
    unsigned char *last = b->data + b->used - align_up(old ? old : 1);
    if ((unsigned char *)p == last && (size_t)(last - b->data) + align_up(n) <= b->size) {
        b->used = (size_t)(last - b->data) + align_up(n);
        return p;
    }
    void *q = arena_alloc(a, n);
    memcpy(q, p, old < n ? old : n);
    return q;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(arena_t *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_vprintf(arena_t *a, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    char small[256];
    int n = vsnprintf(small, sizeof(small), fmt, cp);
    va_end(cp);
    if (n < 0)
        return arena_strdup(a, "");
    char *p = arena_alloc(a, (size_t)n + 1);
    if ((size_t)n < sizeof(small))
        memcpy(p, small, (size_t)n + 1);
    else
        vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *arena_printf(arena_t *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *p = arena_vprintf(a, fmt, ap);
    va_end(ap);
    return p;
}

size_t arena_footprint(const arena_t *a)
{
    return a->footprint;
}
