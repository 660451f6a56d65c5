/* hello_static: the smallest libc program, built static with musl-gcc for
 * test_sandbox (a musl binary in a minimal root). Prints one line, exits 0. */
#include <stdio.h>
#include <unistd.h>

int
main (void)
{
  printf ("hello from pid %d\n", (int) getpid ());
  return 0;
}
