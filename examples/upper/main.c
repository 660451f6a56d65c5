/* upper: a function workload (type "function") for the tests and the
 * benchmark. Reads the whole request payload from stdin and writes it
 * upper-cased to stdout, which becomes the reply. Special payloads:
 *   "fail"   exit 3 (the invocation fails: no reply)
 *   "sleep"  sleep 30 s (runs into the invocation timeout)
 *   "env"    print NEX_TRIGGER_SUBJECT and NEX_HEADER_X_TEST instead
 * A line goes to stderr (a log line) for every invocation. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main (void)
{
  size_t cap = 4096, len = 0;
  char *buf = malloc (cap);
  ssize_t n;
  if (buf == NULL)
    return 1;
  while ((n = read (0, buf + len, cap - len)) > 0)
    {
      len += (size_t) n;
      if (len == cap)
        {
          char *p = realloc (buf, cap * 2);
          if (p == NULL)
            return 1;
          buf = p;
          cap *= 2;
        }
    }
  fprintf (stderr, "upper: %zu bytes on %s\n", len,
           getenv ("NEX_TRIGGER_SUBJECT") ? getenv ("NEX_TRIGGER_SUBJECT") : "?");
  if (len == 4 && memcmp (buf, "fail", 4) == 0)
    {
      free (buf);
      return 3;
    }
  if (len == 5 && memcmp (buf, "sleep", 5) == 0)
    {
      sleep (30);
      return 0;
    }
  if (len == 3 && memcmp (buf, "env", 3) == 0)
    {
      const char *s = getenv ("NEX_TRIGGER_SUBJECT"), *h = getenv ("NEX_HEADER_X_TEST");
      printf ("%s|%s", s ? s : "", h ? h : "");
      free (buf);
      return 0;
    }
  for (size_t i = 0; i < len; i++)
    buf[i] = (char) toupper ((unsigned char) buf[i]);
  fwrite (buf, 1, len, stdout);
  free (buf);
  return 0;
}
