#include "node/bus/outbox.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nats/nats.h>

#include "api/log.h"
#include "api/subjects.h"
#include "api/xalloc.h"
#include "node/bus/echo.h"
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
  char source[48]; /* the CloudEvent's source: the workload, for lifecycle events */
  bool held;       /* kept journaled even once confirmed (outbox_hold) */
  uint64_t gen;   /* publication order */
  uint64_t epoch; /* the connection's reconnect count when published; UINT64_MAX: not sent */
  char *subject;  /* a copy until first sent (send_new), then NULL */
  void *data;
  size_t len;
};

struct outbox {
  struct node *n;
  struct pending *p;
  size_t np, cap;
  uint64_t gen;
  bool inflight;
  uint64_t flush_gen;   /* the flush in flight covers events up to here ... */
  uint64_t flush_epoch; /* ... published on this connection */
  bool send_deferred; /* send_new is due after the current batch */
  struct loop_timer timer;
  natsStatistics *stats; /* the loop thread's */
};

static void on_flushed (void *arg, bool answered);

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
  uint64_t epoch = roundtrip_reconnects (evpub_conn (n), o->stats);
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
  uint64_t now = roundtrip_reconnects (evpub_conn (o->n), o->stats);
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
  if (o->inflight || o->np == 0 || o->n->echo_data == NULL)
    return;
  republish_stale (o);
  o->inflight = true;
  o->flush_gen = o->gen;
  o->flush_epoch = roundtrip_reconnects (evpub_conn (o->n), o->stats);
  echo_ask (o->n->echo_data, OUTBOX_FLUSH_MS, on_flushed, o);
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

static bool
covered (const struct pending *pe, uint64_t gen, uint64_t epoch)
{
  return pe->gen <= gen && pe->epoch == epoch && !pe->held;
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
    if (covered (&o->p[i], gen, epoch))
      ids[k++] = o->p[i].id;
  if (k && j && journal_event_del (j, ids, k, &err) < 0)
    log_error ("journal: %zu confirmed events: %s", k, err.msg);
  free (ids);
  for (size_t i = 0; i < o->np; i++)
    if (!covered (&o->p[i], gen, epoch))
      o->p[keep++] = o->p[i];
    else
      pending_drop_copy (&o->p[i]);
  o->np = keep;
}

/* The echo after the flush's events came back on the connection they went
 * out on (answered: no reconnect since flush_epoch), or not. */
static void
on_flushed (void *arg, bool answered)
{
  struct outbox *o = arg;
  o->inflight = false;
  if (answered)
    confirm (o, o->flush_gen, o->flush_epoch);
  schedule (o, answered ? OUTBOX_BATCH_MS : OUTBOX_RETRY_MS);
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
outbox_publish (struct node *n, const char *subject, const char *id, const char *source,
                const char *ev, size_t len)
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
  snprintf (pe->source, sizeof pe->source, "%s", source ? source : "");
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

/* A journaled CloudEvent's source, what outbox_hold names a republished
 * event by; false (and "") when it has none or is not JSON. */
static bool
event_source (const struct journal_event *ev, char *out, size_t size)
{
  json_t *j = json_loadb ((const char *) ev->data, ev->len, 0, NULL);
  const char *src = json_string_value (json_object_get (j, "source"));
  snprintf (out, size, "%s", src ? src : "");
  json_decref (j);
  return src != NULL;
}

void
outbox_hold (struct node *n, const char *source, bool hold)
{
  struct outbox *o = n->outbox;
  if (o == NULL)
    return;
  for (size_t i = 0; i < o->np; i++)
    if (strcmp (o->p[i].source, source) == 0)
      o->p[i].held = hold;
  if (!hold)
    schedule (o, OUTBOX_BATCH_MS);
}

int
outbox_start (struct node *n, struct nxerr *err)
{
  struct outbox *o = xcalloc (1, sizeof *o);
  struct journal *j = n->journal;
  const struct journal_event *ev;
  size_t nev = j ? journal_events (j, &ev) : 0;
  if (n->echo_data == NULL)
    {
      free (o);
      return nxerr_set (err, ENOTCONN, "outbox: no echo on the events' connection");
    }
  o->n = n;
  natsStatistics_Create (&o->stats);
  loop_timer_init (&o->timer, on_timer);
  n->outbox = o;
  /* Events of an earlier run the server may never have seen: again, in order. */
  if (nev)
    log_info ("publishing again %zu lifecycle events the server had not confirmed before the "
              "node stopped",
              nev);
  for (size_t i = 0; i < nev; i++)
    {
      struct pending *pe = add_pending (o, ev[i].id);
      event_source (&ev[i], pe->source, sizeof pe->source);
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
  echo_forget (n->echo_data, o);
  loop_timer_cancel (n->loop, &o->timer);
  if (o->np && evpub_conn (n))
    {
      uint64_t epoch;
      republish_stale (o);
      epoch = roundtrip_reconnects (evpub_conn (n), o->stats);
      if (roundtrip_answered (evpub_conn (n), OUTBOX_FINAL_MS)
          && roundtrip_reconnects (evpub_conn (n), o->stats) == epoch)
        confirm (o, o->gen, epoch);
      if (o->np)
        log_warn ("%zu lifecycle events not confirmed by the server: kept in the journal, "
                  "published again at the next start",
                  o->np);
    }
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
      char source[sizeof ((struct pending *) 0)->source];
      if (kind == 0)
        continue;
      if (event_source (&ev[i], source, sizeof source) && strcmp (source, workload_id) == 0)
        return kind == 2;
    }
  return false;
}
