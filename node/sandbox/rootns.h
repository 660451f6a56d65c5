/* rootns: the rootless node's own user namespace.
 *
 * Run by an ordinary user, the process tier has none of the privileges it
 * uses (namespaces owned by the host, chown to sandbox uids, setresuid in
 * the agent). Rather than a namespace and an id map per agent, the node
 * itself enters one user namespace when it starts, before any thread
 * exists:
 *
 *   inside 0          -> the user's own uid (gid alike)
 *   inside 1..count   -> the user's /etc/subuid range (/etc/subgid alike)
 *
 * written by newuidmap and newgidmap (set-uid root, Debian package uidmap)
 * from a helper forked before the unshare: a set-uid program run from inside
 * an unmapped namespace is not set-uid. Inside, the node is uid 0 with every
 * capability over the namespace and what it owns, so everything after runs
 * as under root: the agents' pid, mount, ipc, uts and net namespaces belong
 * to this user namespace, chown and setresuid reach the mapped ids, the
 * workload's own user namespace (agent/userns.h) nests inside. What it does
 * not give: anything the host's root owns (cgroups unless a v2 subtree is
 * delegated to the user; /run), and no id outside the map exists inside, so
 * every sandbox id is a subordinate id of the user, never a host uid the
 * node or anyone else runs as.
 *
 * The mapping is the same on every start (it is the /etc/subuid line), so
 * the files of a previous run (working dirs owned by sandbox ids) read the
 * same. rootns_config moves the defaults that name root's places (uid_range,
 * its lock dir, the state dir) inside what the user has. */
#ifndef NEXC_NODE_ROOTNS_H
#define NEXC_NODE_ROOTNS_H

#include <stdbool.h>
#include <stdint.h>

#include "api/nxerr.h"
#include "node/sandbox/subids.h"

struct config;

struct rootns {
  uint32_t uid, gid;                  /* the user's host ids, 0 inside */
  char name[64];                      /* the user's name, or its uid */
  struct subids_range subuid, subgid; /* host ids of inside 1..count */
  char uidmap[64], gidmap[64];        /* the mapper programs used */
};

/* As an ordinary user (euid != 0): make and enter the namespace. The
 * caller must be single-threaded (unshare(CLONE_NEWUSER) requires it).
 * -1 with err when a prerequisite is missing (no subordinate range, no
 * set-uid mapper), checked before anything changes: the process is as it
 * was. ROOTNS_BROKEN when the mapping itself failed: the process is in a
 * namespace without ids and must not go on. */
#define ROOTNS_BROKEN (-2)
int rootns_enter (struct nxerr *err);

/* The namespace this process entered, or NULL (root, or never entered). */
const struct rootns *rootns_get (void);

/* Inside ids a sandbox may use: 1..rootns_inside_count(). */
uint32_t rootns_inside_count (const struct rootns *r);

/* r's map holds the ids a node needs: 1-1023 left to the namespace's own
 * users, then one block, 1024-1087 (a count of 1087). -1 with err if not;
 * one of rootns_enter's prerequisites. */
int rootns_check_ids (const struct rootns *r, struct nxerr *err);

/* With the namespace entered: uid_range (unless the config names one: then
 * it must lie inside the map), uid_range.lock_dir and state_dir defaults
 * moved to the user's places. The default uid_range is 1024 and up in whole
 * blocks of the map, at most uid_range's largest count (UIDRANGE_MAX_COUNT).
 * A config naming only start or count has root's default for the other:
 * outside the map, it is refused like any other. -1 with err: a uid_range
 * outside the map. */
int rootns_config (const struct rootns *r, struct config *cfg, struct nxerr *err);

#endif
