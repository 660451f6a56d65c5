/* objview: the view's state on the loop thread: buckets, their feeds
 * (consumer + map), lookups, and the events from the bus (objview_bus.c).
 * The rule throughout: when in doubt, drop the feed and let deploys ask the
 * store; a view only answers what it saw completely and in order. */
#include "node/artifacts/objview_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "api/log.h"
#include "api/subjects.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/artifacts/artifact.h"
#include "node/core/node.h"

#define MS 1000000ull
#define TOKEN_BUF (OBJSTORE_NAME_MAX / 3 * 4 + 8)

static void on_tick (struct loop_timer *t);

struct objview *
objview_new (struct node *n)
{
  struct objview *v = xcalloc (1, sizeof *v);
  unsigned char r[8];
  v->n = n;
  randombytes_buf (v->key, sizeof v->key);
  randombytes_buf (r, sizeof r);
  for (size_t i = 0; i < sizeof r; i++)
    snprintf (v->tag + 2 * i, 3, "%02x", r[i]);
  loop_timer_init (&v->tick, on_tick);
  return v;
}

/* The control connection's reconnect count: a feed made before the last
 * reconnect may have missed messages. nats.c counts a reconnect before it
 * subscribes again, so a deploy that came over the new connection sees it.
 * UINT64_MAX when it cannot be read (then nothing is trusted). */
static uint64_t
epoch (struct objview *v)
{
  uint64_t r = 0;
  if (v->stats == NULL && natsStatistics_Create (&v->stats) != NATS_OK)
    return UINT64_MAX;
  if (v->n->nc == NULL || natsConnection_GetStats (v->n->nc, v->stats) != NATS_OK)
    return UINT64_MAX;
  natsStatistics_GetCounts (v->stats, NULL, NULL, NULL, NULL, &r);
  return r;
}

/* ---- feeds ---- */

static void
feed_free (struct objview *v, struct ov_feed *f, bool delete_consumer)
{
  if (f == NULL)
    return;
  if (delete_consumer)
    ovbus_delete (v, f);
  v->objects -= f->map.count;
  v->bytes -= f->map.bytes;
  objmap_free (&f->map);
  free (f);
}

/* Unlink f from its bucket and free it. */
static void
feed_drop (struct objview *v, struct ov_feed *f)
{
  struct ov_bucket *b = f->b;
  if (b->cur == f)
    b->cur = NULL;
  if (b->next == f)
    b->next = NULL;
  feed_free (v, f, true);
}

/* The next consumer of b waits: 1 s, 2 s, 4 s ... 60 s after failures. */
static uint64_t
backoff (struct ov_bucket *b, uint64_t now)
{
  uint64_t ms = OBJVIEW_RETRY_MIN_MS;
  for (unsigned i = 0; i < b->failures && ms < OBJVIEW_RETRY_MAX_MS; i++)
    ms *= 2;
  if (ms > OBJVIEW_RETRY_MAX_MS)
    ms = OBJVIEW_RETRY_MAX_MS;
  b->failures++;
  return now + ms * MS;
}

static void
feed_start (struct objview *v, struct ov_bucket *b, uint64_t now)
{
  struct ov_feed *f;
  struct nxerr err = { 0 };
  if (b->next || now < b->retry_ns)
    return;
  f = xcalloc (1, sizeof *f);
  f->b = b;
  f->id = ++v->last_id;
  snprintf (f->consumer, sizeof f->consumer, "nexc_%s_%" PRIu64, v->tag, f->id);
  f->epoch = epoch (v);
  f->start_ns = f->seen_ns = now;
  objmap_init (&f->map, v->key);
  if (ovbus_open (v, &err) < 0 || ovbus_create (v, f, &err) < 0)
    {
      log_warn ("store view of bucket %s: %s; deploys from it ask the store", b->name, err.msg);
      b->retry_ns = backoff (b, now);
      v->counters.failed++;
      feed_free (v, f, false);
      return;
    }
  b->next = f;
  if (!loop_timer_armed (&v->tick))
    loop_timer_arm (v->n->loop, &v->tick, OBJVIEW_TICK_MS);
}

/* f cannot be trusted any more (a gap, its consumer gone, silence, a
 * reconnect): drop it and load the bucket anew. */
static void
feed_lost (struct objview *v, struct ov_feed *f, const char *why)
{
  struct ov_bucket *b = f->b;
  log_debug ("store view of bucket %s: %s: reloading", b->name, why);
  v->counters.lost++;
  feed_drop (v, f);
  feed_start (v, b, timefmt_mono_ns ());
}

/* f failed in a way a retry now would repeat: ask the store for a while. */
static void
feed_fail (struct objview *v, struct ov_feed *f, const char *why)
{
  struct ov_bucket *b = f->b;
  uint64_t now = timefmt_mono_ns ();
  b->retry_ns = backoff (b, now);
  log_info ("store view of bucket %s: %s; deploys from it ask the store for %.0f s", b->name,
            why, (double) (b->retry_ns - now) / 1e9);
  v->counters.failed++;
  feed_drop (v, f);
}

/* What went wrong with a live view is worth one reload; the same while
 * loading would repeat (a bucket whose load always breaks must not make the
 * node reload it in a loop). */
static void
feed_broken (struct objview *v, struct ov_feed *f, const char *why)
{
  if (f->synced)
    feed_lost (v, f, why);
  else
    feed_fail (v, f, why);
}

static void
feed_pull (struct objview *v, struct ov_feed *f)
{
  struct nxerr err = { 0 };
  if (ovbus_pull (v, f, &err) < 0)
    feed_lost (v, f, err.msg);
}

/* Caught up: a loading feed replaces the bucket's view. */
static void
feed_synced (struct objview *v, struct ov_feed *f)
{
  struct ov_bucket *b = f->b;
  f->synced = true;
  if (b->next != f)
    return;
  if (b->cur)
    feed_free (v, b->cur, true);
  b->cur = f;
  b->next = NULL;
  b->failures = 0;
  v->counters.loads++;
  log_debug ("store view of bucket %s: %zu objects", b->name, f->map.count);
}

/* ---- buckets ---- */

static struct ov_bucket *
bucket_find (struct objview *v, const char *jsdomain, const char *name)
{
  for (size_t i = 0; i < v->n_buckets; i++)
    {
      struct ov_bucket *b = v->buckets[i];
      if (strcmp (b->name, name) == 0 && strcmp (b->jsdomain, jsdomain) == 0)
        return b;
    }
  return NULL;
}

static struct ov_bucket *
bucket_add (struct objview *v, const char *jsdomain, const char *name)
{
  struct ov_bucket *b;
  if (v->n_buckets == OBJVIEW_MAX_BUCKETS)
    return NULL;
  b = xcalloc (1, sizeof *b);
  b->jsdomain = xstrdup (jsdomain);
  b->name = xstrdup (name);
  v->buckets[v->n_buckets++] = b;
  return b;
}

static void
bucket_drop (struct objview *v, struct ov_bucket *b)
{
  for (size_t i = 0; i < v->n_buckets; i++)
    if (v->buckets[i] == b)
      {
        v->buckets[i] = v->buckets[--v->n_buckets];
        break;
      }
  feed_free (v, b->cur, true);
  feed_free (v, b->next, true);
  free (b->jsdomain);
  free (b->name);
  free (b);
}

/* The bucket's view, if it may answer now. */
static struct ov_feed *
trusted (struct objview *v, struct ov_bucket *b, uint64_t now)
{
  struct ov_feed *f = b->cur;
  uint64_t ep;
  if (f == NULL)
    return NULL;
  ep = epoch (v);
  if (ep == UINT64_MAX || f->epoch != ep)
    feed_lost (v, f, "reconnected");
  else if (now - f->seen_ns > OBJVIEW_STALE_MS * MS)
    feed_lost (v, f, "no heartbeat");
  else
    return f;
  return NULL;
}

/* ---- lookups ---- */

static void
hex_of (const unsigned char sha[32], char hex[OBJSTORE_HEX_LEN])
{
  static const char hx[] = "0123456789abcdef";
  for (int i = 0; i < 32; i++)
    {
      hex[2 * i] = hx[sha[i] >> 4];
      hex[2 * i + 1] = hx[sha[i] & 15];
    }
  hex[64] = '\0';
}

static void
answer (const struct ov_feed *f, const char *key, struct objview_fact *out)
{
  char tok[TOKEN_BUF];
  const struct objmap_entry *e;
  size_t klen = strlen (key);
  sodium_bin2base64 (tok, sizeof tok, (const unsigned char *) key, klen,
                     sodium_base64_VARIANT_URLSAFE);
  e = objmap_get (&f->map, tok, strlen (tok));
  if (e == NULL || e->meta.state == OBJSTORE_META_DELETED)
    out->found = OBJVIEW_ABSENT;
  else if (e->meta.state == OBJSTORE_META_PRESENT)
    {
      out->found = OBJVIEW_PRESENT;
      out->size = e->meta.size;
      hex_of (e->meta.sha256, out->hex);
    }
}

void
objview_lookup (struct objview *v, const char *jsdomain, const char *bucket, const char *key,
                struct objview_fact *out)
{
  uint64_t now = timefmt_mono_ns ();
  struct ov_bucket *b;
  struct ov_feed *f = NULL;
  memset (out, 0, sizeof *out);
  out->found = OBJVIEW_UNKNOWN;
  if (jsdomain == NULL)
    jsdomain = "";
  /* What the store would refuse by name, the fetcher refuses in its words. */
  if (objstore_valid_bucket (bucket) && objstore_valid_name (key)
      && (jsdomain[0] == '\0' || subjects_token_ok (jsdomain)))
    {
      b = bucket_find (v, jsdomain, bucket);
      if (b == NULL)
        b = bucket_add (v, jsdomain, bucket);
      if (b)
        {
          b->used_ns = now;
          f = trusted (v, b, now);
          if (f == NULL)
            feed_start (v, b, now);
        }
    }
  if (f)
    answer (f, key, out);
}

/* ---- events ---- */

static struct ov_feed *
feed_by_id (struct objview *v, uint64_t id)
{
  for (size_t i = 0; i < v->n_buckets; i++)
    {
      struct ov_bucket *b = v->buckets[i];
      if (b->cur && b->cur->id == id)
        return b->cur;
      if (b->next && b->next->id == id)
        return b->next;
    }
  return NULL;
}

/* Our consumer names are nexc_<tag>_<id>: the id, or 0 when not ours. */
static uint64_t
feed_id_of (struct objview *v, const char *consumer)
{
  size_t tl = strlen (v->tag);
  const char *p = consumer;
  uint64_t id = 0;
  if (strncmp (p, "nexc_", 5) != 0 || strncmp (p + 5, v->tag, tl) != 0 || p[5 + tl] != '_')
    return 0;
  for (p += 6 + tl; *p >= '0' && *p <= '9' && id < UINT64_MAX / 10; p++)
    id = id * 10 + (uint64_t) (*p - '0');
  return *p == '\0' ? id : 0;
}

static void
on_created (struct objview *v, struct ov_feed *f, struct ov_event *e)
{
  if (f->created)
    return;
  if (e->created == 1)
    {
      /* The bucket does not exist: nothing to watch (deploys ask, and the
       * store says "stream not found"). */
      bucket_drop (v, f->b);
      return;
    }
  if (e->created < 0)
    {
      feed_fail (v, f, e->err.msg);
      return;
    }
  if (e->cr.num_pending > OBJVIEW_MAX_OBJECTS - v->objects)
    {
      feed_fail (v, f, "more objects than the view may hold");
      return;
    }
  f->created = true;
  f->seen_ns = timefmt_mono_ns ();
  if (e->cr.num_pending == 0)
    feed_synced (v, f);
  feed_pull (v, f);
}

static void
on_meta (struct objview *v, struct ov_feed *f, struct ov_event *e)
{
  bool added;
  size_t before = f->map.bytes;
  if (!f->created || strcmp (e->ack.stream + 4, f->b->name) != 0
      || e->ack.cseq != f->last_cseq + 1)
    {
      feed_broken (v, f, "out of sequence");
      return;
    }
  f->last_cseq = e->ack.cseq;
  f->seen_ns = timefmt_mono_ns ();
  if (f->pull_left)
    f->pull_left--;
  if (e->token)
    {
      objmap_put (&f->map, e->token, e->token_len, &e->meta, &added);
      v->objects += added;
      v->bytes += f->map.bytes - before;
      if (v->objects > OBJVIEW_MAX_OBJECTS || v->bytes > OBJVIEW_MAX_BYTES)
        {
          feed_fail (v, f, "more objects than the view may hold");
          return;
        }
    }
  if (!f->synced && e->ack.pending == 0)
    feed_synced (v, f);
  if (f->pull_left == 0)
    feed_pull (v, f);
}

static void
on_status (struct objview *v, struct ov_feed *f, struct ov_event *e)
{
  char why[64];
  if (e->pull != f->pull)
    return; /* the end of an earlier pull */
  f->seen_ns = timefmt_mono_ns ();
  if (e->consumer_gone)
    feed_broken (v, f, "consumer deleted");
  else if (e->status == 100)
    {
      if (e->has_last && e->last_cseq != f->last_cseq)
        feed_broken (v, f, "missed messages");
    }
  else if (e->status == 408)
    feed_pull (v, f); /* expired: pull again */
  else
    {
      /* 409 for a limit of the server (batch, waiting pulls) would come
       * back at once: not a reload. */
      snprintf (why, sizeof why, "pull answered with status %d", e->status);
      feed_fail (v, f, why);
    }
}

void
objview_apply (struct node *n, struct ov_event *e)
{
  struct objview *v = n->cache ? artifact_objview (n->cache) : NULL;
  struct ov_feed *f = NULL;
  if (v)
    f = feed_by_id (v, e->kind == OV_META ? feed_id_of (v, e->ack.consumer) : e->feed);
  /* Events of feeds already dropped are stale. */
  if (f && e->kind == OV_CREATED)
    on_created (v, f, e);
  else if (f && e->kind == OV_META)
    on_meta (v, f, e);
  else if (f && e->kind == OV_STATUS)
    on_status (v, f, e);
  ov_event_free (e);
}

/* ---- time ---- */

static void
tick_bucket (struct objview *v, struct ov_bucket *b, uint64_t now)
{
  if (now - b->used_ns > (uint64_t) OBJVIEW_IDLE_MS * MS)
    {
      bucket_drop (v, b);
      return;
    }
  trusted (v, b, now); /* drops a view that may not answer */
  if (b->next && b->next->epoch != epoch (v))
    feed_lost (v, b->next, "reconnected");
  else if (b->next && now - b->next->start_ns > OBJVIEW_LOAD_TIMEOUT_MS * MS)
    feed_fail (v, b->next, "not caught up in time");
  else if (b->cur && !b->next && now - b->cur->start_ns > OBJVIEW_REFRESH_MS * MS)
    feed_start (v, b, now); /* a purge sends nothing: look again */
  else if (!b->cur && !b->next)
    feed_start (v, b, now); /* after a failure's backoff: a bucket in use stays watched */
}

static void
on_tick (struct loop_timer *t)
{
  struct objview *v = (struct objview *) ((char *) t - offsetof (struct objview, tick));
  uint64_t now = timefmt_mono_ns ();
  /* Backwards: tick_bucket may drop the bucket (the last one moves into
   * its slot, already visited). */
  for (size_t i = v->n_buckets; i-- > 0;)
    tick_bucket (v, v->buckets[i], now);
  if (v->n_buckets)
    loop_timer_arm (v->n->loop, &v->tick, OBJVIEW_TICK_MS);
}

void
objview_free (struct objview *v)
{
  if (v == NULL)
    return;
  loop_timer_cancel (v->n->loop, &v->tick);
  while (v->n_buckets)
    bucket_drop (v, v->buckets[0]);
  ovbus_close (v);
  if (v->stats)
    natsStatistics_Destroy (v->stats);
  free (v);
}

void
objview_write_info (struct objview *v, struct jsonw *w)
{
  int64_t trusted_n = 0;
  for (size_t i = 0; i < v->n_buckets; i++)
    trusted_n += v->buckets[i]->cur != NULL;
  jsonw_kint (w, "buckets", (int64_t) v->n_buckets);
  jsonw_kint (w, "live", trusted_n);
  jsonw_kint (w, "objects", (int64_t) v->objects);
  jsonw_kint (w, "loads", (int64_t) v->counters.loads);
  jsonw_kint (w, "lost", (int64_t) v->counters.lost);
  jsonw_kint (w, "failed", (int64_t) v->counters.failed);
}
