#include "node/bus/echo.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/decimal.h"
#include "api/log.h"
#include "api/roundtrip.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/bus/natsloop.h"
#include "node/bus/subgrave.h"
#include "node/core/loop.h"
#include "node/core/node.h"

#define ECHO_SUBJECT_MAX 96
/* While echoes are out, how often the connection is looked at: one that
 * broke took them along (written into the dead socket), and waiting for
 * their bound would keep an exited workload's lines unconfirmed past the
 * agent's own wait (1 s), which then forgets them. */
#define ECHO_CHECK_MS 50

/* An echo on its way, in the order they were sent (numbers increase). */
struct waiting {
  uint64_t num;
  uint64_t deadline_ns; /* 0: failed, due at once */
  uint64_t reconnects;  /* the connection's count when it was sent */
  bool ok;              /* once settled: what done is told */
  echo_done done;
  void *arg;
};

struct echo {
  struct node *n;
  struct natsloop *nl;
  natsConnection *nc;
  natsSubscription *sub;
  char subject[ECHO_SUBJECT_MAX];
  uint64_t next; /* the next echo's number */
  struct waiting *w;
  size_t nw, cap;
  struct loop_timer timer;
  natsStatistics *stats;
};

/* The timer at the earliest deadline of what waits, or the next look at
 * the connection. */
static void
rearm (struct echo *e)
{
  uint64_t now = timefmt_mono_ns (), first = now + ECHO_CHECK_MS * 1000000ull;
  loop_timer_cancel (e->n->loop, &e->timer);
  if (e->nw == 0)
    return;
  for (size_t i = 0; i < e->nw; i++)
    if (e->w[i].deadline_ns < first)
      first = e->w[i].deadline_ns;
  loop_timer_arm (e->n->loop, &e->timer, first > now ? (first - now + 999999) / 1000000 : 0);
}

/* Take out what is through, then call them: a callback may ask again or
 * forget, which changes the array. by_number: every echo up to upto came
 * back, which proves something only for those sent on the connection it
 * came back on (one from before a reconnect may have been resent from
 * nats.c's buffer, after what went into the broken socket was lost); else:
 * those past their bound, or sent on a connection that broke since, fail. */
static void
settle (struct echo *e, uint64_t upto, bool by_number)
{
  uint64_t now = timefmt_mono_ns ();
  bool up = by_number || natsConnection_Status (e->nc) == NATS_CONN_STATUS_CONNECTED;
  uint64_t count = roundtrip_reconnects (e->nc, e->stats);
  struct waiting *due = xmalloc ((e->nw ? e->nw : 1) * sizeof *due);
  size_t nd = 0, keep = 0;
  for (size_t i = 0; i < e->nw; i++)
    {
      bool same = e->w[i].reconnects == count;
      bool is_due = by_number ? e->w[i].num <= upto
                              : e->w[i].deadline_ns <= now || !up || !same;
      if (is_due)
        {
          due[nd] = e->w[i];
          due[nd++].ok = by_number && same;
        }
      else
        e->w[keep++] = e->w[i];
    }
  e->nw = keep;
  rearm (e);
  for (size_t i = 0; i < nd; i++)
    due[i].done (due[i].arg, due[i].ok);
  free (due);
}

static void
on_timer (struct loop_timer *t)
{
  struct echo *e = (struct echo *) ((char *) t - offsetof (struct echo, timer));
  settle (e, 0, false);
}

/* An echo came back: it and every one sent before it are through. */
static void
on_echo (void *closure, natsSubscription *sub, natsMsg *msg)
{
  struct echo *e = closure;
  int len = natsMsg_GetDataLength (msg);
  uint64_t num;
  (void) sub;
  if (len > 0 && decimal_u64 (natsMsg_GetData (msg), (size_t) len, &num) == 0 && num < e->next)
    settle (e, num, true); /* else not one of ours */
  natsMsg_Destroy (msg);
}

int
echo_new (struct node *n, struct natsloop *nl, natsConnection *nc, struct echo **out,
          struct nxerr *err)
{
  struct echo *e = xcalloc (1, sizeof *e);
  natsInbox *inbox = NULL;
  natsStatus s = natsInbox_Create (&inbox);
  if (s == NATS_OK)
    {
      snprintf (e->subject, sizeof e->subject, "%s.echo", (const char *) inbox);
      natsInbox_Destroy (inbox);
      s = natsConnection_SubscribeSync (&e->sub, nc, e->subject);
    }
  if (s != NATS_OK)
    {
      free (e);
      return nxerr_set (err, EIO, "echo subscription: %s", natsStatus_GetText (s));
    }
  e->n = n;
  e->nl = nl;
  e->nc = nc;
  e->next = 1;
  natsStatistics_Create (&e->stats);
  loop_timer_init (&e->timer, on_timer);
  natsloop_watch (nl, e->sub, on_echo, e);
  *out = e;
  return 0;
}

void
echo_ask (struct echo *e, uint32_t timeout_ms, echo_done done, void *arg)
{
  char num[24];
  struct waiting *w;
  int len = snprintf (num, sizeof num, "%" PRIu64, e->next);
  natsStatus s = natsConnection_Publish (e->nc, e->subject, num, len);
  if (e->nw == e->cap)
    {
      e->cap = e->cap ? e->cap * 2 : 8;
      e->w = xrealloc (e->w, e->cap * sizeof *e->w);
    }
  w = &e->w[e->nw++];
  w->num = e->next++;
  w->done = done;
  w->arg = arg;
  w->deadline_ns = timefmt_mono_ns () + (uint64_t) timeout_ms * 1000000;
  w->reconnects = roundtrip_reconnects (e->nc, e->stats);
  if (s != NATS_OK)
    {
      log_debug ("echo on %s not sent: %s", e->subject, natsStatus_GetText (s));
      w->deadline_ns = 0;
    }
  natsloop_send_now (e->nl);
  rearm (e);
}

void
echo_forget (struct echo *e, void *arg)
{
  size_t keep = 0;
  if (e == NULL)
    return;
  for (size_t i = 0; i < e->nw; i++)
    if (e->w[i].arg != arg)
      e->w[keep++] = e->w[i];
  e->nw = keep;
  rearm (e);
}

void
echo_free (struct echo *e)
{
  if (e == NULL)
    return;
  loop_timer_cancel (e->n->loop, &e->timer);
  natsloop_unwatch (e->nl, e->sub);
  subgrave_sub (e->n, e->nc, e->sub);
  natsStatistics_Destroy (e->stats);
  free (e->w);
  free (e);
}
