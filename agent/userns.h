/* userns: the workload's user namespace (process tier, node config
 * "user_namespace"; the node decides and passes --user-namespace).
 *
 * One per sandbox, made once by the agent in sandbox_setup (the pool's
 * refill, before any deploy asks) and entered by each workload child with
 * one setns: the deploy's path pays a system call, not a namespace.
 *
 *   userns_make   forks a helper that unshares a new user namespace while
 *                 still host root; the agent (host root, in the parent
 *                 namespace) writes the helper's maps, "deny" to its
 *                 setgroups first, then keeps /proc/<helper>/ns/user open
 *                 and lets the helper exit. The namespace is owned by host
 *                 root and lives as long as that fd.
 *   userns_enter  in the workload's child, after its mount namespace and
 *                 minimal root are built (those stay owned by the host's
 *                 user namespace: the workload holds no capability over
 *                 any of its mounts, and no mount is "locked"), before it
 *                 drops to its ids (agent/sandbox.c).
 *
 * The map is exactly one id: the sandbox's allocated host uid (gid) to the
 * same number inside. The same number rather than a fixed inside id: the
 * working dir u<uid>, the files the workload creates, ps on the host and
 * the workload's own getuid() then all name one number, and a fixed id
 * would buy no isolation, since with one mapped id nothing else exists
 * inside either way (every other host id, root included, reads as the
 * overflow id 65534 and can be neither taken nor signalled). Nothing maps
 * to host root. setgroups is denied in the namespace for good.
 *
 * The agent itself stays in the host's user namespace as host root: it is
 * the workload's supervisor and must stay a different, unreachable uid. */
#ifndef NEXC_AGENT_USERNS_H
#define NEXC_AGENT_USERNS_H

#include <sys/types.h>

#include "api/nxerr.h"

/* A new user namespace mapping uid and gid to themselves: its fd in *fd
 * (O_CLOEXEC). */
int userns_make (uid_t uid, gid_t gid, int *fd, struct nxerr *err);
/* setns into it: 0 or an errno value, *what naming the step. */
int userns_enter (int fd, const char **what);

#endif
