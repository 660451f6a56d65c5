#include "node/workload/launch.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/deploy_request.h"
#include "api/deployment.h"
#include "api/log.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/agents/agent.h"
#include "node/agents/pool.h"
#include "node/artifacts/artifact.h"
#include "node/bus/events.h"
#include "node/core/node.h"
#include "node/sandbox/sandbox.h"
#include "node/workload/creds.h"
#include "node/workload/restart.h"
#include "node/workload/supervise.h"
#include "node/workload/trigger.h"
#include "node/workload/workload.h"

/* What a deploy carries between its stages. */
struct deploy_ctx {
  struct workload *w;
  struct env env; /* secret: wiped on free */
  int exe_fd;
};

static struct deploy_ctx *
ctx_new (void)
{
  struct deploy_ctx *d = xcalloc (1, sizeof *d);
  d->exe_fd = -1;
  return d;
}

static void
ctx_free (struct deploy_ctx *d)
{
  env_wipe (&d->env);
  if (d->exe_fd >= 0)
    close (d->exe_fd);
  free (d);
}

/* ---- hand-off to an agent (§2.2 step 10) ---- */

/* The deploy's "logs" policy, else the node's. */
static bool
launch_logs_drop_oldest (const struct workload *w)
{
  if (w->req && w->req->logs_on_full != DEPLOY_LOGS_UNSET)
    return w->req->logs_on_full == DEPLOY_LOGS_DROP_OLDEST;
  return w->node->cfg.logs_on_full == LOGS_DROP_OLDEST;
}

/* The run's own NATS user, in the sandbox's working dir (tier none: the
 * node's creds dir, as the node's uid). */
static int
issue_creds (struct deploy_ctx *d, struct agent *a, struct nxerr *err)
{
  if (a->slot)
    return creds_issue (d->w, a->slot->workdir, a->slot->uid, &d->env, err);
  return creds_issue (d->w, NULL, geteuid (), &d->env, err);
}

/* A deployment's replica (node/deployments/replica.h: its token is this
 * node's, purpose "replica") must not outlive the node: once its lease runs
 * out another node runs its slot. */
bool
launch_dies_with_node (const struct workload *w)
{
  return w->claims.purpose && strcmp (w->claims.purpose, JWT_PURPOSE_REPLICA) == 0
         && w->claims.iss && strcmp (w->claims.iss, w->node->node_id) == 0;
}

static void
send_to_agent (struct deploy_ctx *d, struct agent *a)
{
  struct workload *w = d->w;
  struct nxerr err = { 0 };
  struct agent_deploy dep = { .id = w->id,
                              .name = w->name,
                              .argv = w->req ? w->req->argv : NULL,
                              .argc = w->req ? w->req->argc : 0,
                              .artifact_size = w->artifact_size,
                              .resources = w->req ? &w->req->resources : NULL,
                              .filesystem = w->req ? &w->req->filesystem : NULL,
                              .logs_drop_oldest = launch_logs_drop_oldest (w),
                              /* A restart continues the workload's numbering. */
                              .logs_first_seq = w->log.seq + 1,
                              .logs_acked = supervise_logs_acked (w),
                              .die_with_node = launch_dies_with_node (w) };
  w->agent = a;
  agent_lease (a, &supervise_agent_ops, w, w->id);
  /* Leased first: a failure ends the workload, which kills the agent. */
  if (issue_creds (d, a, &err) < 0)
    {
      char msg[600];
      snprintf (msg, sizeof msg, "Failed to deploy workload: %s", err.msg);
      ctx_free (d);
      supervise_fail_deploy (w, msg);
      return;
    }
  dep.env_kv = d->env.kv;
  dep.n_env = d->env.n;
  if (agent_send_deploy (a, &dep, d->exe_fd, &err) < 0)
    {
      char msg[600];
      snprintf (msg, sizeof msg,
                "Failed to deploy workload: failed to submit request for workload deployment: %s",
                err.msg);
      ctx_free (d);
      supervise_fail_deploy (w, msg);
      return;
    }
  ctx_free (d); /* the agent holds its own copy of the fd now */
}

static void
on_cold_ready (struct agent *a, bool ok, void *ud)
{
  struct deploy_ctx *d = ud;
  if (!ok)
    {
      struct workload *w = d->w;
      ctx_free (d);
      w->agent = NULL;
      supervise_fail_deploy (w, "Failed to deploy workload: failed to prepare agent process for "
                                "workload deployment: agent died during start");
      return;
    }
  send_to_agent (d, a);
}

static void
hand_off (struct deploy_ctx *d)
{
  struct node *n = d->w->node;
  struct agent *a;
  struct nxerr err = { 0 };
  if (trigger_is_function (d->w->type))
    {
      /* No agent now: one per invocation (node/workload/trigger.c). */
      struct workload *w = d->w;
      trigger_start (w, &d->exe_fd, &d->env);
      ctx_free (d);
      return;
    }
  a = pool_lease (n->pool);
  if (a)
    {
      send_to_agent (d, a);
      return;
    }
  /* No warm agent: start one now rather than fail (a cold start). */
  a = pool_spawn (n->pool, &err);
  if (a == NULL)
    {
      char msg[600];
      struct workload *w = d->w;
      snprintf (msg, sizeof msg,
                "Failed to deploy workload: failed to deploy workload: no available agent client "
                "in pool (%s)",
                err.msg);
      ctx_free (d);
      supervise_fail_deploy (w, msg);
      return;
    }
  a->state = AGENT_SPAWNING;
  a->on_ready = on_cold_ready;
  a->ud = d;
  d->w->agent = a;
}

/* ---- artifact (§2.2 step 9) ---- */

static bool
limits_ok (struct deploy_ctx *d, uint64_t size, char *msg, size_t cap)
{
  struct node *n = d->w->node;
  if (n->cfg.max_workload_bytes && size > (uint64_t) n->cfg.max_workload_bytes)
    {
      snprintf (msg, cap, "Workload file size would exceed node limitations");
      return false;
    }
  if (n->cfg.max_total_bytes && n->total_bytes + size > (uint64_t) n->cfg.max_total_bytes)
    {
      snprintf (msg, cap, "Workload file size would exceed node total limitations");
      return false;
    }
  return true;
}

static void
artifact_ready (struct deploy_ctx *d, int fd, const char *hex, uint64_t size)
{
  struct workload *w = d->w;
  struct node *n = w->node;
  char msg[512];
  d->exe_fd = fd;
  if (!limits_ok (d, size, msg, sizeof msg))
    {
      ctx_free (d);
      supervise_fail_deploy (w, msg);
      return;
    }
  if (size == 0)
    {
      ctx_free (d);
      supervise_fail_deploy (w, "Failed to deploy workload: workload rejected by agent: total "
                                "bytes is required");
      return;
    }
  memcpy (w->hash, hex, 65);
  /* Account the bytes now that they are known (node_limits). */
  n->total_bytes += size;
  w->artifact_size = size;
  if (w->stop_requested)
    {
      ctx_free (d);
      supervise_fail_deploy (w, w->node->stopping
                                    ? "Failed to deploy workload: node is shutting down"
                                    : "Failed to deploy workload: stopped before it started");
      return;
    }
  hand_off (d);
}

static void
on_fetched (void *ud, struct artifact_result *res)
{
  struct deploy_ctx *d = ud;
  struct workload *w = d->w;
  char msg[700];
  if (res->fd < 0 && res->err.code == EFBIG)
    {
      ctx_free (d);
      supervise_fail_deploy (w, "Workload file size would exceed node limitations");
      return;
    }
  if (res->fd < 0)
    {
      snprintf (msg, sizeof msg, "Failed to cache workload bytes: %s", res->err.msg);
      ctx_free (d);
      supervise_fail_deploy (w, msg);
      return;
    }
  if (!w->node->cfg.accept_unverified_hashes && !w->autostart
      && (w->claims.hash == NULL || strcmp (res->hex, w->claims.hash) != 0))
    {
      snprintf (msg, sizeof msg,
                "Failed to cache workload bytes: artifact sha256 %s does not match the workload "
                "JWT hash claim %s",
                res->hex, w->claims.hash);
      close (res->fd);
      ctx_free (d);
      supervise_fail_deploy (w, msg);
      return;
    }
  artifact_ready (d, res->fd, res->hex, res->size);
}

/* fresh: a DEPLOY (not a restart, not autostart, not a deployment's
 * replica, whose spec pins the hash): its location is checked
 * against the object store before cached bytes are used, so that what it
 * means does not depend on what this node happens to have cached. A
 * restart runs the deploy already accepted (from the cache when it can: an
 * essential workload restarts while NATS is away); autostart names local
 * files or carries no hash. */
static void
get_artifact (struct deploy_ctx *d, bool fresh)
{
  struct workload *w = d->w;
  struct node *n = w->node;
  const struct deploy_request *req = w->req;
  struct artifact_loc loc = { .bucket = req->location_bucket,
                              .key = req->location_key,
                              .jsdomain = req->jsdomain,
                              .max_size = (uint64_t) n->cfg.max_artifact_bytes };
  bool verified = !n->cfg.accept_unverified_hashes && !w->autostart;
  uint64_t size = 0;
  int fd;
  if (n->cfg.max_workload_bytes && (uint64_t) n->cfg.max_workload_bytes < loc.max_size)
    loc.max_size = (uint64_t) n->cfg.max_workload_bytes;
  loc.expect_hex = verified ? w->claims.hash : NULL;
  if (fresh && !w->autostart)
    {
      artifact_get (n->cache, &loc, on_fetched, d);
      return;
    }
  /* The signed hash names the bytes: when we have them, no fetch at all. */
  if (w->claims.hash && artifact_hex_ok (w->claims.hash))
    {
      fd = artifact_cache_open (n->cache, w->claims.hash, &size);
      if (fd >= 0)
        {
          artifact_ready (d, fd, w->claims.hash, size);
          return;
        }
    }
  artifact_fetch (n->cache, &loc, on_fetched, d);
}

/* ---- the workload ---- */

static void on_restart_timer (struct loop_timer *t);

struct workload *
launch_workload (struct node *n, const char *ns, struct deploy_request *req,
                 struct jwt_claims *claims, struct env *env, const char *reply, bool autostart)
{
  struct deploy_ctx *d = ctx_new ();
  struct workload *w = workload_new (n);
  w->ns = xstrdup (ns);
  w->name = xstrdup (claims->sub);
  w->type = xstrdup (req->type);
  w->description = xstrdup (req->description);
  w->claims = *claims;
  memset (claims, 0, sizeof *claims);
  w->req = req;
  w->autostart = autostart;
  w->restarts = (uint32_t) req->retry_count;
  restart_policy_from (req, &w->policy);
  loop_timer_init (&w->restart_timer, on_restart_timer);
  w->deploy_reply = reply ? xstrdup (reply) : NULL;
  w->state = WL_STARTING;
  loop_timer_init (&w->stop_timer, NULL);
  workload_link (n, w);
  d->env = *env;
  memset (env, 0, sizeof *env);
  d->w = w;
  /* A replica's hash is pinned by its signed spec: cached bytes with that
   * hash are exactly what it names, so it starts while the store is away
   * (a server lost mid-rollout), as a restart does. */
  get_artifact (d, !launch_dies_with_node (w));
  return w;
}

void
launch_clear_essential (struct workload *w)
{
  if (w->req)
    w->req->essential = false;
}

/* ---- restarts (our policy extension; Nex restarted essential workloads at
 * once, forever, under new ids) ---- */

static void
on_restart_timer (struct loop_timer *t)
{
  struct workload *w = (struct workload *) ((char *) t - offsetof (struct workload, restart_timer));
  struct node *n = w->node;
  struct deploy_ctx *d;
  struct nxerr err = { 0 };
  if (n->stopping || n->lameduck || w->stop_requested)
    {
      supervise_end_quietly (w);
      return;
    }
  d = ctx_new ();
  if (env_open (n, w->req, &d->env, &err) < 0)
    {
      char msg[600];
      snprintf (msg, sizeof msg, "Failed to restart workload: environment: %s", err.msg);
      ctx_free (d);
      w->state = WL_STARTING;
      supervise_fail_deploy (w, msg);
      return;
    }
  w->restarts++;
  w->req->retry_count = w->restarts;
  w->state = WL_STARTING;
  w->created_mono_ns = timefmt_mono_ns ();
  w->started_mono_ns = 0;
  d->w = w;
  /* Its bytes are accounted again when the artifact is ready. */
  n->total_bytes -= w->artifact_size;
  w->artifact_size = 0;
  log_info ("restarting workload %s (%s), restart %u", w->id, w->name, w->restarts);
  get_artifact (d, false);
}

void
launch_adopt (struct workload *w)
{
  loop_timer_init (&w->restart_timer, on_restart_timer);
}

bool
launch_schedule_restart (struct workload *w, int code)
{
  struct node *n = w->node;
  uint64_t run_ms = w->started_mono_ns ? (timefmt_mono_ns () - w->started_mono_ns) / 1000000 : 0;
  uint64_t delay = 0;
  enum restart_verdict v;
  if (w->req == NULL)
    return false;
  v = restart_decide (&w->policy, code, false, run_ms, (uint64_t) n->cfg.restart_stable_ms,
                      &w->restart_streak, &delay, randombytes_random ());
  if (v == RESTART_NO)
    return false;
  if (v == RESTART_GIVE_UP)
    {
      char msg[300];
      struct events_wl ev = workload_ev (w);
      snprintf (msg, sizeof msg,
                "Gave up restarting workload: %s; vm: %s; %llu restarts without a stable run "
                "(policy %s, max_restarts %llu)",
                w->name, w->id, (unsigned long long) w->restart_streak,
                restart_policy_name (w->policy.policy),
                (unsigned long long) w->policy.max_restarts);
      log_error ("%s", msg);
      events_workload_given_up (n, &ev, msg);
      return false;
    }
  w->state = WL_RESTARTING;
  loop_timer_arm (n->loop, &w->restart_timer, delay);
  log_info ("workload %s (%s) ended with %d: restart %u in %llu ms (policy %s)", w->id, w->name,
            code, w->restarts + 1, (unsigned long long) delay,
            restart_policy_name (w->policy.policy));
  return true;
}

int
launch_trusted (struct node *n, const char *ns, struct deploy_request *req,
                struct jwt_claims *claims, struct nxerr *err)
{
  struct env env = { 0 };
  if (env_open (n, req, &env, err) < 0)
    {
      env_wipe (&env);
      deploy_request_free (req);
      jwt_claims_free (claims);
      return nxerr_wrap (err, "environment");
    }
  launch_workload (n, ns, req, claims, &env, NULL, true);
  return 0;
}

int
launch_own (struct node *n, const char *ns, struct deploy_request *req, struct jwt_claims *claims,
            struct workload **out, struct nxerr *err)
{
  struct env env = { 0 };
  if (env_open (n, req, &env, err) < 0)
    {
      env_wipe (&env);
      deploy_request_free (req);
      jwt_claims_free (claims);
      return nxerr_wrap (err, "environment");
    }
  *out = launch_workload (n, ns, req, claims, &env, NULL, false);
  return 0;
}
