/* cgroup: resource limits of the sandboxes, on cgroup v1 or v2.
 *
 * The node owns one cgroup, the "node cgroup" <base>/nexc-<node id prefix>,
 * where <base> is the node's own cgroup (or config cgroup_root), and one leaf
 * per sandbox below it: memory limit, CPU quota, pids limit, OOM kill count.
 * Two backends behind struct cgroup_ops:
 *   v1  one node cgroup per controller hierarchy (memory, pids, cpu), as on
 *       hybrid hosts where the controllers are bound to v1;
 *   v2  one node cgroup in the unified hierarchy, controllers enabled in the
 *       subtree_control of <base> and of the node cgroup.
 * cgroup_detect picks the backend and tests, per controller, that a limit
 * can really be written; a controller that cannot is left out (have[] false,
 * why[] says why) and the caller decides whether that is fatal.
 *
 * Paths are built by the pure functions at the end (unit tested). Used on
 * the loop thread, and by preflight before any thread exists.
 *
 * Detection, dispatch and the helpers both backends use are in cgroup.c,
 * each backend in cgroup_v1.c / cgroup_v2.c; cgroup_int.h is what the three
 * share and nothing else includes. */
#ifndef NEXC_NODE_CGROUP_H
#define NEXC_NODE_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/nxerr.h"
#include "node/core/config.h" /* enum cg_mode */

enum cg_ctrl { CG_MEMORY = 0, CG_PIDS = 1, CG_CPU = 2, CG_NCTRL = 3 };
enum cg_version { CG_NONE = 0, CG_V1 = 1, CG_V2 = 2 };

#define CG_PATH_MAX 1024
#define CG_CPU_PERIOD_US 100000

/* Limits of one leaf; 0 leaves a limit as it is (unlimited when new). */
struct cg_limits {
  uint64_t memory_bytes;
  uint32_t cpu_milli; /* thousandths of a CPU */
  uint64_t pids;
};

struct cgroups;

struct cgroup_ops {
  const char *name; /* "v1", "v2" */
  int (*create) (struct cgroups *cg, const char *leaf, struct nxerr *err);
  int (*attach) (struct cgroups *cg, const char *leaf, pid_t pid, struct nxerr *err);
  int (*set_limits) (struct cgroups *cg, const char *leaf, const struct cg_limits *l,
                     struct nxerr *err);
  /* OOM kills inside the leaf so far. */
  int (*oom_kills) (struct cgroups *cg, const char *leaf, uint64_t *out, struct nxerr *err);
  /* SIGKILL every process of the leaf (cgroup.kill when there is one). */
  void (*kill_all) (struct cgroups *cg, const char *leaf);
  /* rmdir the leaf; EBUSY while processes are left. Absent counts as done. */
  int (*remove) (struct cgroups *cg, const char *leaf, struct nxerr *err);
};

struct cgroups {
  enum cg_version version;
  const struct cgroup_ops *ops;
  bool have[CG_NCTRL];         /* limits of this controller are enforced */
  char why[CG_NCTRL][200];     /* why not, when !have */
  char node_name[64];          /* nexc-<prefix> */
  /* v1: the node cgroup's directory in each controller's hierarchy ("" when
   * that controller is not mounted); v2: dir[0] only. */
  char dir[CG_NCTRL][CG_PATH_MAX];
  char base[CG_NCTRL][CG_PATH_MAX]; /* their parents */
  char note[200];              /* e.g. "hybrid: v2 has no controllers" */
  bool created;                /* the node cgroup exists (made or found) */
};

/* The cgroup.procs file of leaf in each hierarchy the backend attaches to
 * (v1: one per controller in use; v2: one), for a process that moves
 * itself in by writing "0" (node/sandbox/nsspawn.h); returns how many. */
#define CG_PROCS_MAX (CG_PATH_MAX + 96)
size_t cgroup_procs_files (const struct cgroups *cg, const char *leaf, char (*out)[CG_PROCS_MAX],
                           size_t max);

extern const struct cgroup_ops cgroup_v1_ops;
extern const struct cgroup_ops cgroup_v2_ops;

/* Find the hierarchies, choose the backend for mode, and compute the node
 * cgroup paths for node_name under root (NULL: the node's own cgroup).
 * Creates nothing. Fails only when mode asks for a version that is absent;
 * CG_MODE_OFF and "no cgroup at all" give version CG_NONE. */
int cgroup_detect (struct cgroups *cg, enum cg_mode mode, const char *root,
                   const char *node_name, struct nxerr *err);
/* Create the node cgroup and find which controllers take limits (by writing
 * them to a probe leaf named probe_leaf). Sets have[] and why[]. */
int cgroup_setup (struct cgroups *cg, const char *probe_leaf, struct nxerr *err);
/* Containment only (tier none, node/sandbox/cgnone.h), instead of
 * cgroup_setup: the node cgroup made in one hierarchy, no controller
 * enabled, no limit written. v2: the unified hierarchy (cgroup.kill); v1:
 * the first of the pids, cpu and memory hierarchies that is mounted, the one
 * have[] names, so that the backend makes its leaves there (have[] then says
 * where the leaves are, not that anything is limited). */
int cgroup_setup_contain (struct cgroups *cg, struct nxerr *err);
/* Kill and remove every leaf under the node cgroup (leftovers of a crashed
 * run). Returns how many leaves were removed; err lists what could not be. */
int cgroup_sweep (struct cgroups *cg, int *removed, struct nxerr *err);
/* The same, sparing the leaves keep() says to keep (reattached sandboxes). */
int cgroup_sweep_except (struct cgroups *cg, bool (*keep) (const void *ud, const char *leaf),
                         const void *ud, int *removed, struct nxerr *err);
/* Remove the node cgroup itself (at shutdown, when empty). */
void cgroup_teardown (struct cgroups *cg);
/* Human name of a controller ("memory", "pids", "cpu"). */
const char *cgroup_ctrl_name (enum cg_ctrl c);

/* ---- pure helpers (no file system) ---- */

/* "nexc-" + the first 12 characters of the node id. */
void cgroup_node_name (const char *node_id, char *out, size_t cap);
/* From /proc/self/mountinfo text: the mount point of the v1 hierarchy that
 * carries controller (super options "rw,memory"), or of the cgroup2 mount
 * (controller NULL). 0 when found. */
int cgroup_find_mount (const char *mountinfo, const char *controller, char *out, size_t cap);
/* From /proc/self/cgroup text: this process's path in the v1 hierarchy of
 * controller ("4:memory:/a/b"), or in v2 (controller NULL: "0::/a"). */
int cgroup_find_self (const char *self_cgroup, const char *controller, char *out, size_t cap);
/* CPU quota in microseconds per CG_CPU_PERIOD_US for milli thousandths. */
uint64_t cgroup_cpu_quota_us (uint32_t milli);
/* The value after "key " in a flat keyed file ("oom_kill 3\n"), or -1. */
int64_t cgroup_keyed_value (const char *text, const char *key);

#endif
