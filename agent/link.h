/* link: the agent's end of the node link (a non-blocking SEQPACKET socket).
 *
 * Sending never blocks the loop: control frames (Hello, Pong, Started, ...)
 * that meet a full socket wait in a small queue, and output lines wait in
 * the log ring; both drain when the socket polls writable, control frames
 * first. Lines go out batched: one Log frame carries as many of the oldest
 * queued lines as fit (FRAME_LOG_LINES_MAX, FRAME_MAX); nothing waits for a
 * batch to fill. Only the very last frame (Exited, StartFailed) is sent with a
 * bounded blocking wait, when there is nothing else left to do.
 * Owned by the agent loop. */
#ifndef NEXC_AGENT_LINK_H
#define NEXC_AGENT_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/agent.h"
#include "agent/logring.h"
#include "api/frame.h"
#include "api/nxerr.h"

struct link {
  int sock;
  Frame *ctl[AGENT_CTL_QUEUE_MAX]; /* owned copies, FIFO */
  size_t ctl_head, ctl_count;
  bool log_blocked; /* the last batch met a full socket */
  /* Scratch for one batched Log frame (pointing into the ring's lines);
   * last, and left alone by link_init. */
  Nexc__Agent__Log__Line batch[FRAME_LOG_LINES_MAX];
  Nexc__Agent__Log__Line *batch_ptrs[FRAME_LOG_LINES_MAX];
};

/* Take over sock: made non-blocking and close-on-exec. */
int link_init (struct link *l, int sock, struct nxerr *err);
void link_free (struct link *l);

/* Send a control frame now, or queue a copy if the socket is full.
 * Returns -1 when the link is broken. */
int link_send_ctl (struct link *l, const Frame *f, struct nxerr *err);
/* Send queued control frames, then lines from the ring as batched Log
 * frames, until the socket is full or AGENT_LINK_FRAMES_OUT went out.
 * -1 when broken. */
int link_flush (struct link *l, struct log_ring *r, struct nxerr *err);
/* Whether anything waits to be sent (poll for POLLOUT). */
bool link_pending (const struct link *l, const struct log_ring *r);
bool link_ctl_pending (const struct link *l);
/* Send the queued control frames and then f, waiting up to timeout_ms in
 * all for room (log lines still in the ring are not sent). */
int link_send_wait (struct link *l, const Frame *f, int timeout_ms, struct nxerr *err);

#endif
