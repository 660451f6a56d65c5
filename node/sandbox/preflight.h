/* preflight: every prerequisite of the configured sandbox tier, checked.
 *
 * Used by `nexc-node preflight` (prints the table) and by `up` (refuses to
 * start when a hard requirement is missing, logs what is degraded). Hard
 * requirements of the process tier: root with the needed capabilities, the
 * namespaces, seccomp filters, a valid uid range with a block this node can
 * take (node/sandbox/uidrange.h: the preflight takes the node's first block
 * for its self-test), a usable state dir and agent, and a self-test in
 * which a real agent builds a sandbox and a child inside verifies it.
 * Soft: each cgroup controller (memory, pids, cpu); a missing one turns
 * that limit off, said in a log line, the tag nex.sandbox.disabled and
 * INFO; so does the user namespace under "user_namespace": "auto" (hard
 * under "on"). Tier none has one soft row of its own, "containment":
 * whether each agent's processes can be held in a cgroup leaf
 * (node/sandbox/cgnone.h; pf->cg then holds the node cgroup it made). Runs
 * before any thread exists. */
#ifndef NEXC_NODE_PREFLIGHT_H
#define NEXC_NODE_PREFLIGHT_H

#include <stdbool.h>
#include <stdio.h>

#include "node/sandbox/cgroup.h"
#include "node/sandbox/uidrange.h"
#include "node/core/config.h"

#define PF_MAX_ROWS 32

enum pf_status { PF_OK, PF_MISSING, PF_DEGRADED, PF_WARN, PF_SKIPPED };

struct pf_row {
  char check[32];
  enum pf_status status;
  bool hard; /* missing => the node refuses to start in this tier */
  char detail[512];
  char fix[320];
};

struct preflight {
  struct pf_row rows[PF_MAX_ROWS];
  size_t n;
  struct cgroups cg; /* detected, node cgroup created (process tier; tier none: containment) */
  /* Process tier: the lock dir open, the blocks of the sandboxes being
   * reattached taken back and the one of the self-test held. Moved into
   * the sandbox by sandbox_start; otherwise uidrange_free it. */
  struct uidrange uids;
  double selftest_ms;
  /* Process tier: workloads get a user namespace (config user_namespace
   * and what the host allows; node/sandbox/userns_probe.h), and when they
   * do not, why (empty: the configuration said "off"). */
  bool userns;
  char userns_why[200];
};

struct preflight_opts {
  const struct config *cfg;
  /* Why the config file is refused (nexc-node preflight on a config `up`
   * would not start with): a hard "config" row, and cfg is what was read
   * before the error. NULL: the config is good. */
  const char *config_error;
  const char *state_dir;   /* absolute */
  const char *agent_path;
  const char *servers;     /* comma list to try a TCP connect to; NULL: skip */
  const char *cgroup_name; /* the node cgroup (nexc-<node id prefix>) */
  const char *who;         /* in the uid lock files: the node id (NULL: preflight) */
  /* Uids of sandboxes a restarted node reattaches to (node/workload/reattach.h):
   * adopted, their blocks taken back. */
  const uint32_t *keep_uids;
  size_t n_keep;
};

void preflight_run (const struct preflight_opts *o, struct preflight *pf);
/* No hard requirement is missing. */
bool preflight_ready (const struct preflight *pf);
void preflight_print (const struct preflight *pf, const struct config *cfg, FILE *out);
/* The rows that are not ok, one log line each (error for missing). */
void preflight_log (const struct preflight *pf);

#endif
