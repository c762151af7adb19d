/* mem.h: allocation wrappers. Allocation failure is not an error a request
 * can handle, so every allocation goes through these and aborts on failure
 * (redis's zmalloc policy). */
#ifndef MA_COMMON_MEM_H
#define MA_COMMON_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
