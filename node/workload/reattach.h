/* reattach: surviving a node restart.
 *
 * Opens the journal (node/state/journal.h, schemas/state.cddl) and the
 * agents' reattach sockets (node/agents/agent_sock.h) as n->journal and
 * n->agent_socks. Every agent gets a listening unix socket before its spawn
 * (fd 4); once it runs a workload it no longer dies with the node. A
 * workload is remembered when it reaches RUNNING and forgotten where its
 * workload_stopped is sent (node/workload/persist.h). A restarted node:
 *   reattach_open  (before sandbox_start) reads the journal (a corrupt one is
 *                  moved aside and reported) and connects to every entry's
 *                  socket: the connected ones keep their sandbox through the
 *                  leftover sweep and take their uids back
 *                  (reattach_kept_uids);
 *   reattach_run   (after NATS, before the pool and autostart) rebuilds each
 *                  workload; a connected agent is adopted (LEASED, not our
 *                  child) and must send Reattach, then its buffered Log frames
 *                  and, when its workload ended meanwhile, Exited; an agent
 *                  that is gone gives workload_stopped once and a restart per
 *                  policy; sockets with no entry are orphans: stopped, unlinked.
 * Once every adopted agent has answered (or failed), one line says
 * "reattached N workloads in X ms (M lost)". Loop thread only. */
#ifndef NEXC_NODE_REATTACH_H
#define NEXC_NODE_REATTACH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/nxerr.h"
#include "api/frame.h"

struct node;
struct workload;
struct agent;

#define REATTACH_TIMEOUT_MS 5000 /* for an adopted agent's Reattach frame */

int reattach_open (struct node *n, struct nxerr *err);
/* The sandbox uids of the agents that answered (a struct sandbox_keep's
 * list): malloc'd into *out; returns how many. */
size_t reattach_kept_uids (const struct node *n, uint32_t **out);
/* The same for tier none: the pids of the agents that answered, whose
 * cgroup leaves (node/sandbox/cgnone.h) are kept. */
size_t reattach_kept_pids (const struct node *n, pid_t **out);
void reattach_run (struct node *n);
void reattach_close (struct node *n);

/* One adopted agent answered (ok) or was lost. */
void reattach_settled (struct node *n, bool ok);

#endif
