/* nsspawn: start a program in new namespaces from a multithreaded process.
 *
 * clone(2) with CLONE_VM | CLONE_VFORK and the namespace flags, as
 * posix_spawn does internally: the child shares the node's memory until it
 * execs, so it only makes raw system calls (reset every signal disposition,
 * put one fd on 3, empty the signal mask, execve) and reports a failed exec
 * through shared memory. The calling thread blocks every signal around the
 * clone so no handler can run on the child's borrowed memory. The child is
 * pid 1 of its new pid namespace; its parent is the calling thread, which
 * is what its PR_SET_PDEATHSIG follows. */
#ifndef NEXC_NODE_NSSPAWN_H
#define NEXC_NODE_NSSPAWN_H

#include <sys/types.h>

#include "api/nxerr.h"

struct nsspawn {
  const char *path;
  char *const *argv;
  char *const *envp;
  int fd3;         /* becomes fd 3 of the child (CLOEXEC cleared); -1: none */
  int fd4;         /* becomes fd 4 (reattach socket); -1 or 0: none. Must not be 3 */
  int clone_flags; /* CLONE_NEWPID | CLONE_NEWNS | ... */
  /* cgroup.procs files the child writes "0" to, first thing: it is in its
   * cgroup leaf before its first instruction of its own, so nothing it
   * forks can start outside (NULL-terminated; NULL: none). */
  char *const *join;
};

/* 0 with *pid once the child exec'd; -1 with err (the child was reaped):
 * "join <file>" when it could not move itself into its cgroup, "exec". */
int nsspawn (const struct nsspawn *s, pid_t *pid, struct nxerr *err);

#endif
