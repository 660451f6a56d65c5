/* logack: which published log lines the NATS server has confirmed, so that
 * agents may forget them (LogAck frames, schemas/agent.proto).
 *
 * An agent keeps each line it sent until the node acknowledges it; a node
 * that dies first loses nothing: the restarted node reattaches, the agent
 * sends again every line not acknowledged (at-least-once: a consumer drops
 * repeats by Nexc-Seq). A line is confirmed when the server has answered a
 * PING sent after its publication on the same connection (the data
 * connection, where logs go): a flush, done by a thread of this module so
 * the loop never waits. One flush is in flight at a time; what is published
 * meanwhile waits for the next, so a flood costs one round trip per flush,
 * not per line. A flush that fails (NATS away, a timeout) confirms nothing;
 * the streams wait for the next one.
 *
 * A stream (struct log_stream, node/bus/logs.h) takes part through its
 * `ack` member: logack_note after publishing, logack_forget before it goes
 * away; on_ack is called with the highest sequence number confirmed.
 * Loop thread only, except the flushing thread inside. */
#ifndef NEXC_NODE_LOGACK_H
#define NEXC_NODE_LOGACK_H

#include <stdbool.h>
#include <stdint.h>

#include "api/nxerr.h"

struct node;
struct log_stream;

enum logack_state { LOGACK_IDLE, LOGACK_WAITING, LOGACK_FLUSHING };

/* A stream's part (embedded in struct log_stream; all zero: IDLE). */
struct logack_link {
  enum logack_state state;
  bool again;            /* published more while its flush was in flight */
  uint64_t flush_seq;    /* what the flush in flight covers */
  uint64_t acked;        /* the last seq handed to on_ack */
  struct log_stream *next, *prev;
  /* Called on the loop thread; NULL: the stream takes no part. */
  void (*on_ack) (struct log_stream *s, uint64_t seq);
};

/* After the NATS connections exist: start the flushing thread. */
int logack_start (struct node *n, struct nxerr *err);
/* s published lines (up to s->seq): have them confirmed. */
void logack_note (struct log_stream *s);
/* s goes away (its workload ends or loses its agent): no more on_ack. */
void logack_forget (struct log_stream *s);
/* At shutdown: stop the thread (nothing more is confirmed). */
void logack_stop (struct node *n);

#endif
