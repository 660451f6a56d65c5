/* spawn: start a program of ours (nexc-agent) from the multithreaded node:
 * posix_spawn (vfork + exec at once, no node code runs in the child), the
 * link as fd 3, an optional second descriptor as fd 4, an empty signal mask
 * and default dispositions (nats.c ignores SIGPIPE, which survives exec). */
#ifndef NEXC_NODE_SPAWN_H
#define NEXC_NODE_SPAWN_H

#include <sys/types.h>

#include "api/nxerr.h"

/* fd4 < 0: none. fd4 must not be 3 (descriptors >= 10 are safe). */
int spawn_with_link (const char *path, char **argv, char **envp, int link, int fd4, pid_t *pid,
                     struct nxerr *err);

#endif
