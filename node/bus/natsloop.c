#include "node/bus/natsloop.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "api/log.h"
#include "api/xalloc.h"
#include "node/core/loop.h"

struct watch {
  natsSubscription *sub; /* NULL: unwatched while draining, compacted after */
  natsloop_handler h;
  void *closure;
};

struct natsloop {
  struct loop *loop;
  pthread_t loop_thread;
  struct loop_source src; /* src.fd: the socket while attached, else -1 */

  /* nats.c calls the event callbacks from any thread (a publish, its
   * reconnecting thread), holding the connection's lock: mu is taken
   * under it, and never held while calling into nats.c. Guards: */
  pthread_mutex_t mu;
  natsConnection *nc;
  uint32_t want;       /* EPOLLIN / EPOLLOUT, as nats.c asked */
  uint32_t have;       /* what epoll holds for src.fd; 0: not registered */
  bool write_deferred; /* a write the loop does after its batch, no EPOLLOUT asked */
  bool pumping;
  bool quit;

  /* Loop thread only. */
  struct watch *w;
  size_t nw, cap;
  int draining;

  pthread_t pump;
  bool pump_up;
  int pump_wake; /* eventfd: want changed */
};

/* ---- epoll, under mu ---- */

/* Make epoll hold what nats.c wants. A socket nats.c closed left the set by
 * itself, and its number may come back as the next socket: ENOENT and
 * EEXIST say which, and the other operation follows. */
static void
apply (struct natsloop *nl)
{
  struct nxerr err = { 0 };
  uint32_t want = nl->pumping ? 0 : nl->want;
  if (nl->pumping && nl->pump_wake >= 0)
    {
      uint64_t one = 1;
      if (write (nl->pump_wake, &one, sizeof one) < 0)
        log_debug ("natsloop: waking the pump: %s", strerror (errno));
    }
  if (nl->src.fd < 0 || want == nl->have)
    return;
  if (want == 0)
    {
      loop_del (nl->loop, &nl->src);
      nl->have = 0;
      return;
    }
  if (nl->have == 0)
    {
      if (loop_add (nl->loop, &nl->src, want, &err) == 0
          || (err.code == EEXIST && loop_mod (nl->loop, &nl->src, want) == 0))
        nl->have = want;
    }
  else if (loop_mod (nl->loop, &nl->src, want) == 0
           || (errno == ENOENT && loop_add (nl->loop, &nl->src, want, &err) == 0))
    nl->have = want;
  if (nl->have != want)
    log_error ("natsloop: epoll for a NATS connection (fd %d): %s", nl->src.fd,
               err.code ? err.msg : strerror (errno));
}

/* ---- nats.c's event callbacks: any thread ---- */

static natsStatus
ev_attach (void **user, void *loop, natsConnection *nc, natsSock sock)
{
  struct natsloop *nl = loop;
  pthread_mutex_lock (&nl->mu);
  if (nl->have && nl->src.fd >= 0 && nl->src.fd != (int) sock)
    loop_del (nl->loop, &nl->src); /* not expected: nats.c removes before closing */
  nl->have = 0;
  nl->nc = nc;
  nl->src.fd = (int) sock;
  nl->want = EPOLLIN;
  nl->write_deferred = false;
  apply (nl);
  pthread_mutex_unlock (&nl->mu);
  *user = nl;
  return NATS_OK;
}

static natsStatus
ev_read (void *user, bool add)
{
  struct natsloop *nl = user;
  pthread_mutex_lock (&nl->mu);
  if (add)
    nl->want |= EPOLLIN;
  else
    nl->want &= ~(uint32_t) EPOLLIN;
  apply (nl);
  pthread_mutex_unlock (&nl->mu);
  return NATS_OK;
}

static void deferred_write (void *arg);

/* A publish on the loop thread is written once the loop's batch is done,
 * or at once by natsloop_send_now (replies, events), with no epoll_ctl
 * pair per publish; one from another thread asks epoll for writability,
 * which wakes the loop. */
static natsStatus
ev_write (void *user, bool add)
{
  struct natsloop *nl = user;
  pthread_mutex_lock (&nl->mu);
  if (add)
    {
      if (!nl->pumping && pthread_equal (pthread_self (), nl->loop_thread))
        {
          if (!nl->write_deferred && !(nl->want & EPOLLOUT))
            {
              nl->write_deferred = true;
              loop_defer (nl->loop, deferred_write, nl);
            }
        }
      else
        {
          nl->want |= EPOLLOUT;
          apply (nl);
        }
    }
  else
    {
      nl->write_deferred = false;
      nl->want &= ~(uint32_t) EPOLLOUT;
      apply (nl);
    }
  pthread_mutex_unlock (&nl->mu);
  return NATS_OK;
}

static natsStatus
ev_detach (void *user)
{
  struct natsloop *nl = user;
  pthread_mutex_lock (&nl->mu);
  nl->want = 0;
  nl->write_deferred = false;
  apply (nl);
  nl->src.fd = -1;
  nl->have = 0;
  pthread_mutex_unlock (&nl->mu);
  return NATS_OK;
}

/* ---- the loop side ---- */

static natsConnection *
conn_of (struct natsloop *nl)
{
  natsConnection *nc;
  pthread_mutex_lock (&nl->mu);
  nc = nl->nc;
  pthread_mutex_unlock (&nl->mu);
  return nc;
}

static void
deferred_write (void *arg)
{
  struct natsloop *nl = arg;
  natsConnection *nc;
  bool still;
  pthread_mutex_lock (&nl->mu);
  still = nl->write_deferred;
  nc = nl->nc;
  pthread_mutex_unlock (&nl->mu);
  if (!still || nc == NULL)
    return;
  /* Writes what it can; all of it removes the write interest (ev_write). */
  natsConnection_ProcessWriteEvent (nc);
  pthread_mutex_lock (&nl->mu);
  if (nl->write_deferred)
    {
      /* The socket is full (or the connection is going away): wait for
       * epoll to say it can take more. */
      nl->write_deferred = false;
      nl->want |= EPOLLOUT;
      apply (nl);
    }
  pthread_mutex_unlock (&nl->mu);
}

void
natsloop_send_now (struct natsloop *nl)
{
  if (nl != NULL && pthread_equal (pthread_self (), nl->loop_thread))
    deferred_write (nl);
}

static void
compact (struct natsloop *nl)
{
  size_t k = 0;
  for (size_t i = 0; i < nl->nw; i++)
    if (nl->w[i].sub != NULL)
      nl->w[k++] = nl->w[i];
  nl->nw = k;
}

/* Every message the read brought, to its handler. A handler may watch or
 * unwatch (the array may move: indexed anew each time). */
static void
drain (struct natsloop *nl)
{
  nl->draining++;
  for (size_t i = 0; i < nl->nw; i++)
    {
      natsMsg *m = NULL;
      while (nl->w[i].sub != NULL && natsSubscription_NextMsg (&m, nl->w[i].sub, 0) == NATS_OK)
        nl->w[i].h (nl->w[i].closure, nl->w[i].sub, m);
    }
  if (--nl->draining == 0)
    compact (nl);
}

static void
on_ready (struct loop_source *src, uint32_t events)
{
  struct natsloop *nl = (struct natsloop *) ((char *) src - offsetof (struct natsloop, src));
  natsConnection *nc = conn_of (nl);
  if (nc == NULL)
    return;
  if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
    {
      natsConnection_ProcessReadEvent (nc);
      drain (nl);
    }
  if (events & EPOLLOUT)
    natsConnection_ProcessWriteEvent (nc);
}

int
natsloop_new (struct loop *loop, struct natsloop **out, struct nxerr *err)
{
  struct natsloop *nl = xcalloc (1, sizeof *nl);
  int e;
  nl->loop = loop;
  nl->loop_thread = pthread_self ();
  nl->src.fd = -1;
  nl->src.cb = on_ready;
  nl->pump_wake = -1;
  if ((e = pthread_mutex_init (&nl->mu, NULL)) != 0)
    {
      free (nl);
      return nxerr_sys (err, e, "natsloop: mutex");
    }
  *out = nl;
  return 0;
}

int
natsloop_options (struct natsloop *nl, natsOptions *opts, struct nxerr *err)
{
  natsStatus s = natsOptions_SetEventLoop (opts, nl, ev_attach, ev_read, ev_write, ev_detach);
  if (s != NATS_OK)
    return nxerr_set (err, EINVAL, "nats options: event loop: %s", natsStatus_GetText (s));
  return 0;
}

void
natsloop_watch (struct natsloop *nl, natsSubscription *sub, natsloop_handler h, void *closure)
{
  if (nl->nw == nl->cap)
    {
      nl->cap = nl->cap ? nl->cap * 2 : 16;
      nl->w = xrealloc (nl->w, nl->cap * sizeof *nl->w);
    }
  nl->w[nl->nw++] = (struct watch){ sub, h, closure };
}

void
natsloop_unwatch (struct natsloop *nl, natsSubscription *sub)
{
  if (nl == NULL || sub == NULL)
    return;
  for (size_t i = 0; i < nl->nw; i++)
    if (nl->w[i].sub == sub)
      nl->w[i].sub = NULL;
  if (nl->draining == 0)
    compact (nl);
}

bool
natsloop_reads_here (const struct natsloop *nl)
{
  bool here;
  if (nl == NULL)
    return false;
  pthread_mutex_lock ((pthread_mutex_t *) &nl->mu);
  here = !nl->pumping && pthread_equal (pthread_self (), nl->loop_thread);
  pthread_mutex_unlock ((pthread_mutex_t *) &nl->mu);
  return here;
}

/* ---- the pump: the connection's reader once the loop has stopped ---- */

static void *
pump_main (void *arg)
{
  struct natsloop *nl = arg;
  for (;;)
    {
      struct pollfd p[2] = { { .fd = nl->pump_wake, .events = POLLIN }, { .fd = -1 } };
      natsConnection *nc;
      pthread_mutex_lock (&nl->mu);
      if (nl->quit)
        {
          pthread_mutex_unlock (&nl->mu);
          break;
        }
      p[1].fd = nl->src.fd;
      p[1].events = (short) (((nl->want & EPOLLIN) ? POLLIN : 0)
                             | ((nl->want & EPOLLOUT) ? POLLOUT : 0));
      nc = nl->nc;
      pthread_mutex_unlock (&nl->mu);
      if (p[1].events == 0)
        p[1].fd = -1;
      if (poll (p, 2, -1) < 0)
        continue;
      if (p[0].revents & POLLIN)
        {
          uint64_t v;
          if (read (nl->pump_wake, &v, sizeof v) < 0)
            continue;
        }
      if (p[1].fd < 0 || nc == NULL || (p[1].revents & POLLNVAL))
        continue;
      if (p[1].revents & (POLLIN | POLLERR | POLLHUP))
        natsConnection_ProcessReadEvent (nc);
      if (p[1].revents & POLLOUT)
        natsConnection_ProcessWriteEvent (nc);
    }
  return NULL;
}

int
natsloop_pump_start (struct natsloop *nl, struct nxerr *err)
{
  int e;
  nl->pump_wake = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (nl->pump_wake < 0)
    return nxerr_sys (err, errno, "natsloop: eventfd");
  pthread_mutex_lock (&nl->mu);
  nl->pumping = true;
  if (nl->write_deferred)
    {
      nl->write_deferred = false;
      nl->want |= EPOLLOUT;
    }
  apply (nl); /* out of the loop's epoll: the pump polls it now */
  pthread_mutex_unlock (&nl->mu);
  if ((e = pthread_create (&nl->pump, NULL, pump_main, nl)) != 0)
    return nxerr_sys (err, e, "natsloop: pump thread");
  nl->pump_up = true;
  return 0;
}

void
natsloop_pump_stop (struct natsloop *nl)
{
  if (nl == NULL || !nl->pump_up)
    return;
  pthread_mutex_lock (&nl->mu);
  nl->quit = true;
  pthread_mutex_unlock (&nl->mu);
  uint64_t one = 1;
  if (write (nl->pump_wake, &one, sizeof one) < 0)
    log_debug ("natsloop: waking the pump: %s", strerror (errno));
  pthread_join (nl->pump, NULL);
  nl->pump_up = false;
}

void
natsloop_free (struct natsloop *nl)
{
  if (nl == NULL)
    return;
  natsloop_pump_stop (nl);
  if (nl->pump_wake >= 0)
    close (nl->pump_wake);
  pthread_mutex_destroy (&nl->mu);
  free (nl->w);
  free (nl);
}
