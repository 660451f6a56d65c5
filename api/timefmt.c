#include "api/timefmt.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void
timefmt_uptime (char *out, size_t n, uint64_t s)
{
  uint64_t m = s / 60, h = m / 60, d = h / 24, y = d / 365;
  if (y > 0)
    snprintf (out, n, "%" PRIu64 "y%" PRIu64 "d%" PRIu64 "h%" PRIu64 "m%" PRIu64 "s", y, d % 365,
              h % 24, m % 60, s % 60);
  else if (d > 0)
    snprintf (out, n, "%" PRIu64 "d%" PRIu64 "h%" PRIu64 "m%" PRIu64 "s", d, h % 24, m % 60, s % 60);
  else if (h > 0)
    snprintf (out, n, "%" PRIu64 "h%" PRIu64 "m%" PRIu64 "s", h, m % 60, s % 60);
  else if (m > 0)
    snprintf (out, n, "%" PRIu64 "m%" PRIu64 "s", m, s % 60);
  else
    snprintf (out, n, "%" PRIu64 "s", s);
}

void
timefmt_rfc3339 (char *out, size_t n, struct timespec ts)
{
  struct tm tm;
  char frac[16];
  size_t len;
  gmtime_r (&ts.tv_sec, &tm);
  len = strftime (out, n, "%Y-%m-%dT%H:%M:%S", &tm);
  if (ts.tv_nsec > 0)
    {
      int k;
      snprintf (frac, sizeof frac, ".%09ld", ts.tv_nsec);
      for (k = (int) strlen (frac) - 1; k > 0 && frac[k] == '0'; k--)
        frac[k] = '\0';
      snprintf (out + len, n - len, "%sZ", frac);
    }
  else
    snprintf (out + len, n - len, "Z");
}

uint64_t
timefmt_mono_ns (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000ull + (uint64_t) ts.tv_nsec;
}

struct timespec
timefmt_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_REALTIME, &ts);
  return ts;
}
