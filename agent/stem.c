#include "agent/stem.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/landlock.h"
#include "agent/sandbox.h"
#include "api/log.h"
#include "api/xalloc.h"

/* The stem's end of the socket, in the stem. */
#define STEM_FD 3
/* argv and environment together; a Deploy frame is smaller (64 KiB). */
#define STEM_MSG_MAX (128 * 1024)
#define STEM_MAGIC 0x6e787374u /* "nxst" */
/* Its first packet: inside and waiting (one byte). */
#define STEM_READY 'R'

struct go_hdr {
  uint32_t magic;
  uint32_t argc;
  uint32_t envc;
  uint32_t script;
  uint64_t nofile;
  uint64_t nproc;
}; /* then argc + envc strings, each NUL-terminated, back to back */

void
stem_init (struct stem *s)
{
  s->pid = 0;
  s->sock = -1;
  s->ready = false;
}

bool
stem_ready (const struct stem *s)
{
  return s->pid > 0 && s->sock >= 0;
}

/* ---- in the stem ---- */

void
exec_fail (int status_fd, const char *what, int e)
{
  struct exec_failure f;
  ssize_t r;
  memset (&f, 0, sizeof f);
  f.err = e;
  strncpy (f.what, what, sizeof f.what - 1);
  r = write (status_fd, &f, sizeof f);
  (void) r;
  _exit (127);
}

static void __attribute__ ((noreturn))
fail (const char *what, int e)
{
  exec_fail (STEM_FD, what, e);
}

/* Exactly argc + envc strings filling buf[0..len): pointers into buf. */
static char **
split (char *buf, size_t len, uint32_t argc, uint32_t envc, char ***envp)
{
  size_t want = (size_t) argc + envc, n = 0;
  char **v;
  if (len == 0 || buf[len - 1] != '\0')
    return NULL;
  for (size_t i = 0; i < len; i++)
    n += buf[i] == '\0';
  if (n != want)
    return NULL;
  v = calloc (want + 2, sizeof *v);
  if (v == NULL)
    return NULL;
  for (size_t i = 0, at = 0; i < want; i++)
    {
      v[i < argc ? i : i + 1] = buf + at;
      at += strlen (buf + at) + 1;
    }
  v[argc] = NULL; /* argv ends here, the environment follows */
  *envp = v + argc + 1;
  return v;
}

/* Wait for the deploy, then become the workload. The agent is the only
 * peer: what it sends is checked all the same (a broken message ends the
 * stem, and the agent's stem_go reports it). */
static void __attribute__ ((noreturn))
await_go (int landlock_abi)
{
  char *buf = malloc (STEM_MSG_MAX);
  union {
    char b[CMSG_SPACE (4 * sizeof (int))];
    struct cmsghdr align;
  } ctl;
  struct iovec iov = { buf, STEM_MSG_MAX };
  struct msghdr m = { 0 };
  struct cmsghdr *c;
  struct go_hdr h;
  const char *what;
  char **argv, **envp = NULL;
  int fds[4], e;
  ssize_t n;
  if (buf == NULL)
    _exit (127);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl.b;
  m.msg_controllen = sizeof ctl.b;
  do
    n = recvmsg (STEM_FD, &m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    _exit (127); /* discarded */
  c = CMSG_FIRSTHDR (&m);
  if ((m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || c == NULL || c->cmsg_level != SOL_SOCKET
      || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN (sizeof fds))
    fail ("stem: go message", EPROTO);
  memcpy (fds, CMSG_DATA (c), sizeof fds);
  if ((size_t) n < sizeof h)
    fail ("stem: go message", EPROTO);
  memcpy (&h, buf, sizeof h);
  if (h.magic != STEM_MAGIC || h.argc == 0)
    fail ("stem: go message", EPROTO);
  argv = split (buf + sizeof h, (size_t) n - sizeof h, h.argc, h.envc, &envp);
  if (argv == NULL)
    fail ("stem: go message", EPROTO);
  if ((e = sandbox_enter_limits (h.nofile, h.nproc, &what)) != 0)
    fail (what, e);
  for (int i = 0; i < 3; i++)
    if (dup2 (fds[i], i) < 0)
      fail ("dup2", errno);
  for (int i = 0; i < 3; i++)
    close (fds[i]);
  if ((e = landlock_enter_reads (landlock_abi, fds[3], &what)) != 0)
    fail (what, e);
  if (h.script && fcntl (fds[3], F_SETFD, 0) < 0)
    fail ("fcntl(exe fd)", errno);
  fexecve (fds[3], argv, envp);
  fail ("fexecve", errno);
}

/* fd, moved above the two numbers the stem gives out (STEM_FD and the user
 * namespace's, STEM_FD + 1) when it holds one of them: placing the other
 * there would close it, and dup3 refuses a move onto itself. */
static int
move_up (int fd)
{
  if (fd < 0 || fd > STEM_FD + 1)
    return fd;
  fd = fcntl (fd, F_DUPFD_CLOEXEC, STEM_FD + 2);
  if (fd < 0)
    _exit (127);
  return fd;
}

static void __attribute__ ((noreturn))
stem_main (const struct sandbox *agent_sb, pid_t agent, int sock)
{
  static struct sandbox own; /* large: not on the stack */
  const struct sandbox *sb = &own;
  struct sigaction sa;
  sigset_t none;
  const char *what;
  int e;
  own = *agent_sb;
  sock = move_up (sock);
  own.userns_fd = move_up (own.userns_fd);
  if (dup2 (sock, STEM_FD) < 0 || fcntl (STEM_FD, F_SETFD, FD_CLOEXEC) < 0)
    _exit (127);
  /* Its own group (the workload's), dead with the agent. */
  if (setpgid (0, 0) < 0 || prctl (PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid () != agent)
    _exit (127);
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = SIG_DFL;
  sigaction (SIGPIPE, &sa, NULL);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  /* Nothing of the agent's but the socket and the user namespace to enter:
   * its link, its reattach socket and signalfd stay out of the sandbox. */
  if (own.userns_fd >= 0)
    {
      /* dup2 would clear close-on-exec: the workload would inherit it. */
      if (dup3 (own.userns_fd, STEM_FD + 1, O_CLOEXEC) < 0)
        _exit (127);
      own.userns_fd = STEM_FD + 1;
    }
  if (close_range (STEM_FD + 2, ~0U, 0) < 0)
    for (int fd = STEM_FD + 2; fd < 1024; fd++)
      close (fd);
  if (own.userns_fd < 0)
    close (STEM_FD + 1);
  e = sandbox_enter_rest (sb, &what);
  if (e != 0)
    {
      log_warn ("stem: %s: %s (deploys take the direct path)", what, strerror (e));
      _exit (127);
    }
  {
    char r = STEM_READY;
    if (send (STEM_FD, &r, 1, MSG_NOSIGNAL) != 1)
      _exit (127);
  }
  await_go (own.landlock_abi);
}

/* ---- in the agent ---- */

int
stem_start (struct stem *s, const struct sandbox *sb, struct nxerr *err)
{
  int sv[2];
  pid_t agent = getpid (), pid;
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return nxerr_sys (err, errno, "stem: socketpair");
  pid = fork ();
  if (pid < 0)
    {
      int e = errno;
      close (sv[0]);
      close (sv[1]);
      return nxerr_sys (err, e, "stem: fork");
    }
  if (pid == 0)
    stem_main (sb, agent, sv[1]);
  close (sv[1]);
  s->pid = pid;
  s->sock = sv[0];
  return 0;
}

int
stem_await (struct stem *s, int timeout_ms)
{
  struct pollfd p;
  char r = 0;
  ssize_t n;
  int k;
  if (!stem_ready (s))
    return STEM_GONE;
  if (s->ready)
    return 0;
  p.fd = s->sock;
  p.events = POLLIN;
  do
    k = poll (&p, 1, timeout_ms);
  while (k < 0 && errno == EINTR);
  if (k == 1)
    do
      n = recv (s->sock, &r, 1, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
  else
    n = -1;
  if (n == 1 && r == STEM_READY)
    {
      s->ready = true;
      return 0;
    }
  /* It ended in its setup (its own line says why), or is stuck there. */
  if (k == 0)
    log_warn ("stem: not inside after %d ms: deploys take the direct path", timeout_ms);
  stem_discard (s);
  return STEM_GONE;
}

/* Not reaped yet (alive or a zombie): only then is the pid still its own. */
static bool
unreaped (pid_t pid)
{
  siginfo_t si;
  memset (&si, 0, sizeof si);
  return waitid (P_PID, (id_t) pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

/* Reaped here, at once: a zombie of the sandbox's uid would otherwise show
 * in the next workload's /proc. */
void
stem_discard (struct stem *s)
{
  if (s->pid > 0 && unreaped (s->pid))
    {
      kill (s->pid, SIGKILL);
      while (waitpid (s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    }
  s->pid = 0;
  if (s->sock >= 0)
    close (s->sock);
  s->sock = -1;
  s->ready = false;
}

static size_t
pack (char *buf, size_t room, const struct stem_exec *x, uint32_t *argc, uint32_t *envc)
{
  size_t at = 0;
  char *const *v[2] = { x->argv, x->envp };
  uint32_t *count[2] = { argc, envc };
  for (int k = 0; k < 2; k++)
    for (*count[k] = 0; v[k][*count[k]]; (*count[k])++)
      {
        size_t l = strlen (v[k][*count[k]]) + 1;
        if (l > room - at)
          return 0;
        memcpy (buf + at, v[k][*count[k]], l);
        at += l;
      }
  return at;
}

int
stem_go (struct stem *s, const struct stem_exec *x, pid_t *pid, char *what, size_t what_n,
         struct nxerr *err)
{
  cleanup_free char *buf = xmalloc (STEM_MSG_MAX);
  union {
    char b[CMSG_SPACE (sizeof x->fds)];
    struct cmsghdr align;
  } ctl;
  struct go_hdr h = { .magic = STEM_MAGIC, .script = x->script, .nofile = x->nofile,
                      .nproc = x->nproc };
  struct iovec iov;
  struct msghdr m = { 0 };
  struct cmsghdr *c;
  struct exec_failure f;
  size_t len = pack (buf + sizeof h, STEM_MSG_MAX - sizeof h, x, &h.argc, &h.envc);
  ssize_t n;
  if (len == 0 || stem_await (s, STEM_AWAIT_MS) != 0)
    {
      stem_discard (s);
      return STEM_GONE;
    }
  memcpy (buf, &h, sizeof h);
  iov.iov_base = buf;
  iov.iov_len = sizeof h + len;
  memset (&ctl, 0, sizeof ctl);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl.b;
  m.msg_controllen = sizeof ctl.b;
  c = CMSG_FIRSTHDR (&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof x->fds);
  memcpy (CMSG_DATA (c), x->fds, sizeof x->fds);
  do
    n = sendmsg (s->sock, &m, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      /* Its end is closed: it died before its deploy (its zombie goes with
       * the reaping of the workload's children). */
      log_warn ("stem: gone before the deploy (%s): the direct path", strerror (errno));
      stem_discard (s);
      return STEM_GONE;
    }
  do
    n = read (s->sock, &f, sizeof f);
  while (n < 0 && errno == EINTR);
  if (n < 0 && errno == ECONNRESET)
    {
      /* It ended with the message unread: still in its setup when we sent
       * (which failed: its log line says why). Nothing ran. */
      log_warn ("stem: ended before it took the deploy: the direct path");
      stem_discard (s);
      return STEM_GONE;
    }
  *pid = s->pid;
  s->pid = 0; /* the workload's now, or a failed one reaped below */
  close (s->sock);
  s->sock = -1;
  s->ready = false;
  if (n == 0)
    return 0; /* close-on-exec: it exec'd */
  if (n != (ssize_t) sizeof f)
    {
      snprintf (what, what_n, "stem: exec status");
      f.err = n < 0 ? errno : EPROTO;
    }
  else
    {
      f.what[sizeof f.what - 1] = '\0';
      snprintf (what, what_n, "%s", f.what);
    }
  kill (*pid, SIGKILL);
  while (waitpid (*pid, NULL, 0) < 0 && errno == EINTR)
    ;
  return nxerr_sys (err, f.err, "%s", what);
}
