#include "node/bus/logack.h"

#include <errno.h>
#include <nats/nats.h>
#include <pthread.h>
#include <string.h>

#include "api/log.h"
#include "api/xalloc.h"
#include "node/bus/logs.h"
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

  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t want, asked; /* guarded by mu */
  bool quit;            /* guarded by mu */
};

struct flush_result {
  struct node *n;
  bool ok;
};

/* ---- the flushing thread: waits for the server, never touches node state ---- */

static void on_flushed (void *arg);

static void
drop_result (void *arg)
{
  free (arg);
}

static void *
flusher (void *arg)
{
  struct logack *k = arg;
  pthread_mutex_lock (&k->mu);
  for (;;)
    {
      struct flush_result *r;
      while (!k->quit && k->want == k->asked)
        pthread_cond_wait (&k->cv, &k->mu);
      if (k->quit)
        break;
      k->asked = k->want;
      pthread_mutex_unlock (&k->mu);
      r = xcalloc (1, sizeof *r);
      r->n = k->n;
      r->ok = natsConnection_FlushTimeout (k->n->nc_data, LOGACK_FLUSH_MS) == NATS_OK;
      loop_post (k->n->loop, on_flushed, drop_result, r);
      pthread_mutex_lock (&k->mu);
    }
  pthread_mutex_unlock (&k->mu);
  return NULL;
}

/* ---- loop side ---- */

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

/* Everything waiting goes into one flush, each stream up to what it has
 * published by now. */
static void
ask_flush (struct logack *k)
{
  struct log_stream *s;
  if (k->inflight || k->waiting.head == NULL)
    return;
  while ((s = k->waiting.head) != NULL)
    {
      list_remove (&k->waiting, s);
      s->ack.state = LOGACK_FLUSHING;
      s->ack.again = false;
      s->ack.flush_seq = s->seq;
      list_push (&k->flushing, s);
    }
  k->inflight = true;
  pthread_mutex_lock (&k->mu);
  k->want++;
  pthread_cond_signal (&k->cv);
  pthread_mutex_unlock (&k->mu);
}

static void
on_retry (struct loop_timer *t)
{
  ask_flush ((struct logack *) ((char *) t - offsetof (struct logack, retry)));
}

static void
on_flushed (void *arg)
{
  struct flush_result *r = arg;
  struct logack *k = r->n->logack;
  struct log_stream *s;
  bool ok = r->ok;
  free (r);
  if (k == NULL)
    return;
  k->inflight = false;
  while ((s = k->flushing.head) != NULL)
    {
      uint64_t seq = s->ack.flush_seq;
      bool again = s->ack.again || !ok;
      list_remove (&k->flushing, s);
      s->ack.state = LOGACK_IDLE;
      if (again)
        {
          s->ack.state = LOGACK_WAITING;
          list_push (&k->waiting, s);
        }
      /* on_ack may end the stream's agent: s stays valid (its workload is
       * freed after this event), and logack_forget takes it off the lists. */
      if (ok && seq > s->ack.acked)
        {
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
logack_forget (struct log_stream *s)
{
  struct logack *k = s->node ? s->node->logack : NULL;
  if (k != NULL && s->ack.state == LOGACK_WAITING)
    list_remove (&k->waiting, s);
  else if (k != NULL && s->ack.state == LOGACK_FLUSHING)
    list_remove (&k->flushing, s);
  s->ack.state = LOGACK_IDLE;
  s->ack.again = false;
}

int
logack_start (struct node *n, struct nxerr *err)
{
  struct logack *k = xcalloc (1, sizeof *k);
  int e;
  k->n = n;
  loop_timer_init (&k->retry, on_retry);
  pthread_mutex_init (&k->mu, NULL);
  pthread_cond_init (&k->cv, NULL);
  e = pthread_create (&k->thread, NULL, flusher, k);
  if (e != 0)
    {
      pthread_mutex_destroy (&k->mu);
      pthread_cond_destroy (&k->cv);
      free (k);
      return nxerr_sys (err, e, "log acknowledgements: thread");
    }
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
  pthread_mutex_lock (&k->mu);
  k->quit = true;
  pthread_cond_signal (&k->cv);
  pthread_mutex_unlock (&k->mu);
  pthread_join (k->thread, NULL);
  loop_timer_cancel (n->loop, &k->retry);
  while ((s = k->waiting.head) != NULL)
    logack_forget (s);
  while ((s = k->flushing.head) != NULL)
    logack_forget (s);
  pthread_mutex_destroy (&k->mu);
  pthread_cond_destroy (&k->cv);
  n->logack = NULL;
  free (k);
}
