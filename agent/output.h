/* output: one of the workload's output pipes, read without blocking and cut
 * into lines for the log ring.
 *
 * A line ends at '\n' (not included). A line longer than FRAME_LOG_TEXT_MAX
 * goes out in chunks of exactly that size. A partial line (bytes without a
 * newline yet) is flushed once its first byte is AGENT_PARTIAL_FLUSH_MS old,
 * so a progress indicator or a prompt shows up with bounded delay, and when
 * the pipe closes. The newline that later ends a line already sent in pieces
 * does not produce an extra empty line. Owned by the agent loop. */
#ifndef NEXC_AGENT_OUTPUT_H
#define NEXC_AGENT_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/logring.h"
#include "api/frame.h"

struct output {
  int fd;              /* non-blocking read end; -1 once closed */
  int stream;          /* Nexc__Agent__Log__Stream */
  char line[FRAME_LOG_TEXT_MAX];
  size_t len;          /* bytes of the current, unsent line */
  uint64_t since_ns;   /* monotonic time its first byte arrived; 0 when len == 0 */
  bool split;          /* part of the current line was already sent */
};

void output_init (struct output *o, int fd, int stream);
/* Read at most AGENT_READ_CHUNK bytes. Returns 1 when bytes came, 0 when the
 * pipe is empty, -1 at EOF (or a read error): the pipe is then closed and
 * the partial line flushed. */
int output_read (struct output *o, struct log_ring *r, uint64_t now_ns);
/* Split bytes into lines (exposed for tests). */
void output_feed (struct output *o, struct log_ring *r, const char *p, size_t n, uint64_t now_ns);
/* Flush the partial line if it is old enough (or if force). */
void output_tick (struct output *o, struct log_ring *r, uint64_t now_ns, bool force);
/* When output_tick next has work, 0 when never. */
uint64_t output_deadline (const struct output *o);
void output_close (struct output *o);

#endif
