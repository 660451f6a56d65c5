/* mounts: the file system view of a process-tier sandbox.
 *
 * Run by the agent as pid 1 of its new mount namespace, as root, once:
 *   1. every mount private (nothing propagates back to the host);
 *   2. the whole tree read-only, recursively (mount_setattr, Linux >= 5.12);
 *   3. a fresh /proc for the new pid namespace, hidepid=invisible: the
 *      workload sees its own processes only, not the agent's;
 *   4. a private tmpfs /tmp (1777);
 *   5. a minimal /dev (null, zero, full, random, urandom bound from the
 *      host, no tty, fd/stdin/stdout/stderr links, a private /dev/shm), read-only;
 *   6. the node's state dir hidden behind an empty read-only tmpfs, with
 *      only the sandbox's working dir bound back in, writable, at the same
 *      path: no node key, artifact or other sandbox is visible; and an
 *      empty directory, ROOTFS_MOUNTPOINT, for the workloads' minimal
 *      roots (agent/rootfs.h).
 * Nothing here is undone: the namespace dies with the agent. */
#ifndef NEXC_AGENT_MOUNTS_H
#define NEXC_AGENT_MOUNTS_H

#include <sys/types.h>

#include "api/nxerr.h"

/* workdir must lie below state_dir and belong to uid. */
int mounts_setup (const char *state_dir, const char *workdir, uid_t uid, struct nxerr *err);

#endif
