/* rollout: rolling updates. A slot whose replica runs an older template
 * than the spec's is replaced under a token upd.{dep}.{k} of the claims
 * bucket (k < update.max_unavailable, taken by compare-and-set, confirmed
 * like a claim when the take was not fresh, leased like a claim): the new
 * replica first when there is room, the old one stopped once the new one
 * has run READY_MS, then the token released when the old one has ended.
 * A release writes an empty holder by compare-and-set on the token's
 * revision, never a delete: a holder that lost its token unawares (its
 * lease ran out) must not free another node's. A replacement that ends or
 * restarts before that marks its token failed: nobody starts another
 * replacement of that template. Loop thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/deployment.h"
#include "api/log.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/core/node.h"
#include "node/deployments/deployments_int.h"
#include "node/deployments/replica.h"

static bool
key_parse (const char *prefix, const char *key, char *dep, size_t cap, uint32_t *n)
{
  char tmp[DEP_KEY_MAX + 32];
  size_t pl = strlen (prefix);
  if (strncmp (key, prefix, pl) != 0 || strlen (key) - pl + 5 >= sizeof tmp)
    return false;
  snprintf (tmp, sizeof tmp, "slot.%s", key + pl);
  return deployment_slot_key_parse (tmp, dep, cap, n);
}

static void
token_key (const char *dep, uint32_t k, char *out, size_t cap)
{
  snprintf (out, cap, "upd.%s.%u", dep, k);
}

/* The token a slot's rollout works under (not one being released). */
static struct token *
token_of_slot (struct deployments *d, const char *dep, uint32_t slot)
{
  for (size_t i = 0; i < d->n_tokens; i++)
    if (!d->tokens[i].releasing && d->tokens[i].slot == slot && strcmp (d->tokens[i].dep, dep) == 0)
      return &d->tokens[i];
  return NULL;
}

static struct token *
token_find (struct deployments *d, const char *dep, uint32_t k)
{
  for (size_t i = 0; i < d->n_tokens; i++)
    if (d->tokens[i].k == k && strcmp (d->tokens[i].dep, dep) == 0)
      return &d->tokens[i];
  return NULL;
}

/* held: this node's token; else the free value a release writes. */
static char *
token_value (struct deployments *d, const struct token *t, int64_t expires_ms, bool held)
{
  struct deployment_claim c;
  struct buf b = BUF_INIT;
  memset (&c, 0, sizeof c);
  if (!held)
    {
      deployment_claim_encode (&c, &b);
      return buf_steal (&b, NULL);
    }
  snprintf (c.node, sizeof c.node, "%s", d->n->node_id);
  c.expires_ms = expires_ms;
  memcpy (c.template, t->template, sizeof c.template);
  c.failed = t->failed;
  deployment_claim_encode (&c, &b);
  return buf_steal (&b, NULL);
}

static void
submit_one (struct deployments *d, enum kvwatch_op_kind kind, uint64_t tag, const char *key,
            uint64_t last, char *value)
{
  struct kvwatch_ops *ops = xcalloc (1, sizeof *ops);
  struct kvwatch_op *op = deployments_op_add (ops, kind, (enum op_tag) 0, key);
  op->tag = tag;
  op->last = last;
  op->value = value;
  kvwatch_submit (d->kv, ops);
}

static void
token_drop (struct deployments *d, struct token *t)
{
  d->tokens[t - d->tokens] = d->tokens[--d->n_tokens];
}

/* The release's write on t's revision (t->pending while it is in flight). */
static struct kvwatch_op *
release_op (struct deployments *d, struct kvwatch_ops *ops, struct token *t)
{
  char key[DEP_KEY_MAX + 32];
  struct kvwatch_op *op;
  token_key (t->dep, t->k, key, sizeof key);
  op = deployments_op_add (ops, KVW_UPDATE, TAG_TOKEN_RELEASE, key);
  op->last = t->rev;
  op->value = token_value (d, t, 0, false);
  t->pending = true;
  return op;
}

/* Done with t: released now, or once the write of it in flight has
 * answered with its new revision (rollout_result). Until then it stays
 * listed, so that its k is not asked for again meanwhile. */
static void
token_release (struct deployments *d, struct token *t)
{
  struct kvwatch_ops *ops;
  if (t->releasing)
    return;
  t->releasing = true;
  if (t->pending)
    return;
  ops = xcalloc (1, sizeof *ops);
  release_op (d, ops, t);
  kvwatch_submit (d->kv, ops);
}

void
rollout_forget (struct deployments *d, const char *dep, uint32_t slot)
{
  for (size_t i = d->n_tokens; i-- > 0;)
    if (d->tokens[i].slot == slot && strcmp (d->tokens[i].dep, dep) == 0)
      d->tokens[i] = d->tokens[--d->n_tokens];
}

/* A live failed token for tpl: the rollout of tpl stopped there. */
static bool
rollout_halted (struct deployments *d, const char *dep, const char *tpl)
{
  char prefix[DEP_KEY_MAX + 8];
  int64_t now = deployments_now_ms ();
  snprintf (prefix, sizeof prefix, "upd.%s.", dep);
  for (size_t i = 0; i < d->n_tokens; i++)
    if (d->tokens[i].failed && strcmp (d->tokens[i].dep, dep) == 0
        && strcmp (d->tokens[i].template, tpl) == 0)
      return true;
  for (size_t i = 0; i < d->n_claims; i++)
    {
      const struct dclaim *c = &d->claims[i];
      if (strncmp (c->key, prefix, strlen (prefix)) == 0 && c->c.failed
          && strcmp (c->c.template, tpl) == 0 && now <= c->c.expires_ms + d->skew_ms)
        return true;
    }
  return false;
}

/* Ask for a free token of s (one of max_unavailable). */
static void
token_ask (struct deployments *d, const struct held *h, const struct dspec *s)
{
  int64_t now = deployments_now_ms ();
  char key[DEP_KEY_MAX + 32];
  for (uint32_t k = 0; k < s->spec->max_unavailable; k++)
    {
      const struct dclaim *c;
      struct token t;
      if (token_find (d, h->dep, k))
        continue;
      token_key (h->dep, k, key, sizeof key);
      c = mirror_claim_find (d, key);
      if (c && c->c.node[0] && now <= c->c.expires_ms + d->skew_ms)
        continue;
      memset (&t, 0, sizeof t);
      memcpy (t.template, s->template, sizeof t.template);
      d->token_asked = true;
      submit_one (d, c ? KVW_UPDATE : KVW_CREATE, TAG_TOKEN | ((uint64_t) h->slot << 8), key,
                  c ? c->rev : 0, token_value (d, &t, now + d->lease_ms, true));
      return;
    }
}

static void
token_failed (struct deployments *d, struct token *t, const char *why)
{
  char key[DEP_KEY_MAX + 32], msg[400];
  t->failed = true;
  snprintf (msg, sizeof msg, "rollout of template %s stopped: the replacement of slot %u %s",
            t->template, t->slot, why);
  log_error ("deployment %s: %s", t->dep, msg);
  deployments_event (d->n, t->dep, "deployment_rollout_failed", t->slot, true, msg);
  if (!t->pending)
    {
      token_key (t->dep, t->k, key, sizeof key);
      t->pending = true;
      submit_one (d, KVW_UPDATE, TAG_TOKEN_RENEW, key, t->rev,
                  token_value (d, t, deployments_now_ms () + d->lease_ms, true));
    }
}

/* The slot of h runs something: if it is an older template, replace it
 * (new one first when there is room, then the old one), holding a token. */
void
rollout_slot (struct deployments *d, struct held *h, const struct dspec *s)
{
  struct workload *cur = replica_with_template (d->n, h->dep, h->slot, s->template, true);
  struct workload *old = replica_with_template (d->n, h->dep, h->slot, s->template, false);
  struct token *t = token_of_slot (d, h->dep, h->slot);
  struct nxerr err = { 0 };
  uint64_t now = timefmt_mono_ns ();
  if (t && strcmp (t->template, s->template) != 0)
    {
      token_release (d, t); /* the spec moved on meanwhile */
      t = NULL;
    }
  if (t && !t->failed && t->new_id[0] && (cur == NULL || cur->restarts > 0))
    {
      token_failed (d, t, cur ? "crashed and is restarting" : "ended before it was ready");
      if (cur)
        replica_stop (cur);
      return;
    }
  if (old == NULL)
    {
      /* The token goes once the old replica has ended, not when it was asked
       * to stop: until its end it runs beside the new one, and another
       * node's replacement started meanwhile would make it 1 + max_unavailable
       * more than desired. */
      if (t && !t->failed && replica_stopping (d->n, h->dep, h->slot) == NULL)
        token_release (d, t);
      return;
    }
  if (cur)
    {
      if (cur->state == WL_RUNNING && cur->started_mono_ns
          && now - cur->started_mono_ns >= (uint64_t) READY_MS * 1000000)
        {
          char msg[200];
          snprintf (msg, sizeof msg, "slot %u now runs template %s", h->slot, s->template);
          log_info ("deployment %s: rollout: %s, stopping %s", h->dep, msg, old->id);
          replica_stop (old);
          deployments_event (d->n, h->dep, "deployment_rollout_step", h->slot, true, msg);
          /* The token is released once old has ended (above). */
        }
      return;
    }
  if (t == NULL)
    {
      if (!d->token_asked && d->may_ask && !rollout_halted (d, h->dep, s->template))
        {
          d->may_ask = false;
          token_ask (d, h, s);
        }
      return;
    }
  if (t->failed || t->new_id[0] || !t->confirmed)
    return;
  if (deployments_capacity (d) == 0)
    {
      /* No room for both: the old one goes first, the new one follows. */
      log_info ("deployment %s slot %u: rollout without room: stopping %s first", h->dep, h->slot,
                old->id);
      replica_stop (old);
      return;
    }
  if (replica_start (d->n, s->spec, h->slot, s->template, d->have_xkey ? &d->xkey : NULL, &cur,
                     &err)
      < 0)
    {
      token_failed (d, t, err.msg);
      return;
    }
  snprintf (t->new_id, sizeof t->new_id, "%s", cur->id);
  log_info ("deployment %s slot %u: rollout: replacement %s of template %s started", h->dep,
            h->slot, cur->id, s->template);
}

void
rollout_result (struct deployments *d, struct kvwatch_op *op)
{
  char dep[DEP_KEY_MAX];
  uint32_t k;
  struct token *t;
  if (!key_parse ("upd.", op->key, dep, sizeof dep, &k))
    return;
  t = token_find (d, dep, k);
  if ((op->tag & 0xff) == TAG_TOKEN)
    {
      const struct dspec *s = deployments_spec_of (d, dep);
      d->token_asked = false;
      if (op->status != KVW_OK || t || s == NULL)
        return;
      d->tokens = xrealloc (d->tokens, (d->n_tokens + 1) * sizeof *d->tokens);
      t = &d->tokens[d->n_tokens++];
      memset (t, 0, sizeof *t);
      snprintf (t->dep, sizeof t->dep, "%s", dep);
      t->k = k;
      t->slot = (uint32_t) (op->tag >> 8);
      t->rev = op->rev;
      t->expiry_ns = op->sent_mono_ns + (uint64_t) d->lease_ms * 1000000;
      t->taken_ns = timefmt_mono_ns ();
      t->confirmed = op->fresh;
      memcpy (t->template, s->template, sizeof t->template);
      log_info ("deployment %s slot %u: rollout token %u taken (revision %llu%s)", dep, t->slot,
                k, (unsigned long long) op->rev, op->fresh ? "" : ", confirming it");
      return;
    }
  if (t == NULL)
    return;
  t->pending = false;
  if (op->tag == TAG_TOKEN_RELEASE)
    {
      if (op->status == KVW_ERROR)
        return; /* tried again next round, or left to expire */
      log_info ("deployment %s slot %u: rollout token %u %s", dep, t->slot, k,
                op->status == KVW_OK ? "released" : "was no longer this node's");
      token_drop (d, t);
      return;
    }
  if (op->status == KVW_OK)
    {
      t->rev = op->rev;
      t->expiry_ns = op->sent_mono_ns + (uint64_t) d->lease_ms * 1000000;
      if (!t->confirmed)
        log_info ("deployment %s slot %u: rollout token %u confirmed (revision %llu)", dep,
                  t->slot, k, (unsigned long long) op->rev);
      t->confirmed = true;
      if (t->releasing)
        {
          struct kvwatch_ops *ops = xcalloc (1, sizeof *ops);
          release_op (d, ops, t);
          kvwatch_submit (d->kv, ops);
        }
    }
  else if (op->status == KVW_CONFLICT)
    {
      log_info ("deployment %s slot %u: rollout token %u %s", dep, t->slot, k,
                t->confirmed ? "lost (taken by another node after its lease)"
                             : "not confirmed: another node took it at the same moment");
      token_drop (d, t);
    }
}

/* Each round: tokens renewed like claims; one whose lease ran out is
 * forgotten (the replacement goes on as a plain replica of its slot). */
void
rollout_renew (struct deployments *d, struct kvwatch_ops *ops, int64_t now)
{
  char key[DEP_KEY_MAX + 32];
  uint64_t mono = timefmt_mono_ns ();
  for (size_t i = d->n_tokens; i-- > 0;)
    {
      struct token *t = &d->tokens[i];
      struct kvwatch_op *op;
      if (mono >= t->expiry_ns)
        {
          token_drop (d, t);
          continue;
        }
      if (deployments_held_find (d, t->dep, t->slot) == NULL)
        t->releasing = true;
      if (t->pending)
        continue;
      if (t->releasing)
        {
          release_op (d, ops, t); /* again, after a write that got no answer */
          continue;
        }
      if (!t->confirmed)
        continue; /* rollout_confirm's */
      token_key (t->dep, t->k, key, sizeof key);
      op = deployments_op_add (ops, KVW_UPDATE, TAG_TOKEN_RENEW, key);
      op->last = t->rev;
      op->value = token_value (d, t, now + d->lease_ms, true);
      t->pending = true;
    }
}

uint64_t
rollout_confirm (struct deployments *d, struct kvwatch_ops *ops, uint64_t mono, int64_t now)
{
  char key[DEP_KEY_MAX + 32];
  uint64_t next = 0;
  for (size_t i = 0; i < d->n_tokens; i++)
    {
      struct token *t = &d->tokens[i];
      uint64_t due = t->taken_ns + (uint64_t) CONFIRM_MS * 1000000;
      struct kvwatch_op *op;
      if (t->confirmed || t->pending || t->releasing)
        continue;
      if (mono < due)
        {
          if (next == 0 || due < next)
            next = due;
          continue;
        }
      token_key (t->dep, t->k, key, sizeof key);
      op = deployments_op_add (ops, KVW_UPDATE, TAG_TOKEN_RENEW, key);
      op->last = t->rev;
      op->value = token_value (d, t, now + d->lease_ms, true);
      t->pending = true;
    }
  return next;
}

void
rollout_release_all (struct deployments *d, struct kvwatch_ops *ops)
{
  /* One with a write in flight has an unknown revision: it expires. */
  for (size_t i = 0; i < d->n_tokens; i++)
    if (!d->tokens[i].pending)
      release_op (d, ops, &d->tokens[i]);
}
