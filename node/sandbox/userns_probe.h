/* userns_probe: whether this host lets the node give each workload a user
 * namespace (config "user_namespace"; agent/userns.h makes them), and why
 * not.
 *
 * Two trials, each in a forked child that makes a namespace and maps one
 * id, as the sandboxes would:
 *   privileged    a child that is still root unshares; this process (root,
 *                 in the parent namespace) writes its setgroups, uid_map
 *                 and gid_map. What the process tier uses: it needs root,
 *                 and is not subject to the unprivileged restrictions;
 *   unprivileged  a child with an ordinary uid (the given one when root,
 *                 our own otherwise) unshares and maps its own uid, as a
 *                 rootless node's agent would. Off where the kernel has
 *                 user.max_user_namespaces 0, Debian's
 *                 kernel.unprivileged_userns_clone 0, or Ubuntu's AppArmor
 *                 restriction (the namespace is made but confers no
 *                 capability: the map cannot be written).
 * Forks: only from a single-threaded process (the preflight runs before
 * any thread exists). */
#ifndef NEXC_NODE_USERNS_PROBE_H
#define NEXC_NODE_USERNS_PROBE_H

#include <stdbool.h>
#include <sys/types.h>

struct userns_probe {
  bool privileged, unprivileged;
  char privileged_why[192], unprivileged_why[192]; /* when false */
};

/* uid: the unprivileged trial's id when we are root (an id no one uses,
 * the preflight's self-test uid). */
void userns_probe (uid_t uid, struct userns_probe *out);

/* As an ordinary user (what a rootless node's agent would do): a user
 * namespace with new pid, mount, ipc and uts namespaces, our own id
 * mapped, a tmpfs mounted, and in a child that is pid 1 there a fresh
 * /proc with hidepid. true, or false with the failed step and its errno
 * in why. Not as root (false, "run as an ordinary user"). */
bool userns_probe_rootless_ns (char *why, size_t cap);

#endif
