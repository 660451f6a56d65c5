#include "agent/output.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "api/log.h"

#define NS_PER_MS 1000000ull

void
output_init (struct output *o, int fd, int stream)
{
  o->fd = fd;
  o->stream = stream;
  o->len = 0;
  o->since_ns = 0;
  o->split = false;
  o->in_off = o->in_len = 0;
}

void
output_close (struct output *o)
{
  if (o->fd >= 0)
    close (o->fd);
  o->fd = -1;
}

/* Send the current line (or piece of it) to the ring. */
static void
emit (struct output *o, struct log_ring *r)
{
  log_ring_push (r, o->stream, o->line, o->len);
  o->len = 0;
  o->since_ns = 0;
}

size_t
output_feed (struct output *o, struct log_ring *r, const char *p, size_t n, uint64_t now_ns)
{
  const char *start = p;
  while (n > 0)
    {
      const char *nl = memchr (p, '\n', n);
      size_t take = nl ? (size_t) (nl - p) : n;
      size_t room = sizeof o->line - o->len;
      if (take >= room && !(nl != NULL && take == room))
        {
          /* The line outgrows one Log text: send a full chunk. (A newline
           * right after a full buffer ends the line normally below.) */
          if (!log_ring_room (r, sizeof o->line))
            break;
          memcpy (o->line + o->len, p, room);
          o->len += room;
          emit (o, r);
          o->split = true;
          p += room;
          n -= room;
          continue;
        }
      /* A line ends here: take its bytes only if the ring takes the line. */
      if (nl != NULL && (o->len + take > 0 || !o->split) && !log_ring_room (r, o->len + take))
        break;
      memcpy (o->line + o->len, p, take);
      o->len += take;
      p += take;
      n -= take;
      if (nl == NULL)
        break;
      p++; /* the newline */
      n--;
      if (o->len > 0 || !o->split)
        emit (o, r);
      o->split = false;
    }
  if (o->len > 0 && o->since_ns == 0)
    o->since_ns = now_ns;
  return (size_t) (p - start);
}

void
output_tick (struct output *o, struct log_ring *r, uint64_t now_ns, bool force)
{
  if (o->len == 0)
    return;
  /* Not while the rest of it may already wait in `in`: the workload is not
   * slow, the ring is full, and the line must not be cut. */
  if (!force && (now_ns < o->since_ns + AGENT_PARTIAL_FLUSH_MS * NS_PER_MS
                 || !log_ring_room (r, o->len) || output_has_input (o)))
    return;
  emit (o, r);
  o->split = true;
}

uint64_t
output_deadline (const struct output *o, const struct log_ring *r)
{
  if (o->len == 0 || !log_ring_room (r, o->len) || output_has_input (o))
    return 0;
  return o->since_ns + AGENT_PARTIAL_FLUSH_MS * NS_PER_MS;
}

bool
output_has_input (const struct output *o)
{
  return o->in_off < o->in_len;
}

bool
output_wants_read (const struct output *o)
{
  return o->fd >= 0 && !output_has_input (o);
}

void
output_pump (struct output *o, struct log_ring *r, uint64_t now_ns)
{
  if (!output_has_input (o))
    return;
  o->in_off += output_feed (o, r, o->in + o->in_off, o->in_len - o->in_off, now_ns);
  if (o->in_off == o->in_len)
    o->in_off = o->in_len = 0;
}

int
output_read (struct output *o, struct log_ring *r, uint64_t now_ns)
{
  ssize_t n;
  if (o->fd < 0)
    return -1;
  if (output_has_input (o))
    {
      output_pump (o, r, now_ns);
      return 0;
    }
  do
    n = read (o->fd, o->in, sizeof o->in);
  while (n < 0 && errno == EINTR);
  if (n > 0)
    {
      o->in_off = 0;
      o->in_len = (size_t) n;
      output_pump (o, r, now_ns);
      return 1;
    }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return 0;
  if (n < 0)
    log_warn ("read workload output: %s", strerror (errno));
  /* EOF: whatever is left is the last line, newline or not. */
  output_tick (o, r, now_ns, true);
  output_close (o);
  return -1;
}
