/* xalloc: allocation that aborts on failure, and cleanup helpers.
 * Used everywhere memory exhaustion is not a recoverable condition. */
#ifndef NEXC_XALLOC_H
#define NEXC_XALLOC_H

#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

void *xmalloc (size_t n);
void *xcalloc (size_t nmemb, size_t n);
void *xrealloc (void *p, size_t n);
char *xstrdup (const char *s);
char *xstrndup (const char *s, size_t n);

static inline void
freep (void *p)
{
  free (*(void **) p);
}
static inline void
closep (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}
#define cleanup_free __attribute__ ((cleanup (freep)))
#define cleanup_close __attribute__ ((cleanup (closep)))

/* Move ownership out of a cleanup variable. */
static inline void *
steal_ptr (void *pp)
{
  void **p = (void **) pp;
  void *r = *p;
  *p = NULL;
  return r;
}
static inline int
steal_fd (int *fd)
{
  int r = *fd;
  *fd = -1;
  return r;
}

#endif
