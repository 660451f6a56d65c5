#include "node/core/loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "api/log.h"
#include "api/timefmt.h"
#include "api/xalloc.h"

struct post {
  struct post *next;
  loop_fn fn;
  loop_fn drop;
  void *arg;
};

struct loop {
  int epfd;
  struct loop_source wake;
  bool running;
  pthread_mutex_t mu;
  struct post *head, *tail;
  struct post *deferred;
  struct loop_timer **heap;
  size_t heap_len, heap_cap;
};

static void drain_posts (struct loop_source *src, uint32_t events);
static void run_deferred (struct loop *l);

int
loop_new (struct loop **out, struct nxerr *err)
{
  struct loop *l = xcalloc (1, sizeof *l);
  struct epoll_event ev = { .events = EPOLLIN };
  l->epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (l->epfd < 0)
    {
      free (l);
      return nxerr_sys (err, errno, "epoll_create1");
    }
  l->wake.fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (l->wake.fd < 0)
    {
      close (l->epfd);
      free (l);
      return nxerr_sys (err, errno, "eventfd");
    }
  l->wake.cb = drain_posts;
  ev.data.ptr = &l->wake;
  epoll_ctl (l->epfd, EPOLL_CTL_ADD, l->wake.fd, &ev);
  pthread_mutex_init (&l->mu, NULL);
  *out = l;
  return 0;
}

void
loop_free (struct loop *l)
{
  struct post *p, *n;
  if (l == NULL)
    return;
  for (p = l->head; p; p = n)
    {
      n = p->next;
      if (p->drop)
        p->drop (p->arg);
      free (p);
    }
  run_deferred (l);
  close (l->wake.fd);
  close (l->epfd);
  pthread_mutex_destroy (&l->mu);
  free (l->heap);
  free (l);
}

void
loop_post (struct loop *l, loop_fn fn, loop_fn drop, void *arg)
{
  struct post *p = xmalloc (sizeof *p);
  uint64_t one = 1;
  bool was_empty;
  ssize_t r;
  p->next = NULL;
  p->fn = fn;
  p->drop = drop;
  p->arg = arg;
  pthread_mutex_lock (&l->mu);
  was_empty = l->head == NULL;
  if (l->tail)
    l->tail->next = p;
  else
    l->head = p;
  l->tail = p;
  pthread_mutex_unlock (&l->mu);
  /* Only the first post into an empty queue needs to wake the loop: the
   * loop takes the whole queue at once. Saves a syscall under bursts. */
  if (was_empty)
    {
      r = write (l->wake.fd, &one, sizeof one);
      (void) r;
    }
}

static void
drain_posts (struct loop_source *src, uint32_t events)
{
  struct loop *l = (struct loop *) ((char *) src - offsetof (struct loop, wake));
  struct post *p, *n;
  uint64_t v;
  ssize_t r;
  (void) events;
  r = read (l->wake.fd, &v, sizeof v);
  (void) r;
  pthread_mutex_lock (&l->mu);
  p = l->head;
  l->head = l->tail = NULL;
  pthread_mutex_unlock (&l->mu);
  for (; p; p = n)
    {
      n = p->next;
      p->fn (p->arg);
      free (p);
    }
}

void
loop_defer (struct loop *l, loop_fn fn, void *arg)
{
  struct post *p = xmalloc (sizeof *p);
  p->fn = fn;
  p->drop = NULL;
  p->arg = arg;
  p->next = l->deferred;
  l->deferred = p;
}

static void
run_deferred (struct loop *l)
{
  while (l->deferred)
    {
      struct post *p = l->deferred;
      l->deferred = p->next;
      p->fn (p->arg);
      free (p);
    }
}

int
loop_add (struct loop *l, struct loop_source *src, uint32_t events, struct nxerr *err)
{
  struct epoll_event ev = { .events = events, .data.ptr = src };
  if (epoll_ctl (l->epfd, EPOLL_CTL_ADD, src->fd, &ev) < 0)
    return nxerr_sys (err, errno, "epoll_ctl add fd %d", src->fd);
  return 0;
}

int
loop_mod (struct loop *l, struct loop_source *src, uint32_t events)
{
  struct epoll_event ev = { .events = events, .data.ptr = src };
  return epoll_ctl (l->epfd, EPOLL_CTL_MOD, src->fd, &ev);
}

void
loop_del (struct loop *l, struct loop_source *src)
{
  epoll_ctl (l->epfd, EPOLL_CTL_DEL, src->fd, NULL);
}

/* ---- timer heap ---- */

static void
heap_swap (struct loop *l, size_t a, size_t b)
{
  struct loop_timer *t = l->heap[a];
  l->heap[a] = l->heap[b];
  l->heap[b] = t;
  l->heap[a]->heap_index = a;
  l->heap[b]->heap_index = b;
}

static void
heap_up (struct loop *l, size_t i)
{
  while (i > 0)
    {
      size_t p = (i - 1) / 2;
      if (l->heap[p]->due_ns <= l->heap[i]->due_ns)
        break;
      heap_swap (l, p, i);
      i = p;
    }
}

static void
heap_down (struct loop *l, size_t i)
{
  for (;;)
    {
      size_t a = 2 * i + 1, b = a + 1, m = i;
      if (a < l->heap_len && l->heap[a]->due_ns < l->heap[m]->due_ns)
        m = a;
      if (b < l->heap_len && l->heap[b]->due_ns < l->heap[m]->due_ns)
        m = b;
      if (m == i)
        return;
      heap_swap (l, i, m);
      i = m;
    }
}

void
loop_timer_init (struct loop_timer *t, void (*cb) (struct loop_timer *t))
{
  t->due_ns = 0;
  t->heap_index = SIZE_MAX;
  t->cb = cb;
}

bool
loop_timer_armed (const struct loop_timer *t)
{
  return t->heap_index != SIZE_MAX;
}

void
loop_timer_cancel (struct loop *l, struct loop_timer *t)
{
  size_t i = t->heap_index;
  if (i == SIZE_MAX)
    return;
  t->heap_index = SIZE_MAX;
  l->heap_len--;
  if (i == l->heap_len)
    return;
  l->heap[i] = l->heap[l->heap_len];
  l->heap[i]->heap_index = i;
  heap_up (l, i);
  heap_down (l, l->heap[i]->heap_index);
}

void
loop_timer_arm (struct loop *l, struct loop_timer *t, uint64_t delay_ms)
{
  loop_timer_cancel (l, t);
  t->due_ns = timefmt_mono_ns () + delay_ms * 1000000ull;
  if (l->heap_len == l->heap_cap)
    {
      l->heap_cap = l->heap_cap ? l->heap_cap * 2 : 64;
      l->heap = xrealloc (l->heap, l->heap_cap * sizeof *l->heap);
    }
  t->heap_index = l->heap_len;
  l->heap[l->heap_len++] = t;
  heap_up (l, t->heap_index);
}

static int
next_timeout_ms (struct loop *l)
{
  uint64_t now, due;
  if (l->heap_len == 0)
    return -1;
  now = timefmt_mono_ns ();
  due = l->heap[0]->due_ns;
  if (due <= now)
    return 0;
  return (int) ((due - now + 999999) / 1000000);
}

static void
run_timers (struct loop *l)
{
  uint64_t now = timefmt_mono_ns ();
  while (l->heap_len > 0 && l->heap[0]->due_ns <= now)
    {
      struct loop_timer *t = l->heap[0];
      loop_timer_cancel (l, t);
      t->cb (t);
    }
}

void
loop_stop (struct loop *l)
{
  l->running = false;
}

int
loop_run (struct loop *l)
{
  struct epoll_event evs[64];
  l->running = true;
  while (l->running)
    {
      int n = epoll_wait (l->epfd, evs, 64, next_timeout_ms (l));
      if (n < 0 && errno != EINTR)
        {
          log_error ("epoll_wait: %s", strerror (errno));
          return -1;
        }
      for (int i = 0; i < n && l->running; i++)
        {
          struct loop_source *src = evs[i].data.ptr;
          src->cb (src, evs[i].events);
        }
      run_deferred (l);
      run_timers (l);
      run_deferred (l);
    }
  return 0;
}
