#include "node/control/autostart.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "api/b64.h"
#include "api/deploy_request.h"
#include "api/jsonw.h"
#include "api/jwt.h"
#include "api/log.h"
#include "api/xalloc.h"
#include "api/xkey.h"
#include "node/artifacts/artifact.h"
#include "node/workload/env.h"
#include "node/workload/launch.h"
#include "node/core/node.h"
#include "node/workload/workload.h"

/* nats://bucket/key, or a local path (with or without file://). */
static int
set_location (struct node *n, struct deploy_request *r, struct jwt_claims *c, const char *loc,
              struct nxerr *err)
{
  const char *path = NULL;
  char hex[65];
  if (strncmp (loc, "nats://", 7) == 0)
    {
      const char *host = loc + 7, *slash = strchr (host, '/');
      if (slash == NULL || slash[1] == '\0')
        return nxerr_set (err, EINVAL, "location %s: nats://bucket/key expected", loc);
      r->location_scheme = xstrdup ("nats");
      r->location_bucket = xstrndup (host, (size_t) (slash - host));
      r->location_key = xstrdup (slash + 1);
      return 0;
    }
  if (strncmp (loc, "file://", 7) == 0)
    path = loc + 7;
  else if (loc[0] == '/')
    path = loc;
  else
    return nxerr_set (err, EINVAL, "location %s: nats://bucket/key or an absolute path expected",
                      loc);
  if (artifact_cache_import (n->cache, path, hex, err) < 0)
    return -1;
  /* The cache is addressed by the hash claim: a local file never needs a fetch. */
  c->hash = xstrdup (hex);
  r->location_scheme = xstrdup ("file");
  r->location_bucket = xstrdup ("local");
  r->location_key = xstrdup (path);
  return 0;
}

static int
seal_to_self (struct node *n, const struct strmap *env, struct deploy_request *r,
              struct nxerr *err)
{
  cleanup_buf struct buf plain = BUF_INIT;
  cleanup_buf struct buf sealed = BUF_INIT;
  struct buf b64 = BUF_INIT;
  struct jsonw w;
  jsonw_init (&w, &plain);
  jsonw_obj_begin (&w);
  for (size_t i = 0; i < env->n; i++)
    jsonw_kstr (&w, env->keys[i], env->vals[i]);
  jsonw_obj_end (&w);
  if (xkey_seal (&n->id.xkey, n->id.xkey.public_text, plain.data, plain.len, NULL, &sealed, err)
      < 0)
    return -1;
  memset (plain.data, 0, plain.len);
  b64_encode (B64_STD, sealed.data, sealed.len, &b64);
  r->environment = buf_steal (&b64, NULL);
  r->sender_public_key = xstrdup (n->id.xkey.public_text);
  return 0;
}

/* A sealed environment from the config goes in as the operator sealed it
 * (`nexc seal`) and is opened at launch like a deploy's; one in clear is
 * sealed to the node itself, so both take the same path. Opening it here
 * first gives the operator a message that names the cause. */
static int
environment (struct node *n, const struct autostart_spec *a, struct deploy_request *r,
             struct nxerr *err)
{
  struct env probe = { 0 };
  int rc;
  if (a->sealed_env == NULL)
    return seal_to_self (n, &a->env, r, err);
  r->environment = xstrdup (a->sealed_env);
  r->sender_public_key = xstrdup (a->sender_public_key);
  rc = env_open (n, r, &probe, err);
  env_wipe (&probe);
  if (rc < 0)
    return nxerr_wrap (err,
                       "sealed_environment does not open with this node's xkey %s (sealed to "
                       "another node? `nexc seal --node %s` seals to this one)",
                       n->id.xkey.public_text, n->node_id);
  return 0;
}

static int
deploy_one (struct node *n, const struct autostart_spec *a, struct nxerr *err)
{
  struct deploy_request *r = xcalloc (1, sizeof *r);
  struct jwt_claims c;
  cleanup_buf struct buf jwt = BUF_INIT;
  memset (&c, 0, sizeof c);
  r->type = xstrdup (a->type);
  r->description = xstrdup (a->description ? a->description : "");
  r->jsdomain = xstrdup (a->jsdomain ? a->jsdomain : "");
  r->target_node = xstrdup (n->node_id);
  r->essential = a->essential;
  r->argc = a->argv.n;
  r->argv = xcalloc (a->argv.n + 1, sizeof *r->argv);
  for (size_t i = 0; i < a->argv.n; i++)
    r->argv[i] = xstrdup (a->argv.v[i]);
  c.sub = xstrdup (a->name);
  if (set_location (n, r, &c, a->location, err) < 0 || environment (n, a, r, err) < 0
      || jwt_encode (&c, &n->id.server, &jwt, err) < 0)
    {
      deploy_request_free (r);
      jwt_claims_free (&c);
      return -1;
    }
  r->workload_jwt = xstrdup (jwt.data);
  return launch_trusted (n, a->ns, r, &c, err);
}

void
autostart_run (struct node *n)
{
  for (size_t i = 0; i < n->cfg.n_autostart; i++)
    {
      struct nxerr err = { 0 };
      const struct autostart_spec *a = &n->cfg.autostart[i];
      bool running = false;
      /* Reattached from the journal of a previous run (node/workload/reattach.h). */
      for (struct workload *w = n->workloads; w && !running; w = w->next)
        running = w->autostart && strcmp (w->ns, a->ns) == 0 && strcmp (w->name, a->name) == 0;
      if (running)
        log_info ("autostart %s/%s: reattached, already running", a->ns, a->name);
      else if (deploy_one (n, a, &err) < 0)
        log_error ("autostart %s/%s: %s", a->ns, a->name, err.msg);
      else
        log_info ("autostart %s/%s from %s", a->ns, a->name, a->location);
    }
}
