#include "agent/link.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "api/log.h"
#include "api/timefmt.h"
#include "api/xalloc.h"

/* Pongs may use the queue only up to here, so a node that pings without
 * reading can never crowd out Started/StartFailed/Exited. */
#define CTL_PONG_MAX (AGENT_CTL_QUEUE_MAX - 8)

int
link_init (struct link *l, int sock, struct nxerr *err)
{
  int fl;
  /* Not the batch scratch: clearing it would fault in ~48 KiB that a warm
   * agent, or a quiet workload's, never touches (it is filled before use). */
  memset (l, 0, offsetof (struct link, batch));
  l->sock = sock;
  fl = fcntl (sock, F_GETFL);
  if (fl < 0 || fcntl (sock, F_SETFL, fl | O_NONBLOCK) < 0)
    return nxerr_sys (err, errno, "link fd %d: set non-blocking", sock);
  if (fcntl (sock, F_SETFD, FD_CLOEXEC) < 0)
    return nxerr_sys (err, errno, "link fd %d: set close-on-exec", sock);
  return 0;
}

void
link_free (struct link *l)
{
  while (l->ctl_count > 0)
    {
      frame_free (l->ctl[l->ctl_head]);
      l->ctl_head = (l->ctl_head + 1) % AGENT_CTL_QUEUE_MAX;
      l->ctl_count--;
    }
  if (l->sock >= 0)
    close (l->sock);
  l->sock = -1;
}

/* An owned deep copy, through the wire format (control frames are tiny). */
static Frame *
frame_copy (const Frame *f)
{
  size_t n = nexc__agent__frame__get_packed_size (f);
  cleanup_free uint8_t *buf = xmalloc (n);
  Frame *c;
  nexc__agent__frame__pack (f, buf);
  c = nexc__agent__frame__unpack (NULL, n, buf);
  if (c == NULL)
    abort (); /* only allocation can fail here */
  return c;
}

bool
link_ctl_pending (const struct link *l)
{
  return l->ctl_count > 0;
}

bool
link_pending (const struct link *l, const struct log_ring *r)
{
  return l->ctl_count > 0 || log_ring_unsent (r) > 0;
}

int
link_send_ctl (struct link *l, const Frame *f, struct nxerr *err)
{
  if (l->ctl_count == 0)
    {
      if (frame_send (l->sock, f, -1, err) == 0)
        return 0;
      if (err->code != EAGAIN)
        return -1;
    }
  if (f->body_case == NEXC__AGENT__FRAME__BODY_PONG && l->ctl_count >= CTL_PONG_MAX)
    {
      /* The node is not reading; it will see a missing Pong. */
      log_warn ("link full: Pong dropped");
      return 0;
    }
  if (l->ctl_count >= AGENT_CTL_QUEUE_MAX)
    return nxerr_set (err, ENOBUFS, "link full: %s frame cannot be queued", frame_kind (f));
  l->ctl[(l->ctl_head + l->ctl_count) % AGENT_CTL_QUEUE_MAX] = frame_copy (f);
  l->ctl_count++;
  return 0;
}

/* Whether the socket polls writable again (or has an error to report):
 * after a batch met a full socket. Packing a batch costs far more than
 * asking, and a flooding workload wakes the loop again and again before the
 * node has read enough to make room. */
static bool
link_writable (int sock)
{
  struct pollfd p = { .fd = sock, .events = POLLOUT };
  int n;
  do
    n = poll (&p, 1, 0);
  while (n < 0 && errno == EINTR);
  return n != 0;
}

/* The oldest lines of the ring in one Log frame, as many as fit. Returns 1
 * when sent, 0 when the socket is full, -1 when broken. */
static int
send_log_batch (struct link *l, struct log_ring *r, struct nxerr *err)
{
  Nexc__Agent__Log lg = NEXC__AGENT__LOG__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  size_t room = FRAME_MAX - FRAME_LOG_FRAME_OVERHEAD;
  size_t n = 0, unsent = log_ring_unsent (r);
  if (l->log_blocked && !link_writable (l->sock))
    return 0;
  l->log_blocked = false;
  while (n < unsent && n < FRAME_LOG_LINES_MAX)
    {
      const struct log_line *line = log_ring_at (r, n);
      Nexc__Agent__Log__Line *b = &l->batch[n];
      size_t need = line->len + FRAME_LOG_LINE_OVERHEAD;
      if (need > room)
        break; /* never for the first line: it is at most FRAME_LOG_TEXT_MAX */
      room -= need;
      nexc__agent__log__line__init (b);
      b->stream = (Nexc__Agent__Log__Stream) line->stream;
      b->text.data = (uint8_t *) line->data;
      b->text.len = line->len;
      l->batch_ptrs[n++] = b;
    }
  lg.n_lines = n;
  lg.lines = l->batch_ptrs;
  lg.dropped = r->pending_dropped;
  lg.first_seq = log_ring_peek (r)->seq;
  f.body_case = NEXC__AGENT__FRAME__BODY_LOG;
  f.log = &lg;
  if (frame_send (l->sock, &f, -1, err) < 0)
    {
      l->log_blocked = err->code == EAGAIN;
      return err->code == EAGAIN ? 0 : -1;
    }
  log_ring_pop_sent (r, n);
  return 1;
}

int
link_flush (struct link *l, struct log_ring *r, struct nxerr *err)
{
  int budget = AGENT_LINK_FRAMES_OUT;
  while (l->ctl_count > 0 && budget-- > 0)
    {
      Frame *f = l->ctl[l->ctl_head];
      if (frame_send (l->sock, f, -1, err) < 0)
        return err->code == EAGAIN ? 0 : -1;
      frame_free (f);
      l->ctl_head = (l->ctl_head + 1) % AGENT_CTL_QUEUE_MAX;
      l->ctl_count--;
    }
  if (l->ctl_count > 0)
    return 0;
  while (log_ring_unsent (r) > 0 && budget-- > 0)
    {
      int rc = send_log_batch (l, r, err);
      if (rc <= 0)
        return rc;
    }
  return 0;
}

/* Wait until the socket takes one frame, or the deadline passes. */
static int
send_by (struct link *l, const Frame *f, uint64_t deadline, int timeout_ms, struct nxerr *err)
{
  for (;;)
    {
      struct pollfd p = { .fd = l->sock, .events = POLLOUT };
      uint64_t now;
      if (frame_send (l->sock, f, -1, err) == 0)
        return 0;
      if (err->code != EAGAIN)
        return -1;
      now = timefmt_mono_ns ();
      if (now >= deadline)
        return nxerr_set (err, ETIMEDOUT, "send %s: link full for %d ms", frame_kind (f),
                          timeout_ms);
      if (poll (&p, 1, (int) ((deadline - now) / 1000000ull) + 1) < 0 && errno != EINTR)
        return nxerr_sys (err, errno, "poll link");
    }
}

int
link_send_wait (struct link *l, const Frame *f, int timeout_ms, struct nxerr *err)
{
  uint64_t deadline = timefmt_mono_ns () + (uint64_t) timeout_ms * 1000000ull;
  /* Queued control frames first: Exited must never overtake Started. */
  while (l->ctl_count > 0)
    {
      Frame *q = l->ctl[l->ctl_head];
      if (send_by (l, q, deadline, timeout_ms, err) < 0)
        return -1;
      frame_free (q);
      l->ctl_head = (l->ctl_head + 1) % AGENT_CTL_QUEUE_MAX;
      l->ctl_count--;
    }
  return send_by (l, f, deadline, timeout_ms, err);
}
