#include "node/bus/outbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nats/nats.h>

#include "api/log.h"
#include "api/subjects.h"
#include "api/xalloc.h"
#include "node/bus/evpub.h"
#include "api/roundtrip.h"
#include "node/state/journal.h"
#include "node/core/loop.h"
#include "node/core/node.h"

#define OUTBOX_BATCH_MS 20   /* gather events for one flush */
#define OUTBOX_RETRY_MS 500  /* after a flush that failed (server away) */
#define OUTBOX_FLUSH_MS 5000 /* one flush's bound */
#define OUTBOX_FINAL_MS 2000 /* the last one, at shutdown */

struct pending {
  char id[48];
  uint64_t gen;   /* publication order */
  uint64_t epoch; /* the connection's reconnect count when published; UINT64_MAX: not sent */
  char *subject;  /* a copy until first sent (send_new), then NULL */
  void *data;
  size_t len;
};

struct flush_result {
  struct node *n;
  uint64_t gen;   /* everything published up to here ... */
  uint64_t epoch; /* ... on this connection ... */
  bool ok;        /* ... reached the server */
};

struct outbox {
  struct node *n;
  struct pending *p;
  size_t np, cap;
  uint64_t gen;
  bool inflight;
  bool send_deferred; /* send_new is due after the current batch */
  struct loop_timer timer;
  natsStatistics *stats; /* the loop thread's */

  pthread_t thread;
  bool thread_up;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t want;      /* gen asked for; guarded by mu */
  uint64_t asked;     /* gen last handed to the thread; guarded by mu */
  bool quit;          /* guarded by mu */
};

/* ---- the flushing thread: waits for the server, never touches node state ---- */

static void
drop_result (void *arg)
{
  free (arg);
}

static void on_flushed (void *arg);

static void *
flusher (void *arg)
{
  struct outbox *o = arg;
  natsStatistics *st = NULL;
  natsStatistics_Create (&st);
  pthread_mutex_lock (&o->mu);
  for (;;)
    {
      struct flush_result *r;
      uint64_t g;
      while (!o->quit && o->want == o->asked)
        pthread_cond_wait (&o->cv, &o->mu);
      if (o->quit)
        break;
      g = o->asked = o->want;
      pthread_mutex_unlock (&o->mu);
      r = xcalloc (1, sizeof *r);
      r->n = o->n;
      r->gen = g;
      r->epoch = roundtrip_reconnects (o->n->nc, st);
      r->ok = roundtrip_answered (o->n->nc, OUTBOX_FLUSH_MS)
              && roundtrip_reconnects (o->n->nc, st) == r->epoch;
      loop_post (o->n->loop, on_flushed, drop_result, r);
      pthread_mutex_lock (&o->mu);
    }
  pthread_mutex_unlock (&o->mu);
  natsStatistics_Destroy (st);
  return NULL;
}

/* ---- loop side ---- */

static void
pending_drop_copy (struct pending *pe)
{
  free (pe->subject);
  free (pe->data);
  pe->subject = NULL;
  pe->data = NULL;
}

static void
publish_one (struct outbox *o, struct pending *pe, const char *subject, const void *data,
             size_t len)
{
  struct node *n = o->n;
  uint64_t epoch = roundtrip_reconnects (n->nc, o->stats);
  natsStatus s = evpub_publish (n, subject, data, len);
  if (s != NATS_OK)
    {
      pe->epoch = UINT64_MAX; /* published again before the next flush */
      log_debug ("event %s not handed to NATS (%s): kept for the next try", pe->id,
                 natsStatus_GetText (s));
      return;
    }
  pe->epoch = epoch;
}

/* Publish again what was not sent, or was sent on a connection that has
 * since been replaced (it may have died in that connection's buffers). */
static void
republish_stale (struct outbox *o)
{
  struct journal *j = o->n->journal;
  const struct journal_event *ev;
  size_t nev = j ? journal_events (j, &ev) : 0;
  uint64_t now = roundtrip_reconnects (o->n->nc, o->stats);
  for (size_t i = 0; i < o->np; i++)
    {
      struct pending *pe = &o->p[i];
      if (pe->epoch == now)
        continue;
      for (size_t k = 0; k < nev; k++)
        if (strcmp (ev[k].id, pe->id) == 0)
          {
            publish_one (o, pe, ev[k].subject, ev[k].data, ev[k].len);
            break;
          }
    }
}

static void
ask_flush (struct outbox *o)
{
  if (o->inflight || o->np == 0 || !o->thread_up)
    return;
  republish_stale (o);
  o->inflight = true;
  pthread_mutex_lock (&o->mu);
  o->want = o->gen;
  pthread_cond_signal (&o->cv);
  pthread_mutex_unlock (&o->mu);
}

static void
on_timer (struct loop_timer *t)
{
  struct outbox *o = (struct outbox *) ((char *) t - offsetof (struct outbox, timer));
  ask_flush (o);
}

static void
schedule (struct outbox *o, uint64_t ms)
{
  if (!o->inflight && o->np > 0 && !loop_timer_armed (&o->timer))
    loop_timer_arm (o->n->loop, &o->timer, ms);
}

/* Forget (journal and memory) the pending events the flush covered. */
static void
confirm (struct outbox *o, uint64_t gen, uint64_t epoch)
{
  struct journal *j = o->n->journal;
  const char **ids = xcalloc (o->np + 1, sizeof *ids);
  struct nxerr err = { 0 };
  size_t k = 0, keep = 0;
  for (size_t i = 0; i < o->np; i++)
    if (o->p[i].gen <= gen && o->p[i].epoch == epoch)
      ids[k++] = o->p[i].id;
  if (k && j && journal_event_del (j, ids, k, &err) < 0)
    log_error ("journal: %zu confirmed events: %s", k, err.msg);
  free (ids);
  for (size_t i = 0; i < o->np; i++)
    if (!(o->p[i].gen <= gen && o->p[i].epoch == epoch))
      o->p[keep++] = o->p[i];
    else
      pending_drop_copy (&o->p[i]);
  o->np = keep;
}

static void
on_flushed (void *arg)
{
  struct flush_result *r = arg;
  struct outbox *o = r->n->outbox;
  if (o == NULL)
    {
      free (r);
      return;
    }
  o->inflight = false;
  if (r->ok)
    confirm (o, r->gen, r->epoch);
  schedule (o, r->ok ? OUTBOX_BATCH_MS : OUTBOX_RETRY_MS);
  free (r);
}

static struct pending *
add_pending (struct outbox *o, const char *id)
{
  struct pending *pe;
  if (o->np == o->cap)
    {
      o->cap = o->cap ? o->cap * 2 : 16;
      o->p = xrealloc (o->p, o->cap * sizeof *o->p);
    }
  pe = &o->p[o->np++];
  memset (pe, 0, sizeof *pe);
  snprintf (pe->id, sizeof pe->id, "%s", id);
  pe->gen = ++o->gen;
  pe->epoch = UINT64_MAX;
  return pe;
}

/* After the current batch, for callers that did not send them themselves
 * (arg: the node; its outbox may be gone at shutdown, which publishes what
 * is left itself). */
static void
send_new (void *arg)
{
  outbox_send_new (arg);
}

void
outbox_send_new (struct node *n)
{
  struct outbox *o = n->outbox;
  if (o == NULL || !o->send_deferred)
    return;
  o->send_deferred = false;
  for (size_t i = 0; i < o->np; i++)
    {
      struct pending *pe = &o->p[i];
      if (pe->subject == NULL)
        continue;
      if (pe->epoch == UINT64_MAX) /* republish_stale may have sent it meanwhile */
        publish_one (o, pe, pe->subject, pe->data, pe->len);
      pending_drop_copy (pe);
    }
}

bool
outbox_publish (struct node *n, const char *subject, const char *id, const char *ev, size_t len)
{
  struct outbox *o = n->outbox;
  struct journal *j = o ? n->journal : NULL;
  struct journal_event je = { (char *) id, (char *) subject, (uint8_t *) ev, len };
  struct nxerr err = { 0 };
  struct pending *pe;
  if (j == NULL)
    return false;
  if (journal_event_put (j, &je, &err) < 0)
    {
      log_error ("journal: event %s: %s (published once, not kept)", id, err.msg);
      return false;
    }
  /* Journaled now, before the reply it comes with (a reply means the
   * journal has the event); signed and sent after that reply, so a deploy's
   * answer does not wait for an Ed25519 signature and a second write. */
  pe = add_pending (o, id);
  pe->subject = xstrdup (subject);
  pe->data = xmalloc (len ? len : 1);
  memcpy (pe->data, ev, len);
  pe->len = len;
  if (!o->send_deferred)
    {
      o->send_deferred = true;
      loop_defer (n->loop, send_new, n);
    }
  schedule (o, OUTBOX_BATCH_MS);
  return true;
}

int
outbox_start (struct node *n, struct nxerr *err)
{
  struct outbox *o = xcalloc (1, sizeof *o);
  struct journal *j = n->journal;
  const struct journal_event *ev;
  size_t nev = j ? journal_events (j, &ev) : 0;
  int e;
  o->n = n;
  natsStatistics_Create (&o->stats);
  loop_timer_init (&o->timer, on_timer);
  pthread_mutex_init (&o->mu, NULL);
  pthread_cond_init (&o->cv, NULL);
  n->outbox = o;
  e = pthread_create (&o->thread, NULL, flusher, o);
  if (e != 0)
    {
      outbox_stop (n); /* events are then published once, as the others */
      return nxerr_sys (err, e, "outbox thread");
    }
  o->thread_up = true;
  /* Events of an earlier run the server may never have seen: again, in order. */
  if (nev)
    log_info ("publishing again %zu lifecycle events the server had not confirmed before the "
              "node stopped",
              nev);
  for (size_t i = 0; i < nev; i++)
    {
      struct pending *pe = add_pending (o, ev[i].id);
      publish_one (o, pe, ev[i].subject, ev[i].data, ev[i].len);
    }
  schedule (o, OUTBOX_BATCH_MS);
  return 0;
}

void
outbox_stop (struct node *n)
{
  struct outbox *o = n->outbox;
  if (o == NULL)
    return;
  if (o->thread_up)
    {
      pthread_mutex_lock (&o->mu);
      o->quit = true;
      pthread_cond_signal (&o->cv);
      pthread_mutex_unlock (&o->mu);
      pthread_join (o->thread, NULL);
    }
  loop_timer_cancel (n->loop, &o->timer);
  if (o->np && n->nc)
    {
      uint64_t epoch;
      republish_stale (o);
      epoch = roundtrip_reconnects (n->nc, o->stats);
      if (roundtrip_answered (n->nc, OUTBOX_FINAL_MS)
          && roundtrip_reconnects (n->nc, o->stats) == epoch)
        confirm (o, o->gen, epoch);
      if (o->np)
        log_warn ("%zu lifecycle events not confirmed by the server: kept in the journal, "
                  "published again at the next start",
                  o->np);
    }
  pthread_mutex_destroy (&o->mu);
  pthread_cond_destroy (&o->cv);
  natsStatistics_Destroy (o->stats);
  for (size_t i = 0; i < o->np; i++)
    pending_drop_copy (&o->p[i]);
  free (o->p);
  free (o);
  n->outbox = NULL;
}

/* What an event subject names: 0 no lifecycle event, 1 workload_started,
 * 2 workload_stopped. */
static int
lifecycle_kind (const char *subject)
{
  const char *dot = subject ? strrchr (subject, '.') : NULL;
  if (dot && strcmp (dot + 1, NEX_EVENT_WORKLOAD_STARTED) == 0)
    return 1;
  if (dot && strcmp (dot + 1, NEX_EVENT_WORKLOAD_STOPPED) == 0)
    return 2;
  return 0;
}

bool
outbox_stop_announced (const struct journal_event *ev, size_t n, const char *workload_id)
{
  for (size_t i = n; i-- > 0;)
    {
      int kind = lifecycle_kind (ev[i].subject);
      json_t *j;
      bool match;
      if (kind == 0)
        continue;
      j = json_loadb ((const char *) ev[i].data, ev[i].len, 0, NULL);
      match = j && strcmp (json_string_value (json_object_get (j, "source")) ?: "", workload_id) == 0;
      json_decref (j);
      if (match)
        return kind == 2;
    }
  return false;
}
