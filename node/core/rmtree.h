/* rmtree: remove a directory tree that someone else filled.
 *
 * For a sandbox's working dir after its workload is gone: never follows a
 * symbolic link, never builds a path (any depth, any name length), holds
 * two fds at a time and no recursion, so a tree made to be hard to delete
 * (a million files, a 100 000-deep chain) costs time, not the node's stack
 * or fd table. The tree must not change meanwhile (its writers are dead). */
#ifndef NEXC_NODE_RMTREE_H
#define NEXC_NODE_RMTREE_H

#include "api/nxerr.h"

/* Remove name (a directory or any other file) in the directory dirfd.
 * ENOENT counts as done. */
int rmtree_at (int dirfd, const char *name, struct nxerr *err);

#endif
