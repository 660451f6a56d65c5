/* cgnone: tier "none"'s process containment.
 *
 * Tier none has no sandbox (n->sandbox is NULL), but a workload's processes
 * must still end with it. Its agent is a child subreaper and kills every
 * descendant while it lives; a SIGKILLed agent cannot, and a workload's
 * children that left its process group (setsid) would re-parent to init and
 * run on. So each agent, and with it everything its workload forks, is put
 * in a cgroup leaf of its own, killed as a whole once the agent is gone.
 * Containment only: no controller is enabled and no limit written (a deploy
 * asking for resources is still refused in this tier).
 *
 *   cgnone_start    at node start in tier none: the node cgroup
 *                   <base>/nexc-<node id prefix> (node/sandbox/cgroup.h, the
 *                   config's cgroup and cgroup_root), in the unified (v2)
 *                   hierarchy when one is mounted, hybrid hosts included
 *                   (cgroup.kill), else in one v1 hierarchy (a kill loop on
 *                   cgroup.procs); the leaves a previous run left swept but
 *                   those of the agents a restarted node reattaches (keep:
                   each found by its pid in /proc/<pid>/cgroup).
 *                   When it cannot be made (cgroup "none", no hierarchy, no
 *                   permission) the start log, the preflight and INFO say
 *                   that descendants are not contained, and the tier works
 *                   as before (every call below then does nothing).
 *   cgnone_make_leaf  before an agent's spawn: the leaf "a<n>" made, and on
 *                   v2 a descriptor of it for the zygote to clone the
 *                   agent into (CLONE_INTO_CGROUP: no migration);
 *   cgnone_join     when the agent was not born in it (v1, the exec path):
 *                   the pid moved in before its Hello, on the spawner's
 *                   thread (node/agents/spawner.h), as the write can wait
 *                   for an RCU grace period (p90 11 ms on v2 under load
 *                   here); it reads only what cgnone_start set;
 *   cgnone_adopt    a reattached agent's leaf, spared by the sweep, owned
 *                   again;
 *   cgnone_release  after the agent's reap (or, adopted, its end): every
 *                   process of the leaf killed, the leaf removed, retried on
 *                   a timer while busy;
 *   cgnone_stop     at shutdown, after the pool: the last retries, the node
 *                   cgroup removed when empty (detached agents keep theirs).
 * Loop thread only but cgnone_join (cgnone_probe also before any thread
 * exists). */
#ifndef NEXC_NODE_CGNONE_H
#define NEXC_NODE_CGNONE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "api/jsonw.h"
#include "api/nxerr.h"
#include "node/sandbox/cgroup.h"

struct node;
struct config;
struct cgnone;

/* Detect and make the node cgroup named node_name for containment, as
 * cgnone_start does (the preflight's row). */
int cgnone_probe (struct cgroups *cg, const struct config *cfg, const char *node_name,
                  struct nxerr *err);
/* The directory the leaves are made in (after cgnone_probe). */
const char *cgnone_leaves_dir (const struct cgroups *cg);
/* n->cgnone, in tier none only. Leaves of agents with these pids are kept
 * through the sweep. Never fails: without a cgroup it says so. */
void cgnone_start (struct node *n, const pid_t *keep, size_t n_keep);
void cgnone_stop (struct node *n);

#define CGNONE_LEAF_MAX 24

/* A new leaf: its name in name ("" when cg is NULL, in tier process, or
 * does not contain: then 0 and nothing done) and, on v2, *dirfd a
 * descriptor of its directory for CLONE_INTO_CGROUP (the caller closes it;
 * -1 on v1). */
int cgnone_make_leaf (struct cgnone *cg, char name[CGNONE_LEAF_MAX], int *dirfd,
                      struct nxerr *err);
/* pid moved into leaf (made by cgnone_make_leaf). */
int cgnone_join (const struct cgnone *cg, const char *leaf, pid_t pid, struct nxerr *err);
/* Whether pid's leaf was kept at start and still exists: then it is the
 * agent's, named in name. */
bool cgnone_adopt (struct cgnone *cg, pid_t pid, char name[CGNONE_LEAF_MAX]);
/* Every process in the leaf killed, the leaf removed (retried while busy);
 * "" does nothing. */
void cgnone_release (struct cgnone *cg, const char *leaf);

/* INFO data.nexc.sandbox, tier none: cgroup, cgroup_name, descendants_contained
 * and, when not, why. */
void cgnone_write_info (const struct node *n, struct jsonw *w);

#endif
