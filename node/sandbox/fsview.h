/* Room node/sandbox/: isolation prepared by the node: uids, working dirs,
 * cgroups, namespaces (nsspawn), host checks (preflight).
 *
 * fsview: which file system a deploy's workload sees, and which host paths
 * a deploy may not have bound in.
 *
 * The mode is the deploy's "filesystem" (api/fs_spec.h), else the node
 * config's, else "minimal". A bind_ro path is refused when it does not
 * exist on the host, or when it, or what it resolves to, is equal to, below
 * or above one of: the node's state dir, the uid lock dir, /proc, /sys,
 * /dev, /run, /boot, /root, /home, /etc/shadow, /etc/gshadow, /etc/sudoers,
 * /etc/sudoers.d, /etc/ssh, workload_creds' key file. "Above" matters: a
 * bind of /var/lib would show what the agent's mask over the state dir
 * hides, were the bind not recursive (it is: agent/rootfs.h, a second
 * line). Called on the loop thread at deploy time. */
#ifndef NEXC_NODE_FSVIEW_H
#define NEXC_NODE_FSVIEW_H

#include <stddef.h>

#include "api/frame.h"
#include "api/fs_spec.h"

struct node;

/* The mode a deploy with fs gets (fs may be NULL). */
enum fs_mode fsview_mode (const struct node *n, const struct fs_spec *fs);
/* Refusal text ("Invalid deploy request: ...") and -1, or 0. */
int fsview_check (const struct node *n, const struct fs_spec *fs, char *msg, size_t cap);
/* The Deploy frame's filesystem and bind_ro (borrowing fs's strings). */
void fsview_fill (const struct node *n, const struct fs_spec *fs, Nexc__Agent__Deploy *d);

#endif
