/* statelock: one node per state dir.
 *
 * Everything in a state dir belongs to one node: its identity (hence its
 * node id, the name of its cgroup and of its abstract sockets), journal,
 * replay cache, agents' sockets and sandboxes. A second node on the same
 * dir (two nodes left with the default state_dir, /var/lib/nexc) would take
 * the first one's identity, reattach its agents and sweep its running
 * sandboxes as leftovers. So a node holds <state>/node.lock
 * (node/core/lockfile.h) from before it reads its identity until it exits,
 * and a second one is refused with the holder's node id and pid. The
 * kernel drops the lock when the node dies: a crash never leaves the dir
 * locked, and a node restarted after one starts at once. */
#ifndef NEXC_NODE_STATE_STATELOCK_H
#define NEXC_NODE_STATE_STATELOCK_H

#include "api/nxerr.h"

#define STATELOCK_NAME "node.lock"

/* Make state_dir (0700) if needed and lock it: 0 with *fd, -1 with
 * err->code EAGAIN when another node holds it (the message says which). */
int statelock_take (const char *state_dir, int *fd, struct nxerr *err);
/* Name the holder once the node id is known. */
void statelock_name (int fd, const char *node_id);
/* At exit (the kernel would drop it anyway). fd < 0 is a no-op. */
void statelock_release (const char *state_dir, int fd);

#endif
