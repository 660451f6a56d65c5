#include "node/deployments/replica.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/b64.h"
#include "api/deploy_request.h"
#include "api/jwt.h"
#include "api/xalloc.h"
#include "api/xkey.h"
#include "node/core/node.h"
#include "node/sandbox/sandbox.h"
#include "node/workload/launch.h"
#include "node/workload/trigger_check.h"
#include "node/workload/supervise.h"
#include "node/workload/workload.h"

bool
replica_of (const struct node *n, const struct workload *w, struct replica_id *id)
{
  const struct jwt_claims *c = &w->claims;
  const char *h1, *h2;
  char *end;
  unsigned long slot;
  if (c->purpose == NULL || strcmp (c->purpose, JWT_PURPOSE_REPLICA) != 0 || c->iss == NULL
      || strcmp (c->iss, n->node_id) != 0 || c->bind == NULL)
    return false;
  h1 = strchr (c->bind, '#');
  h2 = h1 ? strchr (h1 + 1, '#') : NULL;
  if (h2 == NULL || (size_t) (h1 - c->bind) >= sizeof id->dep
      || strlen (h2 + 1) != DEPLOYMENT_TEMPLATE_LEN)
    return false;
  slot = strtoul (h1 + 1, &end, 10);
  if (end != h2 || slot >= DEPLOYMENT_REPLICAS_MAX)
    return false;
  memcpy (id->dep, c->bind, (size_t) (h1 - c->bind));
  id->dep[h1 - c->bind] = '\0';
  id->slot = (uint32_t) slot;
  memcpy (id->template, h2 + 1, DEPLOYMENT_TEMPLATE_LEN + 1);
  return true;
}

struct workload *
replica_stopping (struct node *n, const char *dep, uint32_t slot)
{
  struct replica_id id;
  for (struct workload *w = n->workloads; w; w = w->next)
    if (w->state == WL_STOPPING && replica_of (n, w, &id) && id.slot == slot
        && strcmp (id.dep, dep) == 0)
      return w;
  return NULL;
}

bool
replica_alive (const struct workload *w)
{
  return w->state != WL_STOPPING && w->state != WL_ENDED;
}

void
replica_stop (struct workload *w)
{
  if (w->state == WL_RESTARTING)
    supervise_end_quietly (w);
  else if (replica_alive (w))
    supervise_stop (w);
}

/* The spec's environment (sealed to the deployments xkey) sealed again to
 * this node's own xkey, as every journaled request is. */
static int
reseal_env (struct node *n, const struct deployment_spec *s, const struct nkey_pair *xkey,
            struct deploy_request *r, struct nxerr *err)
{
  cleanup_buf struct buf sealed = BUF_INIT;
  cleanup_buf struct buf again = BUF_INIT;
  struct buf plain = BUF_INIT, b64 = BUF_INIT;
  int rc = 0;
  if (s->environment == NULL)
    buf_puts (&plain, "{}");
  else if (xkey == NULL)
    return nxerr_set (err, EPERM,
                      "the spec has an environment and this node has no "
                      "deployments.xkey_seed_file to open it");
  else if (b64_decode (B64_STD, s->environment, strlen (s->environment), &sealed, err) < 0
           || xkey_open (xkey, s->sender_public_key, sealed.data, sealed.len, &plain, err) < 0)
    {
      buf_free (&plain);
      return nxerr_wrap (err, "environment");
    }
  rc = xkey_seal (&n->id.xkey, n->id.xkey.public_text, plain.data ? plain.data : "", plain.len,
                  NULL, &again, err);
  if (plain.data)
    sodium_memzero (plain.data, plain.len);
  buf_free (&plain);
  if (rc < 0)
    return -1;
  b64_encode (B64_STD, again.data, again.len, &b64);
  r->environment = buf_steal (&b64, NULL);
  r->sender_public_key = xstrdup (n->id.xkey.public_text);
  return 0;
}

static struct deploy_request *
build_request (struct node *n, const struct deployment_spec *s, uint32_t slot, const char *tpl)
{
  struct deploy_request *r = xcalloc (1, sizeof *r);
  const char *host = s->location + 7, *slash = strchr (host, '/');
  char desc[256];
  bool fn = strcmp (s->type, "function") == 0;
  r->type = xstrdup (fn ? "function" : "native");
  snprintf (desc, sizeof desc, "replica %u of deployment %s.%s (template %s)", slot, s->ns, s->name,
            tpl);
  r->description = xstrdup (desc);
  r->jsdomain = xstrdup ("");
  r->target_node = xstrdup (n->node_id);
  r->location_scheme = xstrdup ("nats");
  r->location_bucket = xstrndup (host, (size_t) (slash - host));
  r->location_key = xstrdup (slash + 1);
  r->argc = s->argc;
  r->argv = xcalloc (s->argc + 1, sizeof *r->argv);
  for (size_t i = 0; i < s->argc; i++)
    r->argv[i] = xstrdup (s->argv[i]);
  r->n_triggers = s->n_triggers;
  if (s->n_triggers)
    {
      r->trigger_subjects = xcalloc (s->n_triggers + 1, sizeof *r->trigger_subjects);
      for (size_t i = 0; i < s->n_triggers; i++)
        r->trigger_subjects[i] = xstrdup (s->triggers[i]);
    }
  r->resources = s->resources;
  r->restart = s->restart;
  return r;
}

int
replica_check (struct node *n, const struct deployment_spec *s, char *msg, size_t cap)
{
  struct deploy_request *r = build_request (n, s, 0, "0000000000000000");
  int rc = -1;
  if (!strlist_contains (&n->cfg.workload_types, r->type))
    snprintf (msg, cap, "workload type %s is not supported on this node", r->type);
  else if (trigger_check (n, r, msg, cap) == 0
           && sandbox_check_resources (n, &r->resources, msg, cap) == 0)
    rc = 0;
  deploy_request_free (r);
  return rc;
}

int
replica_start (struct node *n, const struct deployment_spec *s, uint32_t slot, const char *template,
               const struct nkey_pair *xkey, struct workload **out, struct nxerr *err)
{
  struct deploy_request *r = build_request (n, s, slot, template);
  struct jwt_claims c;
  cleanup_buf struct buf jwt = BUF_INIT;
  char name[DEPLOYMENT_NAME_MAX + 16], bind[2 * DEPLOYMENT_NAME_MAX + 32];
  memset (&c, 0, sizeof c);
  snprintf (name, sizeof name, "%s-%u", s->name, slot);
  snprintf (bind, sizeof bind, "%s.%s#%u#%s", s->ns, s->name, slot, template);
  c.sub = xstrdup (name);
  c.aud = xstrdup (n->node_id);
  c.hash = xstrdup (s->sha256);
  c.purpose = xstrdup (JWT_PURPOSE_REPLICA);
  c.bind = xstrdup (bind);
  if (reseal_env (n, s, xkey, r, err) < 0 || jwt_encode (&c, &n->id.server, &jwt, err) < 0)
    {
      deploy_request_free (r);
      jwt_claims_free (&c);
      return -1;
    }
  r->workload_jwt = xstrdup (jwt.data);
  return launch_own (n, s->ns, r, &c, out, err);
}

struct workload *
replica_with_template (struct node *n, const char *dep, uint32_t slot, const char *tpl, bool same)
{
  struct replica_id id;
  for (struct workload *w = n->workloads; w; w = w->next)
    if (replica_of (n, w, &id) && id.slot == slot && strcmp (id.dep, dep) == 0 && replica_alive (w)
        && (strcmp (id.template, tpl) == 0) == same)
      return w;
  return NULL;
}
