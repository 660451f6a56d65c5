#include "node/deployments/deployments.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/deployment.h"
#include "api/log.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/bus/events.h"
#include "node/core/node.h"
#include "node/deployments/kvwatch.h"
#include "node/deployments/lease.h"
#include "node/deployments/replica.h"
#include "node/workload/workload.h"

#define DEP_KEY_MAX (2 * DEPLOYMENT_NAME_MAX + 2)
#define SPECS_MAX 256
#define CLAIMS_MAX 4096
#define RESTART_DELAY_MS 2000
/* A replacement counts as started once it has run this long. */
#define READY_MS 500
/* After a lost claim: the next look (the watch has shown the winner by then). */
#define CONFLICT_RETRY_MS 50

/* A key of the specs bucket. */
struct dspec {
  char *key;
  uint64_t rev, gen;
  struct deployment_spec *spec; /* NULL: refused (said once per revision) */
  char template[DEPLOYMENT_TEMPLATE_LEN + 1];
};

/* A key of the claims bucket (slots and liveness). */
struct dclaim {
  char *key;
  uint64_t rev, gen;
  bool slot_key;
  char dep[DEP_KEY_MAX];
  uint32_t slot;
  struct deployment_claim c;
};

/* A slot this node holds: confirmed by its own last successful write. */
struct held {
  char dep[DEP_KEY_MAX];
  uint32_t slot;
  uint64_t rev;
  uint64_t expiry_ns; /* monotonic: when the lease it wrote runs out */
  bool pending;       /* a renewal in flight */
  uint64_t next_start_ns;
};

/* A rolling update's token this node holds (upd.{dep}.{k}): leave to
 * replace the replica of one slot with the spec's current template. */
struct token {
  char dep[DEP_KEY_MAX];
  uint32_t k;
  uint32_t slot;
  uint64_t rev;
  uint64_t expiry_ns;
  bool pending;
  bool failed;
  char template[DEPLOYMENT_TEMPLATE_LEN + 1];
  char new_id[WORKLOAD_ID_LEN + 1]; /* the replacement, "" until started */
};

struct deployments {
  struct node *n;
  struct kvwatch *kv;
  bool ready;
  struct nkey_pair xkey;
  bool have_xkey;
  struct dspec *specs;
  size_t n_specs;
  struct dclaim *claims;
  size_t n_claims;
  struct held *held;
  size_t n_held;
  struct token *tokens;
  size_t n_tokens;
  bool token_asked; /* a token's compare-and-set in flight (one at a time) */
  bool may_ask;     /* once per round: a failing bucket is not asked in a loop */
  uint64_t gen[2];       /* the newest generation seen per bucket */
  bool caught_up[2];     /* of that generation */
  struct loop_timer tick;
  struct loop_timer fence_timer; /* at the earliest expiry of what is held */
  int64_t lease_ms, skew_ms;
  char node_key[80];
  uint64_t rounds;
  bool settled; /* the first round's claims answered: own slots taken back */
};

static struct deployments *D; /* one per node; loop thread */

static int64_t
now_ms (void)
{
  struct timespec t = timefmt_now ();
  return (int64_t) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void
event (struct node *n, const char *dep, const char *type, uint32_t slot, bool with_slot,
       const char *message)
{
  cleanup_buf struct buf b = BUF_INIT;
  char ns[DEP_KEY_MAX];
  const char *dot = strchr (dep, '.');
  struct jsonw j;
  snprintf (ns, sizeof ns, "%.*s", dot ? (int) (dot - dep) : (int) strlen (dep), dep);
  jsonw_init (&j, &b);
  jsonw_obj_begin (&j);
  jsonw_kstr (&j, "deployment", dep);
  if (with_slot)
    jsonw_kint (&j, "slot", slot);
  jsonw_kstr (&j, "node", n->node_id);
  if (message)
    jsonw_kstr (&j, "message", message);
  jsonw_obj_end (&j);
  events_publish (n, deployment_name_ok (ns) ? ns : "default", type, dep, timefmt_now (), &b);
}

/* ---- the mirror of the buckets ---- */

static struct dspec *
spec_find (const char *key)
{
  for (size_t i = 0; i < D->n_specs; i++)
    if (strcmp (D->specs[i].key, key) == 0)
      return &D->specs[i];
  return NULL;
}

static void
spec_drop (size_t i)
{
  free (D->specs[i].key);
  deployment_spec_free (D->specs[i].spec);
  D->specs[i] = D->specs[--D->n_specs];
}

/* A spec as written: valid, signed by an allowed issuer, for its own key.
 * Anything else is ignored by every node, and said once per revision. */
static void
spec_take (const struct kvwatch_entry *e, uint64_t gen)
{
  struct dspec *s = spec_find (e->key);
  struct nxerr err = { 0 };
  char issuer[NKEY_PUBLIC_LEN + 1];
  struct deployment_spec *spec = NULL;
  if (e->deleted)
    {
      if (s)
        {
          log_info ("deployment %s removed", e->key);
          spec_drop ((size_t) (s - D->specs));
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
      if (D->n_specs >= SPECS_MAX)
        {
          log_error ("deployment %.100s: more than %d deployments, ignored", e->key, SPECS_MAX);
          return;
        }
      D->specs = xrealloc (D->specs, (D->n_specs + 1) * sizeof *D->specs);
      s = &D->specs[D->n_specs++];
      memset (s, 0, sizeof *s);
      s->key = xstrdup (e->key);
    }
  s->rev = e->rev;
  s->gen = gen;
  deployment_spec_free (s->spec);
  s->spec = NULL;
  if (deployment_open (e->value, e->len, e->key, &spec, issuer, &err) < 0)
    ;
  else if (D->n->cfg.valid_issuers.n && !strlist_contains (&D->n->cfg.valid_issuers, issuer))
    nxerr_set (&err, EPERM, "its issuer %s is not in valid_issuers", issuer);
  else
    {
      s->spec = spec;
      spec = NULL;
      deployment_template (s->spec, s->template);
      log_info ("deployment %s revision %llu: %u replicas, template %s", e->key,
                (unsigned long long) e->rev, s->spec->replicas, s->template);
      return;
    }
  deployment_spec_free (spec);
  log_error ("deployment %.100s revision %llu ignored: %s", e->key, (unsigned long long) e->rev,
             err.msg);
  event (D->n, e->key, "deployment_rejected", 0, false, err.msg);
}

static struct dclaim *
claim_find (const char *key)
{
  for (size_t i = 0; i < D->n_claims; i++)
    if (strcmp (D->claims[i].key, key) == 0)
      return &D->claims[i];
  return NULL;
}

static void
claim_drop (size_t i)
{
  free (D->claims[i].key);
  deployment_claim_free (&D->claims[i].c);
  D->claims[i] = D->claims[--D->n_claims];
}

static void
claim_take (const struct kvwatch_entry *e, uint64_t gen)
{
  struct dclaim *c = claim_find (e->key);
  struct nxerr err = { 0 };
  struct deployment_claim v;
  if (e->deleted || deployment_claim_decode (e->value, e->len, &v, &err) < 0)
    {
      if (c)
        claim_drop ((size_t) (c - D->claims));
      return;
    }
  if (c == NULL)
    {
      if (D->n_claims >= CLAIMS_MAX)
        {
          deployment_claim_free (&v);
          return;
        }
      D->claims = xrealloc (D->claims, (D->n_claims + 1) * sizeof *D->claims);
      c = &D->claims[D->n_claims++];
      memset (c, 0, sizeof *c);
      c->key = xstrdup (e->key);
      c->slot_key = deployment_slot_key_parse (e->key, c->dep, sizeof c->dep, &c->slot);
    }
  else
    deployment_claim_free (&c->c);
  c->c = v;
  c->rev = e->rev;
  c->gen = gen;
}

static void round_soon (void);

static void
on_batch (void *ud, struct kvwatch_batch *b)
{
  (void) ud;
  if (b->gen > D->gen[b->bucket])
    {
      D->gen[b->bucket] = b->gen;
      D->caught_up[b->bucket] = false;
    }
  for (size_t i = 0; i < b->n; i++)
    {
      if (b->bucket == KVW_SPECS)
        spec_take (&b->v[i], b->gen);
      else
        claim_take (&b->v[i], b->gen);
    }
  if (b->caught_up)
    {
      /* What this generation did not give again is gone. */
      if (b->bucket == KVW_SPECS)
        {
          for (size_t i = D->n_specs; i-- > 0;)
            if (D->specs[i].gen < b->gen)
              spec_drop (i);
        }
      else
        for (size_t i = D->n_claims; i-- > 0;)
          if (D->claims[i].gen < b->gen)
            claim_drop (i);
      if (!D->caught_up[b->bucket])
        log_debug ("deployments: %s caught up, generation %llu (%zu specs, %zu claim keys)",
                  b->bucket == KVW_SPECS ? "specs" : "claims", (unsigned long long) b->gen,
                  D->n_specs, D->n_claims);
      D->caught_up[b->bucket] = true;
    }
  if (b->bucket == KVW_SPECS && b->n)
    round_soon ();
  kvwatch_batch_free (b);
}

/* ---- what this node holds and runs ---- */

static struct held *
held_find (const char *dep, uint32_t slot)
{
  for (size_t i = 0; i < D->n_held; i++)
    if (D->held[i].slot == slot && strcmp (D->held[i].dep, dep) == 0)
      return &D->held[i];
  return NULL;
}

static void
held_drop (struct held *h)
{
  D->held[h - D->held] = D->held[--D->n_held];
}

static const struct dspec *
spec_of (const char *dep)
{
  const struct dspec *s = spec_find (dep);
  return s && s->spec ? s : NULL;
}

static struct workload *
replica_find (const char *dep, uint32_t slot, bool alive_only)
{
  struct replica_id id;
  for (struct workload *w = D->n->workloads; w; w = w->next)
    if (replica_of (D->n, w, &id) && id.slot == slot && strcmp (id.dep, dep) == 0
        && (!alive_only || replica_alive (w)))
      return w;
  return NULL;
}

static void forget_tokens (const char *dep, uint32_t slot);

static void
stop_slot (const char *dep, uint32_t slot, const char *why)
{
  /* A slot that goes takes its rollout token with it: its replacement is
   * stopped for the slot's sake, not because it failed. */
  forget_tokens (dep, slot);
  struct replica_id id;
  for (struct workload *w = D->n->workloads, *next; w; w = next)
    {
      next = w->next;
      if (replica_of (D->n, w, &id) && id.slot == slot && strcmp (id.dep, dep) == 0
          && replica_alive (w))
        {
          log_info ("deployment %s slot %u: stopping replica %s (%s)", dep, slot, w->id, why);
          replica_stop (w);
        }
    }
}

static void rollout (struct held *h, const struct dspec *s);

/* Start what this node holds and does not run; stop what it runs and does
 * not hold; replace what runs an older template (rollout). */
static void
reconcile (void)
{
  struct node *n = D->n;
  uint64_t now = timefmt_mono_ns ();
  struct replica_id id;
  for (struct workload *w = n->workloads, *next; w && D->settled; w = next)
    {
      next = w->next;
      if (replica_of (n, w, &id) && replica_alive (w) && held_find (id.dep, id.slot) == NULL)
        {
          log_info ("deployment %s slot %u: not held by this node: stopping replica %s", id.dep,
                    id.slot, w->id);
          replica_stop (w);
        }
    }
  if (n->stopping)
    return;
  for (size_t i = 0; i < D->n_held; i++)
    {
      struct held *h = &D->held[i];
      const struct dspec *s = spec_of (h->dep);
      struct nxerr err = { 0 };
      struct workload *w = NULL;
      if (s == NULL)
        continue;
      if (replica_find (h->dep, h->slot, true))
        {
          rollout (h, s);
          continue;
        }
      if (now < h->next_start_ns)
        continue;
      h->next_start_ns = now + (uint64_t) RESTART_DELAY_MS * 1000000;
      if (replica_start (n, s->spec, h->slot, s->template, D->have_xkey ? &D->xkey : NULL, &w,
                         &err)
          < 0)
        {
          log_error ("deployment %s slot %u: %s", h->dep, h->slot, err.msg);
          event (n, h->dep, "deployment_replica_failed", h->slot, true, err.msg);
        }
      else
        log_info ("deployment %s slot %u: replica started (template %s)", h->dep, h->slot,
                  s->template);
    }
}

/* Self-fencing: a lease this node could not renew ends here, on its own
 * clock, before any other node may take the slot (expires_ms + skew_ms). */
static void
fence (void)
{
  uint64_t now = timefmt_mono_ns ();
  for (size_t i = D->n_held; i-- > 0;)
    {
      struct held *h = &D->held[i];
      char dep[DEP_KEY_MAX];
      uint32_t slot = h->slot;
      if (now < h->expiry_ns)
        continue;
      snprintf (dep, sizeof dep, "%s", h->dep);
      log_error ("deployment %s slot %u: lease not renewed in time: stopping its replica", dep,
                 slot);
      held_drop (h);
      stop_slot (dep, slot, "lease expired");
      event (D->n, dep, "deployment_replica_lost", slot, true, "lease not renewed in time");
    }
}

static void fence_arm (void);

static void
on_fence_timer (struct loop_timer *t)
{
  (void) t;
  fence ();
  fence_arm ();
}

/* Fencing must not wait for the next round (up to lease/3 later): a timer
 * at the earliest expiry of what this node holds. */
static void
fence_arm (void)
{
  uint64_t now = timefmt_mono_ns (), first = UINT64_MAX;
  for (size_t i = 0; i < D->n_held; i++)
    if (D->held[i].expiry_ns < first)
      first = D->held[i].expiry_ns;
  loop_timer_cancel (D->n->loop, &D->fence_timer);
  if (first != UINT64_MAX)
    loop_timer_arm (D->n->loop, &D->fence_timer,
                    first > now ? (first - now + 999999) / 1000000 : 0);
}

/* ---- writes ---- */

enum op_tag { TAG_CLAIM = 1, TAG_RENEW, TAG_RELEASE, TAG_ALIVE, TAG_TOKEN, TAG_TOKEN_RENEW };

static void
slot_key (const char *dep, uint32_t slot, char *out, size_t cap)
{
  snprintf (out, cap, "slot.%s.%u", dep, slot);
}

static struct workload *replica_of_template (const char *dep, uint32_t slot, const char *tpl,
                                             bool same);

static char *
claim_value (const char *dep, uint32_t slot, int64_t expires_ms)
{
  struct deployment_claim c;
  struct buf b = BUF_INIT;
  const struct dspec *s = spec_of (dep);
  struct workload *w = s ? replica_of_template (dep, slot, s->template, true) : NULL;
  struct replica_id id;
  if (w == NULL || w->state != WL_RUNNING)
    w = replica_find (dep, slot, true);
  memset (&c, 0, sizeof c);
  snprintf (c.node, sizeof c.node, "%s", D->n->node_id);
  c.expires_ms = expires_ms;
  if (w && replica_of (D->n, w, &id))
    memcpy (c.template, id.template, sizeof c.template);
  else if (s)
    memcpy (c.template, s->template, sizeof c.template);
  c.running = w && w->state == WL_RUNNING;
  deployment_claim_encode (&c, &b);
  return buf_steal (&b, NULL);
}

static char *
alive_value (int64_t expires_ms)
{
  struct deployment_claim c;
  struct buf b = BUF_INIT;
  memset (&c, 0, sizeof c);
  snprintf (c.node, sizeof c.node, "%s", D->n->node_id);
  c.expires_ms = expires_ms;
  c.tag_keys = D->n->tags.keys;
  c.tag_vals = D->n->tags.vals;
  c.n_tags = D->n->tags.n;
  deployment_claim_encode (&c, &b);
  return buf_steal (&b, NULL);
}

static struct kvwatch_op *
op_add (struct kvwatch_ops *ops, enum kvwatch_op_kind kind, enum op_tag tag, const char *key)
{
  struct kvwatch_op *op;
  ops->v = xrealloc (ops->v, (ops->n + 1) * sizeof *ops->v);
  op = &ops->v[ops->n++];
  memset (op, 0, sizeof *op);
  op->kind = kind;
  op->tag = tag;
  op->key = xstrdup (key);
  op->sent_mono_ns = timefmt_mono_ns ();
  return op;
}

static uint32_t
capacity (void)
{
  struct node *n = D->n;
  if (n->lameduck || n->stopping)
    return 0;
  if (n->cfg.max_workloads == 0)
    return DEPLOYMENT_REPLICAS_MAX;
  return n->n_workloads >= (size_t) n->cfg.max_workloads
             ? 0
             : (uint32_t) ((size_t) n->cfg.max_workloads - n->n_workloads);
}


/* ---- rolling updates ---- */

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

static struct workload *
replica_of_template (const char *dep, uint32_t slot, const char *tpl, bool same)
{
  struct replica_id id;
  for (struct workload *w = D->n->workloads; w; w = w->next)
    if (replica_of (D->n, w, &id) && id.slot == slot && strcmp (id.dep, dep) == 0
        && replica_alive (w) && (strcmp (id.template, tpl) == 0) == same)
      return w;
  return NULL;
}

static struct token *
token_of_slot (const char *dep, uint32_t slot)
{
  for (size_t i = 0; i < D->n_tokens; i++)
    if (D->tokens[i].slot == slot && strcmp (D->tokens[i].dep, dep) == 0)
      return &D->tokens[i];
  return NULL;
}

static struct token *
token_find (const char *dep, uint32_t k)
{
  for (size_t i = 0; i < D->n_tokens; i++)
    if (D->tokens[i].k == k && strcmp (D->tokens[i].dep, dep) == 0)
      return &D->tokens[i];
  return NULL;
}

static char *
token_value (const struct token *t, int64_t expires_ms)
{
  struct deployment_claim c;
  struct buf b = BUF_INIT;
  memset (&c, 0, sizeof c);
  snprintf (c.node, sizeof c.node, "%s", D->n->node_id);
  c.expires_ms = expires_ms;
  memcpy (c.template, t->template, sizeof c.template);
  c.failed = t->failed;
  deployment_claim_encode (&c, &b);
  return buf_steal (&b, NULL);
}

static void
submit_one (enum kvwatch_op_kind kind, uint64_t tag, const char *key, uint64_t last, char *value)
{
  struct kvwatch_ops *ops = xcalloc (1, sizeof *ops);
  struct kvwatch_op *op = op_add (ops, kind, (enum op_tag) 0, key);
  op->tag = tag;
  op->last = last;
  op->value = value;
  kvwatch_submit (D->kv, ops);
}

static void
token_release (struct token *t)
{
  char key[DEP_KEY_MAX + 32];
  token_key (t->dep, t->k, key, sizeof key);
  submit_one (KVW_DELETE, TAG_RELEASE, key, 0, NULL);
  D->tokens[t - D->tokens] = D->tokens[--D->n_tokens];
}

static void
forget_tokens (const char *dep, uint32_t slot)
{
  for (size_t i = D->n_tokens; i-- > 0;)
    if (D->tokens[i].slot == slot && strcmp (D->tokens[i].dep, dep) == 0)
      D->tokens[i] = D->tokens[--D->n_tokens];
}

/* A live failed token for tpl: the rollout of tpl stopped there. */
static bool
rollout_halted (const char *dep, const char *tpl)
{
  char prefix[DEP_KEY_MAX + 8];
  int64_t now = now_ms ();
  snprintf (prefix, sizeof prefix, "upd.%s.", dep);
  for (size_t i = 0; i < D->n_tokens; i++)
    if (D->tokens[i].failed && strcmp (D->tokens[i].dep, dep) == 0
        && strcmp (D->tokens[i].template, tpl) == 0)
      return true;
  for (size_t i = 0; i < D->n_claims; i++)
    {
      const struct dclaim *c = &D->claims[i];
      if (strncmp (c->key, prefix, strlen (prefix)) == 0 && c->c.failed
          && strcmp (c->c.template, tpl) == 0 && now <= c->c.expires_ms + D->skew_ms)
        return true;
    }
  return false;
}

/* Ask for a free token of s (one of max_unavailable). */
static void
token_ask (const struct held *h, const struct dspec *s)
{
  int64_t now = now_ms ();
  char key[DEP_KEY_MAX + 32];
  for (uint32_t k = 0; k < s->spec->max_unavailable; k++)
    {
      const struct dclaim *c;
      struct token t;
      if (token_find (h->dep, k))
        continue;
      token_key (h->dep, k, key, sizeof key);
      c = claim_find (key);
      if (c && c->c.node[0] && now <= c->c.expires_ms + D->skew_ms)
        continue;
      memset (&t, 0, sizeof t);
      memcpy (t.template, s->template, sizeof t.template);
      D->token_asked = true;
      submit_one (c ? KVW_UPDATE : KVW_CREATE, TAG_TOKEN | ((uint64_t) h->slot << 8), key,
                  c ? c->rev : 0, token_value (&t, now + D->lease_ms));
      return;
    }
}

static void
token_failed (struct token *t, const char *why)
{
  char key[DEP_KEY_MAX + 32], msg[400];
  t->failed = true;
  snprintf (msg, sizeof msg, "rollout of template %s stopped: the replacement of slot %u %s",
            t->template, t->slot, why);
  log_error ("deployment %s: %s", t->dep, msg);
  event (D->n, t->dep, "deployment_rollout_failed", t->slot, true, msg);
  if (!t->pending)
    {
      token_key (t->dep, t->k, key, sizeof key);
      t->pending = true;
      submit_one (KVW_UPDATE, TAG_TOKEN_RENEW, key, t->rev, token_value (t, now_ms () + D->lease_ms));
    }
}

/* The slot of h runs something: if it is an older template, replace it
 * (new one first when there is room, then the old one), holding a token. */
static void
rollout (struct held *h, const struct dspec *s)
{
  struct workload *cur = replica_of_template (h->dep, h->slot, s->template, true);
  struct workload *old = replica_of_template (h->dep, h->slot, s->template, false);
  struct token *t = token_of_slot (h->dep, h->slot);
  struct nxerr err = { 0 };
  uint64_t now = timefmt_mono_ns ();
  if (t && strcmp (t->template, s->template) != 0)
    {
      token_release (t); /* the spec moved on meanwhile */
      t = NULL;
    }
  if (t && !t->failed && t->new_id[0] && (cur == NULL || cur->restarts > 0))
    {
      token_failed (t, cur ? "crashed and is restarting" : "ended before it was ready");
      if (cur)
        replica_stop (cur);
      return;
    }
  if (old == NULL)
    {
      if (t && !t->failed)
        token_release (t);
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
          event (D->n, h->dep, "deployment_rollout_step", h->slot, true, msg);
          if (t)
            token_release (t);
        }
      return;
    }
  if (t == NULL)
    {
      if (!D->token_asked && D->may_ask && !rollout_halted (h->dep, s->template))
        {
          D->may_ask = false;
          token_ask (h, s);
        }
      return;
    }
  if (t->failed || t->new_id[0])
    return;
  if (capacity () == 0)
    {
      /* No room for both: the old one goes first, the new one follows. */
      log_info ("deployment %s slot %u: rollout without room: stopping %s first", h->dep, h->slot,
                old->id);
      replica_stop (old);
      return;
    }
  if (replica_start (D->n, s->spec, h->slot, s->template, D->have_xkey ? &D->xkey : NULL, &cur,
                     &err)
      < 0)
    {
      token_failed (t, err.msg);
      return;
    }
  snprintf (t->new_id, sizeof t->new_id, "%s", cur->id);
  log_info ("deployment %s slot %u: rollout: replacement %s of template %s started", h->dep,
            h->slot, cur->id, s->template);
}

static void
token_result (struct kvwatch_op *op)
{
  char dep[DEP_KEY_MAX];
  uint32_t k;
  struct token *t;
  if (!key_parse ("upd.", op->key, dep, sizeof dep, &k))
    return;
  t = token_find (dep, k);
  if ((op->tag & 0xff) == TAG_TOKEN)
    {
      const struct dspec *s = spec_of (dep);
      D->token_asked = false;
      if (op->status != KVW_OK || t || s == NULL)
        return;
      D->tokens = xrealloc (D->tokens, (D->n_tokens + 1) * sizeof *D->tokens);
      t = &D->tokens[D->n_tokens++];
      memset (t, 0, sizeof *t);
      snprintf (t->dep, sizeof t->dep, "%s", dep);
      t->k = k;
      t->slot = (uint32_t) (op->tag >> 8);
      t->rev = op->rev;
      t->expiry_ns = op->sent_mono_ns + (uint64_t) D->lease_ms * 1000000;
      memcpy (t->template, s->template, sizeof t->template);
      log_info ("deployment %s slot %u: rollout token %u taken", dep, t->slot, k);
      return;
    }
  if (t == NULL)
    return;
  t->pending = false;
  if (op->status == KVW_OK)
    {
      t->rev = op->rev;
      t->expiry_ns = op->sent_mono_ns + (uint64_t) D->lease_ms * 1000000;
    }
  else if (op->status == KVW_CONFLICT)
    D->tokens[t - D->tokens] = D->tokens[--D->n_tokens];
}

/* Each round: tokens renewed like claims; one whose lease ran out is
 * forgotten (the replacement goes on as a plain replica of its slot). */
static void
tokens_renew (struct kvwatch_ops *ops, int64_t now)
{
  char key[DEP_KEY_MAX + 32];
  uint64_t mono = timefmt_mono_ns ();
  for (size_t i = D->n_tokens; i-- > 0;)
    {
      struct token *t = &D->tokens[i];
      struct kvwatch_op *op;
      if (mono >= t->expiry_ns || held_find (t->dep, t->slot) == NULL)
        {
          if (mono < t->expiry_ns)
            {
              token_release (t);
              continue;
            }
          D->tokens[i] = D->tokens[--D->n_tokens];
          continue;
        }
      if (t->pending)
        continue;
      token_key (t->dep, t->k, key, sizeof key);
      op = op_add (ops, KVW_UPDATE, TAG_TOKEN_RENEW, key);
      op->last = t->rev;
      op->value = token_value (t, now + D->lease_ms);
      t->pending = true;
    }
}

static void
on_results (void *ud, struct kvwatch_ops *ops)
{
  bool retry = false;
  (void) ud;
  for (size_t i = 0; i < ops->n; i++)
    {
      struct kvwatch_op *op = &ops->v[i];
      char dep[DEP_KEY_MAX];
      uint32_t slot;
      struct held *h;
      if ((op->tag & 0xff) == TAG_TOKEN || op->tag == TAG_TOKEN_RENEW)
        {
          token_result (op);
          continue;
        }
      if (op->tag == TAG_ALIVE || !deployment_slot_key_parse (op->key, dep, sizeof dep, &slot))
        continue;
      h = held_find (dep, slot);
      if (op->tag == TAG_CLAIM && op->status == KVW_OK && h == NULL && spec_of (dep))
        {
          D->held = xrealloc (D->held, (D->n_held + 1) * sizeof *D->held);
          h = &D->held[D->n_held++];
          memset (h, 0, sizeof *h);
          snprintf (h->dep, sizeof h->dep, "%s", dep);
          h->slot = slot;
          h->rev = op->rev;
          h->expiry_ns = op->sent_mono_ns + (uint64_t) D->lease_ms * 1000000;
          log_info ("deployment %s slot %u: claimed%s", dep, slot,
                    op->kind == KVW_UPDATE ? " (taken over)" : "");
          event (D->n, dep, "deployment_replica_claimed", slot, true,
                 op->kind == KVW_UPDATE ? "slot taken over after its lease expired"
                                        : "slot claimed");
        }
      else if (op->tag == TAG_RENEW && h)
        {
          h->pending = false;
          if (op->status == KVW_OK)
            {
              h->rev = op->rev;
              h->expiry_ns = op->sent_mono_ns + (uint64_t) D->lease_ms * 1000000;
            }
          else if (op->status == KVW_CONFLICT)
            {
              /* Someone else has it now: this node's lease was over. */
              log_error ("deployment %s slot %u: lost the claim: stopping its replica", dep,
                         slot);
              held_drop (h);
              stop_slot (dep, slot, "claim lost");
              event (D->n, dep, "deployment_replica_lost", slot, true, "claim taken by another node");
            }
        }
    }
  for (size_t i = 0; i < ops->n && !retry; i++)
    retry = ops->v[i].tag == TAG_CLAIM && ops->v[i].status == KVW_CONFLICT;
  kvwatch_ops_free (ops);
  /* A claim lost to another node: the slot is taken, maybe not the next
   * one; look again once the watch has told who won, not a round later. */
  if (retry && !D->n->stopping)
    {
      loop_timer_cancel (D->n->loop, &D->tick);
      loop_timer_arm (D->n->loop, &D->tick, CONFLICT_RETRY_MS);
    }
  D->settled = true;
  fence ();
  fence_arm ();
  reconcile ();
}

/* The planner's view: the bucket's slots, with this node's own knowledge
 * of what it holds laid over them. */
static void
plan (struct kvwatch_ops *ops, int64_t now)
{
  size_t ns = 0, nn = 0, nd = 0, na;
  struct lease_slot *slots = xcalloc (D->n_claims + D->n_held + 1, sizeof *slots);
  struct lease_node *nodes = xcalloc (D->n_claims + 1, sizeof *nodes);
  struct lease_dep *deps = xcalloc (D->n_specs + 1, sizeof *deps);
  struct lease_act acts[128];
  struct lease_view v = { .now_ms = now, .skew_ms = D->skew_ms, .me = D->n->node_id,
                          .my_tags = { D->n->tags.keys, D->n->tags.vals, D->n->tags.n },
                          .capacity = capacity () };
  char key[DEP_KEY_MAX + 32];
  for (size_t i = 0; i < D->n_specs; i++)
    if (D->specs[i].spec)
      {
        const struct deployment_spec *s = D->specs[i].spec;
        deps[nd++] = (struct lease_dep){ .key = D->specs[i].key, .replicas = s->replicas,
                                         .placement = { s->tag_keys, s->tag_vals, s->n_tags },
                                         .spread = s->spread };
      }
  for (size_t i = 0; i < D->n_claims; i++)
    {
      const struct dclaim *c = &D->claims[i];
      if (c->slot_key)
        {
          if (held_find (c->dep, c->slot) == NULL)
            slots[ns++] = (struct lease_slot){ .dep = c->dep, .slot = c->slot, .node = c->c.node,
                                               .expires_ms = c->c.expires_ms, .rev = c->rev };
        }
      else if (strncmp (c->key, "node.", 5) == 0)
        nodes[nn++] = (struct lease_node){ .id = c->c.node,
                                           .tags = { c->c.tag_keys, c->c.tag_vals, c->c.n_tags },
                                           .expires_ms = c->c.expires_ms };
    }
  for (size_t i = 0; i < D->n_held; i++)
    slots[ns++] = (struct lease_slot){ .dep = D->held[i].dep, .slot = D->held[i].slot,
                                       .node = D->n->node_id, .rev = D->held[i].rev,
                                       .held = true };
  v.deps = deps;
  v.n_deps = nd;
  v.slots = slots;
  v.n_slots = ns;
  v.nodes = nodes;
  v.n_nodes = nn;
  na = lease_plan (&v, acts, sizeof acts / sizeof acts[0]);
  for (size_t i = 0; i < na; i++)
    {
      struct kvwatch_op *op;
      slot_key (acts[i].dep, acts[i].slot, key, sizeof key);
      if (acts[i].kind == LEASE_RELEASE)
        {
          struct held *h = held_find (acts[i].dep, acts[i].slot);
          const struct dspec *s = spec_of (acts[i].dep);
          log_info ("deployment %s slot %u: released (%s)", acts[i].dep, acts[i].slot,
                    s ? "scaled down or placement changed" : "deployment removed");
          stop_slot (acts[i].dep, acts[i].slot, "released");
          event (D->n, acts[i].dep, "deployment_replica_released", acts[i].slot, true,
                 s ? "scaled down" : "deployment removed");
          if (h)
            held_drop (h);
          op_add (ops, KVW_DELETE, TAG_RELEASE, key);
          continue;
        }
      op = op_add (ops, acts[i].rev ? KVW_UPDATE : KVW_CREATE, TAG_CLAIM, key);
      op->last = acts[i].rev;
      op->value = claim_value (acts[i].dep, acts[i].slot, now + D->lease_ms);
      op->jitter_ms = 1 + randombytes_uniform (100);
    }
  free (slots);
  free (nodes);
  free (deps);
}

static void
round_run (void)
{
  struct kvwatch_ops *ops;
  int64_t now = now_ms ();
  char key[DEP_KEY_MAX + 32];
  fence ();
  if (!D->ready || !D->caught_up[KVW_SPECS] || !D->caught_up[KVW_CLAIMS])
    return;
  D->rounds++;
  ops = xcalloc (1, sizeof *ops);
  op_add (ops, KVW_PUT, TAG_ALIVE, D->node_key)->value = alive_value (now + D->lease_ms);
  for (size_t i = 0; i < D->n_held; i++)
    {
      struct held *h = &D->held[i];
      struct kvwatch_op *op;
      if (h->pending)
        continue;
      slot_key (h->dep, h->slot, key, sizeof key);
      op = op_add (ops, KVW_UPDATE, TAG_RENEW, key);
      op->last = h->rev;
      op->value = claim_value (h->dep, h->slot, now + D->lease_ms);
      h->pending = true;
    }
  tokens_renew (ops, now);
  if (!D->n->stopping)
    plan (ops, now);
  kvwatch_submit (D->kv, ops);
  D->may_ask = true;
  reconcile ();
}

static void
on_tick (struct loop_timer *t)
{
  (void) t;
  round_run ();
  loop_timer_arm (D->n->loop, &D->tick, (uint64_t) (D->lease_ms / 3));
}

static void
round_soon (void)
{
  loop_timer_cancel (D->n->loop, &D->tick);
  loop_timer_arm (D->n->loop, &D->tick, 0);
}

static void
on_ready (void *ud, bool ok, const char *msg)
{
  (void) ud;
  if (!ok)
    {
      log_error ("deployments: %s: off", msg);
      return;
    }
  D->ready = true;
  log_info ("deployments: %s, lease %lld ms", msg, (long long) D->lease_ms);
}

int
deployments_start (struct node *n, struct nxerr *err)
{
  const struct config *cfg = &n->cfg;
  struct kvwatch_cfg kc = { 0 };
  if (!cfg->deployments.enabled)
    return 0;
  D = xcalloc (1, sizeof *D);
  D->n = n;
  D->lease_ms = cfg->deployments.lease_ms;
  D->skew_ms = cfg->deployments.skew_ms;
  snprintf (D->node_key, sizeof D->node_key, "node.%s", n->node_id);
  if (cfg->deployments.xkey_seed_file)
    {
      if (nkey_pair_from_file (cfg->deployments.xkey_seed_file, &D->xkey, err) < 0
          || (D->xkey.prefix != NKEY_CURVE
              && nxerr_set (err, EINVAL, "not an xkey seed (SX...)") < 0))
        {
          free (D);
          D = NULL;
          return nxerr_wrap (err, "deployments.xkey_seed_file %s", cfg->deployments.xkey_seed_file);
        }
      D->have_xkey = true;
    }
  kc.bucket = cfg->deployments.bucket ? cfg->deployments.bucket : DEPLOYMENT_BUCKET_DEFAULT;
  kc.claims_bucket
      = cfg->deployments.claims_bucket ? cfg->deployments.claims_bucket
                                       : DEPLOYMENT_CLAIMS_BUCKET_DEFAULT;
  kc.replicas = (int) cfg->deployments.replicas;
  /* A write must answer well within a lease, or the lease is lost anyway. */
  kc.op_timeout_ms = D->lease_ms / 4 > 200 ? D->lease_ms / 4 : 200;
  kc.resync_ms = 10000;
  kc.on_batch = on_batch;
  kc.on_results = on_results;
  kc.on_ready = on_ready;
  loop_timer_init (&D->tick, on_tick);
  loop_timer_init (&D->fence_timer, on_fence_timer);
  if (kvwatch_start (n, &kc, &D->kv, err) < 0)
    {
      nkey_pair_wipe (&D->xkey);
      free (D);
      D = NULL;
      return -1;
    }
  loop_timer_arm (n->loop, &D->tick, 0);
  return 0;
}

void
deployments_stop (struct node *n)
{
  struct kvwatch_ops *ops;
  char key[DEP_KEY_MAX + 32];
  if (D == NULL)
    return;
  loop_timer_cancel (n->loop, &D->tick);
  loop_timer_cancel (n->loop, &D->fence_timer);
  /* The replicas are stopped by now (they never detach, --detach-on-exit
   * or not): others may take the slots at once. */
  if (D->ready)
    {
      ops = xcalloc (1, sizeof *ops);
      for (size_t i = 0; i < D->n_held; i++)
        {
          slot_key (D->held[i].dep, D->held[i].slot, key, sizeof key);
          op_add (ops, KVW_DELETE, TAG_RELEASE, key);
        }
      for (size_t i = 0; i < D->n_tokens; i++)
        {
          token_key (D->tokens[i].dep, D->tokens[i].k, key, sizeof key);
          op_add (ops, KVW_DELETE, TAG_RELEASE, key);
        }
      op_add (ops, KVW_DELETE, TAG_ALIVE, D->node_key);
      kvwatch_submit (D->kv, ops);
    }
  kvwatch_stop (D->kv);
  for (size_t i = D->n_specs; i-- > 0;)
    spec_drop (i);
  for (size_t i = D->n_claims; i-- > 0;)
    claim_drop (i);
  free (D->specs);
  free (D->claims);
  free (D->held);
  free (D->tokens);
  nkey_pair_wipe (&D->xkey);
  free (D);
  D = NULL;
}

void
deployments_write_info (struct node *n, struct jsonw *w)
{
  (void) n;
  jsonw_key (w, "deployments");
  jsonw_obj_begin (w);
  jsonw_kbool (w, "enabled", D != NULL);
  if (D)
    {
      jsonw_kbool (w, "ready", D->ready);
      jsonw_kint (w, "lease_ms", D->lease_ms);
      if (D->have_xkey)
        jsonw_kstr (w, "xkey", D->xkey.public_text);
      jsonw_key (w, "held");
      jsonw_arr_begin (w);
      for (size_t i = 0; i < D->n_held; i++)
        {
          char key[DEP_KEY_MAX + 32];
          slot_key (D->held[i].dep, D->held[i].slot, key, sizeof key);
          jsonw_str (w, key);
        }
      jsonw_arr_end (w);
    }
  jsonw_obj_end (w);
}
