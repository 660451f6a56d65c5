#include "bench/responder.h"

#include <errno.h>
#include <fcntl.h>
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
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

int
floor_rtt (struct bench *b, int n, struct samples *out, struct nxerr *err)
{
  char *argv[] = { b->self_bin, (char *) "--responder", b->nats->url,
                   (char *) RESPONDER_SUBJECT, NULL };
  natsConnection *nc = NULL;
  pid_t pid;
  uint64_t lat, deadline;
  int rc = -1;
  pid = proc_spawn (argv, NULL, err);
  if (pid < 0)
    return -1;
  if (bench_connect (b->nats->url, "nexc-bench-rtt", &nc, err) < 0)
    goto out;
  /* Ready when it answers. */
  deadline = bench_now_ns () + 10000000000ull;
  while (bench_rtt (nc, RESPONDER_SUBJECT, 100, &lat, NULL, err) < 0)
    if (bench_now_ns () > deadline)
      {
        nxerr_wrap (err, "responder did not answer");
        goto out;
      }
  for (int i = 0; i < 50; i++) /* warm-up */
    if (bench_rtt (nc, RESPONDER_SUBJECT, 2000, &lat, NULL, err) < 0)
      goto out;
  for (int i = 0; i < n; i++)
    {
      if (bench_rtt (nc, RESPONDER_SUBJECT, 2000, &lat, NULL, err) < 0)
        goto out;
      samples_add (out, (double) lat / 1e3);
    }
  rc = 0;
out:
  natsConnection_Destroy (nc);
  proc_kill (pid);
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
