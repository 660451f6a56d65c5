#include "node/agents/pool.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/log.h"
#include "api/xalloc.h"
#include "node/agents/agent.h"
#include "node/core/node.h"
#include "node/agents/agent_sock.h"
#include "node/sandbox/cgnone.h"
#include "node/sandbox/sandbox.h"
#include "node/agents/spawner.h"
#include "node/agents/zygote.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000
/* In the process tier, a refill waits while a deploy it leased an agent to
 * is starting, as long as an idle agent is left for the next deploy, at
 * most this long. Spawning beside a start slows the start down: on 2 cores the
 * spawn's clone and exec take the core the workload's exec needs, and on
 * cgroup v1 attaching the new agent to its leaf holds the kernel's
 * cgroup_threadgroup_rwsem for an RCU grace period, during which every
 * fork and exec on the host, the workload's among them, waits
 * (warm.process p50 3.4-4.7x the floor with the refill beside the start,
 * 1.6x with it after). */
#define REFILL_WAIT_MAX_MS 10

struct pool {
  struct node *node;
  struct agent *all; /* every agent not yet freed */
  size_t n_idle;
  size_t n_warming; /* warm spawns waiting for Hello */
  uint64_t backoff_ms;
  struct loop_timer refill_timer;
  uint64_t spawn_failures_in_row;
  char last_error[256];
  bool refill_deferred;
  size_t n_starting;             /* leased agents whose first frame has not come */
  struct loop_timer start_timer; /* REFILL_WAIT_MAX_MS after a refill began waiting */
  size_t size;      /* warm agents to keep */
  uint64_t misses;
  const char *what; /* "warm pool" or "function pool", for log lines */
};

static void refill (struct pool *p);
static void refill_now (struct pool *p);

static void
on_refill_timer (struct loop_timer *t)
{
  struct pool *p = (struct pool *) ((char *) t - offsetof (struct pool, refill_timer));
  refill (p);
}

/* Starts took longer than the wait: refill anyway, or the pool runs dry. */
static void
on_start_timer (struct loop_timer *t)
{
  struct pool *p = (struct pool *) ((char *) t - offsetof (struct pool, start_timer));
  refill_now (p);
}

int
pool_new (struct node *n, struct pool **out, struct nxerr *err)
{
  struct pool *p = xcalloc (1, sizeof *p);
  (void) err;
  p->node = n;
  p->backoff_ms = 0;
  p->size = (size_t) n->cfg.machine_pool_size;
  p->what = "warm pool";
  loop_timer_init (&p->refill_timer, on_refill_timer);
  loop_timer_init (&p->start_timer, on_start_timer);
  *out = p;
  return 0;
}

void
pool_set_size (struct pool *p, size_t size, const char *what)
{
  p->size = size;
  p->what = what;
}

static void
list_add (struct pool *p, struct agent *a)
{
  a->pool = p;
  a->prev = NULL;
  a->next = p->all;
  if (p->all)
    p->all->prev = a;
  p->all = a;
}

static void
list_remove (struct pool *p, struct agent *a)
{
  if (a->prev)
    a->prev->next = a->next;
  else
    p->all = a->next;
  if (a->next)
    a->next->prev = a->prev;
}

static void
spawn_failed (struct pool *p, const char *why)
{
  struct node *n = p->node;
  n->counters.agent_spawn_failures++;
  p->spawn_failures_in_row++;
  snprintf (p->last_error, sizeof p->last_error, "%s", why);
  p->backoff_ms = p->backoff_ms ? p->backoff_ms * 2 : BACKOFF_MIN_MS;
  if (p->backoff_ms > BACKOFF_MAX_MS)
    p->backoff_ms = BACKOFF_MAX_MS;
  log_error ("%s refill failed (%llu in a row): %s; retrying in %llu ms", p->what,
             (unsigned long long) p->spawn_failures_in_row, why,
             (unsigned long long) p->backoff_ms);
  if (!n->stopping)
    loop_timer_arm (n->loop, &p->refill_timer, p->backoff_ms);
}

static void
refill (struct pool *p)
{
  /* Process tier only (tier none's zygote fork takes no such lock, and
   * waiting there cost throughput: 3,300-4,000 -> 2,600-3,500 cycles in 8 s
   * at 4 clients, misses 40-160 -> 420); never when the pool is empty: the
   * next deploy would miss. The function pool waits too while a single
   * invocation runs (its agent "starts" until it ends): the replacement's
   * fork and the invocation's spawn then do not share the 2 cores
   * (fn.invoke 1.46-1.53x -> 1.34-1.42x of its floor, BENCHMARKS.md);
   * under concurrent invocations it refills at once, as before. */
  bool fn_alone = p == p->node->fn_pool && p->n_starting == 1;
  if ((p->node->sandbox || fn_alone) && p->n_starting > 0 && p->n_idle > 0)
    {
      if (!loop_timer_armed (&p->start_timer))
        loop_timer_arm (p->node->loop, &p->start_timer, REFILL_WAIT_MAX_MS);
      return;
    }
  refill_now (p);
}

static void
refill_now (struct pool *p)
{
  struct node *n = p->node;
  if (n->stopping || loop_timer_armed (&p->refill_timer))
    return;
  while (p->n_idle + p->n_warming < p->size)
    {
      struct agent *a = NULL;
      struct nxerr err = { 0 };
      int rc = agent_spawn (n, &a, &err);
      if (a)
        {
          list_add (p, a);
          a->warm = true;
        }
      if (rc < 0)
        {
          spawn_failed (p, err.msg);
          return;
        }
      p->n_warming++;
    }
}

/* After the current batch of events: a lease's Deploy frame goes out
 * before the replacement agent is spawned (in the process tier that spawn
 * builds namespaces and a cgroup: a deploy should not wait for it). */
static void
on_deferred_refill (void *arg)
{
  struct node *n = arg;
  struct pool *pools[2] = { n->pool, n->fn_pool }; /* NULL once freed (shutdown) */
  for (int i = 0; i < 2; i++)
    if (pools[i] && pools[i]->refill_deferred)
      {
        pools[i]->refill_deferred = false;
        refill (pools[i]);
      }
}

static void
refill_soon (struct pool *p)
{
  if (p->refill_deferred)
    return;
  p->refill_deferred = true;
  loop_defer (p->node->loop, on_deferred_refill, p->node);
}

void
pool_start (struct pool *p)
{
  refill (p);
}

struct agent *
pool_spawn (struct pool *p, struct nxerr *err)
{
  struct agent *a = NULL;
  int rc = agent_spawn (p->node, &a, err);
  if (a)
    list_add (p, a);
  return rc < 0 ? NULL : a;
}

void
pool_agent_ready (struct pool *p, struct agent *a)
{
  struct node *n = p->node;
  if (a->warm && p->n_warming > 0)
    p->n_warming--;
  if (p->spawn_failures_in_row)
    log_info ("%s refill recovered after %llu failures", p->what,
              (unsigned long long) p->spawn_failures_in_row);
  p->spawn_failures_in_row = 0;
  p->backoff_ms = 0;
  a->idle = true;
  a->warm = false;
  p->n_idle++;
  loop_timer_arm (n->loop, &a->timer, (uint64_t) n->cfg.agent_ping_interval_ms);
  refill (p);
}

struct agent *
pool_lease (struct pool *p)
{
  struct agent *a;
  for (a = p->all; a; a = a->next)
    if (a->idle && a->state == AGENT_READY)
      break;
  if (a == NULL)
    {
      if (p == p->node->pool)
        p->node->counters.pool_misses++;
      p->misses++;
      refill (p);
      return NULL;
    }
  a->idle = false;
  p->n_idle--;
  a->state = AGENT_LEASED;
  a->starting = true;
  p->n_starting++;
  loop_timer_cancel (p->node->loop, &a->timer);
  refill_soon (p);
  return a;
}

void
pool_agent_started (struct pool *p, struct agent *a)
{
  if (!a->starting)
    return;
  a->starting = false;
  if (p->n_starting > 0)
    p->n_starting--;
  if (p->n_starting == 0)
    {
      loop_timer_cancel (p->node->loop, &p->start_timer);
      refill_soon (p);
    }
}

/* Once reaped, every process of the sandbox is gone (the agent was pid 1
 * of its pid namespace): take the sandbox apart. In tier none the agent's
 * cgroup leaf may still hold what its workload forked (a SIGKILLed agent
 * kills nothing): all of it is killed now, and the leaf removed. */
static void
release_sandbox (struct pool *p, struct agent *a)
{
  cgnone_release (p->node->cgnone, a->cg_leaf);
  a->cg_leaf[0] = '\0';
  if (a->slot == NULL)
    return;
  sandbox_slot_release (p->node->sandbox, a->slot);
  a->slot = NULL;
}

static void
free_agent (void *arg)
{
  struct agent *a = arg;
  if (!a->detached) /* a detached agent's socket is how a new node finds it */
    agent_sock_remove (a->sock);
  if (a->pidfd >= 0)
    close (a->pidfd);
  free (a->sock);
  free (a);
}

void
pool_adopt (struct pool *p, struct agent *a)
{
  list_add (p, a);
}

/* Once: agent_reaped may reach here through agent_kill -> pool_agent_gone
 * and then again from pool_reap. */
static void
maybe_free (struct pool *p, struct agent *a)
{
  if (a->state != AGENT_DEAD || !a->reaped || a->freeing || a->spawn_pending)
    return; /* a spawner job still points to it: on_spawned calls again */
  a->freeing = true;
  release_sandbox (p, a);
  list_remove (p, a);
  loop_defer (p->node->loop, free_agent, a);
}

void
pool_agent_gone (struct pool *p, struct agent *a)
{
  if (a->idle)
    {
      a->idle = false;
      p->n_idle--;
    }
  if (a->warm)
    {
      a->warm = false;
      if (p->n_warming > 0)
        p->n_warming--;
      spawn_failed (p, "agent died before its handshake");
    }
  maybe_free (p, a);
  refill (p);
}

void
pool_reap (struct pool *p)
{
  for (;;)
    {
      siginfo_t si;
      int status;
      pid_t pid;
      struct agent *a;
      /* Look before reaping: a child no agent claims may be one the spawner
       * made whose result is not applied yet (node/agents/spawner.h); it is
       * left for on_spawned's pool_reap, or its pid could be reused. */
      memset (&si, 0, sizeof si);
      if (waitid (P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid <= 0)
        return;
      pid = si.si_pid;
      struct pool *in = p;
      for (a = p->all; a; a = a->next)
        if (a->pid == pid && !a->reaped)
          break;
      /* The function pool's agents are reaped here too (one SIGCHLD). */
      if (a == NULL && p->node->fn_pool && p->node->fn_pool != p)
        for (in = p->node->fn_pool, a = in->all; a; a = a->next)
          if (a->pid == pid && !a->reaped)
            break;
      if (a == NULL && spawner_in_flight (p->node) > 0)
        return;
      if (waitpid (pid, &status, WNOHANG) != pid)
        return;
      if (a == NULL)
        {
          zygote_reaped (p->node, pid);
          continue;
        }
      agent_reaped (a, status);
      a->reaped = true;
      maybe_free (in, a);
    }
}

size_t
pool_idle_count (const struct pool *p)
{
  return p->n_idle;
}

void
pool_write_info (struct node *n, struct jsonw *w)
{
  struct pool *p = n->pool;
  jsonw_key (w, "pool");
  jsonw_obj_begin (w);
  jsonw_kint (w, "size", (int64_t) p->size);
  jsonw_kint (w, "warm", (int64_t) p->n_idle);
  jsonw_kint (w, "starting", (int64_t) p->n_warming);
  jsonw_kint (w, "misses", (int64_t) n->counters.pool_misses);
  jsonw_kint (w, "refill_failures_in_row", (int64_t) p->spawn_failures_in_row);
  if (p->spawn_failures_in_row)
    jsonw_kstr (w, "last_error", p->last_error);
  jsonw_obj_end (w);
  if (n->fn_pool)
    {
      p = n->fn_pool;
      jsonw_key (w, "function_pool");
      jsonw_obj_begin (w);
      jsonw_kint (w, "size", (int64_t) p->size);
      jsonw_kint (w, "warm", (int64_t) p->n_idle);
      jsonw_kint (w, "starting", (int64_t) p->n_warming);
      jsonw_kint (w, "misses", (int64_t) p->misses);
      jsonw_kint (w, "refill_failures_in_row", (int64_t) p->spawn_failures_in_row);
      jsonw_obj_end (w);
    }
}

void
pool_free (struct pool *p)
{
  struct agent *a, *next;
  if (p == NULL)
    return;
  spawner_drain (p->node); /* no agent of ours still on the spawner's thread */
  loop_timer_cancel (p->node->loop, &p->refill_timer);
  loop_timer_cancel (p->node->loop, &p->start_timer);
  for (a = p->all; a; a = next)
    {
      next = a->next;
      a->warm = false;
      a->idle = false;
      if (a->detached)
        {
          /* Its sandbox (or leaf) stays as it is, for the node that
           * reattaches it. */
          free (a->slot);
          a->slot = NULL;
          a->cg_leaf[0] = '\0';
          free_agent (a);
          continue;
        }
      /* Freed here, not by agent_kill's pool_agent_gone: an adopted agent is
       * "reaped" as it is killed, and maybe_free would take it off the list
       * (whose earlier entries are freed already) and free it once more. */
      a->freeing = true;
      agent_kill (a, NULL);
      if (!a->reaped && a->pid > 0)
        waitpid (a->pid, NULL, 0);
      release_sandbox (p, a);
      free_agent (a);
    }
  free (p);
}
