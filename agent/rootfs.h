/* rootfs: the minimal root of a process-tier workload (issue #19).
 *
 * The default file system of a workload: a fresh tmpfs, read-only, made
 * its root with pivot_root in a mount namespace of its own (unshared by
 * the workload's child, so the agent keeps its view), holding only
 *   /proc                    the sandbox's (hidepid), as the agent has it;
 *   /dev                     the agent's minimal /dev (null, zero, full,
 *                            random, urandom, fd links, /dev/shm; no tty);
 *   /tmp                     the sandbox's private tmpfs;
 *   /etc/hosts, /etc/resolv.conf, /etc/nsswitch.conf and the CA bundle
 *                            (Debian's, Red Hat's or /etc/ssl/cert.pem),
 *                            read-only, those the host has;
 *   <working dir>            at its usual path, writable;
 *   each bind_ro path        read-only at the same path, recursively (so
 *                            what the agent's view masks, the state dir,
 *                            stays masked).
 * The executable comes as an fd, so it needs no path in the root: a
 * static executable runs as is; a dynamic one needs its loader and
 * libraries in bind_ro (or the deploy's "filesystem": "host-ro").
 *
 * rootfs_plan runs in the agent before fork (it allocates and stats);
 * rootfs_enter in the child, as root, before the capabilities are dropped:
 * system calls only, on the plan's precomputed paths. */
#ifndef NEXC_AGENT_ROOTFS_H
#define NEXC_AGENT_ROOTFS_H

#include <stddef.h>

#include "api/nxerr.h"

/* The empty directory of the agent's view the new root is mounted on
 * (made by agent/mounts.c inside the state dir's mask). */
#define ROOTFS_MOUNTPOINT "/.nexc-root"

enum rootfs_kind { ROOTFS_MKDIR, ROOTFS_MKFILE, ROOTFS_BIND, ROOTFS_BIND_RO };

struct rootfs_op {
  enum rootfs_kind kind;
  char *src; /* binds */
  char *dst; /* below root */
};

struct rootfs {
  char *root; /* <state dir>ROOTFS_MOUNTPOINT */
  struct rootfs_op *ops;
  size_t n, cap;
};

int rootfs_plan (struct rootfs *r, const char *state_dir, const char *workdir,
                 char *const *bind_ro, size_t n_bind_ro, struct nxerr *err);
/* 0, or an errno value with *what naming the step. */
int rootfs_enter (const struct rootfs *r, const char **what);
void rootfs_free (struct rootfs *r);

#endif
