/* crasher: a workload that fails on purpose.
 *
 * Prints "crasher starting", sleeps CRASH_AFTER_MS milliseconds (default
 * 1000) and exits with EXIT_CODE (default 3). Used to exercise exit events
 * and essential-workload restarts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

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

int
main (void)
{
  long after_ms = env_long ("CRASH_AFTER_MS", 1000);
  long code = env_long ("EXIT_CODE", 3);
  struct timespec left = { after_ms / 1000, (after_ms % 1000) * 1000000L };

  setvbuf (stdout, NULL, _IOLBF, 0);
  printf ("crasher starting\n");
  while (nanosleep (&left, &left) < 0 && errno == EINTR)
    ;
  printf ("crasher exiting with %ld\n", code & 0xff);
  return (int) (code & 0xff);
}
