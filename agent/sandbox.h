/* sandbox: how the agent isolates its workload, one tier per backend.
 *
 * Tier "none": the workload is a plain child of the agent (both hooks are
 * no-ops). Tier "process": the node started the agent as pid 1 of new pid,
 * mount, ipc and uts (and, with network "none", net) namespaces, inside the
 * sandbox's cgroup (the node owns cgroups). The agent then works in three
 * steps:
 *   sandbox_setup        once at start, single-threaded, before Hello: the
 *                        mount view (agent/mounts.h), hostname, loopback,
 *                        the seccomp program (agent/seccomp.h), with
 *                        --user-namespace the workload's user namespace
 *                        (agent/userns.h), its own
 *                        oom_score_adj -1000 (when allowed) and no core
 *                        dumps;
 *   sandbox_stem_start   after setup, before Hello: a child that enters
 *                        the sandbox now and execs the Deploy's program
 *                        later (agent/stem.h), when it keeps the default
 *                        view; otherwise, per Deploy:
 *   sandbox_prepare      per Deploy, before fork: the rlimits it carries,
 *                        the plan of its minimal root (agent/rootfs.h)
 *                        unless it asked for "host-ro";
 *   sandbox_enter_child  in the workload's child after fork, before fexecve:
 *                        oom_score_adj 500, rlimits, the minimal root
 *                        (its own mount namespace, pivot_root), empty
 *                        setgroups, with --user-namespace setns into the
 *                        sandbox's user namespace, empty capability
 *                        bounding and ambient sets, setresgid/setresuid to
 *                        the sandbox's ids, an empty capability set, no_new_privs, chdir to the
 *                        working dir, Landlock when the kernel has it
 *                        (agent/landlock.h), seccomp. Only system calls (the agent
 *                        is single-threaded, but the child allocates
 *                        nothing); a failure comes back as an errno value
 *                        and the name of the step.
 * sandbox_selftest runs the whole sequence in a throw-away child and
 * verifies it (for nexc-node preflight). */
#ifndef NEXC_AGENT_SANDBOX_H
#define NEXC_AGENT_SANDBOX_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent/rootfs.h"
#include "agent/stem.h"
#include "api/frame.h"
#include "api/nxerr.h"

enum sandbox_tier {
  SANDBOX_NONE = 0,
  SANDBOX_PROCESS = 1,
};

struct sock_filter;

struct sandbox {
  enum sandbox_tier tier;
  /* process tier, from the command line */
  uid_t uid;
  gid_t gid;
  char workdir[PATH_MAX];   /* host path, also its path inside the view */
  char state_dir[PATH_MAX]; /* hidden behind an empty read-only tmpfs */
  bool net_none;
  bool userns; /* --user-namespace: the workload in a user namespace (agent/userns.h) */
  /* made by sandbox_setup */
  int userns_fd; /* -1: none */
  struct sock_filter *filter;
  unsigned short filter_len;
  int cap_last;
  int landlock_abi;                 /* 0: none (agent/landlock.h) */
  const char *landlock_paths[5];    /* where the workload may write */
  /* per Deploy (sandbox_prepare) */
  uint64_t rlimit_nproc, rlimit_nofile;
  bool host_ro;         /* the deploy asked for "host-ro": no minimal root */
  struct rootfs rootfs; /* the minimal root's plan otherwise */
  /* A child already inside, waiting for its deploy (agent/stem.h) */
  struct stem stem;
};

/* Parse a --sandbox value; -1 with err when unknown. */
int sandbox_parse (const char *name, struct sandbox *out, struct nxerr *err);
/* The name Hello reports ("none", "process"). */
const char *sandbox_name (const struct sandbox *sb);
int sandbox_setup (struct sandbox *sb, struct nxerr *err);
int sandbox_prepare (struct sandbox *sb, const Nexc__Agent__Deploy *d, struct nxerr *err);
/* Process tier, after sandbox_setup: fork the stem (agent/stem.h) for the
 * default view. Tier none: nothing. */
int sandbox_stem_start (struct sandbox *sb, struct nxerr *err);
/* Whether the stem can run d (it keeps the default view); sets the
 * Deploy's rlimits as sandbox_prepare does. A Deploy it cannot run
 * discards it: the direct path then does sandbox_prepare. */
bool sandbox_stem_fits (struct sandbox *sb, const Nexc__Agent__Deploy *d);
/* 0, or an errno value; *what names the step that failed.
 * sandbox_enter_child = sandbox_enter_limits (the Deploy's rlimits), then
 * sandbox_enter_rest (everything else, which no Deploy changes as long as
 * it keeps the minimal root without bind_ro: what agent/stem.h does ahead
 * of the deploy). The limits only lower, so they may come last. */
int sandbox_enter_child (const struct sandbox *sb, const char **what);
int sandbox_enter_limits (uint64_t nofile, uint64_t nproc, const char **what);
int sandbox_enter_rest (const struct sandbox *sb, const char **what);
/* Write one line per verified property to fd ("ok <what>" / "fail <what>:
 * <reason>"); 0 when all passed. Called after sandbox_setup. */
int sandbox_selftest (struct sandbox *sb, int fd);
void sandbox_cleanup (struct sandbox *sb);

#endif
