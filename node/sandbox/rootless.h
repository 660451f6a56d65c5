/* rootless: what a node run by an ordinary user (no root) has on this
 * host, one check each, for `nexc-node preflight`.
 *
 * Such a node runs in its own user namespace (node/sandbox/rootns.h) when
 * the first three rows hold; otherwise it stays unprivileged and the
 * process tier refuses to start (preflight's "privileges" row). Either way
 * the preflight of an ordinary user adds these rows so an operator sees
 * exactly what works and what does not:
 *   userns     an unprivileged user namespace mapping one's own id
 *              (node/sandbox/userns_probe.h), with the host setting that
 *              forbids it; or the node's own, entered;
 *   subuid     this user's ranges in /etc/subuid and /etc/subgid (the ids
 *              a rootless node hands to sandboxes);
 *   newuidmap  newuidmap and newgidmap installed set-uid root or with file
 *              capabilities (Debian package uidmap): what maps those ranges;
 *   cgroup     a delegated cgroup v2 subtree: our cgroup writable by us
 *              (cgroup.procs, cgroup.subtree_control, mkdir) and which of
 *              memory, pids, cpu it offers;
 *   pid/mount  pid, mount, ipc, uts namespaces inside the user namespace,
 *              a tmpfs and a fresh /proc mounted there;
 *   seccomp    a filter loaded under no_new_privs;
 *   landlock   the ABI.
 * Forks (single-threaded callers only). */
#ifndef NEXC_NODE_ROOTLESS_H
#define NEXC_NODE_ROOTLESS_H

#include <stdbool.h>
#include <stddef.h>

#define ROOTLESS_CHECKS 7

struct rootless_check {
  const char *name; /* "rootless userns", ... */
  bool ok;
  bool warn; /* ok, with a hazard the detail names */
  char detail[320];
  char fix[240]; /* when not ok */
};

struct rootns;

/* Fills out[ROOTLESS_CHECKS]; ns: the namespace this process entered, or
 * NULL. */
void rootless_check (const struct rootns *ns, struct rootless_check *out);

#endif
