/* zygote: the node's side of the agent fork server (tier none; the wire
 * format is api/zygote.h, the server agent/zygote.h).
 *
 * Started on the first agent spawn; each later spawn asks it to fork an
 * agent instead of exec'ing one (about a third of the CPU). When it is gone
 * or misbehaves the caller execs as before; a new zygote is tried again
 * after ZYGOTE_RETRY_MS. Owned by the loop thread; the one blocking step is
 * the reply, a few tens of microseconds, bounded by ZYGOTE_REPLY_TIMEOUT_MS. */
#ifndef NEXC_NODE_ZYGOTE_H
#define NEXC_NODE_ZYGOTE_H

#include <stdbool.h>
#include <sys/types.h>

#include "api/nxerr.h"

#define ZYGOTE_REPLY_TIMEOUT_MS 1000
#define ZYGOTE_RETRY_MS 5000

struct node;

/* Fork an agent with this argv, the link as fd 3 and lfd (or -1) as fd 4,
 * into the cgroup v2 directory cgfd when >= 0 (*born_in: it was; when the
 * kernel refuses, the agent is forked where the zygote is and the caller
 * moves it). Returns 0 with *pid (a child of the node); -1 when the zygote
 * cannot serve and was never handed the descriptors (the caller may exec
 * the agent with them); ZYGOTE_LOST when it failed after taking them (an
 * agent may hold copies: the caller must give up these descriptors). err
 * says why. */
#define ZYGOTE_LOST (-2)
int zygote_spawn (struct node *n, char **argv, int link, int lfd, int cgfd, pid_t *pid,
                  bool *born_in, struct nxerr *err);

/* pool_reap reaped pid: when it is the zygote's, forget it. */
void zygote_reaped (struct node *n, pid_t pid);

/* Close the zygote's socket (it exits) and reap it. */
void zygote_stop (struct node *n);

#endif
