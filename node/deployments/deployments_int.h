/* deployments_int: what the files of node/deployments/ share (the room's
 * own header is deployments.h): the reconciler's state, struct deployments
 * (one per node, made by deployments_start and held by deployments.c, which
 * hands it to the others; loop thread), and the helpers of deployments.c
 * the others call.
 *
 *   deployments.c  rounds, claims held, renewals, self-fencing, reconcile
 *   mirror.c       the two buckets as the watches tell them
 *   rollout.c      rolling updates: tokens, replacements
 *   lease.c        which slots to claim or let go (pure)
 *   replica.c      a replica as a workload
 *   kvwatch.c      the KV thread */
#ifndef NEXC_NODE_DEPLOYMENTS_INT_H
#define NEXC_NODE_DEPLOYMENTS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/deployment.h"
#include "api/nkeys.h"
#include "node/core/loop.h"
#include "node/deployments/kvwatch.h"
#include "node/workload/workload.h"

struct node;

#define DEP_KEY_MAX (2 * DEPLOYMENT_NAME_MAX + 2)
#define SPECS_MAX 256
#define CLAIMS_MAX 4096
#define RESTART_DELAY_MS 2000
/* A replacement counts as started once it has run this long. */
#define READY_MS 500
/* After a lost claim: the next look (the watch has shown the winner by then). */
#define CONFLICT_RETRY_MS 50
/* A take that was not fresh (kvwatch.h) is acted on once a second
 * compare-and-set, on the take's own revision, sent this long after the
 * take was answered, holds too: a write that expected the same revision and
 * was accepted beside it has been applied by then, and the second write of
 * whichever take came first fails. Measured on a 3-server nats-server
 * 2.9.10 cluster: two concurrent updates expecting one revision were both
 * accepted 1432 times in 2000; with a second compare-and-set 20 ms later,
 * both held 0 times in 3000 (at once: 10 in 3000). */
#define CONFIRM_MS 100

/* A key of the specs bucket. */
struct dspec {
  char *key;
  uint64_t rev, gen;
  struct deployment_spec *spec; /* NULL: refused (said once per revision) */
  char template[DEPLOYMENT_TEMPLATE_LEN + 1];
  bool runnable; /* this node can run it (replica_check): eligible for its slots */
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
  bool confirmed;     /* fresh, or confirmed (CONFIRM_MS): its replica may start */
  bool takeover;      /* taken from an expired claim (said when confirmed) */
  uint64_t taken_ns;  /* monotonic: when the take was answered */
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
  bool pending;   /* a write of it in flight */
  bool confirmed; /* fresh, or confirmed (CONFIRM_MS): the replacement may start */
  bool releasing; /* no longer used; its release (an empty holder) sent or due */
  uint64_t taken_ns;
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
  bool token_asked;  /* a token's compare-and-set in flight (one at a time) */
  bool may_ask;      /* once per round: a failing bucket is not asked in a loop */
  uint64_t gen[2];   /* the newest generation seen per bucket */
  bool caught_up[2]; /* of that generation */
  struct loop_timer tick;
  struct loop_timer fence_timer;   /* at the earliest expiry of what is held */
  struct loop_timer confirm_timer; /* at the earliest take due for its confirmation */
  struct loop_timer ended_timer;   /* a workload ended: reconcile soon (rollout tokens) */
  int64_t lease_ms, skew_ms;
  char node_key[80];
  uint64_t rounds;
  bool settled; /* the first round's claims answered: own slots taken back */
};

enum op_tag {
  TAG_CLAIM = 1,
  TAG_RENEW,
  TAG_RELEASE,
  TAG_ALIVE,
  TAG_TOKEN,
  TAG_TOKEN_RENEW,
  TAG_TOKEN_RELEASE,
  TAG_TAKEOVER /* a claim over an expired holder's (TAG_CLAIM: a free slot's) */
};

/* ---- deployments.c ---- */
int64_t deployments_now_ms (void);
/* A deployment_* event about dep (slot when with_slot), in dep's namespace. */
void deployments_event (struct node *n, const char *dep, const char *type, uint32_t slot,
                        bool with_slot, const char *message);
struct held *deployments_held_find (struct deployments *d, const char *dep, uint32_t slot);
/* The valid spec of dep, NULL when absent, refused or not runnable here. */
const struct dspec *deployments_spec_of (struct deployments *d, const char *dep);
/* Replicas this node may still start (0 in lame duck or while stopping). */
uint32_t deployments_capacity (struct deployments *d);
/* A write added to ops (the key copied), queued by its caller. */
struct kvwatch_op *deployments_op_add (struct kvwatch_ops *ops, enum kvwatch_op_kind kind,
                                       enum op_tag tag, const char *key);
/* The next round now (a spec changed). */
void deployments_round_soon (struct deployments *d);
/* The claims mirror changed: a slot this node holds that the bucket now
 * gives another node at a later revision than this node's last answered
 * write is lost at once (its replica stopped), not at the next renewal. */
void deployments_claims_seen (struct deployments *d);
/* A rollout token was released: ask for it (after 1-50 ms, so that the
 * nodes waiting for it do not all write at once), not a round later. */
void deployments_token_freed (struct deployments *d);

/* ---- mirror.c ---- */
/* kvwatch's on_batch (ud: the struct deployments). */
void mirror_on_batch (void *ud, struct kvwatch_batch *b);
struct dspec *mirror_spec_find (struct deployments *d, const char *key);
struct dclaim *mirror_claim_find (struct deployments *d, const char *key);
void mirror_free (struct deployments *d);

/* ---- rollout.c ---- */
/* h's slot runs something: replace it if it runs an older template. */
void rollout_slot (struct deployments *d, struct held *h, const struct dspec *s);
/* The slot goes (fenced, lost, released): its token is forgotten. */
void rollout_forget (struct deployments *d, const char *dep, uint32_t slot);
/* The result of a TAG_TOKEN or TAG_TOKEN_RENEW write. */
void rollout_result (struct deployments *d, struct kvwatch_op *op);
/* Each round: renew the tokens held, drop the expired ones. */
void rollout_renew (struct deployments *d, struct kvwatch_ops *ops, int64_t now);
/* The confirming writes of the tokens due (CONFIRM_MS) added to ops; the
 * earliest time (monotonic ns) one is due later, 0 when none. */
uint64_t rollout_confirm (struct deployments *d, struct kvwatch_ops *ops, uint64_t mono,
                          int64_t now);
/* Shutdown: release every token held. */
void rollout_release_all (struct deployments *d, struct kvwatch_ops *ops);

#endif
