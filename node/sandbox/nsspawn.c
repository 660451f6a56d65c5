#include "node/sandbox/nsspawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILD_STACK (64 * 1024)
#define KERNEL_NSIG 64

struct child {
  const struct nsspawn *s;
  volatile int exec_errno; /* written by the child, read after the vfork wait */
  volatile int join_failed; /* 1 + the index in s->join that failed; 0: none */
};

/* The kernel's struct sigaction, all zero: SIG_DFL, no flags, empty mask
 * (the same on every architecture, since only zeros are used). */
static const unsigned long dfl_action[4];
static const uint64_t empty_mask;

/* Runs on the node's memory until execve: raw system calls only, nothing
 * that allocates, locks or touches errno-dependent library state, and no
 * sanitizer instrumentation on a stack the sanitizers do not know. */
__attribute__ ((no_sanitize ("address", "undefined"))) static int
child_main (void *arg)
{
  struct child *c = arg;
  const struct nsspawn *s = c->s;
  long r;
  for (int sig = 1; sig <= KERNEL_NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      syscall (SYS_rt_sigaction, sig, dfl_action, NULL, sizeof empty_mask);
  if (s->fd3 == 3)
    r = syscall (SYS_fcntl, 3, F_SETFD, 0);
  else if (s->fd3 >= 0)
    r = syscall (SYS_dup3, s->fd3, 3, 0);
  else
    r = 0;
  if (r >= 0 && s->fd4 > 0)
    r = s->fd4 == 4 ? syscall (SYS_fcntl, 4, F_SETFD, 0) : syscall (SYS_dup3, s->fd4, 4, 0);
  if (r < 0)
    {
      c->exec_errno = errno;
      syscall (SYS_exit, 127);
    }
  /* The node's other fds, now rather than at the exec: the join below may
   * wait (an RCU grace period on cgroup v1), and a copy of the state dir's
   * lock held meanwhile would refuse a node restarted after a crash. */
  syscall (SYS_close_range, s->fd4 > 0 ? 5 : 4, ~0U, 0);
  for (int i = 0; s->join && s->join[i]; i++)
    {
      long fd = syscall (SYS_openat, AT_FDCWD, s->join[i], O_WRONLY | O_CLOEXEC);
      if (fd < 0 || syscall (SYS_write, fd, "0", 1) != 1)
        {
          c->exec_errno = errno ? errno : EIO;
          c->join_failed = i + 1;
          syscall (SYS_exit, 127);
        }
      syscall (SYS_close, fd);
    }
  syscall (SYS_rt_sigprocmask, SIG_SETMASK, &empty_mask, NULL, sizeof empty_mask);
  syscall (SYS_execve, s->path, s->argv, s->envp);
  c->exec_errno = errno ? errno : ENOEXEC;
  syscall (SYS_exit, 127);
  return 127;
}

int
nsspawn (const struct nsspawn *s, pid_t *pid, struct nxerr *err)
{
  struct child c = { s, 0, 0 };
  sigset_t all, old;
  void *stack;
  pid_t p;
  int e;

  stack = mmap (NULL, CHILD_STACK, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED)
    return nxerr_sys (err, errno, "spawn %s: stack", s->path);
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  p = clone (child_main, (char *) stack + CHILD_STACK,
             CLONE_VM | CLONE_VFORK | SIGCHLD | s->clone_flags, &c);
  e = errno;
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  munmap (stack, CHILD_STACK);
  if (p < 0)
    return nxerr_sys (err, e, "spawn %s in new namespaces: clone", s->path);
  if (c.exec_errno != 0)
    {
      while (waitpid (p, NULL, 0) < 0 && errno == EINTR)
        ;
      if (c.join_failed)
        return nxerr_sys (err, c.exec_errno, "spawn %s: join %s", s->path,
                          s->join[c.join_failed - 1]);
      return nxerr_sys (err, c.exec_errno, "spawn %s: exec", s->path);
    }
  *pid = p;
  return 0;
}
