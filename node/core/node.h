/* Room node/core/: the loop, timers, config, identity and struct node, which
 * holds one handle per room; core includes no other room.
 *
 * node: the daemon's state, owned by the loop thread.
 *
 * What struct node holds is written only on the loop thread
 * (node/core/loop.h). Other threads read only what is set before they start
 * and never changes (cfg, the connections, node_id) or use atomics
 * (ctl_queue, counters.nats_reconnects, stopping); they hand work over with
 * loop_post: nats.c callbacks copy the message into a struct ctl_req
 * (node/control/control.c) or a struct fn_msg (node/workload/trigger.c), the
 * artifact fetcher posts its result (node/artifacts/artifact.c), the metrics
 * scan its sample (node/control/metrics.c). ARCHITECTURE.md lists them. */
#ifndef NEXC_NODE_NODE_H
#define NEXC_NODE_NODE_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "node/core/config.h"
#include "node/core/identity.h"
#include "node/core/loop.h"

struct workload;
struct pool;
struct sandbox;
struct artifact_cache;
struct reattach;
struct journal;
struct agent_socks;
struct spawner;
struct logstream;
struct creds;
struct cgnone;
struct natsloop;
struct echo;

struct node_counters {
  uint64_t deploys_ok;
  uint64_t deploys_failed;
  uint64_t stops;
  uint64_t workloads_exited;
  uint64_t log_lines;
  uint64_t log_dropped_agent;   /* dropped in agents (link full) */
  uint64_t log_dropped_publish; /* NATS publish failed */
  uint64_t events_dropped;
  uint64_t replies_failed;
  uint64_t pool_misses;
  uint64_t agent_spawn_failures;
  uint64_t agents_replaced;
  uint64_t oom_kills;
  uint64_t fn_ok, fn_failed; /* function invocations (node/workload/trigger.c) */
  uint64_t nats_reconnects; /* written by a nats.c thread: atomic */
  /* control-request handling time, buckets of metrics_latency_bounds_us */
  uint64_t ctl_latency[12];
};

/* The control requests in flight (node/control/request.h): added to by
 * nats.c threads, taken from on the loop thread, so atomic. */
struct ctl_queue {
  size_t n;
  size_t bytes;
  uint64_t refused; /* answered "busy" */
};

struct node {
  struct config cfg;
  struct identity id;
  const char *node_id; /* id.server.public_text */
  struct loop *loop;
  natsConnection *nc;      /* control: subscriptions, replies */
  struct natsloop *natsloop; /* nc's reader and writer: the loop (node/bus/natsloop.h) */
  natsConnection *nc_data; /* logs and events, in the order the node made them */
  struct natsloop *natsloop_data; /* nc_data's, likewise */
  struct echo *echo_data;          /* its flushes (node/bus/echo.h) */
  natsSubscription **subs;
  size_t n_subs;
  struct subgrave *subgrave; /* subscriptions waiting to be freed (node/bus/subgrave.h) */
  struct ctl_queue ctl_queue;

  uint64_t start_mono_ns;
  struct timespec start_wall;
  uint64_t api_start_mono_ns;
  bool lameduck;
  bool stopping;
  bool exit_on_drain; /* --exit-on-drain: exit 0 once a lame-duck drain ends */
  int exit_code;

  struct strmap tags; /* effective tag map (§8.4), sorted */
  struct loop_source sigsrc;
  struct loop_timer heartbeat;
  uint64_t event_seq;

  struct workload *workloads; /* doubly linked, newest first */
  size_t n_workloads;
  /* Called on the loop once a workload has ended for good (unlinked); set by
   * whoever keeps workloads running and wants to act at once (deployments:
   * a rollout token is released once the old replica has ended). */
  void (*on_workload_ended) (struct node *n);
  uint64_t total_bytes; /* artifact bytes of running workloads (node_limits) */
  struct pool *pool;
  struct pool *fn_pool; /* function invocations' agents, made at the first function deploy */
  struct zygote *zygote;  /* agent fork server, tier none (node/agents/zygote.h); NULL until used */
  struct spawner *spawner; /* process tier's agent spawns off the loop (node/agents/spawner.h); NULL until used */
  struct logack *logack;  /* log lines until the server confirms them (node/bus/logack.h) */
  struct logstream *logstream; /* the log stream for replay, or NULL (node/bus/logstream.h) */
  struct outbox *outbox;  /* lifecycle events until the server confirms them (node/bus/outbox.h) */
  struct sandbox *sandbox; /* process tier (node/sandbox/sandbox.h); NULL in tier none */
  struct cgnone *cgnone;   /* tier none's cgroup leaves (node/sandbox/cgnone.h); NULL in tier process */
  struct artifact_cache *cache;
  struct replay *replay;
  struct creds *creds; /* workload_creds' signing key (node/workload/creds.h); NULL: off */

  struct reattach *reattach; /* a restart's takeover (node/workload/reattach.h) */
  /* Both opened by reattach_open, NULL when the node runs without a state
   * dir (--ephemeral): the workloads and pending events that survive a
   * restart (node/state/journal.h), the agents' sockets to reconnect to
   * (node/agents/agent_sock.h). */
  struct journal *journal;
  struct agent_socks *agent_socks;
  bool detach_on_exit;       /* --detach-on-exit: SIGTERM leaves workloads running */
  size_t detached;           /* how many it left (node_stopped says) */

  struct node_counters counters;
  struct loop_timer metrics_timer;
  pthread_t metrics_thread; /* the /proc scan in flight (node/control/metrics.c) */
  bool metrics_busy;
  /* The sample being published, a slice per loop turn (node/control/metrics.c). */
  uint64_t metrics_gen;
  struct timespec metrics_at;
  struct loop_timer metrics_pub_timer;
  char *agent_path;
};

/* Uptime strings (§8.5). */
void node_uptime (const struct node *n, bool since_api, char *out, size_t cap);

#endif
