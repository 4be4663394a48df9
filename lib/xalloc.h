/*
 * Allocation that cannot fail: out of memory prints one line and aborts, so
 * callers do not grow NULL checks for their own allocations (STYLE.md).
 */
#ifndef MEME_XALLOC_H
#define MEME_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new heap string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
