/* frame: the node–agent link framing (schemas/agent.proto).
 *
 * One SOCK_SEQPACKET datagram = 4-byte big-endian length ‖ packed Frame.
 * An optional fd travels with a frame as SCM_RIGHTS. Decoding is strict:
 * wrong length prefix, oversize, undecodable protobuf, unset body, a Log
 * frame outside its bounds (see schemas/agent.proto), or an fd attached to a
 * frame that may not carry one are all errors (EPROTO), and the caller must
 * then drop the link. */
#ifndef NEXC_FRAME_H
#define NEXC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "agent.pb-c.h"
#include "api/nxerr.h"

#define FRAME_MAX 65536          /* whole datagram, prefix included */
#define FRAME_LOG_TEXT_MAX 16384 /* a Log line's text; longer lines are chunked */
#define FRAME_LOG_LINES_MAX 1024 /* lines in one batched Log frame */
/* Upper bounds of what a batched Log frame adds around its texts, so a sender
 * can fill a frame without packing it twice: per line (Log.lines tag, length,
 * stream, text tag and length) and once per frame (length prefix, Frame.log
 * tag and length, dropped). A frame whose
 *   FRAME_LOG_FRAME_OVERHEAD + sum (text + FRAME_LOG_LINE_OVERHEAD) <= FRAME_MAX
 * fits; one line of FRAME_LOG_TEXT_MAX always does. */
#define FRAME_LOG_LINE_OVERHEAD 10
#define FRAME_LOG_FRAME_OVERHEAD 32
_Static_assert (FRAME_LOG_FRAME_OVERHEAD + FRAME_LOG_TEXT_MAX + FRAME_LOG_LINE_OVERHEAD <= FRAME_MAX,
                "one longest line must fit a Log frame");

typedef Nexc__Agent__Frame Frame;

/* Pack f and send it in one datagram, with fd attached when fd >= 0.
 * Returns 0, or -1 with err (code EAGAIN when a non-blocking socket is full:
 * nothing was sent). MSG_NOSIGNAL is used: a dead peer gives EPIPE, not a signal. */
int frame_send (int sock, const Frame *f, int fd, struct nxerr *err);

/* Receive one datagram. Returns 1 with *out set (free with frame_free) and
 * *fd_out set to a received fd or -1 (fd_out may be NULL: any received fd is
 * then closed and the frame refused); 0 when a non-blocking socket has nothing
 * (EAGAIN); -1 on EOF (code ECONNRESET), error, or protocol violation (code
 * EPROTO, message says what). Received fds are O_CLOEXEC. */
int frame_recv (int sock, Frame **out, int *fd_out, struct nxerr *err);

/* Decode a datagram's bytes (prefix included). Exposed for tests/fuzzing. */
int frame_decode (const uint8_t *p, size_t n, Frame **out, struct nxerr *err);
void frame_free (Frame *f);

/* Name of the body case, for logs ("hello", "deploy", ...). */
const char *frame_kind (const Frame *f);

#endif
