#include "node/control/shutdown.h"

#include "api/log.h"
#include "node/artifacts/artifact.h"
#include "node/bus/events.h"
#include "node/core/node.h"
#include "node/agents/pool.h"
#include "node/workload/reattach.h"
#include "node/state/replay.h"
#include "node/control/stop.h"
#include "node/workload/supervise.h"
#include "node/workload/workload.h"

#define SHUTDOWN_GRACE_MAX_MS 3000

static struct loop_timer shutdown_timer;
static struct loop_timer poll_timer;
static struct node *shutdown_node;
static struct loop_timer drain_deadline;
static struct loop_timer drain_poll;
static bool draining;

static void
finish (struct node *n)
{
  loop_timer_cancel (n->loop, &shutdown_timer);
  loop_timer_cancel (n->loop, &poll_timer);
  loop_timer_cancel (n->loop, &drain_deadline);
  loop_timer_cancel (n->loop, &drain_poll);
  loop_timer_cancel (n->loop, &n->heartbeat);
  loop_timer_cancel (n->loop, &n->metrics_timer);
  /* Agents still alive are killed; their workloads end with workload_stopped. */
  pool_free (n->fn_pool); /* function invocations' agents (node/workload/trigger.c) */
  n->fn_pool = NULL;
  pool_free (n->pool);
  n->pool = NULL;
  artifact_cache_free (n->cache);
  n->cache = NULL;
  replay_free (n->replay);
  n->replay = NULL;
  events_node_stopped (n);
  loop_stop (n->loop);
}

static void
on_deadline (struct loop_timer *t)
{
  (void) t;
  log_warn ("shutdown: %zu workloads did not stop in time; killing their agents",
            shutdown_node->n_workloads);
  finish (shutdown_node);
}

static void
on_poll (struct loop_timer *t)
{
  struct node *n = shutdown_node;
  if (n->n_workloads == 0)
    {
      finish (n);
      return;
    }
  loop_timer_arm (n->loop, t, 10);
}

static void
on_drain_poll (struct loop_timer *t)
{
  struct node *n = shutdown_node;
  if (n->stopping)
    return;
  if (n->n_workloads == 0)
    {
      loop_timer_cancel (n->loop, &drain_deadline);
      log_info ("lame duck: drained");
      if (n->exit_on_drain)
        shutdown_begin (n);
      return;
    }
  loop_timer_arm (n->loop, t, 50);
}

/* supervise_stop may end a workload at once (one waiting to restart), which
 * unlinks it: take the next one first. */
static void
stop_all (struct node *n)
{
  for (struct workload *w = n->workloads, *next; w; w = next)
    {
      next = w->next;
      supervise_stop (w);
    }
}

static void
on_drain_deadline (struct loop_timer *t)
{
  struct node *n = shutdown_node;
  (void) t;
  log_info ("lame duck: deadline reached, stopping %zu workloads", n->n_workloads);
  stop_all (n);
}

void
shutdown_drain (struct node *n, uint64_t deadline_ms)
{
  if (draining || n->stopping)
    return;
  draining = true;
  log_info ("lame duck: draining, deadline in %llu ms%s", (unsigned long long) deadline_ms,
            n->exit_on_drain ? ", then exit" : "");
  loop_timer_arm (n->loop, &drain_deadline, deadline_ms);
  loop_timer_arm (n->loop, &drain_poll, 0);
}

int
shutdown_init (struct node *n, struct nxerr *err)
{
  (void) err;
  shutdown_node = n;
  loop_timer_init (&drain_deadline, on_drain_deadline);
  loop_timer_init (&drain_poll, on_drain_poll);
  loop_timer_init (&shutdown_timer, on_deadline);
  loop_timer_init (&poll_timer, on_poll);
  return 0;
}

/* --detach-on-exit: what can run on without us is left running (the next
 * node on this state dir reattaches it); the rest stops as usual. */
static void
detach_all (struct node *n)
{
  for (struct workload *w = n->workloads, *next; w; w = next)
    {
      next = w->next;
      if (supervise_detach (w))
        n->detached++;
    }
  if (n->detached)
    log_info ("shutdown: %zu workloads left running; a node started on %s reattaches them",
              n->detached, n->cfg.state_dir);
}

void
shutdown_begin (struct node *n)
{
  uint64_t grace = (uint64_t) n->cfg.stop_grace_ms;
  if (n->stopping)
    return;
  n->stopping = true;
  if (n->detach_on_exit && n->journal)
    detach_all (n);
  stop_all (n);
  if (grace > SHUTDOWN_GRACE_MAX_MS)
    grace = SHUTDOWN_GRACE_MAX_MS;
  loop_timer_arm (n->loop, &shutdown_timer, grace + 500);
  loop_timer_arm (n->loop, &poll_timer, 0);
}
