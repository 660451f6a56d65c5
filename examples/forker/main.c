/* forker: a workload that is hard to stop.
 *
 * Ignores SIGTERM, forks CHILDREN children (default 3) that ignore SIGTERM
 * too and sleep forever; the first child calls setsid() to leave the process
 * group, so killing the group is not enough. Prints "forker: N children"
 * and then waits forever. Tests use it to check that a stop kills every
 * process of a workload (cgroup kill), not just the one it started. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

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
  if (errno != 0 || *end != '\0' || v < 0 || v > 1024)
    return def;
  return v;
}

int
main (void)
{
  long want = env_long ("CHILDREN", 3);
  long made = 0;

  setvbuf (stdout, NULL, _IOLBF, 0);
  /* SIG_IGN survives fork, so the children ignore SIGTERM as well. */
  signal (SIGTERM, SIG_IGN);

  for (long i = 0; i < want; i++)
    {
      pid_t pid = fork ();
      if (pid < 0)
        {
          perror ("forker: fork");
          break;
        }
      if (pid == 0)
        {
          if (i == 0 && setsid () < 0)
            perror ("forker: setsid");
          for (;;)
            pause ();
        }
      made++;
    }
  printf ("forker: %ld children\n", made);
  for (;;)
    pause ();
}
