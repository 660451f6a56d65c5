#include "node/bus/logack.h"

#include <errno.h>
#include <nats/nats.h>
#include <string.h>

#include "api/log.h"
#include "api/xalloc.h"
#include "node/bus/echo.h"
#include "node/bus/logs.h"
#include "api/roundtrip.h"
#include "node/core/node.h"

#define LOGACK_FLUSH_MS 5000 /* one flush's bound */
#define LOGACK_RETRY_MS 100  /* after a failed flush */

struct list {
  struct log_stream *head, *tail;
};

struct logack {
  struct node *n;
  struct list waiting, flushing;
  bool inflight;
  struct loop_timer retry;
  natsStatistics *stats;      /* nats.c's counts of the data connection */
  uint64_t reconnects;        /* its reconnects, as last seen */
};

static void on_flushed (void *arg, bool ok);

static void
list_push (struct list *l, struct log_stream *s)
{
  s->ack.prev = l->tail;
  s->ack.next = NULL;
  if (l->tail)
    l->tail->ack.next = s;
  else
    l->head = s;
  l->tail = s;
}

static void
list_remove (struct list *l, struct log_stream *s)
{
  if (s->ack.prev)
    s->ack.prev->ack.next = s->ack.next;
  else
    l->head = s->ack.next;
  if (s->ack.next)
    s->ack.next->ack.prev = s->ack.prev;
  else
    l->tail = s->ack.prev;
  s->ack.next = s->ack.prev = NULL;
}

/* Ask the agents of streams due a resend; true when none is left due. */
static bool
send_resends (struct logack *k)
{
  bool done = true;
  for (struct log_stream *s = k->waiting.head; s != NULL; s = s->ack.next)
    if (s->ack.resend_due)
      {
        if (s->ack.on_resend != NULL && !s->ack.on_resend (s, s->ack.acked))
          done = false;
        else
          s->ack.resend_due = false;
      }
  return done;
}

/* After a reconnect, every waiting stream with lines past its last
 * confirmation has them sent again (see the header). Called when nothing
 * is in flight, so every stream with unconfirmed lines is waiting. */
static void
check_reconnect (struct logack *k)
{
  uint64_t now = roundtrip_reconnects (k->n->nc_data, k->stats);
  if (now == k->reconnects)
    return;
  log_debug ("logack: reconnect seen (%llu -> %llu): waiting streams rewind",
             (unsigned long long) k->reconnects, (unsigned long long) now);
  k->reconnects = now;
  for (struct log_stream *s = k->waiting.head; s != NULL; s = s->ack.next)
    if (s->seq > s->ack.acked || s->n_kept > s->kept_off)
      {
        log_debug ("logack: %s rewinds from %llu (published %llu)", s->id,
                   (unsigned long long) s->ack.acked, (unsigned long long) s->seq);
        s->ack.rewinding = true;
        s->ack.resend_due = true;
      }
}

/* Everything waiting goes into one flush, each stream up to what it has
 * published by now. */
static void
ask_flush (struct logack *k)
{
  struct log_stream *s;
  if (k->inflight || k->waiting.head == NULL)
    return;
  check_reconnect (k);
  if (!send_resends (k) && !loop_timer_armed (&k->retry))
    loop_timer_arm (k->n->loop, &k->retry, LOGACK_RETRY_MS);
  while ((s = k->waiting.head) != NULL)
    {
      list_remove (&k->waiting, s);
      s->ack.state = LOGACK_FLUSHING;
      s->ack.again = false;
      s->ack.flush_seq = s->seq;
      s->ack.flush_epoch = s->ack.epoch;
      list_push (&k->flushing, s);
    }
  k->inflight = true;
  echo_ask (k->n->echo_data, LOGACK_FLUSH_MS, on_flushed, k);
}

static void
on_retry (struct loop_timer *t)
{
  ask_flush ((struct logack *) ((char *) t - offsetof (struct logack, retry)));
}

/* ok: the echo after the flush's lines came back on the connection they
 * went out on; else they confirm nothing. */
static void
on_flushed (void *arg, bool ok)
{
  struct logack *k = arg;
  struct log_stream *s;
  log_debug ("logack: flush %s", ok ? "answered" : "failed");
  k->inflight = false;
  while ((s = k->flushing.head) != NULL)
    {
      uint64_t seq = s->ack.flush_seq;
      /* Started before the agent's Rewound, it covers lines that are to
       * come again: it confirms nothing of this stream. */
      bool valid = ok && !s->ack.rewinding && s->ack.flush_epoch == s->ack.epoch;
      /* A rewinding stream with nothing new waits for logack_rewound. */
      bool again = s->ack.again || !ok || s->ack.resend_due || (!valid && !s->ack.rewinding);
      list_remove (&k->flushing, s);
      s->ack.state = LOGACK_IDLE;
      if (again)
        {
          s->ack.state = LOGACK_WAITING;
          list_push (&k->waiting, s);
        }
      /* on_ack may end the stream's agent: s stays valid (its workload is
       * freed after this event), and logack_forget takes it off the lists. */
      if (valid && seq > s->ack.acked)
        {
          log_debug ("logack: %s confirmed to %llu", s->id, (unsigned long long) seq);
          s->ack.acked = seq;
          if (s->ack.on_ack)
            s->ack.on_ack (s, seq);
        }
    }
  if (ok)
    ask_flush (k);
  else if (k->waiting.head && !loop_timer_armed (&k->retry))
    loop_timer_arm (k->n->loop, &k->retry, LOGACK_RETRY_MS);
}

void
logack_note (struct log_stream *s)
{
  struct logack *k = s->node->logack;
  if (k == NULL || s->ack.on_ack == NULL)
    return;
  switch (s->ack.state)
    {
    case LOGACK_IDLE:
      s->ack.state = LOGACK_WAITING;
      list_push (&k->waiting, s);
      ask_flush (k);
      return;
    case LOGACK_WAITING:
      return;
    case LOGACK_FLUSHING:
      s->ack.again = true;
      return;
    }
}

void
logack_rewound (struct log_stream *s)
{
  s->ack.rewinding = false;
  s->ack.resend_due = false;
  s->ack.epoch++;
  logack_note (s);
}

void
logack_forget (struct log_stream *s)
{
  struct logack *k = s->node ? s->node->logack : NULL;
  if (k != NULL && s->ack.state == LOGACK_WAITING)
    list_remove (&k->waiting, s);
  else if (k != NULL && s->ack.state == LOGACK_FLUSHING)
    list_remove (&k->flushing, s);
  s->ack.state = LOGACK_IDLE;
  s->ack.again = false;
  s->ack.rewinding = false;
  s->ack.resend_due = false;
}

int
logack_start (struct node *n, struct nxerr *err)
{
  struct logack *k;
  if (n->echo_data == NULL)
    return nxerr_set (err, ENOTCONN, "log acknowledgements: no echo on the data connection");
  k = xcalloc (1, sizeof *k);
  k->n = n;
  loop_timer_init (&k->retry, on_retry);
  natsStatistics_Create (&k->stats);
  k->reconnects = roundtrip_reconnects (n->nc_data, k->stats);
  n->logack = k;
  return 0;
}

void
logack_stop (struct node *n)
{
  struct logack *k = n->logack;
  struct log_stream *s;
  if (k == NULL)
    return;
  echo_forget (n->echo_data, k);
  loop_timer_cancel (n->loop, &k->retry);
  while ((s = k->waiting.head) != NULL)
    logack_forget (s);
  while ((s = k->flushing.head) != NULL)
    logack_forget (s);
  natsStatistics_Destroy (k->stats);
  n->logack = NULL;
  free (k);
}
