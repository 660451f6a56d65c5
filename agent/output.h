/* output: one of the workload's output pipes, read without blocking and cut
 * into lines for the log ring.
 *
 * A line ends at '\n' (not included). A line longer than FRAME_LOG_TEXT_MAX
 * goes out in chunks of exactly that size. A partial line (bytes without a
 * newline yet) is flushed once its first byte is AGENT_PARTIAL_FLUSH_MS old,
 * so a progress indicator or a prompt shows up with bounded delay, and when
 * the pipe closes. The newline that later ends a line already sent in pieces
 * does not produce an extra empty line.
 *
 * Backpressure (the ring's BLOCK policy): bytes are read into `in` only when
 * it is empty, and cut into lines only while the ring has room; what does
 * not fit waits in `in`, and the loop stops polling the pipe
 * (output_wants_read) until it is consumed. The pipe then fills and the
 * workload's write blocks, as with s6-log. Owned by the agent loop. */
#ifndef NEXC_AGENT_OUTPUT_H
#define NEXC_AGENT_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/logring.h"
#include "api/frame.h"

struct output {
  int fd;              /* non-blocking read end; -1 once closed */
  int stream;          /* Nexc__Agent__Log__Stream */
  char line[FRAME_LOG_TEXT_MAX];
  size_t len;          /* bytes of the current, unsent line */
  uint64_t since_ns;   /* monotonic time its first byte arrived; 0 when len == 0 */
  bool split;          /* part of the current line was already sent */
  /* Read but not yet cut into lines (the ring was full); last, so that
   * output_init leaves the pages of a quiet workload untouched. */
  size_t in_off, in_len;
  char in[AGENT_READ_CHUNK];
};

void output_init (struct output *o, int fd, int stream);
/* Read at most AGENT_READ_CHUNK bytes (nothing while earlier bytes still
 * wait for room). Returns 1 when bytes came, 0 when the pipe is empty or
 * input waits, -1 at EOF (or a read error): the pipe is then closed and the
 * partial line flushed (forced: it may use the ring's slack). */
int output_read (struct output *o, struct log_ring *r, uint64_t now_ns);
/* Whether the pipe should be polled: open, and no input waiting. */
bool output_wants_read (const struct output *o);
/* Whether read bytes wait for room in the ring. */
bool output_has_input (const struct output *o);
/* Cut waiting input into lines as far as the ring has room. */
void output_pump (struct output *o, struct log_ring *r, uint64_t now_ns);
/* Split bytes into lines while the ring has room; returns how many bytes
 * were taken (all of them under DROP_OLDEST). Exposed for tests. */
size_t output_feed (struct output *o, struct log_ring *r, const char *p, size_t n,
                    uint64_t now_ns);
/* Flush the partial line if it is old enough and the ring has room (or if
 * force: then past the ring's limits if need be). */
void output_tick (struct output *o, struct log_ring *r, uint64_t now_ns, bool force);
/* When output_tick next has work, 0 when never (or not before the ring has
 * room again: the link's progress wakes the loop then). */
uint64_t output_deadline (const struct output *o, const struct log_ring *r);
void output_close (struct output *o);

#endif
