#include "node/deployments/kvwatch.h"

#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/deployment.h"
#include "api/log.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/bus/subgrave.h"
#include "node/core/node.h"

#define BATCH_MAX 256
#define POLL_MS 20
#define WRITTEN_MAX 1024 /* keys whose newest own revision is remembered */

/* The revision this node's last successful write of a key got; when full,
 * the key written longest ago is forgotten (a release of it then expects
 * the revision the loop knew). */
struct written {
  char *key;
  uint64_t rev;
  uint64_t stamp; /* order of the last write */
};

struct kvwatch {
  struct node *node;
  struct kvwatch_cfg cfg;
  char *bucket, *claims_bucket;
  pthread_t thread;
  pthread_mutex_t mu;
  struct kvwatch_ops queue; /* under mu */
  bool stop;                /* under mu */
  jsCtx *js;
  kvStore *kv[2];
  kvWatcher *w[2];
  bool caught_up[2];
  struct written written[WRITTEN_MAX]; /* the thread's */
  uint64_t written_stamp;
  uint64_t gen;
  uint64_t watched_ns;
  /* A write that got no answer or a watch that failed: the watches may
   * have lost their consumer with a server; made again (at most once per
   * RESYNC_SOON_MS) until writes work again. */
  bool suspect;
};

#define RESYNC_SOON_MS 1000

void
kvwatch_batch_free (struct kvwatch_batch *b)
{
  if (b == NULL)
    return;
  for (size_t i = 0; i < b->n; i++)
    {
      free (b->v[i].key);
      free (b->v[i].value);
    }
  free (b->v);
  free (b);
}

void
kvwatch_ops_free (struct kvwatch_ops *ops)
{
  if (ops == NULL)
    return;
  for (size_t i = 0; i < ops->n; i++)
    {
      free (ops->v[i].key);
      free (ops->v[i].value);
    }
  free (ops->v);
  free (ops);
}

static void
batch_drop (void *arg)
{
  kvwatch_batch_free (arg);
}

static void
ops_drop (void *arg)
{
  kvwatch_ops_free (arg);
}

/* loop_post takes a one-argument function: the closure carries the callback. */
struct post {
  struct kvwatch *k;
  void *what;
};

static void
run_batch (void *arg)
{
  struct post *p = arg;
  p->k->cfg.on_batch (p->k->cfg.ud, p->what);
  free (p);
}

static void
drop_batch_post (void *arg)
{
  struct post *p = arg;
  batch_drop (p->what);
  free (p);
}

static void
run_results (void *arg)
{
  struct post *p = arg;
  p->k->cfg.on_results (p->k->cfg.ud, p->what);
  free (p);
}

static void
drop_results_post (void *arg)
{
  struct post *p = arg;
  ops_drop (p->what);
  free (p);
}

struct ready {
  struct kvwatch *k;
  bool ok;
  char msg[256];
};

static void
run_ready (void *arg)
{
  struct ready *r = arg;
  r->k->cfg.on_ready (r->k->cfg.ud, r->ok, r->msg);
  free (r);
}

static bool
stopping (struct kvwatch *k)
{
  bool s;
  pthread_mutex_lock (&k->mu);
  s = k->stop;
  pthread_mutex_unlock (&k->mu);
  return s;
}

static void
post_ready (struct kvwatch *k, bool ok, const char *msg)
{
  struct ready *r = xcalloc (1, sizeof *r);
  r->k = k;
  r->ok = ok;
  snprintf (r->msg, sizeof r->msg, "%s", msg);
  loop_post (k->node->loop, run_ready, free, r);
}

/* Create the bucket, or bind it when it exists; R3 first when asked, R1
 * when the cluster has no room for three. */
static natsStatus
open_bucket (struct kvwatch *k, const char *name, int history, kvStore **out)
{
  kvConfig c;
  natsStatus s;
  if (js_KeyValue (out, k->js, name) == NATS_OK)
    return NATS_OK;
  kvConfig_Init (&c);
  c.Bucket = name;
  c.History = (uint8_t) history;
  c.MaxValueSize = DEPLOYMENT_VALUE_MAX;
  c.StorageType = js_FileStorage;
  c.Replicas = k->cfg.replicas;
  s = js_CreateKeyValue (out, k->js, &c);
  if (s != NATS_OK && k->cfg.replicas > 1)
    {
      c.Replicas = 1;
      s = js_CreateKeyValue (out, k->js, &c);
      if (s == NATS_OK)
        log_warn ("deployments: bucket %s made with 1 replica (the cluster refused %d)", name,
                  k->cfg.replicas);
    }
  if (s != NATS_OK)
    s = js_KeyValue (out, k->js, name); /* another node made it meanwhile */
  return s;
}

static void
watch_again (struct kvwatch *k)
{
  for (int b = 0; b < 2; b++)
    {
      if (k->w[b])
        {
          subgrave_watcher (k->node, k->node->nc, k->w[b]);
          k->w[b] = NULL;
        }
      k->caught_up[b] = false;
    }
  /* The old watchers are freed once the server has answered after they
   * stopped (node/bus/subgrave.h). */
  subgrave_settle (k->node, k->node->nc);
  k->gen++;
  for (int b = 0; b < 2; b++)
    if (kvStore_WatchAll (&k->w[b], k->kv[b], NULL) != NATS_OK)
      {
        log_warn ("deployments: watch %s: %s", b ? k->claims_bucket : k->bucket,
                  nats_GetLastError (NULL));
        k->w[b] = NULL;
      }
  k->watched_ns = timefmt_mono_ns ();
}

static void
read_watch (struct kvwatch *k, int b)
{
  struct kvwatch_batch *out;
  if (k->w[b] == NULL)
    return;
  out = xcalloc (1, sizeof *out);
  out->gen = k->gen;
  out->bucket = (enum kvwatch_bucket) b;
  out->v = xcalloc (BATCH_MAX, sizeof *out->v);
  while (out->n < BATCH_MAX)
    {
      kvEntry *e = NULL;
      natsStatus s = kvWatcher_Next (&e, k->w[b], out->n ? 1 : POLL_MS);
      struct kvwatch_entry *x;
      if (s != NATS_OK)
        {
          if (s != NATS_TIMEOUT)
            k->suspect = true;
          break;
        }
      if (e == NULL)
        {
          k->caught_up[b] = true;
          out->caught_up = true;
          break;
        }
      x = &out->v[out->n++];
      x->bucket = out->bucket;
      x->key = xstrdup (kvEntry_Key (e));
      x->rev = kvEntry_Revision (e);
      x->deleted = kvEntry_Operation (e) != kvOp_Put;
      if (!x->deleted)
        {
          x->len = (size_t) kvEntry_ValueLen (e);
          x->value = xmalloc (x->len + 1);
          memcpy (x->value, kvEntry_Value (e), x->len);
          x->value[x->len] = '\0';
        }
      kvEntry_Destroy (e);
    }
  if (out->n == 0 && !out->caught_up)
    {
      kvwatch_batch_free (out);
      return;
    }
  struct post *p = xcalloc (1, sizeof *p);
  p->k = k;
  p->what = out;
  loop_post (k->node->loop, run_batch, drop_batch_post, p);
}

/* The last call failed as a compare-and-set that lost: "wrong last
 * sequence" (10071) or "key exists"; anything else: no answer. */
static bool
lost_cas (void)
{
  const char *why = nats_GetLastError (NULL);
  return why && (strstr (why, "wrong last sequence") || strstr (why, "exists"));
}

static struct written *
written_find (struct kvwatch *k, const char *key)
{
  for (size_t i = 0; i < WRITTEN_MAX; i++)
    if (k->written[i].key && strcmp (k->written[i].key, key) == 0)
      return &k->written[i];
  return NULL;
}

static void
written_note (struct kvwatch *k, const struct kvwatch_op *op)
{
  struct written *w = written_find (k, op->key);
  if (op->kind == KVW_DELETE || op->kind == KVW_RELEASE)
    {
      if (w)
        w->rev = 0;
      return;
    }
  if (w == NULL)
    {
      w = &k->written[0];
      for (size_t i = 1; i < WRITTEN_MAX && w->key; i++)
        if (k->written[i].key == NULL || k->written[i].stamp < w->stamp)
          w = &k->written[i];
      free (w->key);
      w->key = xstrdup (op->key);
    }
  w->rev = op->rev;
  w->stamp = ++k->written_stamp;
}

/* The release's delete marker, by compare-and-set on the key's revision. */
static natsStatus
release (struct kvwatch *k, const char *key, uint64_t last, uint64_t *rev)
{
  natsMsg *m = NULL;
  jsPubAck *ack = NULL;
  jsPubOptions o;
  char subj[512];
  natsStatus s;
  snprintf (subj, sizeof subj, "$KV.%s.%s", k->claims_bucket, key);
  jsPubOptions_Init (&o);
  o.ExpectLastSubjectSeq = last;
  o.MaxWait = k->cfg.op_timeout_ms;
  s = natsMsg_Create (&m, subj, NULL, NULL, 0);
  if (s == NATS_OK)
    s = natsMsgHeader_Set (m, "KV-Operation", "DEL");
  if (s == NATS_OK)
    s = js_PublishMsg (&ack, k->js, m, &o, NULL);
  if (s == NATS_OK)
    *rev = ack->Sequence;
  jsPubAck_Destroy (ack);
  natsMsg_Destroy (m);
  return s;
}

static const char *const OP_NAMES[] = { "create", "update", "put", "delete", "release" };

static void
run_op (struct kvwatch *k, struct kvwatch_op *op)
{
  const struct written *w;
  uint64_t last = 0;
  kvStore *kv = k->kv[KVW_CLAIMS];
  natsStatus s = NATS_OK;
  int len = op->value ? (int) strlen (op->value) : 0;
  op->rev = 0;
  op->fresh = false;
  switch (op->kind)
    {
    case KVW_CREATE:
      /* First as a write that expects no message at all, which holds (fresh);
       * a key with history (a delete marker) needs kvStore_Create's second
       * try, an update on the marker's revision, which is not fresh. */
      s = kvStore_Update (&op->rev, kv, op->key, op->value, len, 0);
      op->fresh = s == NATS_OK;
      if (s != NATS_OK && lost_cas ())
        s = kvStore_Create (&op->rev, kv, op->key, op->value, len);
      break;
    case KVW_UPDATE: s = kvStore_Update (&op->rev, kv, op->key, op->value, len, op->last); break;
    case KVW_PUT: s = kvStore_Put (&op->rev, kv, op->key, op->value, len); break;
    case KVW_DELETE: s = kvStore_Delete (kv, op->key); break;
    case KVW_RELEASE:
      w = written_find (k, op->key);
      last = w && w->rev > op->last ? w->rev : op->last;
      s = release (k, op->key, last, &op->rev);
      break;
    }
  if (s == NATS_OK)
    written_note (k, op);
  if (s == NATS_OK)
    op->status = KVW_OK;
  else
    op->status = lost_cas () ? KVW_CONFLICT : KVW_ERROR;
  /* Who wrote what over which revision: what a question about a slot's
   * history needs (the bucket keeps one revision). */
  char on[48] = "";
  if (op->kind == KVW_UPDATE || op->kind == KVW_RELEASE)
    snprintf (on, sizeof on, " on revision %llu",
              (unsigned long long) (op->kind == KVW_RELEASE ? last : op->last));
  log_debug ("deployments: %s %s%s: %s, revision %llu", OP_NAMES[op->kind], op->key, on,
             op->status == KVW_OK         ? "written"
             : op->status == KVW_CONFLICT ? "conflict"
                                          : "no answer",
             (unsigned long long) op->rev);
}

static void
run_queue (struct kvwatch *k)
{
  struct kvwatch_ops *ops;
  pthread_mutex_lock (&k->mu);
  if (k->queue.n == 0)
    {
      pthread_mutex_unlock (&k->mu);
      return;
    }
  ops = xmalloc (sizeof *ops);
  *ops = k->queue;
  memset (&k->queue, 0, sizeof k->queue);
  pthread_mutex_unlock (&k->mu);
  /* Claims wait a random moment so nodes that saw a slot free at the same
   * time do not all try at once (the compare-and-set decides anyway). */
  for (size_t i = 0; i < ops->n; i++)
    if (ops->v[i].jitter_ms)
      {
        usleep ((useconds_t) (ops->v[i].jitter_ms * 1000));
        break;
      }
  for (size_t i = 0; i < ops->n; i++)
    {
      uint64_t t0 = timefmt_mono_ns ();
      run_op (k, &ops->v[i]);
      if (ops->v[i].status == KVW_ERROR)
        k->suspect = true;
      if (ops->v[i].status == KVW_ERROR)
        log_warn ("deployments: %s %s: no answer in %llu ms (%s)",
                  ops->v[i].kind == KVW_DELETE ? "delete" : "write", ops->v[i].key,
                  (unsigned long long) ((timefmt_mono_ns () - t0) / 1000000),
                  nats_GetLastError (NULL) ? nats_GetLastError (NULL) : "");
    }
  struct post *p = xcalloc (1, sizeof *p);
  p->k = k;
  p->what = ops;
  loop_post (k->node->loop, run_results, drop_results_post, p);
}

static void *
thread_main (void *arg)
{
  struct kvwatch *k = arg;
  jsOptions o;
  bool ready = false;
  jsOptions_Init (&o);
  o.Wait = k->cfg.op_timeout_ms;
  if (natsConnection_JetStream (&k->js, k->node->nc, &o) != NATS_OK)
    {
      char msg[200];
      snprintf (msg, sizeof msg, "JetStream context: %s", nats_GetLastError (NULL));
      post_ready (k, false, msg);
      return NULL;
    }
  /* A new cluster may not have a JetStream leader yet: try until it has. */
  while (!stopping (k) && !ready)
    {
      if (open_bucket (k, k->bucket, 5, &k->kv[KVW_SPECS]) == NATS_OK
          && open_bucket (k, k->claims_bucket, 1, &k->kv[KVW_CLAIMS]) == NATS_OK)
        ready = true;
      else
        usleep (500 * 1000);
    }
  if (!ready)
    return NULL;
  {
    char msg[200];
    snprintf (msg, sizeof msg, "buckets %s and %s", k->bucket, k->claims_bucket);
    post_ready (k, true, msg);
  }
  watch_again (k);
  while (!stopping (k))
    {
      run_queue (k);
      for (int b = 0; b < 2; b++)
        read_watch (k, b);
      uint64_t age_ms = (timefmt_mono_ns () - k->watched_ns) / 1000000;
      if (age_ms > (uint64_t) k->cfg.resync_ms
          || ((k->suspect || k->w[0] == NULL || k->w[1] == NULL) && age_ms > RESYNC_SOON_MS))
        {
          k->suspect = false;
          watch_again (k);
        }
      if (k->w[0] == NULL || k->w[1] == NULL)
        usleep (POLL_MS * 1000);
    }
  run_queue (k); /* shutdown's releases */
  return NULL;
}

int
kvwatch_start (struct node *n, const struct kvwatch_cfg *cfg, struct kvwatch **out,
               struct nxerr *err)
{
  struct kvwatch *k = xcalloc (1, sizeof *k);
  int rc;
  k->node = n;
  k->cfg = *cfg;
  k->bucket = xstrdup (cfg->bucket);
  k->claims_bucket = xstrdup (cfg->claims_bucket);
  pthread_mutex_init (&k->mu, NULL);
  rc = pthread_create (&k->thread, NULL, thread_main, k);
  if (rc != 0)
    {
      pthread_mutex_destroy (&k->mu);
      free (k->bucket);
      free (k->claims_bucket);
      free (k);
      return nxerr_sys (err, rc, "deployments thread");
    }
  *out = k;
  return 0;
}

void
kvwatch_submit (struct kvwatch *k, struct kvwatch_ops *ops)
{
  pthread_mutex_lock (&k->mu);
  k->queue.v = xrealloc (k->queue.v, (k->queue.n + ops->n) * sizeof *k->queue.v);
  memcpy (k->queue.v + k->queue.n, ops->v, ops->n * sizeof *ops->v);
  k->queue.n += ops->n;
  pthread_mutex_unlock (&k->mu);
  free (ops->v);
  free (ops);
}

void
kvwatch_stop (struct kvwatch *k)
{
  if (k == NULL)
    return;
  pthread_mutex_lock (&k->mu);
  k->stop = true;
  pthread_mutex_unlock (&k->mu);
  /* The thread sees the flag within one poll (POLL_MS per watch) or one
   * round of writes (op_timeout_ms each). */
  pthread_join (k->thread, NULL);
  for (int b = 0; b < 2; b++)
    {
      subgrave_watcher (k->node, k->node->nc, k->w[b]);
      k->w[b] = NULL;
    }
  subgrave_settle (k->node, k->node->nc);
  for (int b = 0; b < 2; b++)
    kvStore_Destroy (k->kv[b]);
  jsCtx_Destroy (k->js);
  for (size_t i = 0; i < k->queue.n; i++)
    {
      free (k->queue.v[i].key);
      free (k->queue.v[i].value);
    }
  free (k->queue.v);
  for (size_t i = 0; i < WRITTEN_MAX; i++)
    free (k->written[i].key);
  pthread_mutex_destroy (&k->mu);
  free (k->bucket);
  free (k->claims_bucket);
  free (k);
}
