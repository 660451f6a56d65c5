/* ticker: a long-running workload that logs on both streams.
 *
 * Prints "tick N" to stdout every TICK_MS milliseconds (default 1000) and,
 * every fifth tick, "warning N" to stderr. On SIGTERM it prints
 * "ticker stopping" and exits 0. With TICKS=N it exits 0 after N ticks.
 * Both streams are line-buffered so each line reaches the node at once. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t stop_requested;

static void
on_term (int sig)
{
  (void) sig;
  stop_requested = 1;
}

/* A non-negative integer from the environment, or def when unset/invalid. */
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
    {
      fprintf (stderr, "ticker: ignoring invalid %s=%s\n", name, s);
      return def;
    }
  return v;
}

int
main (void)
{
  struct sigaction sa;
  long tick_ms = env_long ("TICK_MS", 1000);
  long ticks = env_long ("TICKS", 0); /* 0 = forever */
  struct timespec period = { tick_ms / 1000, (tick_ms % 1000) * 1000000L };

  setvbuf (stdout, NULL, _IOLBF, 0);
  setvbuf (stderr, NULL, _IOLBF, 0);

  /* No SA_RESTART: SIGTERM must interrupt nanosleep. */
  memset (&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigemptyset (&sa.sa_mask);
  sigaction (SIGTERM, &sa, NULL);

  for (long n = 1; !stop_requested; n++)
    {
      struct timespec left = period;
      printf ("tick %ld\n", n);
      if (n % 5 == 0)
        fprintf (stderr, "warning %ld\n", n);
      if (ticks > 0 && n >= ticks)
        return 0;
      /* Sleep the whole period even if another signal interrupts us. */
      while (!stop_requested && nanosleep (&left, &left) < 0 && errno == EINTR)
        ;
    }
  printf ("ticker stopping\n");
  return 0;
}
