/* test_frame: api/frame.c over a real socketpair(AF_UNIX, SOCK_SEQPACKET).
 * Round trips of every frame kind, fd passing, and each malformed datagram
 * the decoder must refuse. Each test opens its own pair and closes it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/frame.h"

struct pair {
  int a, b; /* a sends, b receives */
};

static int
setup_pair (void **state)
{
  struct pair *p = malloc (sizeof *p);
  int sv[2];
  if (p == NULL || socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    {
      free (p);
      return -1;
    }
  p->a = sv[0];
  p->b = sv[1];
  *state = p;
  return 0;
}

static int
teardown_pair (void **state)
{
  struct pair *p = *state;
  if (p->a >= 0)
    close (p->a);
  if (p->b >= 0)
    close (p->b);
  free (p);
  return 0;
}

static int
count_fds (void)
{
  DIR *d = opendir ("/proc/self/fd");
  struct dirent *e;
  int n = 0;
  assert_non_null (d);
  while ((e = readdir (d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir (d);
  return n;
}

/* Send f, receive it back on the other end; returns the received frame. */
static Frame *
round_trip (struct pair *p, const Frame *f)
{
  struct nxerr err = { 0 };
  Frame *got = NULL;
  int fd = -2;
  assert_int_equal (frame_send (p->a, f, -1, &err), 0);
  assert_int_equal (frame_recv (p->b, &got, &fd, &err), 1);
  assert_non_null (got);
  assert_int_equal (fd, -1);
  assert_int_equal (got->body_case, f->body_case);
  return got;
}

/* Send raw bytes as one datagram (optionally with fds) and expect refusal. */
static void
expect_refused (struct pair *p, const void *data, size_t n, const int *fds, size_t nfds, int code)
{
  struct nxerr err = { 0 };
  struct iovec iov = { .iov_base = (void *) data, .iov_len = n };
  union {
    struct cmsghdr align;
    char b[CMSG_SPACE (sizeof (int) * 4)];
  } cbuf;
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
  Frame *got = (Frame *) 1;
  int fd = -2;
  memset (&cbuf, 0, sizeof cbuf);
  if (nfds > 0)
    {
      struct cmsghdr *c;
      msg.msg_control = cbuf.b;
      msg.msg_controllen = CMSG_SPACE (sizeof (int) * nfds);
      c = CMSG_FIRSTHDR (&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN (sizeof (int) * nfds);
      memcpy (CMSG_DATA (c), fds, sizeof (int) * nfds);
    }
  assert_int_equal (sendmsg (p->a, &msg, MSG_NOSIGNAL), (ssize_t) n);
  assert_int_equal (frame_recv (p->b, &got, &fd, &err), -1);
  assert_null (got);
  assert_int_equal (fd, -1);
  assert_int_equal (err.code, code);
  assert_true (err.msg[0] != '\0');
}

/* Pack f with a correct prefix into out; returns the datagram length. */
static size_t
pack_datagram (const Frame *f, uint8_t *out, size_t cap)
{
  size_t len = nexc__agent__frame__get_packed_size (f);
  assert_true (len + 4 <= cap);
  out[0] = (uint8_t) (len >> 24);
  out[1] = (uint8_t) (len >> 16);
  out[2] = (uint8_t) (len >> 8);
  out[3] = (uint8_t) len;
  nexc__agent__frame__pack (f, out + 4);
  return len + 4;
}

/* ---- round trips ---- */

static void
test_hello (void **state)
{
  Nexc__Agent__Hello h = NEXC__AGENT__HELLO__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  Frame *got;
  h.agent_version = "0.1.0";
  h.pid = 4242;
  h.sandbox = "none";
  f.body_case = NEXC__AGENT__FRAME__BODY_HELLO;
  f.hello = &h;
  got = round_trip (*state, &f);
  assert_string_equal (got->hello->agent_version, "0.1.0");
  assert_int_equal (got->hello->pid, 4242);
  assert_string_equal (got->hello->sandbox, "none");
  assert_string_equal (frame_kind (got), "hello");
  frame_free (got);
}

static void
test_deploy_with_fd (void **state)
{
  struct pair *p = *state;
  struct nxerr err = { 0 };
  Nexc__Agent__Deploy d = NEXC__AGENT__DEPLOY__INIT;
  Nexc__Agent__EnvVar e1 = NEXC__AGENT__ENV_VAR__INIT, e2 = NEXC__AGENT__ENV_VAR__INIT;
  Nexc__Agent__EnvVar *env[] = { &e1, &e2 };
  char *argv[] = { "-c", "echo héllo" };
  Frame f = NEXC__AGENT__FRAME__INIT;
  Frame *got = NULL;
  int pfd[2], fd = -1;
  char c = 0;
  assert_int_equal (pipe2 (pfd, O_CLOEXEC), 0);
  d.workload_id = "w-1";
  d.name = "hello";
  d.n_argv = 2;
  d.argv = argv;
  e1.key = "FOO";
  e1.value = "bar";
  e2.key = "EMPTY";
  e2.value = "";
  d.n_env = 2;
  d.env = env;
  d.artifact_size = 1u << 20;
  d.stop_grace_ms = 1500;
  f.body_case = NEXC__AGENT__FRAME__BODY_DEPLOY;
  f.deploy = &d;
  assert_int_equal (frame_send (p->a, &f, pfd[1], &err), 0);
  assert_int_equal (frame_recv (p->b, &got, &fd, &err), 1);
  assert_true (fd >= 0);
  assert_int_not_equal (fd, pfd[1]);
  assert_true (fcntl (fd, F_GETFD) & FD_CLOEXEC);
  /* It is the same pipe: a byte written on the received fd comes out. */
  assert_int_equal (write (fd, "x", 1), 1);
  assert_int_equal (read (pfd[0], &c, 1), 1);
  assert_int_equal (c, 'x');
  assert_string_equal (got->deploy->workload_id, "w-1");
  assert_string_equal (got->deploy->name, "hello");
  assert_int_equal (got->deploy->n_argv, 2);
  assert_string_equal (got->deploy->argv[1], "echo héllo");
  assert_int_equal (got->deploy->n_env, 2);
  assert_string_equal (got->deploy->env[0]->key, "FOO");
  assert_string_equal (got->deploy->env[0]->value, "bar");
  assert_string_equal (got->deploy->env[1]->value, "");
  assert_int_equal (got->deploy->artifact_size, 1u << 20);
  assert_int_equal (got->deploy->stop_grace_ms, 1500);
  frame_free (got);
  close (fd);
  close (pfd[0]);
  close (pfd[1]);
}

static void
test_deploy_without_fd (void **state)
{
  Nexc__Agent__Deploy d = NEXC__AGENT__DEPLOY__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  Frame *got;
  d.name = "x";
  f.body_case = NEXC__AGENT__FRAME__BODY_DEPLOY;
  f.deploy = &d;
  got = round_trip (*state, &f); /* accepted; refusing it is the agent's call */
  assert_string_equal (got->deploy->name, "x");
  assert_int_equal (got->deploy->n_argv, 0);
  frame_free (got);
}

static void
test_started_start_failed (void **state)
{
  Nexc__Agent__Started s = NEXC__AGENT__STARTED__INIT;
  Nexc__Agent__StartFailed sf = NEXC__AGENT__START_FAILED__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  Frame *got;
  s.pid = 77;
  f.body_case = NEXC__AGENT__FRAME__BODY_STARTED;
  f.started = &s;
  got = round_trip (*state, &f);
  assert_int_equal (got->started->pid, 77);
  frame_free (got);

  sf.message = "fexecve: Exec format error";
  f.body_case = NEXC__AGENT__FRAME__BODY_START_FAILED;
  f.start_failed = &sf;
  got = round_trip (*state, &f);
  assert_string_equal (got->start_failed->message, "fexecve: Exec format error");
  assert_string_equal (frame_kind (got), "start_failed");
  frame_free (got);
}

static void
test_log (void **state)
{
  static uint8_t text[FRAME_LOG_TEXT_MAX];
  Nexc__Agent__Log l = NEXC__AGENT__LOG__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  Frame *got;
  /* Arbitrary bytes, including NUL and invalid UTF-8: text is bytes. */
  for (size_t i = 0; i < sizeof text; i++)
    text[i] = (uint8_t) (i * 7);
  l.stream = NEXC__AGENT__LOG__STREAM__STDERR;
  l.text.data = text;
  l.text.len = sizeof text;
  l.dropped = 12;
  f.body_case = NEXC__AGENT__FRAME__BODY_LOG;
  f.log = &l;
  got = round_trip (*state, &f);
  assert_int_equal (got->log->stream, NEXC__AGENT__LOG__STREAM__STDERR);
  assert_int_equal (got->log->text.len, sizeof text);
  assert_memory_equal (got->log->text.data, text, sizeof text);
  assert_int_equal (got->log->dropped, 12);
  frame_free (got);

  l.stream = NEXC__AGENT__LOG__STREAM__STDOUT;
  l.text.len = 0; /* an empty line */
  l.dropped = 0;
  got = round_trip (*state, &f);
  assert_int_equal (got->log->stream, NEXC__AGENT__LOG__STREAM__STDOUT);
  assert_int_equal (got->log->text.len, 0);
  frame_free (got);
}

static void
test_exited_stop_ping_pong (void **state)
{
  Nexc__Agent__Exited e = NEXC__AGENT__EXITED__INIT;
  Nexc__Agent__Stop s = NEXC__AGENT__STOP__INIT;
  Nexc__Agent__Ping pi = NEXC__AGENT__PING__INIT;
  Nexc__Agent__Pong po = NEXC__AGENT__PONG__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  Frame *got;

  e.code = -1;
  e.signal = 9;
  e.stopped = 1;
  e.log_dropped = 123456789012ull;
  f.body_case = NEXC__AGENT__FRAME__BODY_EXITED;
  f.exited = &e;
  got = round_trip (*state, &f);
  assert_int_equal (got->exited->code, -1);
  assert_int_equal (got->exited->signal, 9);
  assert_true (got->exited->stopped);
  assert_int_equal (got->exited->log_dropped, 123456789012ull);
  frame_free (got);

  /* All-default fields pack to an empty submessage: still a set body. */
  e = (Nexc__Agent__Exited) NEXC__AGENT__EXITED__INIT;
  got = round_trip (*state, &f);
  assert_int_equal (got->exited->code, 0);
  assert_false (got->exited->stopped);
  frame_free (got);

  s.grace_ms = 2500;
  f.body_case = NEXC__AGENT__FRAME__BODY_STOP;
  f.stop = &s;
  got = round_trip (*state, &f);
  assert_int_equal (got->stop->grace_ms, 2500);
  frame_free (got);

  pi.nonce = UINT64_MAX;
  f.body_case = NEXC__AGENT__FRAME__BODY_PING;
  f.ping = &pi;
  got = round_trip (*state, &f);
  assert_int_equal (got->ping->nonce, UINT64_MAX);
  assert_string_equal (frame_kind (got), "ping");
  frame_free (got);

  po.nonce = 1;
  f.body_case = NEXC__AGENT__FRAME__BODY_PONG;
  f.pong = &po;
  got = round_trip (*state, &f);
  assert_int_equal (got->pong->nonce, 1);
  frame_free (got);
}

/* ---- transport edge cases ---- */

static void
test_nonblocking_empty_then_eof (void **state)
{
  struct pair *p = *state;
  struct nxerr err = { 0 };
  Frame *got = (Frame *) 1;
  int fd = -2;
  assert_int_equal (fcntl (p->b, F_SETFL, O_NONBLOCK), 0);
  assert_int_equal (frame_recv (p->b, &got, &fd, &err), 0);
  assert_null (got);
  assert_int_equal (fd, -1);
  close (p->a);
  p->a = -1;
  assert_int_equal (frame_recv (p->b, &got, &fd, &err), -1);
  assert_int_equal (err.code, ECONNRESET);
  /* EOF stays EOF. */
  assert_int_equal (frame_recv (p->b, &got, &fd, &err), -1);
  assert_int_equal (err.code, ECONNRESET);
}

static void
test_frames_before_eof_are_delivered (void **state)
{
  struct pair *p = *state;
  struct nxerr err = { 0 };
  Nexc__Agent__Ping pi = NEXC__AGENT__PING__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  Frame *got = NULL;
  pi.nonce = 5;
  f.body_case = NEXC__AGENT__FRAME__BODY_PING;
  f.ping = &pi;
  assert_int_equal (frame_send (p->a, &f, -1, &err), 0);
  close (p->a);
  p->a = -1;
  assert_int_equal (frame_recv (p->b, &got, NULL, &err), 1);
  assert_int_equal (got->ping->nonce, 5);
  frame_free (got);
  assert_int_equal (frame_recv (p->b, &got, NULL, &err), -1);
  assert_int_equal (err.code, ECONNRESET);
}

static void
test_send_eagain_and_epipe (void **state)
{
  struct pair *p = *state;
  struct nxerr err = { 0 };
  Nexc__Agent__Ping pi = NEXC__AGENT__PING__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  int i;
  f.body_case = NEXC__AGENT__FRAME__BODY_PING;
  f.ping = &pi;
  assert_int_equal (fcntl (p->a, F_SETFL, O_NONBLOCK), 0);
  for (i = 0; i < 100000; i++)
    if (frame_send (p->a, &f, -1, &err) < 0)
      break;
  assert_true (i > 0 && i < 100000);
  assert_int_equal (err.code, EAGAIN);
  close (p->b);
  p->b = -1;
  /* No SIGPIPE (it would kill the test): an error instead. */
  assert_int_equal (frame_send (p->a, &f, -1, &err), -1);
  assert_int_equal (err.code, EPIPE);
}

static void
test_send_to_closed_peer (void **state)
{
  struct pair *p = *state;
  struct nxerr err = { 0 };
  Nexc__Agent__Pong po = NEXC__AGENT__PONG__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  f.body_case = NEXC__AGENT__FRAME__BODY_PONG;
  f.pong = &po;
  close (p->b); /* nothing unread this time */
  p->b = -1;
  assert_int_equal (frame_send (p->a, &f, -1, &err), -1);
  assert_int_equal (err.code, EPIPE);
}

static void
test_send_refuses_oversize (void **state)
{
  struct pair *p = *state;
  struct nxerr err = { 0 };
  static char big[FRAME_MAX];
  Nexc__Agent__StartFailed sf = NEXC__AGENT__START_FAILED__INIT;
  Nexc__Agent__Log l = NEXC__AGENT__LOG__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  memset (big, 'a', sizeof big - 1);
  sf.message = big;
  f.body_case = NEXC__AGENT__FRAME__BODY_START_FAILED;
  f.start_failed = &sf;
  assert_int_equal (frame_send (p->a, &f, -1, &err), -1);
  assert_int_equal (err.code, EMSGSIZE);

  l.stream = NEXC__AGENT__LOG__STREAM__STDOUT;
  l.text.data = (uint8_t *) big;
  l.text.len = FRAME_LOG_TEXT_MAX + 1;
  f.body_case = NEXC__AGENT__FRAME__BODY_LOG;
  f.log = &l;
  assert_int_equal (frame_send (p->a, &f, -1, &err), -1);
  assert_int_equal (err.code, EMSGSIZE);

  f.body_case = NEXC__AGENT__FRAME__BODY__NOT_SET;
  assert_int_equal (frame_send (p->a, &f, -1, &err), -1);
  assert_int_equal (err.code, EINVAL);
}

/* ---- malformed datagrams ---- */

static void
test_empty_datagram (void **state)
{
  expect_refused (*state, "", 0, NULL, 0, EPROTO);
}

static void
test_short_prefix (void **state)
{
  expect_refused (*state, "\0\0", 2, NULL, 0, EPROTO);
  expect_refused (*state, "\0\0\0", 3, NULL, 0, EPROTO);
}

static void
test_prefix_mismatch (void **state)
{
  Nexc__Agent__Ping pi = NEXC__AGENT__PING__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  uint8_t dg[64];
  size_t n;
  pi.nonce = 99;
  f.body_case = NEXC__AGENT__FRAME__BODY_PING;
  f.ping = &pi;
  n = pack_datagram (&f, dg, sizeof dg);
  dg[3]++; /* says one byte more than there is */
  expect_refused (*state, dg, n, NULL, 0, EPROTO);
  dg[3] -= 2; /* says one byte less */
  expect_refused (*state, dg, n, NULL, 0, EPROTO);
  /* A huge prefix on a small datagram. */
  dg[0] = 0xff;
  expect_refused (*state, dg, n, NULL, 0, EPROTO);
}

static void
test_garbage_protobuf (void **state)
{
  /* Tag 0 is invalid; then a length running past the end. */
  const uint8_t g1[] = { 0, 0, 0, 3, 0x00, 0x01, 0x02 };
  const uint8_t g2[] = { 0, 0, 0, 4, 0x12, 0x7f, 0x01, 0x02 };
  const uint8_t g3[] = { 0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff };
  expect_refused (*state, g1, sizeof g1, NULL, 0, EPROTO);
  expect_refused (*state, g2, sizeof g2, NULL, 0, EPROTO);
  expect_refused (*state, g3, sizeof g3, NULL, 0, EPROTO);
}

static void
test_unset_body (void **state)
{
  /* An empty Frame, and a Frame holding only an unknown field 15. */
  const uint8_t e1[] = { 0, 0, 0, 0 };
  const uint8_t e2[] = { 0, 0, 0, 2, 0x78, 0x01 };
  expect_refused (*state, e1, sizeof e1, NULL, 0, EPROTO);
  expect_refused (*state, e2, sizeof e2, NULL, 0, EPROTO);
}

static void
test_oversize_datagram (void **state)
{
  struct pair *p = *state;
  size_t n = FRAME_MAX + 1;
  uint8_t *dg = calloc (1, n);
  int sndbuf = 4 * FRAME_MAX;
  assert_non_null (dg);
  assert_int_equal (setsockopt (p->a, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
  /* A consistent prefix, so only the size is wrong. */
  dg[0] = (uint8_t) ((n - 4) >> 24);
  dg[1] = (uint8_t) ((n - 4) >> 16);
  dg[2] = (uint8_t) ((n - 4) >> 8);
  dg[3] = (uint8_t) (n - 4);
  expect_refused (p, dg, n, NULL, 0, EPROTO);
  free (dg);
}

static void
test_exactly_frame_max (void **state)
{
  struct pair *p = *state;
  struct nxerr err = { 0 };
  Nexc__Agent__StartFailed sf = NEXC__AGENT__START_FAILED__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  Frame *got = NULL;
  char *msg = malloc (FRAME_MAX);
  size_t len = FRAME_MAX - 4, total;
  assert_non_null (msg);
  memset (msg, 'm', FRAME_MAX);
  f.body_case = NEXC__AGENT__FRAME__BODY_START_FAILED;
  f.start_failed = &sf;
  sf.message = msg;
  /* Shrink the message until the datagram is exactly FRAME_MAX bytes. */
  for (;;)
    {
      msg[len] = '\0';
      total = nexc__agent__frame__get_packed_size (&f) + 4;
      if (total <= FRAME_MAX)
        break;
      msg[len] = 'm';
      len -= total - FRAME_MAX;
    }
  assert_int_equal (total, FRAME_MAX);
  assert_int_equal (frame_send (p->a, &f, -1, &err), 0);
  assert_int_equal (frame_recv (p->b, &got, NULL, &err), 1);
  assert_int_equal (strlen (got->start_failed->message), len);
  frame_free (got);
  free (msg);
}

static void
test_fd_on_non_deploy (void **state)
{
  struct pair *p = *state;
  Nexc__Agent__Ping pi = NEXC__AGENT__PING__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  struct nxerr err = { 0 };
  Frame *got = NULL;
  uint8_t dg[64];
  int pfd[2], before, fd = -2;
  size_t n;
  assert_int_equal (pipe2 (pfd, O_CLOEXEC), 0);
  before = count_fds ();
  f.body_case = NEXC__AGENT__FRAME__BODY_PING;
  f.ping = &pi;
  n = pack_datagram (&f, dg, sizeof dg);
  expect_refused (p, dg, n, &pfd[0], 1, EPROTO);
  assert_int_equal (count_fds (), before); /* the received copy was closed */

  /* frame_send refuses nothing here: the receiver is the one that checks. */
  assert_int_equal (frame_send (p->a, &f, pfd[0], &err), 0);
  assert_int_equal (frame_recv (p->b, &got, &fd, &err), -1);
  assert_int_equal (err.code, EPROTO);
  assert_int_equal (count_fds (), before);
  close (pfd[0]);
  close (pfd[1]);
}

static void
test_fd_not_wanted (void **state)
{
  struct pair *p = *state;
  Nexc__Agent__Deploy d = NEXC__AGENT__DEPLOY__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  struct nxerr err = { 0 };
  Frame *got = NULL;
  int pfd[2], before;
  assert_int_equal (pipe2 (pfd, O_CLOEXEC), 0);
  before = count_fds ();
  f.body_case = NEXC__AGENT__FRAME__BODY_DEPLOY;
  f.deploy = &d;
  assert_int_equal (frame_send (p->a, &f, pfd[0], &err), 0);
  assert_int_equal (frame_recv (p->b, &got, NULL, &err), -1);
  assert_int_equal (err.code, EPROTO);
  assert_null (got);
  assert_int_equal (count_fds (), before);
  close (pfd[0]);
  close (pfd[1]);
}

static void
test_two_fds (void **state)
{
  struct pair *p = *state;
  Nexc__Agent__Deploy d = NEXC__AGENT__DEPLOY__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  uint8_t dg[64];
  int pfd[2], before;
  size_t n;
  assert_int_equal (pipe2 (pfd, O_CLOEXEC), 0);
  before = count_fds ();
  f.body_case = NEXC__AGENT__FRAME__BODY_DEPLOY;
  f.deploy = &d;
  n = pack_datagram (&f, dg, sizeof dg);
  expect_refused (p, dg, n, pfd, 2, EPROTO);
  assert_int_equal (count_fds (), before);
  close (pfd[0]);
  close (pfd[1]);
}

static void
test_fd_on_garbage_is_closed (void **state)
{
  struct pair *p = *state;
  const uint8_t g[] = { 0, 0, 0, 2, 0xff, 0xff };
  int pfd[2], before;
  assert_int_equal (pipe2 (pfd, O_CLOEXEC), 0);
  before = count_fds ();
  expect_refused (p, g, sizeof g, pfd, 1, EPROTO);
  expect_refused (p, "", 0, pfd, 1, EPROTO); /* an fd on an empty datagram */
  assert_int_equal (count_fds (), before);
  close (pfd[0]);
  close (pfd[1]);
}

/* ---- strictness on strings and logs ---- */

static void
test_invalid_utf8_refused (void **state)
{
  const char *bad[] = {
    "\xff",             /* never valid */
    "a\x80",            /* stray continuation */
    "\xc0\xaf",         /* overlong '/' */
    "\xe0\x80\xaf",     /* overlong, 3 bytes */
    "\xed\xa0\x80",     /* surrogate U+D800 */
    "\xf4\x90\x80\x80", /* above U+10FFFF */
    "\xe2\x82",         /* truncated */
  };
  Nexc__Agent__Deploy d = NEXC__AGENT__DEPLOY__INIT;
  Nexc__Agent__EnvVar e = NEXC__AGENT__ENV_VAR__INIT;
  Nexc__Agent__EnvVar *env[] = { &e };
  Frame f = NEXC__AGENT__FRAME__INIT;
  uint8_t dg[128];
  size_t n;
  f.body_case = NEXC__AGENT__FRAME__BODY_DEPLOY;
  f.deploy = &d;
  d.n_env = 1;
  d.env = env;
  e.key = "K";
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    {
      /* In a nested message (Deploy.env[0].value) ... */
      e.value = (char *) bad[i];
      n = pack_datagram (&f, dg, sizeof dg);
      expect_refused (*state, dg, n, NULL, 0, EPROTO);
    }
  /* ... and in a top-level one. */
  e.value = "ok: \xe2\x82\xac \xf0\x9f\x98\x80"; /* € and an emoji are fine */
  d.name = "\xc3\x28";
  n = pack_datagram (&f, dg, sizeof dg);
  expect_refused (*state, dg, n, NULL, 0, EPROTO);
}

static void
test_valid_utf8_accepted (void **state)
{
  Nexc__Agent__Hello h = NEXC__AGENT__HELLO__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  Frame *got;
  h.agent_version = "v\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf";
  h.sandbox = "\xc2\x80";
  f.body_case = NEXC__AGENT__FRAME__BODY_HELLO;
  f.hello = &h;
  got = round_trip (*state, &f);
  assert_string_equal (got->hello->agent_version, h.agent_version);
  frame_free (got);
}

static void
test_nul_in_string_refused (void **state)
{
  /* Frame{hello(1){agent_version(1): "a\0b"}}: a C string would read "a". */
  const uint8_t dg[] = { 0, 0, 0, 7, 0x0a, 0x05, 0x0a, 0x03, 'a', 0x00, 'b' };
  /* Frame{deploy(2){argv(3): "x\0"}} */
  const uint8_t dg2[] = { 0, 0, 0, 6, 0x12, 0x04, 0x1a, 0x02, 'x', 0x00 };
  struct nxerr err = { 0 };
  Frame *f = (Frame *) 1;
  assert_int_equal (frame_decode (dg, sizeof dg, &f, &err), -1);
  assert_null (f);
  assert_non_null (strstr (err.msg, "NUL"));
  expect_refused (*state, dg, sizeof dg, NULL, 0, EPROTO);
  expect_refused (*state, dg2, sizeof dg2, NULL, 0, EPROTO);
}

static void
test_log_limits (void **state)
{
  static uint8_t text[FRAME_LOG_TEXT_MAX + 1];
  Nexc__Agent__Log l = NEXC__AGENT__LOG__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  uint8_t *dg = malloc (FRAME_MAX);
  size_t n;
  assert_non_null (dg);
  f.body_case = NEXC__AGENT__FRAME__BODY_LOG;
  f.log = &l;
  l.stream = NEXC__AGENT__LOG__STREAM__STDOUT;
  l.text.data = text;
  l.text.len = sizeof text; /* one byte too long */
  n = pack_datagram (&f, dg, FRAME_MAX);
  expect_refused (*state, dg, n, NULL, 0, EPROTO);

  l.text.len = 3;
  l.stream = NEXC__AGENT__LOG__STREAM__STREAM_UNSPECIFIED;
  n = pack_datagram (&f, dg, FRAME_MAX);
  expect_refused (*state, dg, n, NULL, 0, EPROTO);
  l.stream = (Nexc__Agent__Log__Stream) 7;
  n = pack_datagram (&f, dg, FRAME_MAX);
  expect_refused (*state, dg, n, NULL, 0, EPROTO);
  free (dg);
}

/* ---- batched Log frames ---- */

/* frame_decode refuses the datagram, for the reason given. */
static void
expect_decode_error (const uint8_t *dg, size_t n, const char *why)
{
  struct nxerr err = { 0 };
  Frame *got = (Frame *) 1;
  assert_int_equal (frame_decode (dg, n, &got, &err), -1);
  assert_null (got);
  assert_int_equal (err.code, EPROTO);
  if (strstr (err.msg, why) == NULL)
    fail_msg ("refused with \"%s\", expected \"%s\"", err.msg, why);
}

/* A batch of n lines: texts[i] of lens[i] bytes, streams alternating. */
struct batch {
  Nexc__Agent__Log lg;
  Nexc__Agent__Log__Line *lines;
  Nexc__Agent__Log__Line **ptrs;
  Frame f;
};

static void
batch_init (struct batch *b, size_t n, const uint8_t *text, const size_t *lens)
{
  nexc__agent__log__init (&b->lg);
  b->lines = calloc (n ? n : 1, sizeof *b->lines);
  b->ptrs = calloc (n ? n : 1, sizeof *b->ptrs);
  assert_non_null (b->lines);
  assert_non_null (b->ptrs);
  for (size_t i = 0; i < n; i++)
    {
      nexc__agent__log__line__init (&b->lines[i]);
      b->lines[i].stream
          = i % 2 ? NEXC__AGENT__LOG__STREAM__STDERR : NEXC__AGENT__LOG__STREAM__STDOUT;
      b->lines[i].text.data = (uint8_t *) text;
      b->lines[i].text.len = lens[i];
      b->ptrs[i] = &b->lines[i];
    }
  b->lg.n_lines = n;
  b->lg.lines = b->ptrs;
  b->f = (Frame) NEXC__AGENT__FRAME__INIT;
  b->f.body_case = NEXC__AGENT__FRAME__BODY_LOG;
  b->f.log = &b->lg;
}

static void
batch_free (struct batch *b)
{
  free (b->lines);
  free (b->ptrs);
}

static void
test_log_batch (void **state)
{
  static uint8_t text[FRAME_LOG_TEXT_MAX];
  size_t lens[FRAME_LOG_LINES_MAX];
  struct batch b;
  Frame *got;
  for (size_t i = 0; i < sizeof text; i++)
    text[i] = (uint8_t) (i * 13); /* arbitrary bytes, NULs included */
  for (size_t i = 0; i < FRAME_LOG_LINES_MAX; i++)
    lens[i] = i % 50; /* empty lines included */
  batch_init (&b, FRAME_LOG_LINES_MAX, text, lens);
  b.lg.dropped = 77;
  got = round_trip (*state, &b.f);
  assert_int_equal (got->log->n_lines, FRAME_LOG_LINES_MAX);
  assert_int_equal (got->log->dropped, 77);
  assert_int_equal (got->log->stream, NEXC__AGENT__LOG__STREAM__STREAM_UNSPECIFIED);
  assert_int_equal (got->log->text.len, 0);
  for (size_t i = 0; i < FRAME_LOG_LINES_MAX; i++)
    {
      assert_int_equal (got->log->lines[i]->stream, b.lines[i].stream);
      assert_int_equal (got->log->lines[i]->text.len, lens[i]);
      if (lens[i])
        assert_memory_equal (got->log->lines[i]->text.data, text, lens[i]);
    }
  frame_free (got);
  batch_free (&b);
}

/* The sender's rule (api/frame.h): lines fit while FRAME_LOG_FRAME_OVERHEAD +
 * sum (len + FRAME_LOG_LINE_OVERHEAD) <= FRAME_MAX. Filled exactly to the
 * bound, with the largest dropped count, every such frame must be sendable. */
static void
test_log_batch_bound (void **state)
{
  static uint8_t text[FRAME_LOG_TEXT_MAX];
  static const size_t sizes[] = { 0, 1, 53, 117, 127, 128, 1000, 16000, FRAME_LOG_TEXT_MAX };
  size_t lens[FRAME_LOG_LINES_MAX];
  memset (text, 'a', sizeof text);
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++)
    {
      size_t room = FRAME_MAX - FRAME_LOG_FRAME_OVERHEAD, n = 0;
      struct batch b;
      Frame *got;
      while (n < FRAME_LOG_LINES_MAX && sizes[k] + FRAME_LOG_LINE_OVERHEAD <= room)
        {
          lens[n++] = sizes[k];
          room -= sizes[k] + FRAME_LOG_LINE_OVERHEAD;
        }
      /* Top it up with one shorter line where room is left. */
      if (n < FRAME_LOG_LINES_MAX && room > FRAME_LOG_LINE_OVERHEAD)
        lens[n++] = room - FRAME_LOG_LINE_OVERHEAD;
      batch_init (&b, n, text, lens);
      b.lg.dropped = UINT64_MAX;
      assert_true (nexc__agent__frame__get_packed_size (&b.f) + 4 <= FRAME_MAX);
      got = round_trip (*state, &b.f);
      assert_int_equal (got->log->n_lines, n);
      frame_free (got);
      batch_free (&b);
    }
}

static void
test_log_batch_send_refused (void **state)
{
  struct pair *p = *state;
  static uint8_t text[FRAME_LOG_TEXT_MAX + 1];
  size_t lens[FRAME_LOG_LINES_MAX + 1] = { 0 };
  struct nxerr err = { 0 };
  struct batch b;
  batch_init (&b, FRAME_LOG_LINES_MAX + 1, text, lens);
  assert_int_equal (frame_send (p->a, &b.f, -1, &err), -1);
  assert_int_equal (err.code, EMSGSIZE);
  b.lg.n_lines = 3;
  b.lines[2].text.len = FRAME_LOG_TEXT_MAX + 1;
  assert_int_equal (frame_send (p->a, &b.f, -1, &err), -1);
  assert_int_equal (err.code, EMSGSIZE);
  b.lines[2].text.len = 1;
  b.lines[1].stream = NEXC__AGENT__LOG__STREAM__STREAM_UNSPECIFIED;
  assert_int_equal (frame_send (p->a, &b.f, -1, &err), -1);
  assert_int_equal (err.code, EINVAL);
  b.lines[1].stream = NEXC__AGENT__LOG__STREAM__STDERR;
  b.lg.stream = NEXC__AGENT__LOG__STREAM__STDOUT; /* both forms at once */
  assert_int_equal (frame_send (p->a, &b.f, -1, &err), -1);
  assert_int_equal (err.code, EINVAL);
  batch_free (&b);
}

/* What a hostile agent may send: each refused whole on receipt. */
static void
test_log_batch_refused (void **state)
{
  static uint8_t text[FRAME_LOG_TEXT_MAX + 1];
  size_t lens[FRAME_LOG_LINES_MAX + 1] = { 0 };
  uint8_t *dg = malloc (FRAME_MAX);
  struct batch b;
  size_t n;
  assert_non_null (dg);
  memset (text, 'x', sizeof text);
  for (size_t i = 0; i <= FRAME_LOG_LINES_MAX; i++)
    lens[i] = 1;

  batch_init (&b, FRAME_LOG_LINES_MAX + 1, text, lens); /* one line too many */
  n = pack_datagram (&b.f, dg, FRAME_MAX);
  expect_decode_error (dg, n, "log frame of 1025 lines exceeds 1024");
  expect_refused (*state, dg, n, NULL, 0, EPROTO);

  b.lg.n_lines = 3;
  b.lines[2].stream = NEXC__AGENT__LOG__STREAM__STREAM_UNSPECIFIED; /* last line */
  n = pack_datagram (&b.f, dg, FRAME_MAX);
  expect_decode_error (dg, n, "log stream 0 is not stdout or stderr (line 2)");
  expect_refused (*state, dg, n, NULL, 0, EPROTO);
  b.lines[2].stream = (Nexc__Agent__Log__Stream) 7;
  n = pack_datagram (&b.f, dg, FRAME_MAX);
  expect_decode_error (dg, n, "log stream 7 is not stdout or stderr (line 2)");
  expect_refused (*state, dg, n, NULL, 0, EPROTO);
  b.lines[2].stream = NEXC__AGENT__LOG__STREAM__STDOUT;

  b.lines[1].text.len = FRAME_LOG_TEXT_MAX + 1; /* a line too long */
  n = pack_datagram (&b.f, dg, FRAME_MAX);
  expect_decode_error (dg, n, "log text of 16385 bytes exceeds 16384 (line 1)");
  expect_refused (*state, dg, n, NULL, 0, EPROTO);
  b.lines[1].text.len = 1;

  b.lg.text.data = text; /* a single line and lines */
  b.lg.text.len = 2;
  n = pack_datagram (&b.f, dg, FRAME_MAX);
  expect_decode_error (dg, n, "log frame has both a single line and 3 lines");
  expect_refused (*state, dg, n, NULL, 0, EPROTO);
  b.lg.text.len = 0;
  b.lg.stream = NEXC__AGENT__LOG__STREAM__STDERR;
  n = pack_datagram (&b.f, dg, FRAME_MAX);
  expect_decode_error (dg, n, "log frame has both a single line and 3 lines");
  expect_refused (*state, dg, n, NULL, 0, EPROTO);
  b.lg.stream = NEXC__AGENT__LOG__STREAM__STREAM_UNSPECIFIED;

  b.lg.n_lines = 0; /* no line at all, only a drop count */
  b.lg.dropped = 5;
  n = pack_datagram (&b.f, dg, FRAME_MAX);
  expect_decode_error (dg, n, "log stream 0 is not stdout or stderr");
  expect_refused (*state, dg, n, NULL, 0, EPROTO);

  b.lg.n_lines = 3; /* and the valid frame of the same lines is accepted */
  b.lg.dropped = 0;
  {
    Frame *got = round_trip (*state, &b.f);
    assert_int_equal (got->log->n_lines, 3);
    frame_free (got);
  }
  batch_free (&b);
  free (dg);
}

/* Hand-made wire bytes: a Line whose text runs past its message, and a
 * Line with a field number 0 (the non-minimal tag 80 00, which protobuf-c
 * keeps as an unknown field; a plain 00 it refuses itself). */
static void
test_log_batch_bad_wire (void **state)
{
  static const uint8_t trunc[] = {
    0, 0, 0, 20,
    0x2a, 18,                                      /* Frame.log */
    0x22, 7, 0x08, 1, 0x12, 3, 'o', 'k', '!',      /* lines[0]: valid */
    0x22, 7, 0x08, 1, 0x12, 10, 'a', 'b', 'c',     /* lines[1]: text of 10 in 3 */
  };
  static const uint8_t zero[] = {
    0, 0, 0, 20,
    0x2a, 18,
    0x22, 6, 0x08, 1, 0x12, 2, 'o', 'k',
    0x22, 8, 0x08, 1, 0x12, 1, 'a', 0x80, 0x00, 0x00, /* tag 80 00: field 0, varint 0 */
  };
  (void) state;
  expect_decode_error (trunc, sizeof trunc, "frame does not unpack");
  expect_decode_error (zero, sizeof zero, "frame has a field number 0");
}

static void
test_decode_direct (void **state)
{
  Nexc__Agent__Pong po = NEXC__AGENT__PONG__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  struct nxerr err = { 0 };
  Frame *got = NULL;
  uint8_t dg[32];
  size_t n;
  (void) state;
  po.nonce = 300;
  f.body_case = NEXC__AGENT__FRAME__BODY_PONG;
  f.pong = &po;
  n = pack_datagram (&f, dg, sizeof dg);
  assert_int_equal (frame_decode (dg, n, &got, &err), 0);
  assert_int_equal (got->pong->nonce, 300);
  frame_free (got);
  /* Every strict prefix of a valid datagram is refused. */
  for (size_t k = 0; k < n; k++)
    {
      got = (Frame *) 1;
      assert_int_equal (frame_decode (dg, k, &got, &err), -1);
      assert_null (got);
      assert_int_equal (err.code, EPROTO);
    }
  frame_free (NULL);
  assert_string_equal (frame_kind (NULL), "none");
}

#define T(fn) cmocka_unit_test_setup_teardown (fn, setup_pair, teardown_pair)

int
main (void)
{
  const struct CMUnitTest tests[] = {
    T (test_hello),
    T (test_deploy_with_fd),
    T (test_deploy_without_fd),
    T (test_started_start_failed),
    T (test_log),
    T (test_exited_stop_ping_pong),
    T (test_nonblocking_empty_then_eof),
    T (test_frames_before_eof_are_delivered),
    T (test_send_eagain_and_epipe),
    T (test_send_to_closed_peer),
    T (test_send_refuses_oversize),
    T (test_empty_datagram),
    T (test_short_prefix),
    T (test_prefix_mismatch),
    T (test_garbage_protobuf),
    T (test_unset_body),
    T (test_oversize_datagram),
    T (test_exactly_frame_max),
    T (test_fd_on_non_deploy),
    T (test_fd_not_wanted),
    T (test_two_fds),
    T (test_fd_on_garbage_is_closed),
    T (test_invalid_utf8_refused),
    T (test_valid_utf8_accepted),
    T (test_nul_in_string_refused),
    T (test_log_limits),
    T (test_log_batch),
    T (test_log_batch_bound),
    T (test_log_batch_send_refused),
    T (test_log_batch_refused),
    T (test_log_batch_bad_wire),
    T (test_decode_direct),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
