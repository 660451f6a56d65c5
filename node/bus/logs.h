/* logs: publishing a workload's output on
 * $NEX.logs.{ns}.{node}.{workload}.{id} (reference §5, documented order),
 * body {"text","level","id"}, level INFO for stdout and ERROR for stderr,
 * with header Nexc-Seq: a per-workload sequence number starting at 1 so a
 * subscriber can detect loss. One line, one message. A line that cannot be
 * published is counted (workload and node counters) and reported in a
 * rate-limited log line.
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

#define LOGS_SEQ_HEADER "Nexc-Seq"

struct node;

/* One workload's log stream: who it is (borrowed strings, set by the owner
 * before each call: node/workload/workload.h's workload_log) and what went
 * through it so far. */
struct log_stream {
  struct node *node;
  const char *ns, *name, *id;
  uint64_t seq;     /* lines published (the last Nexc-Seq) */
  uint64_t bytes;   /* text bytes published */
  uint64_t dropped; /* lines lost: in the agent, or at publish */
};

void logs_publish (struct log_stream *s, bool is_stderr, const char *text, size_t len);
/* A line the node writes itself, with a slog level name ("DEBUG", "ERROR"). */
void logs_publish_level (struct log_stream *s, const char *level, const char *text, size_t len);
void logs_batch_begin (void);
void logs_batch_end (void);
/* Lines dropped before they reached the node (agent ring full). */
void logs_note_dropped (struct log_stream *s, unsigned long long dropped, const char *where);

#endif
