/* sandbox: how the agent isolates its workload, one tier per backend.
 *
 * The agent calls two hooks around the fork of the workload:
 *   sandbox_prepare      in the agent, before fork (e.g. create a cgroup);
 *   sandbox_enter_child  in the child, after fork and before fexecve
 *                        (e.g. namespaces, uid/gid, seccomp). It must stay
 *                        within what is safe between fork and exec and
 *                        reports failure as an errno value.
 * Only tier "none" exists now (both hooks do nothing); "process" will add
 * namespaces, an unprivileged uid, seccomp and cgroups behind these hooks. */
#ifndef NEXC_AGENT_SANDBOX_H
#define NEXC_AGENT_SANDBOX_H

#include <sys/types.h>

#include "api/nxerr.h"

enum sandbox_tier {
  SANDBOX_NONE = 0,
};

struct sandbox {
  enum sandbox_tier tier;
};

/* Parse a --sandbox value; -1 with err when unknown. */
int sandbox_parse (const char *name, struct sandbox *out, struct nxerr *err);
/* The name Hello reports ("none"). */
const char *sandbox_name (const struct sandbox *sb);
int sandbox_prepare (struct sandbox *sb, struct nxerr *err);
/* 0, or an errno value; *what names the step that failed. */
int sandbox_enter_child (const struct sandbox *sb, const char **what);
/* After the workload is gone (e.g. remove the cgroup). */
void sandbox_cleanup (struct sandbox *sb);

#endif
