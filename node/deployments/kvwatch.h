/* kvwatch: the deployments' JetStream KV I/O, on a thread of its own (every
 * call here blocks on the server, the loop must not).
 *
 * The thread creates or binds the two buckets (R3, else R1 when the cluster
 * cannot), watches both (every key's value, then each change) and runs the
 * compare-and-set writes the loop queues with kvwatch_submit. What it
 * learns goes to the loop with loop_post: batches of entries (copied) and
 * the results of the writes. Every resync_ms the watches are made again (a
 * new generation): the loop drops what the new generation no longer has, so
 * a watch that missed something (a server lost under it) heals. */
#ifndef NEXC_NODE_KVWATCH_H
#define NEXC_NODE_KVWATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/nxerr.h"

struct node;
struct kvwatch;

enum kvwatch_bucket { KVW_SPECS = 0, KVW_CLAIMS = 1 };

struct kvwatch_entry {
  enum kvwatch_bucket bucket;
  char *key;
  uint64_t rev;
  bool deleted;
  char *value; /* NUL-terminated copy; NULL when deleted */
  size_t len;
};

/* A batch from the watches. caught_up: this generation has given every
 * value it started with (for that bucket). */
struct kvwatch_batch {
  uint64_t gen;
  enum kvwatch_bucket bucket;
  bool caught_up;
  struct kvwatch_entry *v;
  size_t n;
};

/* KVW_RELEASE: a delete that holds only if the key is still at the newest
 * revision this node itself wrote for it, or at last if that is newer (a
 * delete marker published with the stream's expected-last-subject-sequence
 * check: nats.c 3.4.1's kvStore_Delete has no such condition). A holder
 * gives a claim up without ever freeing another node's (its lease may have
 * run out and the slot been taken meanwhile), even when its own renewal,
 * still in flight as the release was queued, moved the revision on. */
enum kvwatch_op_kind { KVW_CREATE, KVW_UPDATE, KVW_PUT, KVW_DELETE, KVW_RELEASE };
enum kvwatch_status { KVW_OK, KVW_CONFLICT, KVW_ERROR };

struct kvwatch_op {
  enum kvwatch_op_kind kind;
  char *key;             /* in the claims bucket */
  char *value;           /* CREATE/UPDATE/PUT */
  uint64_t last;         /* UPDATE: the revision it must still have (RELEASE: at least) */
  uint64_t sent_mono_ns; /* when the loop queued it (a lease counts from there) */
  uint64_t tag;          /* the caller's */
  uint32_t jitter_ms;    /* wait this long before the batch that holds it */
  enum kvwatch_status status;
  uint64_t rev; /* the new revision on KVW_OK */
  /* KVW_OK of a CREATE that found the key without history: the one
   * compare-and-set a clustered stream of nats-server < 2.9.21 keeps under
   * concurrency (ExpectNoMessage). A write that expected a revision may have
   * been accepted beside another that expected the same one there
   * (nats-server issue 4320): such a take is confirmed by a second
   * compare-and-set before it is acted on (node/deployments/deployments.c). */
  bool fresh;
};

struct kvwatch_ops {
  struct kvwatch_op *v;
  size_t n;
};

struct kvwatch_cfg {
  const char *bucket, *claims_bucket;
  int replicas;
  int64_t op_timeout_ms;
  int64_t resync_ms;
  /* On the loop thread; each owns what it is given (kvwatch_*_free). */
  void (*on_batch) (void *ud, struct kvwatch_batch *b);
  void (*on_results) (void *ud, struct kvwatch_ops *ops);
  void (*on_ready) (void *ud, bool ok, const char *msg);
  void *ud;
};

int kvwatch_start (struct node *n, const struct kvwatch_cfg *cfg, struct kvwatch **out,
                   struct nxerr *err);
/* Queue writes (taken); results come through on_results, in one batch. */
void kvwatch_submit (struct kvwatch *k, struct kvwatch_ops *ops);
/* Run what is queued now and wait for it (bounded by op_timeout_ms each):
 * shutdown's last releases. Then stop the thread. */
void kvwatch_stop (struct kvwatch *k);
void kvwatch_batch_free (struct kvwatch_batch *b);
void kvwatch_ops_free (struct kvwatch_ops *ops);

#endif
