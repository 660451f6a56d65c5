#include "node/agents/spawner.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "api/log.h"
#include "api/xalloc.h"
#include "node/core/loop.h"
#include "node/core/node.h"

struct spawner {
  struct node *n;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t work;   /* the thread: a job queued, or quit */
  pthread_cond_t idle;   /* spawner_drain: the thread finished a job */
  struct spawn_job *in;  /* queued, oldest first */
  struct spawn_job *out; /* finished, oldest first, for the loop */
  bool busy;             /* the thread holds a job taken off in */
  bool quit;
  int efd; /* the loop's wake-up: results in out */
  struct loop_source src;
  size_t in_flight; /* loop only: submitted, done not run */
};

static char **
copy_vec (char *const *v)
{
  size_t n = 0;
  char **c;
  while (v[n])
    n++;
  c = xcalloc (n + 1, sizeof *c);
  for (size_t i = 0; i < n; i++)
    c[i] = xstrdup (v[i]);
  return c;
}

static void
free_vec (char *const *v)
{
  if (v == NULL)
    return;
  for (size_t i = 0; v[i]; i++)
    free (v[i]);
  free ((void *) v);
}

struct spawn_job *
spawner_job_new (const char *path, char *const *argv, char *const *envp,
                 const char (*join)[CG_PROCS_MAX], size_t njoin)
{
  struct spawn_job *j = xcalloc (1, sizeof *j);
  char **jv = xcalloc (njoin + 1, sizeof *jv);
  for (size_t i = 0; i < njoin; i++)
    jv[i] = xstrdup (join[i]);
  j->spec.path = path;
  j->spec.argv = copy_vec (argv);
  j->spec.envp = copy_vec (envp);
  j->spec.join = jv;
  j->spec.fd3 = -1;
  j->spec.fd4 = -1;
  return j;
}

struct spawn_job *
spawner_run_job_new (int (*run) (struct spawn_job *), const void *arg, pid_t pid)
{
  struct spawn_job *j = xcalloc (1, sizeof *j);
  j->run = run;
  j->run_arg = arg;
  j->pid = pid;
  j->spec.fd3 = -1;
  j->spec.fd4 = -1;
  return j;
}

static void
job_free (struct spawn_job *j)
{
  free_vec (j->spec.argv);
  free_vec (j->spec.envp);
  free_vec (j->spec.join);
  free (j);
}

static void
append (struct spawn_job **head, struct spawn_job *j)
{
  j->next = NULL;
  while (*head)
    head = &(*head)->next;
  *head = j;
}

/* ---- the thread ---- */

static void
run_job (struct spawn_job *j)
{
  if (j->run)
    {
      if (j->run (j) < 0)
        {
          /* Not where it must be, so not contained: it must not run. */
          kill (j->pid, SIGKILL);
          j->failed = true;
        }
      return;
    }
  if (nsspawn (&j->spec, &j->pid, &j->err) < 0)
    j->pid = 0;
  /* The child holds its own copies now (or never will). */
  if (j->spec.fd3 >= 0)
    close (j->spec.fd3);
  if (j->spec.fd4 > 0)
    close (j->spec.fd4);
}

static void *
thread_main (void *arg)
{
  struct spawner *s = arg;
  pthread_mutex_lock (&s->mu);
  for (;;)
    {
      struct spawn_job *j;
      uint64_t one = 1;
      while (!s->quit && s->in == NULL)
        pthread_cond_wait (&s->work, &s->mu);
      if (s->in == NULL)
        break; /* quit, and nothing left to do */
      j = s->in;
      s->in = j->next;
      s->busy = true;
      pthread_mutex_unlock (&s->mu);
      run_job (j);
      pthread_mutex_lock (&s->mu);
      append (&s->out, j);
      s->busy = false;
      pthread_cond_broadcast (&s->idle);
      /* A full eventfd counter (never, at 2^64 - 2) would only mean the
       * loop is already due to read it. */
      if (write (s->efd, &one, sizeof one) < 0 && errno != EAGAIN)
        log_warn ("spawner: wake the loop: %s", strerror (errno));
    }
  pthread_mutex_unlock (&s->mu);
  return NULL;
}

/* ---- the loop ---- */

static void
run_done (struct spawner *s)
{
  struct spawn_job *list;
  pthread_mutex_lock (&s->mu);
  list = s->out;
  s->out = NULL;
  pthread_mutex_unlock (&s->mu);
  while (list)
    {
      struct spawn_job *j = list;
      list = j->next;
      s->in_flight--;
      j->done (j);
      job_free (j);
    }
}

static void
on_wake (struct loop_source *src, uint32_t events)
{
  struct spawner *s = (struct spawner *) ((char *) src - offsetof (struct spawner, src));
  uint64_t v;
  (void) events;
  while (read (s->efd, &v, sizeof v) == (ssize_t) sizeof v)
    ;
  run_done (s);
}

static int
start (struct node *n, struct nxerr *err)
{
  struct spawner *s = xcalloc (1, sizeof *s);
  sigset_t all, old;
  int e;
  s->n = n;
  pthread_mutex_init (&s->mu, NULL);
  pthread_cond_init (&s->work, NULL);
  pthread_cond_init (&s->idle, NULL);
  s->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (s->efd < 0)
    {
      e = errno;
      free (s);
      return nxerr_sys (err, e, "spawner: eventfd");
    }
  s->src.fd = s->efd;
  s->src.cb = on_wake;
  if (loop_add (n->loop, &s->src, EPOLLIN, err) < 0)
    {
      close (s->efd);
      free (s);
      return -1;
    }
  /* Every signal stays with the loop's signalfd (main blocked them before
   * any thread existed; this keeps it so whoever calls). */
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  e = pthread_create (&s->thread, NULL, thread_main, s);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (e != 0)
    {
      loop_del (n->loop, &s->src);
      close (s->efd);
      free (s);
      return nxerr_sys (err, e, "spawner: thread");
    }
  n->spawner = s;
  return 0;
}

int
spawner_submit (struct node *n, struct spawn_job *job, struct nxerr *err)
{
  struct spawner *s;
  if (n->spawner == NULL && start (n, err) < 0)
    {
      job_free (job);
      return -1;
    }
  s = n->spawner;
  s->in_flight++;
  pthread_mutex_lock (&s->mu);
  append (&s->in, job);
  pthread_cond_signal (&s->work);
  pthread_mutex_unlock (&s->mu);
  return 0;
}

size_t
spawner_in_flight (const struct node *n)
{
  return n->spawner ? n->spawner->in_flight : 0;
}

void
spawner_drain (struct node *n)
{
  struct spawner *s = n->spawner;
  if (s == NULL)
    return;
  pthread_mutex_lock (&s->mu);
  while (s->in != NULL || s->busy)
    pthread_cond_wait (&s->idle, &s->mu);
  pthread_mutex_unlock (&s->mu);
  run_done (s);
}

void
spawner_stop (struct node *n)
{
  struct spawner *s = n->spawner;
  if (s == NULL)
    return;
  pthread_mutex_lock (&s->mu);
  s->quit = true;
  pthread_cond_signal (&s->work);
  pthread_mutex_unlock (&s->mu);
  pthread_join (s->thread, NULL);
  run_done (s); /* anything submitted after the last drain */
  loop_del (n->loop, &s->src);
  close (s->efd);
  pthread_mutex_destroy (&s->mu);
  pthread_cond_destroy (&s->work);
  pthread_cond_destroy (&s->idle);
  free (s);
  n->spawner = NULL;
}
