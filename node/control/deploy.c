#include "node/control/deploy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/deploy_request.h"
#include "api/log.h"
#include "api/objstore.h"
#include "api/subjects.h"
#include "api/timefmt.h"
#include "node/artifacts/artifact.h"
#include "node/bus/reply.h"
#include "node/control/bound.h"
#include "node/control/request.h"
#include "node/workload/trigger_check.h"
#include "node/core/node.h"
#include "node/sandbox/fsview.h"
#include "node/sandbox/sandbox.h"
#include "node/state/replay.h"
#include "node/workload/env.h"
#include "node/workload/launch.h"
#include "node/workload/trigger.h"
#include "node/workload/workload.h"

static void
reply_error (struct node *n, const char *reply, const char *msg)
{
  n->counters.deploys_failed++;
  log_info ("deploy refused: %s", msg);
  reply_err (n, reply, NEX_TYPE_RUN_RESPONSE, msg);
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
  if (bound_check_deploy (n, c, req, msg, cap) < 0)
    return -1;
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

/* ---- the request ---- */

static bool
type_supported (struct node *n, const char *type)
{
  return strlist_contains (&n->cfg.workload_types, type);
}

/* Validate r and start the pipeline; refusals answer r. */
static void
start (struct node *n, struct ctl_req *r, struct deploy_request *req, const char *ns)
{
  struct env env = { 0 };
  struct jwt_claims claims;
  struct nxerr err = { 0 };
  char msg[700];
  struct workload *w;
  bool host_ro;

  memset (&claims, 0, sizeof claims);
  if (!type_supported (n, req->type))
    {
      snprintf (msg, sizeof msg, "Unsupported workload type on this node: %.200s", req->type);
      goto refuse;
    }
  /* Function workloads (node/workload/trigger.h): type and trigger subject rules. */
  if (trigger_check (n, req, msg, sizeof msg) < 0)
    goto refuse;
  /* Per-deploy sizing (our extension): within this node's maxima, and only
   * what this node can enforce. */
  if (sandbox_check_resources (n, &req->resources, msg, sizeof msg) < 0)
    goto refuse;
  /* The file system view (our extension): never a sensitive host path. */
  if (fsview_check (n, &req->filesystem, msg, sizeof msg) < 0)
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
  if (env_open (n, req, &env, &err) < 0)
    {
      snprintf (msg, sizeof msg, "Failed to decrypt environment for deploy request: %s", err.msg);
      goto refuse;
    }
  if (check_jwt (n, req, &claims, msg, sizeof msg) < 0)
    goto refuse;
  /* The weaker view, said when a deploy picks it over the node's default. */
  host_ro = n->sandbox && req->filesystem.mode == FS_HOST_RO && n->cfg.filesystem != FS_HOST_RO;
  w = launch_workload (n, ns, req, &claims, &env, r->reply, false); /* takes req */
  if (host_ro)
    log_info ("workload %s (%s): \"filesystem\": \"host-ro\": it sees the host's tree, "
              "read-only",
              w->id, w->name);
  log_debug ("deploy %s: %s/%s accepted in %.3f ms", w->id, ns, w->name,
             (double) (timefmt_mono_ns () - r->recv_ns) / 1e6);
  return;

refuse:
  env_wipe (&env);
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
