/* nexc-bench-idle: the benchmark's workload.
 *
 * Without arguments it waits for a signal: SIGTERM's default action ends it,
 * so a STOP ends it at once. With the single argument "exit" it returns 0 at
 * once, which is what the posix_spawn+wait floor runs. Linked statically
 * (bench/CMakeLists.txt) so that starting it costs an exec, not a dynamic
 * link. */
#include <string.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  if (argc > 1 && strcmp (argv[1], "exit") == 0)
    return 0;
  for (;;)
    pause ();
}
