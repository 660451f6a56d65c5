/* Room node/sandbox/: isolation prepared by the node: uids, working dirs,
 * cgroups, namespaces (nsspawn), host checks (preflight), and tier none's
 * process containment (cgnone).
 *
 * sandbox: the node's side of the process tier.
 *
 * The node prepares each sandbox before its agent exists and takes it apart
 * once the agent was reaped; the agent builds the inside (agent/sandbox.h).
 * One struct sandbox_slot per agent:
 *   sandbox_slot_new      a uid (= gid) from a block of uid_range this node
 *                         holds (node/sandbox/uidrange.h); the working dir
 *                         <state>/sandboxes/u<uid>, 0700, owned by that uid;
 *                         the cgroup leaf <node cgroup>/u<uid> with the
 *                         template's limits (machine_template, pids_limit);
 *   sandbox_slot_argv     the agent's command line for it;
 *   sandbox_slot_join     the leaf's cgroup.procs files, which the agent's
 *                         child writes "0" to before its exec
 *                         (node/sandbox/nsspawn.h): in its leaf before it
 *                         runs a single instruction of its own, so before
 *                         it can fork;
 *   sandbox_slot_apply    at lease: the deploy's "resources", written to the
 *                         leaf of the warm agent (no new agent);
 *   sandbox_slot_oom_kills  when the workload ended;
 *   sandbox_slot_release  after the reap: every process of the leaf killed,
 *                         the leaf removed (retried on a timer while busy),
 *                         the working dir moved aside and deleted on a
 *                         cleaner thread, then the uid freed.
 * sandbox_start runs the preflight (refusing to start when a hard
 * requirement is missing), and removes what a crashed previous run left
 * (its cgroup leaves, its working dirs). Everything on the loop thread but
 * the cleaner. n->sandbox is NULL in tier "none". */
#ifndef NEXC_NODE_SANDBOX_H
#define NEXC_NODE_SANDBOX_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/deploy_request.h"
#include "api/jsonw.h"
#include "api/nxerr.h"
#include "node/sandbox/cgroup.h"

struct node;
struct config;
struct sandbox;
struct strmap;

struct sandbox_slot {
  struct sandbox_slot *next; /* on the reclaim list */
  uint32_t uid;              /* and gid */
  char id[16];               /* "u<uid>": cgroup leaf and working dir name */
  char uidtext[16];
  char workdir[PATH_MAX];
  bool leaf;                 /* the cgroup leaf exists */
  struct cg_limits limits;   /* as last written */
  unsigned reclaim_tries;
};

/* The sandboxes of a previous run to keep through the leftover sweep, and
 * whose uids (and blocks) the node takes back: those whose agents a
 * restarted node reattaches. */
struct sandbox_keep {
  const uint32_t *uids;
  size_t n;
};

/* keep may be NULL: nothing is kept. */
int sandbox_start (struct node *n, const struct sandbox_keep *keep, struct nxerr *err);
/* After the pool is gone: finish the cleaning, remove the node cgroup. */
void sandbox_stop (struct node *n);

int sandbox_slot_new (struct sandbox *sb, struct sandbox_slot **out, struct nxerr *err);
/* Append the agent options for s to argv; returns how many were added
 * (pointers into s and sb, valid while both live). */
size_t sandbox_slot_argv (const struct sandbox *sb, const struct sandbox_slot *s, char **argv,
                          size_t room);
size_t sandbox_slot_join (const struct sandbox *sb, const struct sandbox_slot *s,
                          char (*out)[CG_PROCS_MAX], size_t max);
int sandbox_slot_apply (struct sandbox *sb, struct sandbox_slot *s,
                        const struct deploy_resources *res, struct nxerr *err);
uint64_t sandbox_slot_oom_kills (struct sandbox *sb, struct sandbox_slot *s);
/* The sandbox u<uid> of a previous run, reattached: its uid (taken back by
 * sandbox_start from the keep list), its leaf and working dir (spared by
 * the start-time sweep) owned again. */
int sandbox_slot_adopt (struct sandbox *sb, uint32_t uid, struct sandbox_slot **out,
                        struct nxerr *err);
/* An adopted agent's workload (its child) runs in a user namespace of its
 * own or not, as it was started: a line when that is not what this node
 * gives new workloads (the setting changed across the restart). */
void sandbox_slot_check_adopted (const struct sandbox *sb, const struct sandbox_slot *s,
                                 pid_t agent_pid, const char *workload_id);
/* Takes s. */
void sandbox_slot_release (struct sandbox *sb, struct sandbox_slot *s);

/* Refusal text for a deploy's resources ("Invalid deploy request: ..."), or
 * 0 when this node can honour them. Works in both tiers. */
int sandbox_check_resources (const struct node *n, const struct deploy_resources *res, char *msg,
                             size_t cap);
/* INFO data.nexc.sandbox. */
void sandbox_write_info (const struct node *n, struct jsonw *w);
/* The tags that describe the sandbox (nex.sandbox.disabled). */
void sandbox_tags (const struct node *n, struct strmap *tags);

/* Shared with preflight. */
int sandbox_clone_flags (const struct config *cfg);
int sandbox_mkdirs (const char *dir, struct nxerr *err);
int sandbox_make_workdir (const char *path, uint32_t uid, struct nxerr *err);

#endif
