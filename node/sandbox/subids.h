/* subids: a user's subordinate ids (/etc/subuid, /etc/subgid) and the
 * set-uid tools that map them into a user namespace (newuidmap, newgidmap,
 * Debian package uidmap).
 *
 * Read by the rootless node before it enters its user namespace
 * (node/sandbox/rootns.h) and by preflight's rootless rows
 * (node/sandbox/rootless.h). Pure file reading: any thread. */
#ifndef NEXC_NODE_SUBIDS_H
#define NEXC_NODE_SUBIDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct subids_range {
  uint32_t start, count;
};

/* The first range of file ("name:start:count" or "uid:start:count" lines)
 * for the user name (may be NULL) or uid; a line over 511 bytes is no
 * one's, and the file is read up to 4 MiB. 0 with *out; -1 with why (the
 * file is unreadable, or has no line for the user). */
int subids_find (const char *file, const char *name, uint32_t uid, struct subids_range *out,
                 char *why, size_t cap);

/* r shares an id with start..start+count-1. */
bool subids_overlap (const struct subids_range *r, uint64_t start, uint64_t count);

/* prog ("newuidmap", "newgidmap") in the usual directories: its path in
 * path, and whether it may map subordinate ids (set-uid root, or a file
 * capability). Returns how it is installed ("set-uid root", "file
 * capabilities", "neither set-uid nor capable"), or NULL: not found. */
const char *subids_mapper (const char *prog, char *path, size_t cap, bool *privileged);

#endif
