#include "bench/responder.h"

#include <errno.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/client.h"
#include "bench/proc.h"

extern char **environ;

#define RESPONDER_SUBJECT "nexc.bench.echo"

/* ---- the responder process ---- */

static void
on_request (natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
  const char *reply = natsMsg_GetReply (msg);
  (void) sub;
  (void) closure;
  if (reply)
    natsConnection_Publish (nc, reply, "ok", 2);
  natsMsg_Destroy (msg);
}

int
responder_main (int argc, char **argv)
{
  natsConnection *nc = NULL;
  natsSubscription *sub = NULL;
  struct nxerr err = { 0 };
  if (argc != 2)
    {
      fprintf (stderr, "usage: nexc-bench --responder URL SUBJECT\n");
      return 2;
    }
  if (bench_connect (argv[0], "nexc-bench-responder", &nc, &err) < 0)
    {
      fprintf (stderr, "nexc-bench responder: %s\n", err.msg);
      return 1;
    }
  if (natsConnection_Subscribe (&sub, nc, argv[1], on_request, NULL) != NATS_OK)
    {
      fprintf (stderr, "nexc-bench responder: cannot subscribe\n");
      return 1;
    }
  for (;;)
    pause (); /* until the bench kills us */
}

/* ---- floors ---- */

struct responder {
  pid_t pid;
  natsConnection *nc;
};

int
responder_start (struct bench *b, struct responder **out, struct nxerr *err)
{
  char *argv[] = { b->self_bin, (char *) "--responder", b->nats->url,
                   (char *) RESPONDER_SUBJECT, NULL };
  struct responder *r = calloc (1, sizeof *r);
  uint64_t lat, deadline;
  if (r == NULL)
    return nxerr_set (err, ENOMEM, "responder");
  r->pid = proc_spawn (argv, NULL, err);
  if (r->pid < 0 || bench_connect (b->nats->url, "nexc-bench-rtt", &r->nc, err) < 0)
    goto fail;
  /* Ready when it answers. */
  deadline = bench_now_ns () + 10000000000ull;
  while (bench_rtt (r->nc, RESPONDER_SUBJECT, 100, &lat, NULL, err) < 0)
    if (bench_now_ns () > deadline)
      {
        nxerr_wrap (err, "responder did not answer");
        goto fail;
      }
  for (int i = 0; i < 50; i++) /* warm-up */
    if (bench_rtt (r->nc, RESPONDER_SUBJECT, 2000, &lat, NULL, err) < 0)
      goto fail;
  *out = r;
  return 0;
fail:
  responder_stop (r);
  return -1;
}

int
responder_rtt (struct responder *r, struct samples *out, struct nxerr *err)
{
  uint64_t lat;
  if (bench_rtt (r->nc, RESPONDER_SUBJECT, 2000, &lat, NULL, err) < 0)
    return -1;
  samples_add (out, (double) lat / 1e3);
  return 0;
}

void
responder_stop (struct responder *r)
{
  if (r == NULL)
    return;
  natsConnection_Destroy (r->nc);
  if (r->pid > 0)
    proc_kill (r->pid);
  free (r);
}

int
floor_rtt (struct bench *b, int n, struct samples *out, struct nxerr *err)
{
  struct responder *r = NULL;
  int rc = 0;
  if (responder_start (b, &r, err) < 0)
    return -1;
  for (int i = 0; i < n && rc == 0; i++)
    rc = responder_rtt (r, out, err);
  responder_stop (r);
  return rc;
}

static int
spawn_wait (char *const argv[], posix_spawn_file_actions_t *fa, struct nxerr *err)
{
  pid_t pid;
  int st, r = posix_spawn (&pid, argv[0], fa, NULL, argv, environ);
  if (r != 0)
    return nxerr_sys (err, r, "posix_spawn %s", argv[0]);
  while (waitpid (pid, &st, 0) < 0)
    if (errno != EINTR)
      return nxerr_sys (err, errno, "waitpid");
  if (!WIFEXITED (st) || WEXITSTATUS (st) != 0)
    return nxerr_set (err, EIO, "%s exited with status 0x%x", argv[0], st);
  return 0;
}

static void
devnull_actions (posix_spawn_file_actions_t *fa)
{
  posix_spawn_file_actions_init (fa);
  posix_spawn_file_actions_addopen (fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen (fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
}

int
floor_spawn_once (char *const argv[], struct samples *out, struct nxerr *err)
{
  posix_spawn_file_actions_t fa;
  uint64_t t0 = bench_now_ns ();
  int rc;
  devnull_actions (&fa);
  rc = spawn_wait (argv, &fa, err);
  posix_spawn_file_actions_destroy (&fa);
  if (rc == 0)
    samples_add (out, (double) (bench_now_ns () - t0) / 1e3);
  return rc;
}

int
floor_spawn (char *const argv[], int n, struct samples *out, struct nxerr *err)
{
  posix_spawn_file_actions_t fa;
  int rc = 0;
  devnull_actions (&fa);
  for (int i = 0; i < n + 10 && rc == 0; i++)
    {
      uint64_t t0 = bench_now_ns ();
      rc = spawn_wait (argv, &fa, err);
      if (i >= 10) /* the first ones warm the page cache */
        samples_add (out, (double) (bench_now_ns () - t0) / 1e3);
    }
  posix_spawn_file_actions_destroy (&fa);
  return rc;
}

struct spawner {
  char *const *argv;
  uint64_t until_ns;
  atomic_long *count;
  atomic_int *failed;
};

static void *
spawner_thread (void *arg)
{
  struct spawner *s = arg;
  posix_spawn_file_actions_t fa;
  struct nxerr err = { 0 };
  devnull_actions (&fa);
  while (bench_now_ns () < s->until_ns)
    {
      if (spawn_wait (s->argv, &fa, &err) < 0)
        {
          atomic_store (s->failed, 1);
          break;
        }
      atomic_fetch_add (s->count, 1);
    }
  posix_spawn_file_actions_destroy (&fa);
  return NULL;
}

double
floor_spawn_rate (char *const argv[], int threads, double seconds, struct nxerr *err)
{
  pthread_t tid[256];
  struct spawner s;
  atomic_long count = 0;
  atomic_int failed = 0;
  uint64_t t0 = bench_now_ns ();
  if (threads > 256)
    threads = 256;
  s.argv = argv;
  s.until_ns = t0 + (uint64_t) (seconds * 1e9);
  s.count = &count;
  s.failed = &failed;
  for (int i = 0; i < threads; i++)
    pthread_create (&tid[i], NULL, spawner_thread, &s);
  for (int i = 0; i < threads; i++)
    pthread_join (tid[i], NULL);
  if (atomic_load (&failed))
    {
      nxerr_set (err, EIO, "spawn of %s failed", argv[0]);
      return -1;
    }
  return (double) atomic_load (&count) / ((double) (bench_now_ns () - t0) / 1e9);
}
