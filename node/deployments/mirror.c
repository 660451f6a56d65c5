/* mirror: the specs and claims buckets as the watches tell them
 * (node/deployments/kvwatch.c posts the batches). A spec counts only if it
 * opens (api/deployment.c: decoded, signed, bound to itself, under its own
 * key) and its issuer is allowed; anything else is kept as refused, said
 * once per revision. A new generation of the watches that does not give a
 * key again means the key is gone. Loop thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/deployment.h"
#include "api/log.h"
#include "api/xalloc.h"
#include "node/core/node.h"
#include "node/deployments/deployments_int.h"
#include "node/deployments/replica.h"

struct dspec *
mirror_spec_find (struct deployments *d, const char *key)
{
  for (size_t i = 0; i < d->n_specs; i++)
    if (strcmp (d->specs[i].key, key) == 0)
      return &d->specs[i];
  return NULL;
}

static void
spec_drop (struct deployments *d, size_t i)
{
  free (d->specs[i].key);
  deployment_spec_free (d->specs[i].spec);
  d->specs[i] = d->specs[--d->n_specs];
}

/* A spec as written: valid, signed by an allowed issuer, for its own key.
 * Anything else is ignored by every node, and said once per revision. */
static void
spec_take (struct deployments *d, const struct kvwatch_entry *e, uint64_t gen)
{
  struct dspec *s = mirror_spec_find (d, e->key);
  struct nxerr err = { 0 };
  char issuer[NKEY_PUBLIC_LEN + 1];
  struct deployment_spec *spec = NULL;
  char msg[600];
  if (e->deleted)
    {
      if (s)
        {
          log_info ("deployment %s removed", e->key);
          spec_drop (d, (size_t) (s - d->specs));
        }
      return;
    }
  if (s && s->rev == e->rev)
    {
      s->gen = gen;
      return;
    }
  if (s == NULL)
    {
      if (d->n_specs >= SPECS_MAX)
        {
          log_error ("deployment %.100s: more than %d deployments, ignored", e->key, SPECS_MAX);
          return;
        }
      d->specs = xrealloc (d->specs, (d->n_specs + 1) * sizeof *d->specs);
      s = &d->specs[d->n_specs++];
      memset (s, 0, sizeof *s);
      s->key = xstrdup (e->key);
    }
  s->rev = e->rev;
  s->gen = gen;
  if (deployment_open (e->value, e->len, e->key, &spec, issuer, &err) < 0)
    ;
  else if (d->n->cfg.valid_issuers.n && !strlist_contains (&d->n->cfg.valid_issuers, issuer))
    nxerr_set (&err, EPERM, "its issuer %s is not in valid_issuers", issuer);
  else if (s->spec && spec->signed_at < s->spec->signed_at)
    /* An older signed value put back (a replay): this node saw a newer one. */
    nxerr_set (&err, EPERM, "signed at %lld, before the revision in effect (%lld)",
               (long long) spec->signed_at, (long long) s->spec->signed_at);
  else
    {
      deployment_spec_free (s->spec);
      s->spec = spec;
      spec = NULL;
      deployment_template (s->spec, s->template);
      log_info ("deployment %s revision %llu: %u replicas, template %s", e->key,
                (unsigned long long) e->rev, s->spec->replicas, s->template);
      s->runnable = replica_check (d->n, s->spec, msg, sizeof msg) == 0;
      if (!s->runnable)
        {
          /* Valid, but not for this node: it claims none of its slots. */
          log_error ("deployment %s revision %llu: this node cannot run it: %s", e->key,
                     (unsigned long long) e->rev, msg);
          deployments_event (d->n, e->key, "deployment_replica_failed", 0, false, msg);
        }
      return;
    }
  deployment_spec_free (spec);
  /* Ignored means ignored: a bad write does not stop what the last good
   * one runs (a delete does: KV has no signed delete). */
  log_error ("deployment %.100s revision %llu ignored: %s%s", e->key, (unsigned long long) e->rev,
             err.msg, s->spec ? " (the last valid revision stays in effect)" : "");
  deployments_event (d->n, e->key, "deployment_rejected", 0, false, err.msg);
}

struct dclaim *
mirror_claim_find (struct deployments *d, const char *key)
{
  for (size_t i = 0; i < d->n_claims; i++)
    if (strcmp (d->claims[i].key, key) == 0)
      return &d->claims[i];
  return NULL;
}

static void
claim_drop (struct deployments *d, size_t i)
{
  free (d->claims[i].key);
  deployment_claim_free (&d->claims[i].c);
  d->claims[i] = d->claims[--d->n_claims];
}

static void
claim_take (struct deployments *d, const struct kvwatch_entry *e, uint64_t gen)
{
  struct dclaim *c = mirror_claim_find (d, e->key);
  struct nxerr err = { 0 };
  struct deployment_claim v;
  if (e->deleted || deployment_claim_decode (e->value, e->len, &v, &err) < 0)
    {
      log_debug ("deployments: saw %s revision %llu: %s", e->key, (unsigned long long) e->rev,
                 e->deleted ? "deleted" : err.msg);
      if (c)
        claim_drop (d, (size_t) (c - d->claims));
      return;
    }
  if (c == NULL)
    {
      if (d->n_claims >= CLAIMS_MAX)
        {
          deployment_claim_free (&v);
          return;
        }
      d->claims = xrealloc (d->claims, (d->n_claims + 1) * sizeof *d->claims);
      c = &d->claims[d->n_claims++];
      memset (c, 0, sizeof *c);
      c->key = xstrdup (e->key);
      c->slot_key = deployment_slot_key_parse (e->key, c->dep, sizeof c->dep, &c->slot);
    }
  else
    deployment_claim_free (&c->c);
  c->c = v;
  c->rev = e->rev;
  c->gen = gen;
  log_debug ("deployments: saw %s revision %llu: %s", e->key, (unsigned long long) e->rev,
             v.node[0] ? v.node : "(no holder)");
}

/* A rollout token's key (upd.) now deleted or released (no holder). */
static bool
token_free (struct deployments *d, const char *key)
{
  const struct dclaim *c;
  if (strncmp (key, "upd.", 4) != 0)
    return false;
  c = mirror_claim_find (d, key);
  return c == NULL || c->c.node[0] == '\0';
}

void
mirror_on_batch (void *ud, struct kvwatch_batch *b)
{
  struct deployments *d = ud;
  if (b->gen > d->gen[b->bucket])
    {
      d->gen[b->bucket] = b->gen;
      d->caught_up[b->bucket] = false;
    }
  bool token_freed = false;
  for (size_t i = 0; i < b->n; i++)
    {
      if (b->bucket == KVW_SPECS)
        spec_take (d, &b->v[i], b->gen);
      else
        {
          claim_take (d, &b->v[i], b->gen);
          token_freed |= token_free (d, b->v[i].key);
        }
    }
  if (b->caught_up)
    {
      /* What this generation did not give again is gone. */
      if (b->bucket == KVW_SPECS)
        {
          for (size_t i = d->n_specs; i-- > 0;)
            if (d->specs[i].gen < b->gen)
              spec_drop (d, i);
        }
      else
        for (size_t i = d->n_claims; i-- > 0;)
          if (d->claims[i].gen < b->gen)
            claim_drop (d, i);
      if (!d->caught_up[b->bucket])
        log_debug ("deployments: %s caught up, generation %llu (%zu specs, %zu claim keys)",
                   b->bucket == KVW_SPECS ? "specs" : "claims", (unsigned long long) b->gen,
                   d->n_specs, d->n_claims);
      d->caught_up[b->bucket] = true;
    }
  if (b->bucket == KVW_SPECS && b->n)
    deployments_round_soon (d);
  if (b->bucket == KVW_CLAIMS && b->n)
    deployments_claims_seen (d);
  if (token_freed && d->caught_up[KVW_CLAIMS])
    deployments_token_freed (d);
  kvwatch_batch_free (b);
}

void
mirror_free (struct deployments *d)
{
  for (size_t i = d->n_specs; i-- > 0;)
    spec_drop (d, i);
  for (size_t i = d->n_claims; i-- > 0;)
    claim_drop (d, i);
  free (d->specs);
  free (d->claims);
  d->specs = NULL;
  d->claims = NULL;
}
