#include "api/xalloc.h"

#include <stdio.h>
#include <string.h>

static void
oom (size_t n)
{
  fprintf (stderr, "out of memory allocating %zu bytes\n", n);
  abort ();
}

void *
xmalloc (size_t n)
{
  void *p = malloc (n ? n : 1);
  if (p == NULL)
    oom (n);
  return p;
}

void *
xcalloc (size_t nmemb, size_t n)
{
  void *p = calloc (nmemb ? nmemb : 1, n ? n : 1);
  if (p == NULL)
    oom (nmemb * n);
  return p;
}

void *
xrealloc (void *p, size_t n)
{
  void *q = realloc (p, n ? n : 1);
  if (q == NULL)
    oom (n);
  return q;
}

char *
xstrdup (const char *s)
{
  return xstrndup (s, strlen (s));
}

char *
xstrndup (const char *s, size_t n)
{
  char *p = xmalloc (n + 1);
  memcpy (p, s, n);
  p[n] = '\0';
  return p;
}
