#include "node/agents/zygote.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/log.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "api/zygote.h"
#include "node/core/node.h"
#include "node/core/spawn.h"

struct zygote {
  int fd;   /* our end of its socket; -1: none running */
  pid_t pid;
  uint64_t started_ns; /* last start attempt (retry pacing) */
  uint64_t served;     /* agents it forked */
};

static void
retire (struct node *n, const char *why)
{
  struct zygote *z = n->zygote;
  if (z->fd < 0)
    return;
  log_warn ("agent zygote %d: %s: agents are exec'd until a new one starts", (int) z->pid, why);
  close (z->fd);
  z->fd = -1;
  if (z->pid > 0)
    kill (z->pid, SIGKILL); /* reaped with the agents (pool_reap) */
  z->pid = 0;
}

static int
start (struct node *n, struct nxerr *err)
{
  struct zygote *z = n->zygote;
  char ppid[32];
  char *argv[] = { "nexc-agent", "--zygote", "--fd", "3", "--parent-pid", ppid, NULL };
  char *envp[] = { "PATH=/usr/local/bin:/usr/bin:/bin", NULL };
  int sv[2];
  z->started_ns = timefmt_mono_ns ();
  snprintf (ppid, sizeof ppid, "%d", (int) getpid ());
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return nxerr_sys (err, errno, "zygote socketpair");
  if (spawn_with_link (n->agent_path, argv, envp, sv[1], -1, &z->pid, err) < 0)
    {
      close (sv[0]);
      close (sv[1]);
      return -1;
    }
  close (sv[1]);
  fcntl (sv[0], F_SETFL, fcntl (sv[0], F_GETFL) | O_NONBLOCK);
  z->fd = sv[0];
  log_debug ("agent zygote started, pid %d", (int) z->pid);
  return 0;
}

static int
request (struct zygote *z, char **argv, int link, int lfd, int cgfd, struct nxerr *err)
{
  char buf[ZYGOTE_REQUEST_MAX];
  size_t len = 1;
  int fds[ZYGOTE_FDS_MAX] = { link };
  int nfds = 1;
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE (sizeof (int) * ZYGOTE_FDS_MAX)];
  } ctl;
  struct iovec iov;
  struct msghdr m;
  struct cmsghdr *c;
  buf[0] = 0;
  if (lfd >= 0)
    {
      buf[0] |= ZYGOTE_F_LISTEN;
      fds[nfds++] = lfd;
    }
  if (cgfd >= 0)
    {
      buf[0] |= ZYGOTE_F_CGROUP;
      fds[nfds++] = cgfd;
    }
  for (int i = 0; argv[i]; i++)
    {
      size_t l = strlen (argv[i]) + 1;
      if (i == ZYGOTE_ARGV_MAX || len + l > sizeof buf)
        return nxerr_set (err, E2BIG, "agent argv too long for the zygote");
      memcpy (buf + len, argv[i], l);
      len += l;
    }
  memset (&ctl, 0, sizeof ctl);
  iov = (struct iovec){ buf, len };
  m = (struct msghdr){ .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                       .msg_controllen = CMSG_SPACE (sizeof (int) * (size_t) nfds) };
  c = CMSG_FIRSTHDR (&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int) * (size_t) nfds);
  memcpy (CMSG_DATA (c), fds, sizeof (int) * (size_t) nfds);
  if (sendmsg (z->fd, &m, MSG_NOSIGNAL) != (ssize_t) len)
    return nxerr_sys (err, errno, "request");
  return 0;
}

static int
await_reply (struct zygote *z, pid_t *pid, bool *born_in, struct nxerr *err)
{
  struct pollfd p = { .fd = z->fd, .events = POLLIN };
  int32_t v[2];
  ssize_t got;
  int rc;
  do
    rc = poll (&p, 1, ZYGOTE_REPLY_TIMEOUT_MS);
  while (rc < 0 && errno == EINTR);
  if (rc == 0)
    return nxerr_set (err, ETIMEDOUT, "no reply in %d ms", ZYGOTE_REPLY_TIMEOUT_MS);
  got = recv (z->fd, v, sizeof v, 0);
  if (got == 0)
    return nxerr_set (err, EPIPE, "it exited");
  if (got != (ssize_t) sizeof v)
    return nxerr_sys (err, got < 0 ? errno : EPROTO, "reply");
  if (v[0] <= 0)
    return nxerr_set (err, v[0] < 0 ? -v[0] : EPROTO, "fork: %s",
                      strerror (v[0] < 0 ? -v[0] : EPROTO));
  *pid = (pid_t) v[0];
  *born_in = v[1] == 1;
  return 0;
}

int
zygote_spawn (struct node *n, char **argv, int link, int lfd, int cgfd, pid_t *pid,
              bool *born_in, struct nxerr *err)
{
  struct zygote *z;
  if (n->zygote == NULL)
    {
      n->zygote = xcalloc (1, sizeof *n->zygote);
      n->zygote->fd = -1;
    }
  z = n->zygote;
  if (z->fd < 0)
    {
      if (z->started_ns && timefmt_mono_ns () - z->started_ns < ZYGOTE_RETRY_MS * 1000000ull)
        return nxerr_set (err, EAGAIN, "agent zygote: retrying later");
      if (start (n, err) < 0)
        return nxerr_wrap (err, "agent zygote");
    }
  *born_in = false;
  if (request (z, argv, link, lfd, cgfd, err) < 0)
    {
      retire (n, err->msg);
      return nxerr_wrap (err, "agent zygote");
    }
  if (await_reply (z, pid, born_in, err) < 0)
    {
      retire (n, err->msg);
      nxerr_wrap (err, "agent zygote");
      return ZYGOTE_LOST;
    }
  z->served++;
  return 0;
}

void
zygote_reaped (struct node *n, pid_t pid)
{
  struct zygote *z = n->zygote;
  if (z == NULL || pid != z->pid || pid <= 0)
    return;
  z->pid = 0;
  retire (n, "it exited");
}

void
zygote_stop (struct node *n)
{
  struct zygote *z = n->zygote;
  if (z == NULL)
    return;
  if (z->fd >= 0)
    {
      close (z->fd); /* end-of-file: it exits */
      if (z->pid > 0)
        while (waitpid (z->pid, NULL, 0) < 0 && errno == EINTR)
          ;
    }
  log_debug ("agent zygote: %llu agents forked", (unsigned long long) z->served);
  free (z);
  n->zygote = NULL;
}
