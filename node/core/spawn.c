#include "node/core/spawn.h"

#include <signal.h>
#include <spawn.h>

int
spawn_with_link (const char *path, char **argv, char **envp, int link, int fd4, pid_t *pid,
                 struct nxerr *err)
{
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t none, all;
  int rc;
  sigemptyset (&none);
  sigfillset (&all);
  posix_spawn_file_actions_init (&fa);
  /* dup2 onto 3 clears CLOEXEC on the child's copy only. */
  posix_spawn_file_actions_adddup2 (&fa, link, 3);
  if (fd4 >= 0)
    posix_spawn_file_actions_adddup2 (&fa, fd4, 4);
  posix_spawnattr_init (&attr);
  posix_spawnattr_setsigmask (&attr, &none);
  posix_spawnattr_setsigdefault (&attr, &all);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
                                       | POSIX_SPAWN_USEVFORK);
  rc = posix_spawn (pid, path, &fa, &attr, argv, envp);
  posix_spawn_file_actions_destroy (&fa);
  posix_spawnattr_destroy (&attr);
  if (rc != 0)
    return nxerr_sys (err, rc, "spawn %s", path);
  return 0;
}
