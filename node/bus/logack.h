/* logack: which published log lines the NATS server has confirmed, so that
 * agents may forget them (LogAck frames, schemas/agent.proto).
 *
 * An agent keeps each line it sent until the node acknowledges it; a node
 * that dies first loses nothing: the restarted node reattaches, the agent
 * sends again every line not acknowledged (at-least-once: a consumer drops
 * repeats by Nexc-Seq). A line is confirmed when a message the node sent
 * after it on the same connection (the data connection, where logs go) has
 * come back from the server: a flush, by an echo (node/bus/echo.h), so the
 * loop never waits. One flush is in flight at a time; what is published
 * meanwhile waits for the next, so a flood costs one round trip per flush,
 * not per line. A flush that fails (NATS away, a timeout) confirms nothing;
 * the streams wait for the next one.
 *
 * A reconnect (nats.c's count of them moved) breaks the rule's premise:
 * what was written to the broken socket may never have reached the server,
 * and an echo on the new connection answers for nothing before it. So a
 * flush confirms only when no reconnect happened between its start and its
 * answer, and at a reconnect each stream with unconfirmed lines asks its
 * agent to send again everything after what was confirmed (on_resend;
 * LogAck with resend, answered by Rewound) and confirms nothing more until
 * logs_rewound has taken the agent's answer (repeats, never a loss).
 *
 * A stream (struct log_stream, node/bus/logs.h) takes part through its
 * `ack` member: logack_note after publishing, logack_forget before it goes
 * away; on_ack is called with the highest sequence number confirmed.
 * Loop thread only. */
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
  bool rewinding;        /* asked for a resend: nothing confirmed until rewound */
  bool resend_due;       /* that request still to be sent (the link was full) */
  uint32_t epoch, flush_epoch; /* rewinds done; at the flush in flight's start */
  struct log_stream *next, *prev;
  /* Called on the loop thread; NULL: the stream takes no part. */
  void (*on_ack) (struct log_stream *s, uint64_t seq);
  /* Ask the stream's agent to send again every line after seq; false when
   * it cannot be asked now (asked again at the next flush or retry). */
  bool (*on_resend) (struct log_stream *s, uint64_t seq);
};

/* After the NATS connections and n->echo_data exist. */
int logack_start (struct node *n, struct nxerr *err);
/* s published lines (up to s->seq): have them confirmed. */
void logack_note (struct log_stream *s);
/* s goes away (its workload ends or loses its agent): no more on_ack. */
void logack_forget (struct log_stream *s);
/* s's agent answered the resend (node/bus/logs.c logs_rewound): lines
 * published from now on may be confirmed again. */
void logack_rewound (struct log_stream *s);
/* At shutdown: nothing more is confirmed. */
void logack_stop (struct node *n);

#endif
