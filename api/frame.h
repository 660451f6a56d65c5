/* frame: the node–agent link framing (schemas/agent.proto).
 *
 * One SOCK_SEQPACKET datagram = 4-byte big-endian length ‖ packed Frame.
 * An optional fd travels with a frame as SCM_RIGHTS. Decoding is strict:
 * wrong length prefix, oversize, undecodable protobuf, unset body, or an fd
 * attached to a frame that may not carry one are all errors (EPROTO), and
 * the caller must then drop the link. */
#ifndef NEXC_FRAME_H
#define NEXC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "agent.pb-c.h"
#include "api/nxerr.h"

#define FRAME_MAX 65536          /* whole datagram, prefix included */
#define FRAME_LOG_TEXT_MAX 16384 /* a Log frame's text; longer lines are chunked */

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
