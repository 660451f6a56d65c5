#include "node/artifacts/objmap.h"

#include <string.h>

#include <sodium.h>

#include "api/xalloc.h"

#define MIN_CAP 16

static uint64_t
hash (const struct objmap *m, const char *token, size_t len)
{
  unsigned char h[crypto_shorthash_BYTES];
  uint64_t v;
  crypto_shorthash (h, (const unsigned char *) token, len, m->key);
  memcpy (&v, h, sizeof v);
  return v;
}

void
objmap_init (struct objmap *m, const unsigned char key[OBJMAP_KEY_LEN])
{
  memset (m, 0, sizeof *m);
  memcpy (m->key, key, OBJMAP_KEY_LEN);
}

void
objmap_free (struct objmap *m)
{
  for (size_t i = 0; i < m->cap; i++)
    free (m->slots[i].token);
  free (m->slots);
  m->slots = NULL;
  m->cap = m->count = m->bytes = 0;
}

/* The slot holding token, or the free slot where it would go. */
static struct objmap_entry *
find (const struct objmap *m, const char *token, size_t len)
{
  size_t mask = m->cap - 1, i = (size_t) hash (m, token, len) & mask;
  for (;; i = (i + 1) & mask)
    {
      struct objmap_entry *e = &m->slots[i];
      if (e->token == NULL || (e->token_len == len && memcmp (e->token, token, len) == 0))
        return e;
    }
}

const struct objmap_entry *
objmap_get (const struct objmap *m, const char *token, size_t len)
{
  const struct objmap_entry *e;
  if (m->cap == 0)
    return NULL;
  e = find (m, token, len);
  return e->token ? e : NULL;
}

/* Load at most one half: probes stay short. */
static void
grow (struct objmap *m)
{
  struct objmap old = *m;
  size_t cap = m->cap ? m->cap * 2 : MIN_CAP;
  m->slots = xcalloc (cap, sizeof *m->slots);
  m->cap = cap;
  m->bytes += (cap - old.cap) * sizeof *m->slots;
  for (size_t i = 0; i < old.cap; i++)
    if (old.slots[i].token)
      *find (m, old.slots[i].token, old.slots[i].token_len) = old.slots[i];
  free (old.slots);
}

void
objmap_put (struct objmap *m, const char *token, size_t len, const struct objstore_meta *meta,
            bool *added)
{
  struct objmap_entry *e;
  if ((m->count + 1) * 2 > m->cap)
    grow (m);
  e = find (m, token, len);
  if (added)
    *added = e->token == NULL;
  if (e->token == NULL)
    {
      e->token = xstrndup (token, len);
      e->token_len = len;
      m->count++;
      m->bytes += len + 1;
    }
  e->meta = *meta;
}
