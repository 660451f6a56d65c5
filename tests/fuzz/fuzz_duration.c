/* fuzz_duration: the written form of a span of time (api/duration.c), from
 * config values and command-line flags.
 *
 * Whatever the text, parsing returns or refuses with a message; a refused
 * text leaves the value alone. An accepted one is within the bounds asked
 * for, and its canonical form (duration_format) parses back to the same
 * span: the grammar has one meaning per text. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/duration.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char text[128], canon[DURATION_TEXT_MAX];
  struct nxerr err = { 0 };
  int64_t ms = -7, again = -7, lo = 0, hi = INT64_MAX;
  if (size > sizeof text - 1)
    size = sizeof text - 1;
  memcpy (text, data, size);
  text[size] = '\0';
  /* The first byte, when it is a digit, picks tighter bounds. */
  if (size > 0 && text[0] >= '0' && text[0] <= '9')
    {
      lo = 1000;
      hi = (int64_t) (text[0] - '0' + 1) * 3600000;
    }
  if (duration_parse (text, lo, hi, &ms, &err) < 0)
    {
      if (ms != -7 || err.msg[0] == '\0')
        {
          fprintf (stderr, "nexc-fuzz: refusal changed the value or said nothing: %s\n", err.msg);
          abort ();
        }
      return 0;
    }
  if (ms < lo || ms > hi)
    {
      fprintf (stderr, "nexc-fuzz: \"%s\" accepted as %lld ms outside [%lld, %lld]\n", text,
               (long long) ms, (long long) lo, (long long) hi);
      abort ();
    }
  duration_format (ms, canon);
  if (duration_parse (canon, 0, INT64_MAX, &again, &err) < 0 || again != ms)
    {
      fprintf (stderr, "nexc-fuzz: \"%s\" = %lld ms, formatted \"%s\", read back %lld (%s)\n",
               text, (long long) ms, canon, (long long) again, err.msg);
      abort ();
    }
  return 0;
}
