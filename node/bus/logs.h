/* logs: publishing a workload's output on
 * $NEX.logs.{ns}.{node}.{workload}.{id} (reference §5, documented order),
 * body {"text","level","id"}, level INFO for stdout and ERROR for stderr,
 * with header Nexc-Seq: one sequence per workload id for its whole life,
 * starting at 1, so a subscriber can detect loss and drop repeats.
 *
 * Who numbers: for a service the agent owns the counter (it numbers each
 * line as it takes it, schemas/agent.proto); the node checks every Log
 * frame against what it expects (logs_check_frame) and never renumbers, so
 * numbering survives node restarts (Reattach says where the agent stands)
 * and restarts of the workload (the next Deploy continues the count). A gap
 * only means lines the agent dropped (drop_oldest, or still queued when its
 * link stayed too slow at the end): then a record on the same subject, with
 * header Nexc-Dropped: FIRST-LAST and no Nexc-Seq, says which. A function's
 * invocations run side by side: for them the node numbers the lines
 * (logs_publish). One line, one message; a line that cannot be published
 * is counted (workload and node counters) and reported in a rate-limited
 * log line.
 *
 * Backpressure: while the data connection is not connected, nats.c queues
 * publishes in its reconnect buffer and fails those past its size. Once
 * logs have used LOGS_RECONNECT_BUDGET of it, logs_congested says so and
 * the owner of a link stops reading it (node/workload/supervise.c), so
 * lines wait in the agent (and its workload blocks) instead of being lost.
 * While connected, the loop writes what nats.c buffers as the socket takes
 * it; once LOGS_WRITE_BUDGET waits there (a server slower than the node),
 * logs_congested says so too, and the links wait the same way.
 *
 * Loop thread only. The subject and the JSON around the text are built once
 * per run of lines of the same workload. Between logs_batch_begin and
 * logs_batch_end (the lines of one Log frame) the published messages are
 * freed together at the end: nats.c hands every freed message to its GC
 * thread and wakes it, so this is one wake-up per frame instead of per line. */
#ifndef NEXC_NODE_LOGS_H
#define NEXC_NODE_LOGS_H

#include <stdbool.h>
#include <stddef.h>

#include <stdint.h>

#include "api/nxerr.h"
#include "node/bus/logack.h"

#define LOGS_SEQ_HEADER "Nexc-Seq"
#define LOGS_DROPPED_HEADER "Nexc-Dropped"
/* Sequence numbers stay below this: an agent cannot make the node's
 * arithmetic wrap (2^62 lines is centuries of any flood). */
#define LOGS_SEQ_MAX (1ull << 62)

struct node;

/* A line (or a drop record) the node could not publish yet, in order. */
struct log_kept {
  uint64_t seq;   /* the line's Nexc-Seq; a drop record: the last dropped */
  bool drop;      /* a drop record for the lines after the previous entry */
  bool is_stderr;
  size_t len;
  char *text;
};

/* One workload's log stream: who it is (borrowed strings, set by the owner
 * before each call: node/workload/workload.h's workload_log) and what went
 * through it so far. */
struct log_stream {
  struct node *node;
  const char *ns, *name, *id;
  uint64_t seq;     /* the last Nexc-Seq published or reported dropped */
  uint64_t bytes;   /* text bytes published */
  uint64_t dropped; /* lines lost: in the agent, or at publish */
  struct logack_link ack; /* what the server confirmed (node/bus/logack.h) */
  /* Numbers up to limit are journaled as taken (node/workload/persist.c): a
   * restarted node that finds the agent gone starts the next run above it,
   * so no number a consumer may have seen is given twice. Before a number
   * past it goes out, reserve moves it on. NULL: not journaled. */
  uint64_t limit;
  void (*reserve) (struct log_stream *s, uint64_t seq);
  /* Kept because the connection broke under a publish (logs_offer):
   * published again, in order, by logs_retry. At most what the agent sent
   * before the owner held its link: one frame, or a dead agent's last. */
  struct log_kept *kept;
  size_t n_kept, kept_off, cap_kept;
};

/* Check a Log frame's numbering: its first line must be the next expected
 * (s->seq + 1, or after the kept lines) + dropped, and its n lines must
 * stay below LOGS_SEQ_MAX. -1 with err when
 * not: the agent is lying or confused (a workload may have taken it over). */
int logs_check_frame (const struct log_stream *s, uint64_t first_seq, uint64_t dropped,
                      size_t n, struct nxerr *err);
/* The agent's next line will be next_seq (Reattach): take it, unless it
 * goes back before what the node had (its journal). */
int logs_resume (struct log_stream *s, uint64_t next_seq, struct nxerr *err);
/* Lines s->seq + 1 .. last were dropped by the agent (where says why):
 * counted, and a record on the stream's subject says which. */
void logs_report_dropped (struct log_stream *s, uint64_t last, const char *where);
/* The agent was lost while no node ran: the lines it numbered after what
 * the journal holds (s->seq) may have gone out or may be gone with it. One
 * record names s->seq + 1 .. s->limit (a line of that range that has not
 * arrived will not arrive: the same promise as a drop record's) and the
 * stream goes on above the limit. Not counted as dropped: how many were is
 * unknown. */
void logs_report_lost (struct log_stream *s, const char *where);
/* An agent's end (Exited, FunctionResult): it would have numbered its next
 * line next_seq, and unreported lines were still queued: the range between
 * is reported dropped. An inconsistent report is counted, not trusted. */
void logs_account_end (struct log_stream *s, uint64_t next_seq, uint64_t unreported);
/* A Log frame's line: published, or kept (behind any kept already) when
 * the connection broke under it. False when kept: the owner holds the
 * link and calls logs_retry. */
bool logs_offer (struct log_stream *s, bool is_stderr, const char *text, size_t len);
/* Lines up to last were dropped by the agent's ring (drop_oldest): a drop
 * record now, or kept in order behind kept lines. */
void logs_offer_dropped (struct log_stream *s, uint64_t last);
/* The agent answered a resend (node/bus/logack.h): its Log frames start at
 * next_seq again, somewhere after what the server confirmed and at most
 * right after what the node has taken. What was kept goes (it comes
 * again). -1 with err for any other answer. */
int logs_rewound (struct log_stream *s, uint64_t next_seq, struct nxerr *err);
/* Publish what was kept; true when nothing is left. */
bool logs_retry (struct log_stream *s);
/* Give up what was kept (the stream ends): reported as dropped. */
void logs_drop_kept (struct log_stream *s, const char *where);
/* Free what the stream owns. */
void logs_stream_free (struct log_stream *s);
/* Whether log publishing should pause (the data connection is down and the
 * reconnect buffer's share for logs is used up). */
bool logs_congested (struct node *n);
/* The next line, numbered s->seq + 1; a failed publish is counted lost. */
void logs_publish (struct log_stream *s, bool is_stderr, const char *text, size_t len);
/* The same, but a failed publish (the connection broke under it: nats.c
 * gives an IO error for the write in progress) changes nothing: false, and
 * the caller keeps the line to publish it again. */
bool logs_try_publish (struct log_stream *s, bool is_stderr, const char *text, size_t len);
/* A line the node writes itself, with a slog level name ("DEBUG", "ERROR"). */
void logs_publish_level (struct log_stream *s, const char *level, const char *text, size_t len);
void logs_batch_begin (void);
void logs_batch_end (void);
/* Lines dropped before they reached the node, numbers unknown (a
 * function's agent): counted only. */
void logs_note_dropped (struct log_stream *s, unsigned long long dropped, const char *where);

#endif
