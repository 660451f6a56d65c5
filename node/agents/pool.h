/* pool: the warm agent pool.
 *
 * Keeps cfg.machine_pool_size agents spawned, handshaken and idle. A deploy
 * leases one (pool_lease); a lease on an empty pool counts a miss and the
 * deploy spawns a cold agent instead (pool_spawn). Leased agents never come
 * back: an agent runs one workload. Refill runs after every lease and agent
 * death; in the process tier once no leased agent is still starting its
 * workload or no idle agent is left (at most REFILL_WAIT_MAX_MS later: a
 * spawn beside a start slows the start); spawn failures back off exponentially (100 ms doubling to 30 s) and
 * show in INFO. Idle agents are pinged; one that misses a pong is replaced. */
#ifndef NEXC_NODE_POOL_H
#define NEXC_NODE_POOL_H

#include <stdint.h>

#include "api/jsonw.h"
#include "api/nxerr.h"

struct node;
struct agent;
struct pool;

int pool_new (struct node *n, struct pool **out, struct nxerr *err);
void pool_start (struct pool *p);
/* The function pool (node/workload/trigger.c) is a second instance: its own size and
 * name in log lines. Call before pool_start. */
void pool_set_size (struct pool *p, size_t size, const char *what);
/* Kill every agent (warm or leased) and free the pool. */
void pool_free (struct pool *p);

/* A ready idle agent, or NULL (a miss, counted). Triggers a refill. */
struct agent *pool_lease (struct pool *p);
/* Spawn an agent outside the warm set (cold start for a deploy). */
struct agent *pool_spawn (struct pool *p, struct nxerr *err);

/* Called by node/agents/agent.c. */
void pool_agent_ready (struct pool *p, struct agent *a);
void pool_agent_gone (struct pool *p, struct agent *a);
/* A leased agent's first frame (Started, StartFailed...) came, or it died:
 * its start is over, and the refill that waited for it may run. */
void pool_agent_started (struct pool *p, struct agent *a);
/* An agent of a previous run, reattached (node/workload/reattach.c): on the list. */
void pool_adopt (struct pool *p, struct agent *a);

/* SIGCHLD: reap every exited child and tell its agent (the function pool's
 * agents included: call it on node->pool). */
void pool_reap (struct pool *p);

size_t pool_idle_count (const struct pool *p);
void pool_write_info (struct node *n, struct jsonw *w);

#endif
