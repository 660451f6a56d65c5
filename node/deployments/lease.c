#include "node/deployments/lease.h"

#include <string.h>

static const char *
tag_get (const struct lease_tags *t, const char *key)
{
  for (size_t i = 0; i < t->n; i++)
    if (strcmp (t->keys[i], key) == 0)
      return t->vals[i];
  return NULL;
}

bool
lease_tags_match (const struct lease_tags *want, const struct lease_tags *have)
{
  for (size_t i = 0; i < want->n; i++)
    {
      const char *v = tag_get (have, want->keys[i]);
      if (v == NULL || strcmp (v, want->vals[i]) != 0)
        return false;
    }
  return true;
}

bool
lease_slot_live (const struct lease_view *v, const struct lease_slot *s)
{
  if (s->held)
    return true;
  return s->node[0] != '\0' && v->now_ms <= s->expires_ms + v->skew_ms;
}

static const struct lease_node *
find_node (const struct lease_view *v, const char *id)
{
  for (size_t i = 0; i < v->n_nodes; i++)
    if (strcmp (v->nodes[i].id, id) == 0)
      return &v->nodes[i];
  return NULL;
}

static bool
node_live (const struct lease_view *v, const struct lease_node *n)
{
  return v->now_ms <= n->expires_ms + v->skew_ms;
}

/* The tag value the holder of s has for key (NULL: unknown). */
static const char *
holder_tag (const struct lease_view *v, const struct lease_slot *s, const char *key)
{
  const struct lease_node *n;
  if (strcmp (s->node, v->me) == 0)
    return tag_get (&v->my_tags, key);
  n = find_node (v, s->node);
  return n ? tag_get (&n->tags, key) : NULL;
}

/* Eligible live nodes (this one included, live or not in the bucket yet);
 * with a spread tag: the distinct values of it among them. */
static uint32_t
eligible_groups (const struct lease_view *v, const struct lease_dep *d, const char *tag)
{
  const char *seen[256];
  uint32_t n = 0;
  if (tag)
    seen[n++] = tag_get (&v->my_tags, tag);
  else
    n = 1;
  for (size_t i = 0; i < v->n_nodes; i++)
    {
      const struct lease_node *x = &v->nodes[i];
      bool dup = false;
      const char *val;
      if (strcmp (x->id, v->me) == 0 || !node_live (v, x)
          || !lease_tags_match (&d->placement, &x->tags))
        continue;
      if (tag == NULL)
        {
          n++;
          continue;
        }
      val = tag_get (&x->tags, tag);
      if (val == NULL)
        continue;
      for (uint32_t k = 0; k < n && !dup; k++)
        dup = strcmp (seen[k], val) == 0;
      if (!dup && n < 256)
        seen[n++] = val;
    }
  return n;
}

static const struct lease_slot *
find_slot (const struct lease_view *v, const char *dep, uint32_t slot)
{
  for (size_t i = 0; i < v->n_slots; i++)
    if (v->slots[i].slot == slot && strcmp (v->slots[i].dep, dep) == 0)
      return &v->slots[i];
  return NULL;
}

static const struct lease_dep *
find_dep (const struct lease_view *v, const char *key)
{
  for (size_t i = 0; i < v->n_deps; i++)
    if (strcmp (v->deps[i].key, key) == 0)
      return &v->deps[i];
  return NULL;
}

/* Where this node starts looking for a free slot of d: its rank among the
 * eligible live nodes (by id), so that nodes that see the same free slots
 * at once try different ones instead of racing for the first. */
static uint32_t
start_index (const struct lease_view *v, const struct lease_dep *d)
{
  uint32_t rank = 0;
  for (size_t i = 0; i < v->n_nodes; i++)
    {
      const struct lease_node *x = &v->nodes[i];
      if (strcmp (x->id, v->me) < 0 && node_live (v, x)
          && lease_tags_match (&d->placement, &x->tags))
        rank++;
    }
  return d->replicas ? rank % d->replicas : 0;
}

/* How many replicas of d this node may hold now. */
static uint32_t
quota (const struct lease_view *v, const struct lease_dep *d)
{
  const char *tag = NULL;
  uint32_t groups, mine = 0, group_held = 0, per;
  if (strcmp (d->spread, "none") == 0)
    return d->replicas;
  if (strcmp (d->spread, "node") != 0)
    {
      tag = d->spread;
      if (tag_get (&v->my_tags, tag) == NULL)
        return 0; /* spread over a tag this node does not have */
    }
  groups = eligible_groups (v, d, tag);
  per = (d->replicas + groups - 1) / groups;
  for (size_t i = 0; i < v->n_slots; i++)
    {
      const struct lease_slot *s = &v->slots[i];
      const char *val;
      if (strcmp (s->dep, d->key) != 0 || s->slot >= d->replicas || !lease_slot_live (v, s))
        continue;
      if (strcmp (s->node, v->me) == 0)
        mine++;
      if (tag && (val = holder_tag (v, s, tag)) && strcmp (val, tag_get (&v->my_tags, tag)) == 0)
        group_held++;
    }
  if (tag)
    return group_held >= per ? mine : mine + (per - group_held);
  return per;
}

static uint32_t
held_by_me (const struct lease_view *v, const struct lease_dep *d)
{
  uint32_t n = 0;
  for (size_t i = 0; i < v->n_slots; i++)
    if (strcmp (v->slots[i].dep, d->key) == 0 && v->slots[i].slot < d->replicas && v->slots[i].held)
      n++;
  return n;
}

size_t
lease_plan (const struct lease_view *v, struct lease_act *out, size_t cap)
{
  size_t n = 0;
  uint32_t capacity = v->capacity;
  /* Mine and unwanted: the deployment is gone or scaled below the slot. */
  for (size_t i = 0; i < v->n_slots && n < cap; i++)
    {
      const struct lease_slot *s = &v->slots[i];
      const struct lease_dep *d = find_dep (v, s->dep);
      if (!s->held || (d && s->slot < d->replicas && lease_tags_match (&d->placement, &v->my_tags)))
        continue;
      out[n++] = (struct lease_act){
        .kind = LEASE_RELEASE, .dep = s->dep, .slot = s->slot, .rev = s->rev
      };
    }
  /* Mine by the bucket's word but not confirmed by this run (a restart
   * within the lease): taken back whatever the quota, so replicas that
   * survived the restart keep running. */
  for (size_t i = 0; i < v->n_slots && n < cap; i++)
    {
      const struct lease_slot *s = &v->slots[i];
      const struct lease_dep *d = find_dep (v, s->dep);
      if (v->giving_up || s->held || strcmp (s->node, v->me) != 0 || !lease_slot_live (v, s)
          || d == NULL || s->slot >= d->replicas || !lease_tags_match (&d->placement, &v->my_tags))
        continue;
      out[n++] = (struct lease_act){
        .kind = LEASE_CLAIM, .dep = s->dep, .slot = s->slot, .rev = s->rev
      };
    }
  for (size_t i = 0; i < v->n_deps && n < cap && capacity > 0; i++)
    {
      const struct lease_dep *d = &v->deps[i];
      uint32_t first;
      if (d->replicas == 0 || !lease_tags_match (&d->placement, &v->my_tags))
        continue;
      if (held_by_me (v, d) >= quota (v, d))
        continue;
      first = start_index (v, d);
      for (uint32_t k = 0; k < d->replicas; k++)
        {
          uint32_t slot = (first + k) % d->replicas;
          const struct lease_slot *s = find_slot (v, d->key, slot);
          /* Free or expired (mine-but-unconfirmed went above). */
          if (s && (s->held || lease_slot_live (v, s)))
            continue;
          out[n++] = (struct lease_act){
            .kind = LEASE_CLAIM, .dep = d->key, .slot = slot, .rev = s ? s->rev : 0,
            .takeover = s && s->node[0] != '\0'
          };
          capacity--;
          break;
        }
    }
  return n;
}
