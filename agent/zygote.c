#include "agent/zygote.h"

#include <errno.h>
#include <linux/sched.h> /* struct clone_args, CLONE_INTO_CGROUP */
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/log.h"

struct request {
  char buf[ZYGOTE_REQUEST_MAX + 1];
  char *argv[ZYGOTE_ARGV_MAX + 1];
  int argc;
  int fds[ZYGOTE_FDS_MAX];
  int nfds;
  int lfd, cgfd; /* among fds, or -1 */
};

static void
close_fds (struct request *r)
{
  for (int i = 0; i < r->nfds; i++)
    close (r->fds[i]);
  r->nfds = 0;
}

/* The flags byte, the descriptors it announces, then argv; every string
 * NUL-terminated. Returns 0, or -EINVAL. */
static int
parse (struct request *r, size_t len)
{
  size_t off = 1;
  unsigned flags;
  int next = 1;
  r->argc = 0;
  r->lfd = r->cgfd = -1;
  if (len < 2 || r->buf[len - 1] != '\0')
    return -EINVAL;
  flags = (unsigned char) r->buf[0];
  if ((flags & ~(ZYGOTE_F_LISTEN | ZYGOTE_F_CGROUP))
      || r->nfds != 1 + !!(flags & ZYGOTE_F_LISTEN) + !!(flags & ZYGOTE_F_CGROUP))
    return -EINVAL;
  if (flags & ZYGOTE_F_LISTEN)
    r->lfd = r->fds[next++];
  if (flags & ZYGOTE_F_CGROUP)
    r->cgfd = r->fds[next++];
  while (off < len)
    {
      if (r->argc == ZYGOTE_ARGV_MAX)
        return -EINVAL;
      r->argv[r->argc++] = r->buf + off;
      off += strlen (r->buf + off) + 1;
    }
  r->argv[r->argc] = NULL;
  return 0;
}

/* One request; returns 1 with *r filled, 0 at end-of-file, or -errno for a
 * malformed one (its descriptors closed). */
static int
receive (int fd, struct request *r)
{
  union {
    struct cmsghdr h;
    char space[CMSG_SPACE (sizeof (int) * ZYGOTE_FDS_MAX)];
  } ctl;
  struct iovec iov = { r->buf, ZYGOTE_REQUEST_MAX };
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space,
                      .msg_controllen = sizeof ctl.space };
  ssize_t n;
  r->nfds = 0;
  do
    n = recvmsg (fd, &m, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0)
    return n == 0 ? 0 : -errno;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&m); c; c = CMSG_NXTHDR (&m, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
      {
        size_t k = (c->cmsg_len - CMSG_LEN (0)) / sizeof (int);
        for (size_t i = 0; i < k; i++)
          {
            int got;
            memcpy (&got, CMSG_DATA (c) + i * sizeof (int), sizeof got);
            if (r->nfds < ZYGOTE_FDS_MAX)
              r->fds[r->nfds++] = got;
            else
              close (got);
          }
      }
  r->buf[n] = '\0';
  if ((m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || r->nfds == 0 || parse (r, (size_t) n) < 0)
    {
      close_fds (r);
      return -EINVAL;
    }
  return 1;
}

/* In the child: the link onto 3, the reattach socket onto 4, then the agent. */
static void __attribute__ ((noreturn))
become_agent (int zfd, struct request *r, int (*agent_main) (int, char **), char *cmdline,
              size_t cmdline_len)
{
  static const char name[] = "nexc-agent";
  sigset_t none;
  close (zfd);
  prctl (PR_SET_NAME, name);
  if (cmdline_len >= sizeof name)
    {
      memset (cmdline, 0, cmdline_len);
      memcpy (cmdline, name, sizeof name);
    }
  if (dup2 (r->fds[0], 3) < 0 || (r->lfd >= 0 && dup2 (r->lfd, 4) < 0))
    _exit (127);
  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  /* agent_main closes every other descriptor (r->fds among them). */
  exit (agent_main (r->argc, r->argv));
}

static void
reply (int fd, int32_t v, bool born_in)
{
  int32_t m[2] = { v, born_in ? 1 : 0 };
  ssize_t n;
  do
    n = send (fd, m, sizeof m, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
}

/* fork() cannot name another parent; a bare clone can (CLONE_PARENT: the
 * agent is the node's child). Into the cgroup of cgfd when it is given and
 * the kernel can (clone3 with CLONE_INTO_CGROUP, Linux 5.7, cgroup v2):
 * *born_in; else where the zygote is, and the node moves it. Single-threaded
 * and static, so glibc keeps no per-process state the child would see stale
 * (getpid() is a system call since glibc 2.25). */
static pid_t
clone_agent (int cgfd, bool *born_in)
{
  *born_in = false;
  if (cgfd >= 0)
    {
      struct clone_args ca;
      long pid;
      memset (&ca, 0, sizeof ca);
      ca.flags = CLONE_PARENT | CLONE_INTO_CGROUP;
      ca.cgroup = (uint64_t) cgfd;
      pid = syscall (SYS_clone3, &ca, sizeof ca);
      if (pid >= 0)
        {
          *born_in = true;
          return (pid_t) pid;
        }
    }
  return (pid_t) syscall (SYS_clone, CLONE_PARENT, NULL, NULL, NULL, 0);
}

int
zygote_run (int fd, pid_t parent, int (*agent_main) (int argc, char **argv), char *cmdline,
            size_t cmdline_len)
{
  static struct request r; /* untouched until the first request: children inherit little */
  prctl (PR_SET_NAME, "nexc-zygote");
  if (prctl (PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid () != parent)
    return 1;
  /* Children are the node's (CLONE_PARENT), never ours: nothing to reap. */
  for (;;)
    {
      int rc = receive (fd, &r);
      bool born_in;
      pid_t pid;
      if (rc == 0)
        return 0;
      if (rc < 0)
        {
          if (rc != -EINVAL)
            return 1;
          reply (fd, -EINVAL, false);
          continue;
        }
      pid = clone_agent (r.cgfd, &born_in);
      if (pid == 0)
        become_agent (fd, &r, agent_main, cmdline, cmdline_len);
      close_fds (&r);
      reply (fd, pid > 0 ? (int32_t) pid : -errno, born_in);
    }
}
