/* Room node/agents/: the nexc-agent processes: spawn, link, warm pool,
 * zygote, reattach sockets; knows nothing of workloads (struct agent_ops).
 *
 * agent: the node's side of one nexc-agent process and its link.
 *
 * Spawned with posix_spawn (or by the zygote) in tier "none", then moved
 * into a cgroup leaf of its own (node/sandbox/cgnone.h), with clone into new
 * namespaces in tier "process" (node/sandbox/nsspawn.h, on the spawner's
 * thread: node/agents/spawner.h; never fork: the node is multithreaded), the SEQPACKET link as fd 3, an empty signal mask and
 * default dispositions.
 * Every frame from the agent is hostile input: a frame that is malformed or
 * not allowed in the agent's state kills the agent (agent_kill).
 *
 *   SPAWNING --Hello--> READY --lease--> LEASED --(exit/kill)--> DEAD
 * An agent struct is freed once it is DEAD and its process was reaped.
 *
 * This layer handles the handshake (Hello), pings (Pong) and the link; what
 * a leased agent says about its workload goes to whoever leased it (a
 * workload, a function invocation, a reattach in progress) through the
 * struct agent_ops it registered: the agents never call up into them. */
#ifndef NEXC_NODE_AGENT_H
#define NEXC_NODE_AGENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "api/frame.h"
#include "api/nxerr.h"
#include "node/core/loop.h"
#include "node/sandbox/cgnone.h"

struct node;
struct pool;
struct sandbox_slot;
struct agent;
struct deploy_resources;
struct fs_spec;

/* What a leased agent's owner is told (registered by agent_lease). */
struct agent_ops {
  /* Any frame but a Pong from the LEASED agent. Returns whether to read on
   * (false once the agent or the owner ended). A frame the owner does not
   * allow now: return agent_violation (a, f). */
  bool (*frame) (void *owner, struct agent *a, Frame *f);
  /* The agent is gone (killed, exited, link closed): the lease is over,
   * why is never NULL. Called once. */
  void (*lost) (void *owner, struct agent *a, const char *why);
};

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
  bool starting;      /* leased, its first frame not in yet (pool_agent_started) */
  bool spawn_pending; /* a spawner job (node/agents/spawner.h) holds it: not watched, pid 0 in the process tier */
  const struct agent_ops *ops; /* the lease: NULL when none */
  void *owner;
  const char *wl_id; /* the leased workload's id, for log lines (NULL: none, a function call) */
  struct loop_timer timer; /* handshake deadline, then ping schedule */
  uint64_t ping_nonce;
  bool ping_pending;
  uint64_t spawned_ns;
  /* Cold spawn: called when the Hello arrives, or with ok=false on death. */
  void (*on_ready) (struct agent *a, bool ok, void *ud);
  void *ud;
  struct sandbox_slot *slot; /* process tier: released once reaped (pool.c) */
  /* Tier none: the cgroup leaf it is in (node/sandbox/cgnone.h), emptied and
   * removed once it is reaped (pool.c); "" when none. */
  char cg_leaf[CGNONE_LEAF_MAX];
  struct pool *pool;         /* the pool that spawned it (node->pool or node->fn_pool) */
  /* Reattach (node/workload/reattach.h): the agent's listening unix socket, made by
   * the node before the spawn (unlinked when the agent is freed). */
  char *sock;
  /* Adopted by a restarted node: not our child (never reaped by waitpid:
   * its death is the link's end), signalled through pidfd. */
  bool adopted;
  bool awaiting_reattach; /* until its Reattach frame */
  bool detached;          /* let go running (--detach-on-exit): never killed, socket kept */
  bool held;              /* its owner stopped reading the link for now (agent_hold) */
  int pidfd;
};

int agent_spawn (struct node *n, struct agent **out, struct nxerr *err);
/* a is LEASED to owner: its frames and its end go to ops. wl_id (borrowed,
 * must outlive the lease) names the workload in log lines. */
void agent_lease (struct agent *a, const struct agent_ops *ops, void *owner, const char *wl_id);
/* The owner lets go: no more calls to its ops (the agent stays LEASED, for
 * agent_kill). */
void agent_unlease (struct agent *a);
/* Kill a for a frame its owner does not allow now ("protocol violation:
 * unexpected <kind> frame"). Returns false, for frame handlers. */
bool agent_violation (struct agent *a, const Frame *f);
/* Stop (hold) or resume reading a's link: the owner's backpressure, when
 * what the agent sends cannot go anywhere now. Its frames then wait in the
 * socket and, once that is full, in the agent (whose workload blocks).
 * Frames the agent sends before it dies are still read when it is reaped. */
void agent_hold (struct agent *a, bool hold);
/* An adopted agent's Reattach frame came: no more deadline. */
void agent_reattached (struct agent *a);

/* What a Deploy frame carries (borrowed). */
struct agent_deploy {
  const char *id, *name;
  char **argv;
  size_t argc;
  uint64_t artifact_size;
  const struct deploy_resources *resources; /* NULL: none */
  const struct fs_spec *filesystem;         /* NULL: the node's default */
  bool logs_drop_oldest;                    /* the ring's policy; false: block */
  uint64_t logs_first_seq;                  /* Nexc-Seq of the run's first line */
  bool logs_acked;                          /* the node will send LogAck frames */
  bool die_with_node;                       /* never detached (a deployment's replica) */
  char **env_kv;                            /* key, value pairs */
  size_t n_env;
};
/* Send a Deploy frame with the executable fd; the process tier's leaf is
 * sized for d->resources first. */
int agent_send_deploy (struct agent *a, const struct agent_deploy *d, int exe_fd,
                       struct nxerr *err);
/* Any frame node -> agent (node/workload/trigger.c builds its own). */
int agent_send_frame (struct agent *a, Frame *f, int fd, struct nxerr *err);
int agent_send_stop (struct agent *a, uint32_t grace_ms, struct nxerr *err);
/* Lines up to seq reached the NATS server: the agent may forget them. */
int agent_send_log_ack (struct agent *a, uint64_t seq, struct nxerr *err);
/* The same, asking for every line after seq again (LogAck resend). */
int agent_send_log_resend (struct agent *a, uint64_t seq, struct nxerr *err);
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
 * agent is LEASED (agent_lease) and must send Reattach within timeout_ms.
 * NULL when it could not be watched: then ops->lost was called. */
struct agent *agent_adopt (struct node *n, const struct agent_ops *ops, void *owner,
                           const char *wl_id, pid_t pid, int link, const char *sock,
                           uint64_t timeout_ms, struct nxerr *err);

#endif
