/* frame: the node–agent link framing, see api/frame.h and schemas/agent.proto.
 *
 * What frame_decode checks, beyond "protobuf-c could unpack it":
 *  - the datagram holds at least the 4-byte prefix and the prefix equals the
 *    datagram length - 4 (so a frame is never a prefix of another one);
 *  - the datagram is at most FRAME_MAX bytes;
 *  - the body oneof is set (an unknown body field number leaves it unset);
 *  - every proto3 `string` field, at any depth, is valid UTF-8 (RFC 3629: no
 *    overlong forms, no surrogates, nothing above U+10FFFF) and contains no
 *    NUL byte. protobuf-c 1.4 checks neither, and it hands strings out as C
 *    strings, so an embedded NUL would silently truncate an argv element or
 *    an environment key. This is checked on the wire bytes, walking them with
 *    the message descriptors, because the unpacked C strings have lost their
 *    length;
 *  - a Log frame is either one line (stream and text, no `lines`) or a
 *    batch of 1..FRAME_LOG_LINES_MAX `lines` (stream and text then unset);
 *    every line's text is at most FRAME_LOG_TEXT_MAX bytes and its stream is
 *    STDOUT or STDERR (bytes fields are not UTF-8 checked: workload output
 *    is arbitrary bytes). A frame with one bad line is refused whole.
 * Unknown fields are accepted (and ignored), so either side may gain fields.
 * Semantic checks (env keys, sizes, ids) belong to the receiver.
 *
 * frame_recv adds the transport rules: truncated datagrams (MSG_TRUNC) or
 * control data (MSG_CTRUNC), control messages other than SCM_RIGHTS, more
 * than one fd, or an fd on a frame other than Deploy or FunctionIo are EPROTO, and every
 * fd that arrived with a refused datagram is closed. */
#include "api/frame.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/xalloc.h"

#define FRAME_PREFIX 4
/* Room for a few fds so that a sender passing too many is seen (and its fds
 * closed) rather than hidden by MSG_CTRUNC with the rest discarded. */
#define FRAME_FDS_ROOM 8
/* Frame -> Deploy -> EnvVar is depth 3; anything deeper is not ours. */
#define FRAME_DEPTH_MAX 8
/* Packed frames up to this size are built on the stack. */
#define FRAME_STACK_BUF 4096

const char *
frame_kind (const Frame *f)
{
  if (f == NULL)
    return "none";
  switch (f->body_case)
    {
    case NEXC__AGENT__FRAME__BODY_HELLO:
      return "hello";
    case NEXC__AGENT__FRAME__BODY_DEPLOY:
      return "deploy";
    case NEXC__AGENT__FRAME__BODY_STARTED:
      return "started";
    case NEXC__AGENT__FRAME__BODY_START_FAILED:
      return "start_failed";
    case NEXC__AGENT__FRAME__BODY_LOG:
      return "log";
    case NEXC__AGENT__FRAME__BODY_EXITED:
      return "exited";
    case NEXC__AGENT__FRAME__BODY_STOP:
      return "stop";
    case NEXC__AGENT__FRAME__BODY_PING:
      return "ping";
    case NEXC__AGENT__FRAME__BODY_PONG:
      return "pong";
    case NEXC__AGENT__FRAME__BODY_REATTACH:
      return "reattach";
    case NEXC__AGENT__FRAME__BODY_FUNCTION_IO:
      return "function_io";
    case NEXC__AGENT__FRAME__BODY_FUNCTION_RESULT:
      return "function_result";
    case NEXC__AGENT__FRAME__BODY_LOG_ACK:
      return "log_ack";
    case NEXC__AGENT__FRAME__BODY_REWOUND:
      return "rewound";
    default:
      return "unset";
    }
}

void
frame_free (Frame *f)
{
  if (f != NULL)
    nexc__agent__frame__free_unpacked (f, NULL);
}

/* ---- string validation on the wire bytes ---- */

/* Strict UTF-8 (RFC 3629) without NUL. Returns the offset of the first bad
 * byte, or n when the whole string is acceptable. */
static size_t
utf8_bad_offset (const uint8_t *s, size_t n)
{
  size_t i = 0;
  while (i < n)
    {
      uint8_t c = s[i];
      size_t len;
      uint32_t cp, min;
      if (c == 0)
        return i;
      if (c < 0x80)
        {
          i++;
          continue;
        }
      if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f, min = 0x80;
      else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f, min = 0x800;
      else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07, min = 0x10000;
      else
        return i; /* continuation byte, 0xc0/0xc1 overlong lead, or >= 0xf5 */
      if (n - i < len)
        return i;
      for (size_t k = 1; k < len; k++)
        {
          if ((s[i + k] & 0xc0) != 0x80)
            return i;
          cp = (cp << 6) | (s[i + k] & 0x3f);
        }
      if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return i;
      i += len;
    }
  return n;
}

/* Read a base-128 varint; returns bytes consumed, 0 when malformed. */
static size_t
wire_varint (const uint8_t *p, size_t n, uint64_t *out)
{
  uint64_t v = 0;
  for (size_t i = 0; i < n && i < 10; i++)
    {
      v |= (uint64_t) (p[i] & 0x7f) << (7 * i);
      if ((p[i] & 0x80) == 0)
        {
          *out = v;
          return i + 1;
        }
    }
  return 0;
}

/* Walk one message's wire bytes; check string fields, recurse into message
 * fields. protobuf-c has already accepted the bytes, but every read is still
 * bounds-checked so this never trusts that. */
static int
wire_check_strings (const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n,
                    int depth, struct nxerr *err)
{
  size_t i = 0;
  if (depth > FRAME_DEPTH_MAX)
    return nxerr_set (err, EPROTO, "messages nested too deep");
  while (i < n)
    {
      uint64_t tag, len;
      size_t k = wire_varint (p + i, n - i, &tag);
      const ProtobufCFieldDescriptor *fd;
      if (k == 0)
        return nxerr_set (err, EPROTO, "bad field tag");
      i += k;
      fd = protobuf_c_message_descriptor_get_field (d, (unsigned) (tag >> 3));
      switch (tag & 7)
        {
        case 0: /* varint */
          k = wire_varint (p + i, n - i, &len);
          if (k == 0)
            return nxerr_set (err, EPROTO, "bad varint");
          i += k;
          break;
        case 1: /* fixed64 */
          if (n - i < 8)
            return nxerr_set (err, EPROTO, "truncated fixed64");
          i += 8;
          break;
        case 5: /* fixed32 */
          if (n - i < 4)
            return nxerr_set (err, EPROTO, "truncated fixed32");
          i += 4;
          break;
        case 2: /* length-delimited */
          k = wire_varint (p + i, n - i, &len);
          if (k == 0 || len > n - i - k)
            return nxerr_set (err, EPROTO, "bad length");
          i += k;
          if (fd != NULL && fd->type == PROTOBUF_C_TYPE_STRING)
            {
              size_t bad = utf8_bad_offset (p + i, (size_t) len);
              if (bad != len)
                return nxerr_set (err, EPROTO, "%s.%s: %s at byte %zu", d->short_name,
                                  fd->name, p[i + bad] == 0 ? "NUL" : "invalid UTF-8", bad);
            }
          else if (fd != NULL && fd->type == PROTOBUF_C_TYPE_MESSAGE)
            {
              if (wire_check_strings (fd->descriptor, p + i, (size_t) len, depth + 1, err) < 0)
                return nxerr_wrap (err, "%s.%s", d->short_name, fd->name);
            }
          i += (size_t) len;
          break;
        default:
          return nxerr_set (err, EPROTO, "unsupported wire type %u", (unsigned) (tag & 7));
        }
    }
  return 0;
}

/* One line of a Log frame; what is the line number in a batch, -1 alone.
 * Called for every line sent and received: nothing is formatted unless the
 * line is refused. */
static int
check_log_line (Nexc__Agent__Log__Stream stream, size_t len, long what, int code,
                struct nxerr *err)
{
  char at[32] = "";
  bool long_text = len > FRAME_LOG_TEXT_MAX;
  if (!long_text
      && (stream == NEXC__AGENT__LOG__STREAM__STDOUT || stream == NEXC__AGENT__LOG__STREAM__STDERR))
    return 0;
  if (what >= 0)
    snprintf (at, sizeof at, " (line %ld)", what);
  if (long_text)
    return nxerr_set (err, code, "log text of %zu bytes exceeds %d%s", len, FRAME_LOG_TEXT_MAX,
                      at);
  return nxerr_set (err, code, "log stream %d is not stdout or stderr%s", (int) stream, at);
}

/* The Log rules of schemas/agent.proto; code is EPROTO on receipt, EMSGSIZE
 * or EINVAL when refusing to send. */
static int
check_log (const Nexc__Agent__Log *l, bool sending, struct nxerr *err)
{
  int bad = sending ? EINVAL : EPROTO;
  if (l->n_lines == 0)
    return check_log_line (l->stream, l->text.len, -1,
                           sending && l->text.len > FRAME_LOG_TEXT_MAX ? EMSGSIZE : bad, err);
  if (l->stream != NEXC__AGENT__LOG__STREAM__STREAM_UNSPECIFIED || l->text.len != 0)
    return nxerr_set (err, bad, "log frame has both a single line and %zu lines", l->n_lines);
  if (l->n_lines > FRAME_LOG_LINES_MAX)
    return nxerr_set (err, sending ? EMSGSIZE : EPROTO, "log frame of %zu lines exceeds %d",
                      l->n_lines, FRAME_LOG_LINES_MAX);
  for (size_t i = 0; i < l->n_lines; i++)
    {
      const Nexc__Agent__Log__Line *ln = l->lines[i];
      if (ln == NULL)
        return nxerr_set (err, bad, "log line %zu missing", i);
      if (check_log_line (ln->stream, ln->text.len, (long) i,
                          sending && ln->text.len > FRAME_LOG_TEXT_MAX ? EMSGSIZE : bad, err)
          < 0)
        return -1;
    }
  return 0;
}

/* Checks on the unpacked frame that the types alone do not express. */
static int
frame_check_body (const Frame *f, struct nxerr *err)
{
  if (f->body_case == NEXC__AGENT__FRAME__BODY__NOT_SET || f->hello == NULL)
    return nxerr_set (err, EPROTO, "frame body not set");
  if (f->body_case == NEXC__AGENT__FRAME__BODY_LOG)
    return check_log (f->log, false, err);
  return 0;
}

/* protobuf-c keeps unknown fields even with the invalid field number 0,
 * at any depth (and would not unpack its own re-encoding of them). */
static bool
has_field_zero (const ProtobufCMessage *m, int depth)
{
  const ProtobufCMessageDescriptor *d = m->descriptor;
  if (depth > 8)
    return true;
  for (unsigned i = 0; i < m->n_unknown_fields; i++)
    if (m->unknown_fields[i].tag == 0)
      return true;
  for (unsigned i = 0; i < d->n_fields; i++)
    {
      const ProtobufCFieldDescriptor *fd = &d->fields[i];
      const char *base = (const char *) m;
      if (fd->type != PROTOBUF_C_TYPE_MESSAGE)
        continue;
      /* The members of a oneof share one pointer: only the set one is a
       * field of this message (walking each would visit the body once per
       * member, 13 times for a Frame). */
      if ((fd->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
          && *(const uint32_t *) (base + fd->quantifier_offset) != fd->id)
        continue;
      if (fd->label == PROTOBUF_C_LABEL_REPEATED)
        {
          size_t n = *(const size_t *) (base + fd->quantifier_offset);
          ProtobufCMessage *const *v = *(ProtobufCMessage *const *const *) (base + fd->offset);
          for (size_t k = 0; k < n; k++)
            if (v[k] && has_field_zero (v[k], depth + 1))
              return true;
        }
      else
        {
          const ProtobufCMessage *sub = *(const ProtobufCMessage *const *) (base + fd->offset);
          if (sub && has_field_zero (sub, depth + 1))
            return true;
        }
    }
  return false;
}

int
frame_decode (const uint8_t *p, size_t n, Frame **out, struct nxerr *err)
{
  uint32_t len;
  Frame *f;
  *out = NULL;
  if (n < FRAME_PREFIX)
    return nxerr_set (err, EPROTO, "datagram of %zu bytes is shorter than the length prefix", n);
  if (n > FRAME_MAX)
    return nxerr_set (err, EPROTO, "datagram of %zu bytes exceeds %d", n, FRAME_MAX);
  len = (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
  if (len != n - FRAME_PREFIX)
    return nxerr_set (err, EPROTO, "length prefix %u does not match payload of %zu bytes", len,
                      n - FRAME_PREFIX);
  f = nexc__agent__frame__unpack (NULL, len, p + FRAME_PREFIX);
  if (f == NULL)
    return nxerr_set (err, EPROTO, "frame does not unpack");
  if (has_field_zero (&f->base, 0))
    {
      frame_free (f);
      return nxerr_set (err, EPROTO, "frame has a field number 0");
    }
  if (frame_check_body (f, err) < 0
      || wire_check_strings (&nexc__agent__frame__descriptor, p + FRAME_PREFIX, len, 0, err) < 0)
    {
      frame_free (f);
      return -1;
    }
  *out = f;
  return 0;
}

/* ---- send ---- */

int
frame_send (int sock, const Frame *f, int fd, struct nxerr *err)
{
  uint8_t stackbuf[FRAME_STACK_BUF];
  cleanup_free uint8_t *heapbuf = NULL;
  uint8_t *buf = stackbuf;
  union {
    struct cmsghdr align;
    char b[CMSG_SPACE (sizeof (int))];
  } cbuf;
  struct iovec iov;
  struct msghdr msg;
  size_t len, total;
  ssize_t n;

  /* Refuse here what the peer would refuse, so the sender gets the reason
   * instead of a dropped link. */
  if (f->body_case == NEXC__AGENT__FRAME__BODY__NOT_SET)
    return nxerr_set (err, EINVAL, "send: frame body not set");
  if (f->body_case == NEXC__AGENT__FRAME__BODY_LOG && f->log != NULL
      && check_log (f->log, true, err) < 0)
    return nxerr_wrap (err, "send");
  len = nexc__agent__frame__get_packed_size (f);
  total = len + FRAME_PREFIX;
  if (total > FRAME_MAX)
    return nxerr_set (err, EMSGSIZE, "send %s: frame of %zu bytes exceeds %d", frame_kind (f),
                      total, FRAME_MAX);
  if (total > sizeof stackbuf)
    buf = heapbuf = xmalloc (total);
  buf[0] = (uint8_t) (len >> 24);
  buf[1] = (uint8_t) (len >> 16);
  buf[2] = (uint8_t) (len >> 8);
  buf[3] = (uint8_t) len;
  nexc__agent__frame__pack (f, buf + FRAME_PREFIX);

  iov.iov_base = buf;
  iov.iov_len = total;
  memset (&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (fd >= 0)
    {
      struct cmsghdr *c;
      memset (&cbuf, 0, sizeof cbuf);
      msg.msg_control = cbuf.b;
      msg.msg_controllen = sizeof cbuf.b;
      c = CMSG_FIRSTHDR (&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (c), &fd, sizeof (int));
    }
  do
    n = sendmsg (sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      /* SEQPACKET sends are atomic: EAGAIN means nothing went out. A peer
       * that closed with frames unread gives ECONNRESET: report it as the
       * EPIPE the contract promises for a dead peer. */
      int e = errno;
      if (e == EWOULDBLOCK)
        e = EAGAIN;
      else if (e == ECONNRESET)
        e = EPIPE;
      return nxerr_sys (err, e, "send %s", frame_kind (f));
    }
  if ((size_t) n != total)
    return nxerr_set (err, EPROTO, "send %s: short send (%zd of %zu bytes)", frame_kind (f), n,
                      total);
  return 0;
}

/* ---- receive ---- */

static void
close_fds (int *fds, size_t n)
{
  for (size_t i = 0; i < n; i++)
    close (fds[i]);
}

/* Collect every fd the kernel installed for us; a control message that is not
 * SCM_RIGHTS makes *unexpected true (its payload is not ours to interpret). */
static size_t
collect_fds (struct msghdr *msg, int *fds, size_t max, bool *unexpected)
{
  size_t nfds = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (msg); c != NULL; c = CMSG_NXTHDR (msg, c))
    {
      size_t k;
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
        {
          *unexpected = true;
          continue;
        }
      k = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
      for (size_t i = 0; i < k; i++)
        {
          int fd;
          memcpy (&fd, CMSG_DATA (c) + i * sizeof (int), sizeof fd);
          if (nfds < max)
            fds[nfds++] = fd;
          else
            close (fd); /* cannot happen with our buffer size; never leak */
        }
    }
  return nfds;
}

/* recvmsg gives 0 both for an empty datagram and for end of stream. After the
 * peer has closed (or shut down writing) the socket polls RDHUP. */
static bool
peer_gone (int sock)
{
  struct pollfd p = { .fd = sock, .events = POLLIN | POLLRDHUP };
  if (poll (&p, 1, 0) < 0)
    return true;
  return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

int
frame_recv (int sock, Frame **out, int *fd_out, struct nxerr *err)
{
  cleanup_free uint8_t *buf = xmalloc (FRAME_MAX);
  union {
    struct cmsghdr align;
    char b[CMSG_SPACE (sizeof (int) * FRAME_FDS_ROOM)];
  } cbuf;
  int fds[FRAME_FDS_ROOM];
  size_t nfds;
  bool unexpected = false;
  struct iovec iov = { .iov_base = buf, .iov_len = FRAME_MAX };
  struct msghdr msg;
  ssize_t n;
  Frame *f;

  *out = NULL;
  if (fd_out != NULL)
    *fd_out = -1;
  memset (&msg, 0, sizeof msg);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = cbuf.b;
  msg.msg_controllen = sizeof cbuf.b;
  do
    n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == ECONNRESET || errno == EPIPE))
    {
      /* A peer that died with frames of ours unread makes the kernel report
       * a reset once, ahead of the frames it sent before it died (an agent's
       * last Log frames and its Exited): those are still queued. Read on;
       * the link is closed only when nothing is left. */
      msg.msg_controllen = sizeof cbuf.b;
      msg.msg_flags = 0;
      do
        n = recvmsg (sock, &msg, MSG_CMSG_CLOEXEC);
      while (n < 0 && errno == EINTR);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNRESET
                    || errno == EPIPE))
        return nxerr_set (err, ECONNRESET, "link closed by peer");
    }
  if (n < 0)
    {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return 0;
      return nxerr_sys (err, errno, "recvmsg");
    }

  nfds = collect_fds (&msg, fds, FRAME_FDS_ROOM, &unexpected);
  if (n == 0 && nfds == 0 && !(msg.msg_flags & MSG_CTRUNC) && peer_gone (sock))
    return nxerr_set (err, ECONNRESET, "link closed by peer");
  if (msg.msg_flags & MSG_CTRUNC)
    {
      close_fds (fds, nfds);
      return nxerr_set (err, EPROTO, "control data truncated (too many fds)");
    }
  if (unexpected)
    {
      close_fds (fds, nfds);
      return nxerr_set (err, EPROTO, "unexpected control message");
    }
  if (nfds > 1)
    {
      close_fds (fds, nfds);
      return nxerr_set (err, EPROTO, "%zu fds attached to one frame", nfds);
    }
  if (msg.msg_flags & MSG_TRUNC)
    {
      close_fds (fds, nfds);
      return nxerr_set (err, EPROTO, "datagram exceeds %d bytes", FRAME_MAX);
    }
  if (frame_decode (buf, (size_t) n, &f, err) < 0)
    {
      close_fds (fds, nfds);
      return -1;
    }
  if (nfds == 1)
    {
      if ((f->body_case != NEXC__AGENT__FRAME__BODY_DEPLOY
           && f->body_case != NEXC__AGENT__FRAME__BODY_FUNCTION_IO)
          || fd_out == NULL)
        {
          if (fd_out == NULL)
            nxerr_set (err, EPROTO, "fd attached to a %s frame, none expected", frame_kind (f));
          else
            nxerr_set (err, EPROTO, "fd attached to a %s frame", frame_kind (f));
          close_fds (fds, nfds);
          frame_free (f);
          return -1;
        }
      *fd_out = fds[0];
    }
  *out = f;
  return 1;
}
