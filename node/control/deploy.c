#include "node/control/deploy.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/b64.h"
#include "api/deploy_request.h"
#include "api/log.h"
#include "api/objstore.h"
#include "api/timefmt.h"
#include "api/subjects.h"
#include "api/xalloc.h"
#include "api/xkey.h"
#include "node/agents/agent.h"
#include "node/artifacts/artifact.h"
#include "node/bus/reply.h"
#include "node/control/request.h"
#include "node/bus/events.h"
#include "node/core/node.h"
#include "node/agents/pool.h"
#include "node/state/replay.h"
#include "node/workload/restart.h"
#include "node/sandbox/sandbox.h"
#include "node/workload/supervise.h"
#include "node/workload/trigger.h"
#include "node/workload/workload.h"

#define ENV_MAX_VARS 1024

/* What a deploy carries between its stages. */
struct deploy_ctx {
  struct workload *w;
  char **env; /* key, value pairs (secret: wiped on free) */
  size_t n_env;
  int exe_fd;
};

static void
ctx_free (struct deploy_ctx *d)
{
  for (size_t i = 0; i < 2 * d->n_env; i++)
    {
      sodium_memzero (d->env[i], strlen (d->env[i]));
      free (d->env[i]);
    }
  free (d->env);
  if (d->exe_fd >= 0)
    close (d->exe_fd);
  free (d);
}

static void
reply_error (struct node *n, const char *reply, const char *msg)
{
  n->counters.deploys_failed++;
  log_info ("deploy refused: %s", msg);
  reply_err (n, reply, NEX_TYPE_RUN_RESPONSE, msg);
}

/* ---- environment (§2.5) ---- */

static int
open_environment (struct node *n, const struct deploy_request *req, struct deploy_ctx *d,
                  struct nxerr *err)
{
  cleanup_buf struct buf sealed = BUF_INIT;
  struct buf plain = BUF_INIT;
  json_t *root;
  json_error_t jerr;
  const char *k;
  json_t *v;
  int rc = 0;

  if (b64_decode (B64_STD, req->environment, strlen (req->environment), &sealed, err) < 0)
    return -1;
  if (xkey_open (&n->id.xkey, req->sender_public_key, sealed.data, sealed.len, &plain, err) < 0)
    return -1;
  root = json_loadb (plain.data ? plain.data : "", plain.len, JSON_DECODE_ANY, &jerr);
  if (plain.data)
    sodium_memzero (plain.data, plain.len);
  buf_free (&plain);
  if (root == NULL)
    return nxerr_set (err, EINVAL, "invalid environment JSON: %s", jerr.text);
  if (json_is_null (root))
    {
      json_decref (root);
      return 0;
    }
  if (!json_is_object (root))
    {
      json_decref (root);
      return nxerr_set (err, EINVAL,
                        "json: cannot unmarshal non-object into Go value of type map[string]string");
    }
  if (json_object_size (root) > ENV_MAX_VARS)
    {
      json_decref (root);
      return nxerr_set (err, E2BIG, "environment has more than %d variables", ENV_MAX_VARS);
    }
  d->env = xcalloc (2 * json_object_size (root) + 1, sizeof *d->env);
  json_object_foreach (root, k, v)
  {
    char *key;
    if (!json_is_string (v))
      {
        rc = nxerr_set (err, EINVAL,
                        "json: cannot unmarshal non-string into Go value of type string");
        break;
      }
    if (*k == '\0' || strchr (k, '=') || strlen (json_string_value (v)) != json_string_length (v))
      {
        rc = nxerr_set (err, EINVAL, "environment variable names must be non-empty, without '='");
        break;
      }
    /* Native workloads get every key upper-cased (§2.5). */
    key = xstrdup (k);
    for (char *p = key; *p; p++)
      *p = (char) toupper ((unsigned char) *p);
    d->env[2 * d->n_env] = key;
    d->env[2 * d->n_env + 1] = xstrdup (json_string_value (v));
    d->n_env++;
  }
  json_decref (root);
  return rc;
}

/* ---- JWT (§2.2 step 7, §8.7) ---- */

static bool
name_ok (const char *s)
{
  if (s == NULL || *s == '\0' || strlen (s) > 128)
    return false;
  for (; *s; s++)
    if (!isalnum ((unsigned char) *s) && *s != '_' && *s != '-')
      return false;
  return true;
}

static int
check_jwt (struct node *n, const struct deploy_request *req, struct jwt_claims *c, char *msg,
           size_t cap)
{
  struct nxerr err = { 0 };
  int64_t now = (int64_t) time (NULL);
  if (jwt_decode (req->workload_jwt, c, &err) < 0)
    {
      snprintf (msg, cap, "Invalid deploy request: could not decode workload JWT: %s", err.msg);
      return -1;
    }
  if (!name_ok (c->sub))
    {
      snprintf (msg, cap,
                "Invalid deploy request: workload name claim ('%.200s') does not match "
                "requirements (^[a-zA-Z0-9_-]+$)",
                c->sub ? c->sub : "");
      return -1;
    }
  if (!jwt_time_valid (c, now))
    {
      snprintf (msg, cap, "Invalid deploy request: standard claims within JWT are not valid");
      return -1;
    }
  if (n->cfg.valid_issuers.n && !strlist_contains (&n->cfg.valid_issuers, c->iss))
    {
      snprintf (msg, cap, "invalid workload issuer: %s", c->iss);
      return -1;
    }
  if (replay_check (n->replay, c, now, &err) < 0)
    {
      snprintf (msg, cap, "Invalid deploy request: workload %s", err.msg);
      return -1;
    }
  if (!n->cfg.accept_unverified_hashes && (c->hash == NULL || !artifact_hex_ok (c->hash)))
    {
      snprintf (msg, cap,
                "Invalid deploy request: the workload JWT hash claim ('%.80s') is not the "
                "lowercase hex sha256 of the artifact; this node verifies artifacts",
                c->hash ? c->hash : "");
      return -1;
    }
  return 0;
}

/* ---- hand-off to an agent (§2.2 step 10) ---- */

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
                              .env_kv = d->env,
                              .n_env = d->n_env };
  w->agent = a;
  agent_lease (a, &supervise_agent_ops, w, w->id);
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
      /* No agent now: one per invocation (node/trigger.c). */
      struct workload *w = d->w;
      trigger_start (w, &d->exe_fd, &d->env, &d->n_env);
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

static void
get_artifact (struct deploy_ctx *d)
{
  struct workload *w = d->w;
  struct node *n = w->node;
  const struct deploy_request *req = w->req;
  uint64_t size = 0;
  uint64_t max = (uint64_t) n->cfg.max_artifact_bytes;
  int fd;
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
  if (n->cfg.max_workload_bytes && (uint64_t) n->cfg.max_workload_bytes < max)
    max = (uint64_t) n->cfg.max_workload_bytes;
  artifact_fetch (n->cache, req->location_bucket, req->location_key, req->jsdomain, max,
                  n->cfg.accept_unverified_hashes || w->autostart ? NULL : w->claims.hash,
                  on_fetched, d);
}

/* ---- the request ---- */

static bool
type_supported (struct node *n, const char *type)
{
  return strlist_contains (&n->cfg.workload_types, type);
}

static void on_restart_timer (struct loop_timer *t);

/* A validated request becomes a workload; the artifact stage follows.
 * Takes req, claims (moved) and d. */
static struct workload *
launch (struct node *n, const char *ns, struct deploy_request *req, struct jwt_claims *claims,
        struct deploy_ctx *d, const char *reply, bool autostart)
{
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
  d->w = w;
  get_artifact (d);
  return w;
}

/* Validate r and start the pipeline; refusals answer r. */
static void
start (struct node *n, struct ctl_req *r, struct deploy_request *req, const char *ns)
{
  struct deploy_ctx *d;
  struct jwt_claims claims;
  struct nxerr err = { 0 };
  char msg[700];
  struct workload *w;

  memset (&claims, 0, sizeof claims);
  if (!type_supported (n, req->type))
    {
      snprintf (msg, sizeof msg, "Unsupported workload type on this node: %.200s", req->type);
      goto refuse;
    }
  /* Function workloads (node/trigger.h): type and trigger subject rules. */
  if (trigger_check (n, req, msg, sizeof msg) < 0)
    goto refuse;
  /* Per-deploy sizing (our extension): within this node's maxima, and only
   * what this node can enforce. */
  if (sandbox_check_resources (n, &req->resources, msg, sizeof msg) < 0)
    goto refuse;
  if (n->cfg.requester_public_keys.n
      && !strlist_contains (&n->cfg.requester_public_keys, req->sender_public_key))
    {
      snprintf (msg, sizeof msg, "Invalid deploy request: sender public key %.64s is not allowed",
                req->sender_public_key);
      goto refuse;
    }
  if (!objstore_valid_bucket (req->location_bucket) || req->location_key[0] == '\0')
    {
      snprintf (msg, sizeof msg, "Failed to cache workload bytes: nats: invalid object-store name");
      goto refuse;
    }
  /* Checked here, not only by the fetch: a cached artifact skips the fetch. */
  if (req->jsdomain[0] && !subjects_token_ok (req->jsdomain))
    {
      snprintf (msg, sizeof msg, "Failed to cache workload bytes: nats: invalid domain name");
      goto refuse;
    }
  d = xcalloc (1, sizeof *d);
  d->exe_fd = -1;
  if (open_environment (n, req, d, &err) < 0)
    {
      snprintf (msg, sizeof msg, "Failed to decrypt environment for deploy request: %s", err.msg);
      ctx_free (d);
      goto refuse;
    }
  if (check_jwt (n, req, &claims, msg, sizeof msg) < 0)
    {
      ctx_free (d);
      goto refuse;
    }
  w = launch (n, ns, req, &claims, d, r->reply, false);
  log_debug ("deploy %s: %s/%s accepted in %.3f ms", w->id, ns, w->name,
             (double) (timefmt_mono_ns () - r->recv_ns) / 1e6);
  return;

refuse:
  jwt_claims_free (&claims);
  deploy_request_free (req);
  reply_error (n, r->reply, msg);
}

void
deploy_handle (struct node *n, struct ctl_req *r)
{
  struct deploy_request *req = NULL;
  struct nxerr err = { 0 };
  char ns[300];
  char msg[700];

  if (!subjects_namespace (r->subject, ns, sizeof ns))
    {
      reply_error (n, r->reply, "Invalid subject for workload deployment");
      goto out;
    }
  if (n->lameduck)
    {
      reply_error (n, r->reply, "Node is in lame duck mode. Workload deploy request rejected");
      goto out;
    }
  if (n->cfg.max_workloads && n->n_workloads >= (size_t) n->cfg.max_workloads)
    {
      reply_error (n, r->reply, "Node is at maximum workload limit. Deploy request denied");
      goto out;
    }
  if (deploy_request_decode (r->data, r->len, &req, &err) < 0)
    {
      if (err.code == EPROTO)
        snprintf (msg, sizeof msg, "%s", err.msg);
      else
        snprintf (msg, sizeof msg, "Unable to deserialize deploy request: %s", err.msg);
      reply_error (n, r->reply, msg);
      goto out;
    }
  start (n, r, req, ns);
out:
  ctl_req_free (r);
}

void
deploy_clear_essential (struct workload *w)
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
  d = xcalloc (1, sizeof *d);
  d->exe_fd = -1;
  if (open_environment (n, w->req, d, &err) < 0)
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
  get_artifact (d);
}

void
deploy_adopt (struct workload *w)
{
  loop_timer_init (&w->restart_timer, on_restart_timer);
}

bool
deploy_schedule_restart (struct workload *w, int code)
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
deploy_trusted (struct node *n, const char *ns, struct deploy_request *req,
                struct jwt_claims *claims, struct nxerr *err)
{
  struct deploy_ctx *d = xcalloc (1, sizeof *d);
  d->exe_fd = -1;
  if (open_environment (n, req, d, err) < 0)
    {
      ctx_free (d);
      deploy_request_free (req);
      jwt_claims_free (claims);
      return nxerr_wrap (err, "environment");
    }
  launch (n, ns, req, claims, d, NULL, true);
  return 0;
}
