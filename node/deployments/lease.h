/* lease: which replica slots this node should claim or let go, as a pure
 * function of what the claims bucket says, the clock and the node itself
 * (no I/O, no node state: tests/unit/node/test_lease.c drives it).
 *
 * A claim is live while now <= expires_ms + skew_ms (the holder's clock
 * plus a margin for skew); past that the slot is free and may be taken by a
 * compare-and-set on the claim's revision. The holder itself counts on its
 * own monotonic clock and stops its replica at its expiry (self-fencing:
 * node/deployments/deployments.c), before anyone may take over. */
#ifndef NEXC_NODE_LEASE_H
#define NEXC_NODE_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lease_tags {
  char *const *keys;
  char *const *vals;
  size_t n;
};

/* A deployment with a valid spec. */
struct lease_dep {
  const char *key; /* "{ns}.{name}" */
  uint32_t replicas;
  struct lease_tags placement; /* a node must have each of these */
  const char *spread;          /* "node", "none" or a tag name */
};

/* A slot's claim as the bucket has it (absent slots are not listed). */
struct lease_slot {
  const char *dep;
  uint32_t slot;
  const char *node; /* "" : released */
  int64_t expires_ms;
  uint64_t rev;
  bool held; /* mine, confirmed by my own last write (not just the bucket's word) */
};

/* A node's liveness key. */
struct lease_node {
  const char *id;
  struct lease_tags tags;
  int64_t expires_ms;
};

struct lease_view {
  int64_t now_ms, skew_ms;
  const char *me;
  struct lease_tags my_tags;
  uint32_t capacity; /* replicas this node may still start */
  /* A lame duck (or a node stopping): it has just let its slots go, so the
   * bucket's word that one is its own is a release not seen yet, nothing
   * to take back. */
  bool giving_up;
  const struct lease_dep *deps;
  size_t n_deps;
  const struct lease_slot *slots;
  size_t n_slots;
  const struct lease_node *nodes;
  size_t n_nodes;
};

enum lease_kind {
  LEASE_CLAIM,   /* take the slot: create (rev 0) or update on rev */
  LEASE_RELEASE, /* a slot of mine no longer wanted: stop, then delete */
};

struct lease_act {
  enum lease_kind kind;
  const char *dep; /* borrowed from the view */
  uint32_t slot;
  uint64_t rev;
  bool takeover; /* CLAIM: over a claim that named a holder (its lease over), not a free slot */
};

bool lease_tags_match (const struct lease_tags *want, const struct lease_tags *have);
/* Whether a slot's claim still holds someone (by the bucket's word). */
bool lease_slot_live (const struct lease_view *v, const struct lease_slot *s);
/* The actions for this round, at most cap; returns how many. At most one
 * claim per deployment per round (so the nodes spread between rounds). */
size_t lease_plan (const struct lease_view *v, struct lease_act *out, size_t cap);

#endif
