#include "node/bus/subgrave.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "api/xalloc.h"
#include "api/roundtrip.h"
#include "node/bus/natsloop.h"
#include "node/core/node.h"

/* One round trip's bound, only when the connection says it is up (on the
 * loop thread the control connection needs none): a healthy server answers
 * in well under a millisecond, but a reader with a backlog delays the
 * answer (up to this bound). */
#define SUBGRAVE_ROUNDTRIP_MS 1000

struct grave {
  struct grave *next;
  natsConnection *nc;
  natsSubscription *sub; /* one of sub, w */
  kvWatcher *w;
  uint64_t seq; /* order of burial: a round trip frees what came before it */
  /* The unsubscribe failed on a connection not closed: nats.c may still
   * have it in its table (an ordered consumer's reset gives it a new id
   * there without a reference), so only subgrave_free frees it. */
  bool kept;
};

struct subgrave {
  pthread_mutex_t mu;
  struct grave *head;
  uint64_t seq;
};

/* The node's list is made at the first burial, which may happen on any
 * thread: this lock guards making it (one node per process). */
static pthread_mutex_t make_mu = PTHREAD_MUTEX_INITIALIZER;

static struct subgrave *
grave_of (struct node *n)
{
  pthread_mutex_lock (&make_mu);
  if (n->subgrave == NULL)
    {
      n->subgrave = xcalloc (1, sizeof *n->subgrave);
      pthread_mutex_init (&n->subgrave->mu, NULL);
    }
  pthread_mutex_unlock (&make_mu);
  return n->subgrave;
}

static void
bury (struct node *n, natsConnection *nc, natsSubscription *sub, kvWatcher *w)
{
  struct subgrave *g = grave_of (n);
  struct grave *e = xcalloc (1, sizeof *e);
  natsStatus s;
  /* No new message finds it from here on; one already found may still be
   * on its way in, which is why it is not freed yet. */
  s = sub ? natsSubscription_Unsubscribe (sub) : kvWatcher_Stop (w);
  e->kept = s != NATS_OK && !natsConnection_IsClosed (nc);
  e->nc = nc;
  e->sub = sub;
  e->w = w;
  pthread_mutex_lock (&g->mu);
  e->seq = ++g->seq;
  e->next = g->head;
  g->head = e;
  pthread_mutex_unlock (&g->mu);
}

void
subgrave_sub (struct node *n, natsConnection *nc, natsSubscription *sub)
{
  if (sub)
    bury (n, nc, sub, NULL);
}

void
subgrave_watcher (struct node *n, natsConnection *nc, kvWatcher *w)
{
  if (w)
    bury (n, nc, NULL, w);
}

static void
grave_free (struct grave *e)
{
  if (e->sub)
    natsSubscription_Destroy (e->sub);
  else
    kvWatcher_Destroy (e->w);
  free (e);
}

void
subgrave_settle (struct node *n, natsConnection *nc)
{
  struct subgrave *g = n->subgrave;
  struct grave *freed = NULL;
  uint64_t mark;
  /* The loop reads n->nc itself (node/bus/natsloop.h): on the loop thread
   * no read is under way, and none may be waited for. */
  bool reader = nc != NULL && nc == n->nc && natsloop_reads_here (n->natsloop);
  if (g == NULL || nc == NULL
      || (!reader && natsConnection_Status (nc) != NATS_CONN_STATUS_CONNECTED))
    return;
  pthread_mutex_lock (&g->mu);
  mark = g->seq; /* all buried so far were unsubscribed before the PING below */
  pthread_mutex_unlock (&g->mu);
  if (!reader && !roundtrip_answered (nc, SUBGRAVE_ROUNDTRIP_MS))
    return;
  pthread_mutex_lock (&g->mu);
  for (struct grave **pp = &g->head; *pp;)
    {
      struct grave *e = *pp;
      if (e->nc == nc && e->seq <= mark && !e->kept)
        {
          *pp = e->next;
          e->next = freed;
          freed = e;
        }
      else
        pp = &e->next;
    }
  pthread_mutex_unlock (&g->mu);
  while (freed)
    {
      struct grave *e = freed;
      freed = e->next;
      grave_free (e);
    }
}

void
subgrave_free (struct node *n)
{
  struct subgrave *g = n->subgrave;
  if (g == NULL)
    return;
  while (g->head)
    {
      struct grave *e = g->head;
      g->head = e->next;
      grave_free (e);
    }
  pthread_mutex_destroy (&g->mu);
  free (g);
  n->subgrave = NULL;
}
