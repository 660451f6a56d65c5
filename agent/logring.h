/* logring: the bounded queue of workload output lines waiting for the link.
 *
 * Owned by the agent loop. Lines go in as they are split (output.c) and out
 * as Log frames get through (link.c). When the ring is full (AGENT_RING_LINES
 * lines or AGENT_RING_BYTES bytes) the OLDEST line is dropped and counted:
 * a slow node loses old output rather than stalling the workload or the
 * agent. `pending_dropped` is what the next Log frame reports; `total_dropped`
 * is what Exited reports. */
#ifndef NEXC_AGENT_LOGRING_H
#define NEXC_AGENT_LOGRING_H

#include <stddef.h>
#include <stdint.h>

struct log_line {
  int stream;  /* Nexc__Agent__Log__Stream */
  size_t len;
  char *data;  /* owned by the ring */
};

struct log_ring {
  struct log_line *slots;
  size_t cap_lines, cap_bytes;
  size_t head, count, bytes;
  uint64_t pending_dropped; /* dropped since the last Log that got through */
  uint64_t total_dropped;
};

void log_ring_init (struct log_ring *r, size_t max_lines, size_t max_bytes);
void log_ring_free (struct log_ring *r);
/* Copy a line in; drops the oldest lines first when it would not fit. */
void log_ring_push (struct log_ring *r, int stream, const char *p, size_t n);
/* The oldest line, or NULL when empty. Stays queued until log_ring_pop_sent. */
const struct log_line *log_ring_peek (const struct log_ring *r);
/* The i-th oldest line (i < count). */
const struct log_line *log_ring_at (const struct log_ring *r, size_t i);
/* Remove the n oldest lines (at most count) after they were sent; the
 * pending drop count was reported with them, so it restarts at zero. */
void log_ring_pop_sent (struct log_ring *r, size_t n);
/* Drop everything still queued (counted as dropped). */
void log_ring_discard (struct log_ring *r);

#endif
