/* strmap: struct strlist and struct strmap (node/core/strmap.h). Split from
 * config.c, which is only the loader now, because these containers are used
 * well beyond the configuration (the node's tags, the deploy checks) and know
 * nothing of JSON or of the configuration's keys. Every string is copied in;
 * the container's _free releases them and leaves it empty and reusable. */
#include "node/core/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "api/xalloc.h"

void
strlist_push (struct strlist *l, const char *s)
{
  l->v = xrealloc (l->v, (l->n + 1) * sizeof *l->v);
  l->v[l->n++] = xstrdup (s);
}

bool
strlist_contains (const struct strlist *l, const char *s)
{
  for (size_t i = 0; i < l->n; i++)
    if (strcmp (l->v[i], s) == 0)
      return true;
  return false;
}

void
strlist_free (struct strlist *l)
{
  for (size_t i = 0; i < l->n; i++)
    free (l->v[i]);
  free (l->v);
  l->v = NULL;
  l->n = 0;
}

void
strmap_set (struct strmap *m, const char *k, const char *v)
{
  size_t i = 0;
  while (i < m->n && strcmp (m->keys[i], k) < 0)
    i++;
  if (i < m->n && strcmp (m->keys[i], k) == 0)
    {
      free (m->vals[i]);
      m->vals[i] = xstrdup (v);
      return;
    }
  m->keys = xrealloc (m->keys, (m->n + 1) * sizeof *m->keys);
  m->vals = xrealloc (m->vals, (m->n + 1) * sizeof *m->vals);
  memmove (m->keys + i + 1, m->keys + i, (m->n - i) * sizeof *m->keys);
  memmove (m->vals + i + 1, m->vals + i, (m->n - i) * sizeof *m->vals);
  m->keys[i] = xstrdup (k);
  m->vals[i] = xstrdup (v);
  m->n++;
}

const char *
strmap_get (const struct strmap *m, const char *k)
{
  for (size_t i = 0; i < m->n; i++)
    if (strcmp (m->keys[i], k) == 0)
      return m->vals[i];
  return NULL;
}

void
strmap_free (struct strmap *m)
{
  for (size_t i = 0; i < m->n; i++)
    {
      free (m->keys[i]);
      free (m->vals[i]);
    }
  free (m->keys);
  free (m->vals);
  memset (m, 0, sizeof *m);
}
