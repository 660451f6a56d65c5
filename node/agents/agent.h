/* agent: the node's side of one nexc-agent process and its link.
 *
 * Spawned with posix_spawn in tier "none", with clone into new namespaces
 * in tier "process" (node/nsspawn.h; never fork: the node is
 * multithreaded), the SEQPACKET link as fd 3, an empty signal mask and
 * default dispositions.
 * Every frame from the agent is hostile input: a frame that is malformed or
 * not allowed in the agent's state kills the agent (agent_kill).
 *
 *   SPAWNING --Hello--> READY --lease--> LEASED --(exit/kill)--> DEAD
 * An agent struct is freed once it is DEAD and its process was reaped. */
#ifndef NEXC_NODE_AGENT_H
#define NEXC_NODE_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/frame.h"
#include "api/nxerr.h"
#include "node/core/loop.h"

struct node;
struct pool;
struct fn_call;
struct sandbox_slot;
struct workload;

enum agent_state { AGENT_SPAWNING, AGENT_READY, AGENT_LEASED, AGENT_DEAD };

struct agent {
  struct agent *next, *prev; /* pool's list of every live or unreaped agent */
  struct node *node;
  pid_t pid;
  struct loop_source src;
  enum agent_state state;
  bool warm;     /* spawned to fill the pool (vs cold for a deploy) */
  bool idle;     /* in the pool's idle set */
  bool reaped;
  bool freeing; /* off the pool's list, free deferred (pool.c) */
  struct workload *wl;
  struct loop_timer timer; /* handshake deadline, then ping schedule */
  uint64_t ping_nonce;
  bool ping_pending;
  uint64_t spawned_ns;
  /* Cold spawn: called when the Hello arrives, or with ok=false on death. */
  void (*on_ready) (struct agent *a, bool ok, void *ud);
  void *ud;
  struct sandbox_slot *slot; /* process tier: released once reaped (pool.c) */
  struct pool *pool;         /* the pool that spawned it (node->pool or node->fn_pool) */
  struct fn_call *call;      /* leased to one function invocation (node/trigger.c) */
  /* Reattach (node/reattach.h): the agent's listening unix socket, made by
   * the node before the spawn (unlinked when the agent is freed). */
  char *sock;
  /* Adopted by a restarted node: not our child (never reaped by waitpid:
   * its death is the link's end), signalled through pidfd. */
  bool adopted;
  bool awaiting_reattach; /* until its Reattach frame */
  bool detached;          /* let go running (--detach-on-exit): never killed, socket kept */
  int pidfd;
};

int agent_spawn (struct node *n, struct agent **out, struct nxerr *err);
/* Send a Deploy frame with the executable fd. */
int agent_send_deploy (struct agent *a, struct workload *w, int exe_fd, char **envp_kv,
                       size_t n_env, struct nxerr *err);
/* Any frame node -> agent (node/trigger.c builds its own). */
int agent_send_frame (struct agent *a, Frame *f, int fd, struct nxerr *err);
int agent_send_stop (struct agent *a, uint32_t grace_ms, struct nxerr *err);
int agent_send_ping (struct agent *a, struct nxerr *err);
/* Kill the process, close the link, tell the workload/pool. Idempotent. */
void agent_kill (struct agent *a, const char *why);
/* Let the agent and its workload run on without us (the node is exiting
 * with --detach-on-exit): close our end of the link, which the agent takes
 * for a node gone, and forget it. A node started on the same state dir
 * reattaches it. */
void agent_detach (struct agent *a);
/* The process was reaped (called by pool_reap). */
void agent_reaped (struct agent *a, int status);
/* A restarted node takes over a live agent of its previous run: link is a
 * connected socket to its reattach socket (taken), pid its host pid. The
 * agent is LEASED to w and must send Reattach within timeout_ms. */
struct agent *agent_adopt (struct node *n, struct workload *w, pid_t pid, int link,
                           const char *sock, uint64_t timeout_ms, struct nxerr *err);

#endif
