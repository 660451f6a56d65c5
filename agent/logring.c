#include "agent/logring.h"

#include <string.h>

#include "api/xalloc.h"

static size_t
n_slots (const struct log_ring *r)
{
  return r->cap_lines + LOG_RING_SLACK;
}

void
log_ring_init (struct log_ring *r, size_t max_lines, size_t max_bytes)
{
  memset (r, 0, sizeof *r);
  r->cap_lines = max_lines ? max_lines : 1;
  r->cap_bytes = max_bytes;
  r->on_full = LOG_ON_FULL_DROP_OLDEST;
  r->next_seq = 1;
  r->slots = xcalloc (n_slots (r), sizeof *r->slots);
}

void
log_ring_configure (struct log_ring *r, enum log_on_full on_full, uint64_t first_seq, bool acked)
{
  r->on_full = on_full;
  r->next_seq = first_seq ? first_seq : 1;
  r->acked = acked;
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
  r->head = (r->head + 1) % n_slots (r);
  r->count--;
  if (r->sent > 0)
    r->sent--;
}

/* Make room: a sent line (acked mode) was delivered to a node already and
 * goes uncounted; an unsent one is a drop. */
static void
ring_drop_oldest (struct log_ring *r)
{
  bool was_sent = r->sent > 0;
  ring_remove_oldest (r);
  if (was_sent)
    return;
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

bool
log_ring_room (const struct log_ring *r, size_t n)
{
  if (r->on_full == LOG_ON_FULL_DROP_OLDEST)
    return true;
  return r->count < r->cap_lines && r->bytes + n <= r->cap_bytes;
}

void
log_ring_push (struct log_ring *r, int stream, const char *p, size_t n)
{
  struct log_line *l;
  if (r->on_full == LOG_ON_FULL_DROP_OLDEST)
    while (r->count > 0 && (r->count >= r->cap_lines || r->bytes + n > r->cap_bytes))
      ring_drop_oldest (r);
  /* The hard bound, whatever the policy: past the slack a line must go. */
  while (r->count > 0 && r->count >= n_slots (r))
    ring_drop_oldest (r);
  if (n > r->cap_bytes)
    {
      /* Cannot happen with the agent's limits (a line is at most one Log
       * text); counted as dropped rather than breaking the byte bound. The
       * ring is empty now, so its number still comes right before the next
       * line's: the drop is reported as a contiguous range. */
      r->next_seq++;
      r->pending_dropped++;
      r->total_dropped++;
      return;
    }
  l = &r->slots[(r->head + r->count) % n_slots (r)];
  l->stream = stream;
  l->len = n;
  l->seq = r->next_seq++;
  l->data = xmalloc (n ? n : 1);
  if (n)
    memcpy (l->data, p, n);
  r->count++;
  r->bytes += n;
}

size_t
log_ring_unsent (const struct log_ring *r)
{
  return r->count - r->sent;
}

const struct log_line *
log_ring_at (const struct log_ring *r, size_t i)
{
  if (i >= log_ring_unsent (r))
    return NULL;
  return &r->slots[(r->head + r->sent + i) % n_slots (r)];
}

const struct log_line *
log_ring_peek (const struct log_ring *r)
{
  return log_ring_at (r, 0);
}

void
log_ring_pop_sent (struct log_ring *r, size_t n)
{
  size_t unsent = log_ring_unsent (r);
  if (n == 0 || unsent == 0)
    return;
  if (n > unsent)
    n = unsent;
  r->sent_total += n;
  r->pending_dropped = 0;
  if (r->acked)
    {
      r->sent += n;
      return;
    }
  for (; n > 0; n--)
    ring_remove_oldest (r);
}

size_t
log_ring_ack (struct log_ring *r, uint64_t seq)
{
  size_t freed = 0;
  while (r->sent > 0 && r->slots[r->head].seq <= seq)
    {
      ring_remove_oldest (r);
      freed++;
    }
  return freed;
}

void
log_ring_rewind (struct log_ring *r)
{
  r->sent = 0;
}

uint64_t
log_ring_resume_seq (const struct log_ring *r)
{
  /* Drops are taken from the front, and only once no sent line is left
   * there, so the pending ones come right before the oldest line held. */
  uint64_t first = r->count ? r->slots[r->head].seq : r->next_seq;
  return first - r->pending_dropped;
}

void
log_ring_discard (struct log_ring *r)
{
  while (r->count > 0)
    ring_drop_oldest (r);
}
