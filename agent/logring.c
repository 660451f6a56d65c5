#include "agent/logring.h"

#include <string.h>

#include "api/xalloc.h"

void
log_ring_init (struct log_ring *r, size_t max_lines, size_t max_bytes)
{
  memset (r, 0, sizeof *r);
  r->cap_lines = max_lines ? max_lines : 1;
  r->cap_bytes = max_bytes;
  r->slots = xcalloc (r->cap_lines, sizeof *r->slots);
}

/* Remove the oldest line without touching the drop counters. */
static void
ring_remove_oldest (struct log_ring *r)
{
  struct log_line *l = &r->slots[r->head];
  r->bytes -= l->len;
  free (l->data);
  l->data = NULL;
  l->len = 0;
  r->head = (r->head + 1) % r->cap_lines;
  r->count--;
}

static void
ring_drop_oldest (struct log_ring *r)
{
  ring_remove_oldest (r);
  r->pending_dropped++;
  r->total_dropped++;
}

void
log_ring_free (struct log_ring *r)
{
  while (r->count > 0)
    ring_remove_oldest (r);
  free (r->slots);
  r->slots = NULL;
}

void
log_ring_push (struct log_ring *r, int stream, const char *p, size_t n)
{
  struct log_line *l;
  while (r->count > 0 && (r->count == r->cap_lines || r->bytes + n > r->cap_bytes))
    ring_drop_oldest (r);
  if (n > r->cap_bytes)
    {
      /* Cannot happen with the agent's limits (a line is at most one Log
       * text); counted as dropped rather than breaking the byte bound. */
      r->pending_dropped++;
      r->total_dropped++;
      return;
    }
  l = &r->slots[(r->head + r->count) % r->cap_lines];
  l->stream = stream;
  l->len = n;
  l->data = xmalloc (n);
  if (n)
    memcpy (l->data, p, n);
  r->count++;
  r->bytes += n;
}

const struct log_line *
log_ring_peek (const struct log_ring *r)
{
  return r->count ? &r->slots[r->head] : NULL;
}

const struct log_line *
log_ring_at (const struct log_ring *r, size_t i)
{
  return i < r->count ? &r->slots[(r->head + i) % r->cap_lines] : NULL;
}

void
log_ring_pop_sent (struct log_ring *r, size_t n)
{
  if (n == 0 || r->count == 0)
    return;
  for (; n > 0 && r->count > 0; n--)
    ring_remove_oldest (r);
  r->pending_dropped = 0;
}

void
log_ring_discard (struct log_ring *r)
{
  while (r->count > 0)
    ring_drop_oldest (r);
}
