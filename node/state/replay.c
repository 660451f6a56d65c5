#include "node/state/replay.h"

#include <errno.h>
#include <sodium.h>
#include <string.h>

#include "api/xalloc.h"

struct entry {
  uint8_t key[16];
  int64_t expires;
};

struct replay {
  struct entry *slots; /* open addressing; key all-zero = empty */
  size_t cap, used;
};

struct replay *
replay_new (void)
{
  struct replay *r = xcalloc (1, sizeof *r);
  r->cap = 1024;
  r->slots = xcalloc (r->cap, sizeof *r->slots);
  return r;
}

void
replay_free (struct replay *r)
{
  if (r == NULL)
    return;
  free (r->slots);
  free (r);
}

static bool
empty (const struct entry *e)
{
  static const uint8_t zero[16];
  return memcmp (e->key, zero, 16) == 0;
}

static void
insert (struct entry *slots, size_t cap, const struct entry *e)
{
  size_t i;
  memcpy (&i, e->key, sizeof i);
  for (i %= cap; !empty (&slots[i]); i = (i + 1) % cap)
    ;
  slots[i] = *e;
}

/* Rebuild without expired entries, growing when still crowded. */
static void
rebuild (struct replay *r, int64_t now)
{
  size_t live = 0, cap;
  struct entry *slots;
  for (size_t i = 0; i < r->cap; i++)
    if (!empty (&r->slots[i]) && r->slots[i].expires >= now)
      live++;
  cap = r->cap;
  while (live * 2 >= cap)
    cap *= 2;
  slots = xcalloc (cap, sizeof *slots);
  for (size_t i = 0; i < r->cap; i++)
    if (!empty (&r->slots[i]) && r->slots[i].expires >= now)
      insert (slots, cap, &r->slots[i]);
  free (r->slots);
  r->slots = slots;
  r->cap = cap;
  r->used = live;
}

int
replay_check (struct replay *r, const struct jwt_claims *c, int64_t now, struct nxerr *err)
{
  struct entry e;
  size_t i;
  if (c->iat > now + REPLAY_SKEW_S)
    return nxerr_set (err, EINVAL, "JWT issued in the future (iat %lld)", (long long) c->iat);
  if (c->iat < now - REPLAY_WINDOW_S)
    return nxerr_set (err, EINVAL,
                      "JWT is older than %d seconds (iat %lld): mint a fresh one",
                      REPLAY_WINDOW_S, (long long) c->iat);
  crypto_generichash (e.key, sizeof e.key, c->sig, sizeof c->sig, NULL, 0);
  e.key[0] |= 1; /* never all-zero */
  e.expires = c->iat + REPLAY_WINDOW_S + REPLAY_SKEW_S;
  if (c->exp > 0 && c->exp < e.expires)
    e.expires = c->exp;
  memcpy (&i, e.key, sizeof i);
  for (i %= r->cap; !empty (&r->slots[i]); i = (i + 1) % r->cap)
    if (memcmp (r->slots[i].key, e.key, 16) == 0 && r->slots[i].expires >= now)
      return nxerr_set (err, EALREADY, "JWT has been used before (replay refused)");
  if ((r->used + 1) * 4 >= r->cap * 3)
    rebuild (r, now);
  if (r->used >= REPLAY_MAX)
    return nxerr_set (err, EBUSY, "too many recent JWTs to track; retry later");
  insert (r->slots, r->cap, &e);
  r->used++;
  return 0;
}
