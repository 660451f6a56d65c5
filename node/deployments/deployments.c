#include "node/deployments/deployments.h"
#include "node/deployments/deployments_int.h"

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

static struct deployments *D; /* one per node; loop thread */

int64_t
deployments_now_ms (void)
{
  struct timespec t = timefmt_now ();
  return (int64_t) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void
deployments_event (struct node *n, const char *dep, const char *type, uint32_t slot, bool with_slot,
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

/* ---- what this node holds and runs ---- */

struct held *
deployments_held_find (struct deployments *d, const char *dep, uint32_t slot)
{
  for (size_t i = 0; i < d->n_held; i++)
    if (d->held[i].slot == slot && strcmp (d->held[i].dep, dep) == 0)
      return &d->held[i];
  return NULL;
}

static void
held_drop (struct held *h)
{
  D->held[h - D->held] = D->held[--D->n_held];
}

const struct dspec *
deployments_spec_of (struct deployments *d, const char *dep)
{
  const struct dspec *s = mirror_spec_find (d, dep);
  return s && s->spec && s->runnable ? s : NULL;
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

static void
stop_slot (const char *dep, uint32_t slot, const char *why)
{
  /* A slot that goes takes its rollout token with it: its replacement is
   * stopped for the slot's sake, not because it failed. */
  rollout_forget (D, dep, slot);
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
      if (replica_of (n, w, &id) && replica_alive (w)
          && deployments_held_find (D, id.dep, id.slot) == NULL)
        {
          log_info ("deployment %s slot %u: not held by this node: stopping replica %s", id.dep,
                    id.slot, w->id);
          replica_stop (w);
        }
    }
  if (n->stopping || n->lameduck)
    return;
  for (size_t i = 0; i < D->n_held; i++)
    {
      struct held *h = &D->held[i];
      const struct dspec *s = deployments_spec_of (D, h->dep);
      struct nxerr err = { 0 };
      struct workload *w = NULL;
      if (s == NULL || !h->confirmed)
        continue;
      if (replica_find (h->dep, h->slot, true))
        {
          rollout_slot (D, h, s);
          continue;
        }
      if (now < h->next_start_ns)
        continue;
      h->next_start_ns = now + (uint64_t) RESTART_DELAY_MS * 1000000;
      if (replica_start (n, s->spec, h->slot, s->template, D->have_xkey ? &D->xkey : NULL, &w, &err)
          < 0)
        {
          log_error ("deployment %s slot %u: %s", h->dep, h->slot, err.msg);
          deployments_event (n, h->dep, "deployment_replica_failed", h->slot, true, err.msg);
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
      deployments_event (D->n, dep, "deployment_replica_lost", slot, true,
                         "lease not renewed in time");
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

static void
slot_key (const char *dep, uint32_t slot, char *out, size_t cap)
{
  snprintf (out, cap, "slot.%s.%u", dep, slot);
}

static char *
claim_value (const char *dep, uint32_t slot, int64_t expires_ms)
{
  struct deployment_claim c;
  struct buf b = BUF_INIT;
  const struct dspec *s = deployments_spec_of (D, dep);
  struct workload *w = s ? replica_with_template (D->n, dep, slot, s->template, true) : NULL;
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

struct kvwatch_op *
deployments_op_add (struct kvwatch_ops *ops, enum kvwatch_op_kind kind, enum op_tag tag,
                    const char *key)
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

uint32_t
deployments_capacity (struct deployments *d)
{
  struct node *n = d->n;
  if (n->lameduck || n->stopping)
    return 0;
  if (n->cfg.max_workloads == 0)
    return DEPLOYMENT_REPLICAS_MAX;
  return n->n_workloads >= (size_t) n->cfg.max_workloads
             ? 0
             : (uint32_t) ((size_t) n->cfg.max_workloads - n->n_workloads);
}

/* ---- rolling updates ---- */

/* A claim this node may act on: said, and its replica started by reconcile. */
static void
claim_confirmed (struct held *h)
{
  h->confirmed = true;
  log_info ("deployment %s slot %u: claimed%s", h->dep, h->slot,
            h->takeover ? " (taken over)" : "");
  deployments_event (D->n, h->dep, "deployment_replica_claimed", h->slot, true,
                     h->takeover ? "slot taken over after its lease expired" : "slot claimed");
}

/* Give up the claim of key, last written by this node at rev (or later, by
 * a renewal still in flight): a delete by compare-and-set (KVW_RELEASE), so
 * a node whose lease ran out unawares cannot free a slot another node has
 * taken since. */
static void
release_op (struct kvwatch_ops *ops, const char *key, uint64_t rev)
{
  deployments_op_add (ops, KVW_RELEASE, TAG_RELEASE, key)->last = rev;
}

static void
renew_op (struct kvwatch_ops *ops, struct held *h, int64_t now)
{
  char key[DEP_KEY_MAX + 32];
  struct kvwatch_op *op;
  slot_key (h->dep, h->slot, key, sizeof key);
  op = deployments_op_add (ops, KVW_UPDATE, TAG_RENEW, key);
  op->last = h->rev;
  op->value = claim_value (h->dep, h->slot, now + D->lease_ms);
  h->pending = true;
}

/* The takes not fresh whose CONFIRM_MS has passed: their confirming write
 * (a renewal); the timer armed for the next one due. */
static void
confirm_run (void)
{
  struct kvwatch_ops *ops = xcalloc (1, sizeof *ops);
  uint64_t mono = timefmt_mono_ns (), next;
  int64_t now = deployments_now_ms ();
  next = rollout_confirm (D, ops, mono, now);
  for (size_t i = 0; i < D->n_held; i++)
    {
      struct held *h = &D->held[i];
      uint64_t due = h->taken_ns + (uint64_t) CONFIRM_MS * 1000000;
      if (h->confirmed || h->pending)
        continue;
      if (mono >= due)
        renew_op (ops, h, now);
      else if (next == 0 || due < next)
        next = due;
    }
  if (ops->n)
    kvwatch_submit (D->kv, ops);
  else
    kvwatch_ops_free (ops);
  loop_timer_cancel (D->n->loop, &D->confirm_timer);
  if (next && !D->n->stopping)
    loop_timer_arm (D->n->loop, &D->confirm_timer, (next - mono) / 1000000 + 1);
}

static void
on_confirm_timer (struct loop_timer *t)
{
  (void) t;
  confirm_run ();
}

static void
on_ended_timer (struct loop_timer *t)
{
  (void) t;
  reconcile ();
}

void
deployments_token_freed (struct deployments *d)
{
  d->may_ask = true;
  if (!loop_timer_armed (&d->ended_timer))
    loop_timer_arm (d->n->loop, &d->ended_timer, 1 + randombytes_uniform (50));
}

/* A workload ended (node.h on_workload_ended): when it was a rollout's old
 * replica, its token goes now, not a round later. After the current event
 * batch, not inside the end (reconcile may start replicas). */
static void
on_workload_ended (struct node *n)
{
  if (D == NULL || D->n_tokens == 0 || loop_timer_armed (&D->ended_timer))
    return;
  loop_timer_arm (n->loop, &D->ended_timer, 0);
}

/* h's slot is another node's: stop its replica. */
static void
held_lost (struct held *h, const char *what)
{
  char dep[DEP_KEY_MAX];
  uint32_t slot = h->slot;
  snprintf (dep, sizeof dep, "%s", h->dep);
  log_error ("deployment %s slot %u: %s: stopping its replica", dep, slot, what);
  held_drop (h);
  stop_slot (dep, slot, "claim lost");
  deployments_event (D->n, dep, "deployment_replica_lost", slot, true,
                     "claim taken by another node");
}

/* A renewal of ours and another node's take of the same slot, both sent on
 * the revision before, can both be accepted on a clustered stream
 * (ARCHITECTURE.md, "The compare-and-set itself"); when the take was
 * applied last, the taker's confirmation holds and the slot is its own,
 * while this node's renewal was answered "written". The watch shows the
 * take right away: acting on it then, rather than when the next renewal
 * fails (up to lease/3 later), keeps the two replicas' overlap to the
 * watch's delay. Only with no write of ours in flight: one still in flight
 * may be the later write, and its answer settles it (on_results calls this
 * again). */
void
deployments_claims_seen (struct deployments *d)
{
  char key[DEP_KEY_MAX + 32];
  for (size_t i = d->n_held; i-- > 0;)
    {
      struct held *h = &d->held[i];
      const struct dclaim *c;
      char what[160];
      if (h->pending || !h->confirmed)
        continue; /* an unconfirmed take's confirmation settles it */
      slot_key (h->dep, h->slot, key, sizeof key);
      c = mirror_claim_find (d, key);
      if (c == NULL || c->rev <= h->rev || strcmp (c->c.node, d->n->node_id) == 0)
        continue;
      snprintf (what, sizeof what, "taken by %.56s at revision %llu, after this node's %llu",
                c->c.node[0] ? c->c.node : "nobody", (unsigned long long) c->rev,
                (unsigned long long) h->rev);
      held_lost (h, what);
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
      if ((op->tag & 0xff) == TAG_TOKEN || op->tag == TAG_TOKEN_RENEW
          || op->tag == TAG_TOKEN_RELEASE)
        {
          rollout_result (D, op);
          continue;
        }
      if (op->tag == TAG_ALIVE || !deployment_slot_key_parse (op->key, dep, sizeof dep, &slot))
        continue;
      h = deployments_held_find (D, dep, slot);
      bool claim = op->tag == TAG_CLAIM || op->tag == TAG_TAKEOVER;
      if (claim && op->status == KVW_OK && h == NULL && deployments_spec_of (D, dep))
        {
          D->held = xrealloc (D->held, (D->n_held + 1) * sizeof *D->held);
          h = &D->held[D->n_held++];
          memset (h, 0, sizeof *h);
          snprintf (h->dep, sizeof h->dep, "%s", dep);
          h->slot = slot;
          h->rev = op->rev;
          h->expiry_ns = op->sent_mono_ns + (uint64_t) D->lease_ms * 1000000;
          h->takeover = op->tag == TAG_TAKEOVER;
          h->taken_ns = timefmt_mono_ns ();
          if (op->fresh)
            claim_confirmed (h);
          else
            log_info ("deployment %s slot %u: claim written, confirming it", dep, slot);
        }
      else if (op->tag == TAG_RELEASE && op->status == KVW_CONFLICT)
        /* Left as it is: another node took it after this one's lease ran
         * out, or a write of this node's went unseen (then its lease runs
         * out and others take it then, not at once). */
        log_info ("deployment %s slot %u: release not written: the claim is no longer as this "
                  "node last wrote it",
                  dep, slot);
      else if (op->tag == TAG_RENEW && h)
        {
          h->pending = false;
          if (op->status == KVW_OK)
            {
              h->rev = op->rev;
              h->expiry_ns = op->sent_mono_ns + (uint64_t) D->lease_ms * 1000000;
              if (!h->confirmed)
                claim_confirmed (h);
            }
          else if (op->status == KVW_CONFLICT && !h->confirmed)
            {
              /* Another node's take was accepted beside ours: the slot is
               * theirs (nothing was started for it here). */
              log_info ("deployment %s slot %u: claim not confirmed: another node took it at "
                        "the same moment",
                        dep, slot);
              held_drop (h);
            }
          else if (op->status == KVW_CONFLICT)
            /* Someone else has it now: this node's lease was over. */
            held_lost (h, "lost the claim");
        }
    }
  deployments_claims_seen (D);
  for (size_t i = 0; i < ops->n && !retry; i++)
    retry = (ops->v[i].tag == TAG_CLAIM || ops->v[i].tag == TAG_TAKEOVER)
            && ops->v[i].status == KVW_CONFLICT;
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
  confirm_run ();
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
  struct lease_view v = { .now_ms = now,
                          .skew_ms = D->skew_ms,
                          .me = D->n->node_id,
                          .my_tags = { D->n->tags.keys, D->n->tags.vals, D->n->tags.n },
                          .capacity = deployments_capacity (D),
                          .giving_up = D->n->lameduck || D->n->stopping };
  char key[DEP_KEY_MAX + 32];
  for (size_t i = 0; i < D->n_specs; i++)
    if (D->specs[i].spec && D->specs[i].runnable)
      {
        const struct deployment_spec *s = D->specs[i].spec;
        deps[nd++] = (struct lease_dep){ .key = D->specs[i].key,
                                         .replicas = s->replicas,
                                         .placement = { s->tag_keys, s->tag_vals, s->n_tags },
                                         .spread = s->spread };
      }
  for (size_t i = 0; i < D->n_claims; i++)
    {
      const struct dclaim *c = &D->claims[i];
      if (c->slot_key)
        {
          if (deployments_held_find (D, c->dep, c->slot) == NULL)
            slots[ns++] = (struct lease_slot){ .dep = c->dep,
                                               .slot = c->slot,
                                               .node = c->c.node,
                                               .expires_ms = c->c.expires_ms,
                                               .rev = c->rev };
        }
      else if (strncmp (c->key, "node.", 5) == 0)
        nodes[nn++] = (struct lease_node){ .id = c->c.node,
                                           .tags = { c->c.tag_keys, c->c.tag_vals, c->c.n_tags },
                                           .expires_ms = c->c.expires_ms };
    }
  for (size_t i = 0; i < D->n_held; i++)
    slots[ns++] = (struct lease_slot){ .dep = D->held[i].dep,
                                       .slot = D->held[i].slot,
                                       .node = D->n->node_id,
                                       .rev = D->held[i].rev,
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
          struct held *h = deployments_held_find (D, acts[i].dep, acts[i].slot);
          const struct dspec *s = deployments_spec_of (D, acts[i].dep);
          log_info ("deployment %s slot %u: released (%s)", acts[i].dep, acts[i].slot,
                    s ? "scaled down or placement changed" : "deployment removed");
          stop_slot (acts[i].dep, acts[i].slot, "released");
          deployments_event (D->n, acts[i].dep, "deployment_replica_released", acts[i].slot, true,
                             s ? "scaled down" : "deployment removed");
          release_op (ops, key, h ? h->rev : acts[i].rev);
          if (h)
            held_drop (h);
          continue;
        }
      op = deployments_op_add (ops, acts[i].rev ? KVW_UPDATE : KVW_CREATE,
                               acts[i].takeover ? TAG_TAKEOVER : TAG_CLAIM, key);
      op->last = acts[i].rev;
      op->value = claim_value (acts[i].dep, acts[i].slot, now + D->lease_ms);
      op->jitter_ms = 1 + randombytes_uniform (100);
    }
  free (slots);
  free (nodes);
  free (deps);
}

/* A lame duck takes no new work and lets its slots go, so the other nodes
 * take them at once instead of after a drain's stop and a lease. */
static void
lameduck_release (struct kvwatch_ops *ops)
{
  char key[DEP_KEY_MAX + 32];
  while (D->n_held > 0)
    {
      struct held *h = &D->held[D->n_held - 1];
      char dep[DEP_KEY_MAX];
      uint32_t slot = h->slot;
      snprintf (dep, sizeof dep, "%s", h->dep);
      log_info ("deployment %s slot %u: released (lame duck)", dep, slot);
      stop_slot (dep, slot, "lame duck");
      deployments_event (D->n, dep, "deployment_replica_released", slot, true, "lame duck");
      slot_key (dep, slot, key, sizeof key);
      release_op (ops, key, h->rev);
      held_drop (h);
    }
}

static void
round_run (void)
{
  struct kvwatch_ops *ops;
  int64_t now = deployments_now_ms ();
  fence ();
  if (!D->ready || !D->caught_up[KVW_SPECS] || !D->caught_up[KVW_CLAIMS])
    return;
  D->rounds++;
  ops = xcalloc (1, sizeof *ops);
  /* A lame duck is no candidate for slots: without its liveness key the
   * others' spread quota counts the nodes that can take them. */
  if (D->n->lameduck)
    {
      deployments_op_add (ops, KVW_DELETE, TAG_ALIVE, D->node_key);
      lameduck_release (ops);
    }
  else
    deployments_op_add (ops, KVW_PUT, TAG_ALIVE, D->node_key)->value
        = alive_value (now + D->lease_ms);
  for (size_t i = 0; i < D->n_held; i++)
    if (!D->held[i].pending && D->held[i].confirmed)
      renew_op (ops, &D->held[i], now); /* not confirmed yet: confirm_run's */
  rollout_renew (D, ops, now);
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

void
deployments_lameduck (struct node *n)
{
  (void) n;
  if (D)
    deployments_round_soon (D);
}

void
deployments_round_soon (struct deployments *d)
{
  loop_timer_cancel (d->n->loop, &d->tick);
  loop_timer_arm (d->n->loop, &d->tick, 0);
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
  kc.claims_bucket = cfg->deployments.claims_bucket ? cfg->deployments.claims_bucket
                                                    : DEPLOYMENT_CLAIMS_BUCKET_DEFAULT;
  kc.replicas = (int) cfg->deployments.replicas;
  /* A write must answer well within a lease, or the lease is lost anyway. */
  kc.op_timeout_ms = D->lease_ms / 4 > 200 ? D->lease_ms / 4 : 200;
  kc.resync_ms = 10000;
  kc.on_batch = mirror_on_batch;
  kc.ud = D;
  kc.on_results = on_results;
  kc.on_ready = on_ready;
  loop_timer_init (&D->tick, on_tick);
  loop_timer_init (&D->fence_timer, on_fence_timer);
  loop_timer_init (&D->confirm_timer, on_confirm_timer);
  loop_timer_init (&D->ended_timer, on_ended_timer);
  if (kvwatch_start (n, &kc, &D->kv, err) < 0)
    {
      nkey_pair_wipe (&D->xkey);
      free (D);
      D = NULL;
      return -1;
    }
  loop_timer_arm (n->loop, &D->tick, 0);
  n->on_workload_ended = on_workload_ended;
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
  loop_timer_cancel (n->loop, &D->confirm_timer);
  loop_timer_cancel (n->loop, &D->ended_timer);
  n->on_workload_ended = NULL;
  /* The replicas are stopped by now (they never detach, --detach-on-exit
   * or not): others may take the slots at once. */
  if (D->ready)
    {
      ops = xcalloc (1, sizeof *ops);
      for (size_t i = 0; i < D->n_held; i++)
        {
          /* By compare-and-set: a slot whose lease ran out (a node paused
           * past it, then stopped) and was taken since stays taken. */
          slot_key (D->held[i].dep, D->held[i].slot, key, sizeof key);
          release_op (ops, key, D->held[i].rev);
        }
      rollout_release_all (D, ops);
      deployments_op_add (ops, KVW_DELETE, TAG_ALIVE, D->node_key);
      kvwatch_submit (D->kv, ops);
    }
  kvwatch_stop (D->kv);
  mirror_free (D);
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
