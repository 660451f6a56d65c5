/* hog: a workload that exhausts one resource, to test the node's limits.
 *
 * MODE selects the resource:
 *   mem    allocate and touch MB MiB (default 512) in 16 MiB steps, printing
 *          the running total, then sleep until killed;
 *   cpu    spin for SECONDS seconds (default 10), print the iterations;
 *   pids   fork until fork fails, print how many children were made, then
 *          wait until killed (the children pause); as a safety net for runs
 *          outside a pids-limited cgroup it stops at MAX_PIDS (default
 *          10000) children;
 *   flood  write LINES lines (default 1000000) of 100 bytes, numbered,
 *          "line <seq> xxxx...", to stdout as fast as possible, exit 0; the
 *          first one also says when it was written, "line 1 t=<ns> xxx...",
 *          in CLOCK_MONOTONIC nanoseconds (a reader on the same machine can
 *          time the flood from its first write); with HOLD=1 it then
 *          sleeps until killed instead of exiting. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STEP_MIB 16
#define FLOOD_LINE_LEN 100

/* Keep what we took until the node kills us. */
static _Noreturn void
hold_forever (void)
{
  for (;;)
    pause ();
}

static long
env_long (const char *name, long def)
{
  const char *s = getenv (name);
  char *end;
  long v;
  if (s == NULL || *s == '\0')
    return def;
  errno = 0;
  v = strtol (s, &end, 10);
  if (errno != 0 || *end != '\0' || v < 0)
    return def;
  return v;
}

static int
hog_mem (void)
{
  long total = env_long ("MB", 512);
  long done = 0;
  long page = sysconf (_SC_PAGESIZE);
  while (done < total)
    {
      long step = total - done < STEP_MIB ? total - done : STEP_MIB;
      size_t n = (size_t) step * 1024 * 1024;
      char *p = malloc (n);
      if (p == NULL)
        {
          printf ("hog: malloc failed after %ld MiB\n", done);
          return 1;
        }
      /* Touch every page so the memory is really committed (and charged). */
      for (size_t i = 0; i < n; i += (size_t) page)
        p[i] = 1;
      done += step;
      printf ("hog: allocated %ld MiB\n", done);
      /* p is deliberately never freed. */
    }
  printf ("hog: holding %ld MiB\n", done);
  hold_forever ();
}

static int
hog_cpu (void)
{
  long seconds = env_long ("SECONDS", 10);
  struct timespec start, now;
  volatile uint64_t iterations = 0;
  clock_gettime (CLOCK_MONOTONIC, &start);
  for (;;)
    {
      /* Check the clock only now and then so we mostly burn cycles. */
      for (int i = 0; i < 1000000; i++)
        iterations++;
      clock_gettime (CLOCK_MONOTONIC, &now);
      if (now.tv_sec - start.tv_sec >= seconds)
        break;
    }
  printf ("hog: %llu iterations in %ld s\n", (unsigned long long) iterations, seconds);
  return 0;
}

static int
hog_pids (void)
{
  long cap = env_long ("MAX_PIDS", 10000);
  long made = 0;
  while (made < cap)
    {
      pid_t pid = fork ();
      if (pid < 0)
        {
          printf ("hog: fork failed after %ld children: %s\n", made, strerror (errno));
          break;
        }
      if (pid == 0)
        hold_forever ();
      made++;
    }
  printf ("hog: %ld children\n", made);
  hold_forever ();
}

/* flood's output: whole lines in writes of at most PIPE_BUF bytes, which a
 * pipe takes atomically, so the reader never sees half a line waiting for
 * its rest (the agent flushes a partial line after 100 ms: on a loaded
 * machine a stdio buffer boundary inside a line would cut it in two). */
struct flood_out {
  char buf[PIPE_BUF];
  size_t len;
};

static int
flood_flush (struct flood_out *o)
{
  size_t off = 0;
  while (off < o->len)
    {
      ssize_t w = write (STDOUT_FILENO, o->buf + off, o->len - off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return -1; /* stdout is gone */
      off += (size_t) w;
    }
  o->len = 0;
  return 0;
}

static int
flood_line (struct flood_out *o, const char *line, size_t n)
{
  if (o->len + n > sizeof o->buf && flood_flush (o) < 0)
    return -1;
  memcpy (o->buf + o->len, line, n);
  o->len += n;
  return 0;
}

static int
hog_flood (void)
{
  static struct flood_out out;
  long lines = env_long ("LINES", 1000000);
  char pad[FLOOD_LINE_LEN];
  memset (pad, 'x', sizeof pad);
  for (long seq = 1; seq <= lines; seq++)
    {
      char head[64], line[FLOOD_LINE_LEN + 64];
      int h, n;
      if (seq == 1)
        {
          struct timespec ts;
          clock_gettime (CLOCK_MONOTONIC, &ts);
          h = snprintf (head, sizeof head, "line 1 t=%llu ",
                        (unsigned long long) ts.tv_sec * 1000000000ull
                            + (unsigned long long) ts.tv_nsec);
        }
      else
        h = snprintf (head, sizeof head, "line %ld ", seq);
      int fill = FLOOD_LINE_LEN - 1 - h; /* -1 for the newline */
      if (fill < 0)
        fill = 0;
      n = snprintf (line, sizeof line, "%s%.*s\n", head, fill, pad);
      if (flood_line (&out, line, (size_t) n) < 0)
        return 1;
    }
  if (flood_flush (&out) < 0)
    return 1;
  if (env_long ("HOLD", 0) == 1)
    for (;;)
      pause ();
  return 0;
}

int
main (void)
{
  const char *mode = getenv ("MODE");
  if (mode == NULL || *mode == '\0')
    mode = "mem";
  /* Progress lines go out at once; flood is about throughput and writes
   * its own batches of whole lines. setvbuf must precede any output. */
  if (strcmp (mode, "flood") != 0)
    setvbuf (stdout, NULL, _IOLBF, 0); /* flood writes whole lines itself */
  if (strcmp (mode, "mem") == 0)
    return hog_mem ();
  if (strcmp (mode, "cpu") == 0)
    return hog_cpu ();
  if (strcmp (mode, "pids") == 0)
    return hog_pids ();
  if (strcmp (mode, "flood") == 0)
    return hog_flood ();
  fprintf (stderr, "hog: unknown MODE \"%s\" (mem, cpu, pids, flood)\n", mode);
  return 2;
}
