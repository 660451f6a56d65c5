/* logring: the bounded queue of workload output lines waiting for the link.
 *
 * Owned by the agent loop. Lines go in as they are split (output.c) and out
 * as Log frames get through (link.c). Each line takes the next sequence
 * number (its Nexc-Seq) as it goes in, sent or dropped: the agent owns the
 * counter, the node only checks it.
 *
 * The limits (AGENT_RING_LINES lines, AGENT_RING_BYTES bytes) are what the
 * ring holds in normal operation; what happens at them is the policy:
 *  - LOG_ON_FULL_BLOCK: the ring refuses nothing, but log_ring_room says
 *    "no": the caller (output.c) then stops taking input, so the workload's
 *    pipe fills and its writes block. A forced push (the last partial line
 *    at EOF) may go past the limits by LOG_RING_SLACK lines.
 *  - LOG_ON_FULL_DROP_OLDEST: a push drops the oldest line and counts it:
 *    `pending_dropped` is what the next Log frame reports, `total_dropped`
 *    what Exited reports.
 *
 * With `acked` (the node sends LogAck), a sent line stays until the node
 * acknowledges it, still counting against the limits, so a node that dies
 * unconfirmed loses nothing: log_ring_rewind makes every kept line unsent
 * again for the next node. */
#ifndef NEXC_AGENT_LOGRING_H
#define NEXC_AGENT_LOGRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Lines a forced push may add past the line limit: one partial line per
 * output pipe (stdout, stderr). */
#define LOG_RING_SLACK 2

enum log_on_full { LOG_ON_FULL_BLOCK, LOG_ON_FULL_DROP_OLDEST };

struct log_line {
  int stream;  /* Nexc__Agent__Log__Stream */
  size_t len;
  uint64_t seq;
  char *data;  /* owned by the ring */
};

struct log_ring {
  struct log_line *slots;     /* cap_lines + LOG_RING_SLACK of them */
  size_t cap_lines, cap_bytes;
  size_t head, count, bytes;  /* count: every line held, sent-unacked ones included */
  size_t sent;                /* of those, the oldest `sent` were sent (acked mode only) */
  enum log_on_full on_full;
  bool acked;
  uint64_t next_seq;          /* the sequence number of the next line pushed */
  uint64_t pending_dropped;   /* dropped since the last Log that got through */
  uint64_t total_dropped;
  uint64_t sent_total;        /* lines ever sent: progress, for deadlines */
};

/* Empty, DROP_OLDEST, not acked, first line 1 (the agent configures it from
 * the Deploy frame: log_ring_configure). */
void log_ring_init (struct log_ring *r, size_t max_lines, size_t max_bytes);
void log_ring_configure (struct log_ring *r, enum log_on_full on_full, uint64_t first_seq,
                         bool acked);
void log_ring_free (struct log_ring *r);
/* Whether a line of n bytes fits within the limits (always, under
 * DROP_OLDEST: it makes room). */
bool log_ring_room (const struct log_ring *r, size_t n);
/* Copy a line in. Under DROP_OLDEST the oldest lines go first when it would
 * not fit; under BLOCK the caller asked log_ring_room first (or forces one
 * of the LOG_RING_SLACK lines). */
void log_ring_push (struct log_ring *r, int stream, const char *p, size_t n);
/* Lines not sent yet, and the i-th oldest of them (NULL past the end). */
size_t log_ring_unsent (const struct log_ring *r);
const struct log_line *log_ring_at (const struct log_ring *r, size_t i);
/* The oldest unsent line, or NULL. */
const struct log_line *log_ring_peek (const struct log_ring *r);
/* The n oldest unsent lines went out in a Log frame (which reported the
 * pending drop count: it restarts at zero). Not acked: they are freed;
 * acked: kept until log_ring_ack. */
void log_ring_pop_sent (struct log_ring *r, size_t n);
/* The node confirmed every line up to seq: free the sent ones among them.
 * Returns how many were freed. An ack of lines never sent frees nothing
 * more than the sent ones. */
size_t log_ring_ack (struct log_ring *r, uint64_t seq);
/* A new node: every line kept becomes unsent again. */
void log_ring_rewind (struct log_ring *r);
/* The first sequence number no node has confirmed or been told was
 * dropped: where the next Log frame's first_seq - dropped stands. */
uint64_t log_ring_resume_seq (const struct log_ring *r);
/* Drop everything still queued (unsent lines counted as dropped). */
void log_ring_discard (struct log_ring *r);

#endif
