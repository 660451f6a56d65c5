/* nexc_logs: following workloads' log lines, live or from a JetStream
 * stream (part of the client library, api/nexc.h).
 *
 * Live: a plain subscription to $NEX.logs.{ns}.{node}.{workload}.{id}
 * (any token may be "*"): what is published from now on.
 * With a stream (the node's config logs.stream; default name NEXC_LOGS):
 * an ordered consumer on the stream, filtered to those subjects, starting
 * at now - since: the stored history first, then each new line as it is
 * stored, without a gap or a repeat at the seam (one consumer delivers
 * both, in stream order). A missing stream is an error (ENOENT) naming it.
 *
 * Either way, lines are deduplicated: the node publishes at least once
 * (after its restart an agent sends again what no flush confirmed, with the
 * same Nexc-Seq), so a line whose Nexc-Seq is not above the highest seen
 * for its workload id is skipped, and so is a drop record (Nexc-Dropped:
 * FIRST-LAST) that covers nothing past the last one seen. The ids followed
 * at once are bounded (NEXC_LOGS_IDS_MAX; past it the oldest is forgotten).
 *
 * A follower belongs to one thread. */
#ifndef NEXC_LOGS_H
#define NEXC_LOGS_H

#include <stdbool.h>
#include <stdint.h>

#include "api/nxerr.h"

struct nexc_client;

#define NEXC_LOGS_DEFAULT_STREAM "NEXC_LOGS"
#define NEXC_LOGS_IDS_MAX 1024

/* Which lines (NULL or "*": any). The namespace is the client's. */
struct nexc_logs_filter {
  const char *node, *workload, *id;
};

/* One line, valid until the next call on its follower. */
struct nexc_log_line {
  const char *subject;
  const char *node, *workload, *id; /* the subject's tokens */
  const char *data;                 /* the payload, JSON {"text","level","id"} */
  int len;
  uint64_t seq;         /* Nexc-Seq; 0 in a drop record */
  const char *dropped;  /* Nexc-Dropped "FIRST-LAST", or NULL */
  uint64_t stream_seq;  /* the stream's sequence; 0 when live */
};

struct nexc_log_follow;

/* A JetStream stream name as JetStream and nexc accept it:
 * ^[A-Za-z0-9_-]{1,64}$. */
bool nexc_logs_stream_name_ok (const char *name);

/* Start following. stream NULL: live only (since_ms ignored). Else the
 * stream's lines from now - since_ms on, then live. */
int nexc_logs_follow (struct nexc_client *c, const struct nexc_logs_filter *f,
                      const char *stream, int64_t since_ms, struct nexc_log_follow **out,
                      struct nxerr *err);
/* The next line not seen before, waiting at most wait_ms: 1 and *line
 * filled, 0 when none came, < 0 on an error (the subscription is gone). */
int nexc_logs_next (struct nexc_log_follow *lf, int64_t wait_ms, struct nexc_log_line *line,
                    struct nxerr *err);
/* Lines skipped as repeats so far. */
uint64_t nexc_logs_repeats (const struct nexc_log_follow *lf);
void nexc_logs_close (struct nexc_log_follow *lf);

#endif
