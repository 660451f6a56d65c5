/* duration: parses and writes the "10m" / "1h30m" form (duration.h). */
#include "api/duration.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct unit {
  const char *name;
  int64_t ms;
};

/* Largest first: groups must come in this order, each unit at most once. */
static const struct unit units[] = {
  { "d", 86400000 }, { "h", 3600000 }, { "m", 60000 }, { "s", 1000 }, { "ms", 1 },
};
#define N_UNITS (sizeof units / sizeof units[0])

/* The unit at *p ("ms" before "m"), its index, or -1. */
static int
unit_at (const char *p, size_t *len)
{
  if (p[0] == 'm' && p[1] == 's')
    {
      *len = 2;
      return 4;
    }
  for (int i = 0; i < 4; i++)
    if (*p == units[i].name[0])
      {
        *len = 1;
        return i;
      }
  return -1;
}

static int
bad (const char *s, int64_t min_ms, int64_t max_ms, struct nxerr *err)
{
  char lo[DURATION_TEXT_MAX], hi[DURATION_TEXT_MAX];
  duration_format (min_ms, lo);
  duration_format (max_ms, hi);
  return nxerr_set (err, EINVAL,
                    "\"%.40s\" is not a duration from %s to %s (a number and a unit: d, h, m, s, "
                    "ms; e.g. 90s, 10m, 2h, 1h30m)",
                    s, lo, hi);
}

int
duration_parse (const char *s, int64_t min_ms, int64_t max_ms, int64_t *ms, struct nxerr *err)
{
  const char *p = s;
  int64_t total = 0;
  int next_unit = 0; /* the smallest index the next group may use */
  if (s == NULL || *s == '\0')
    return bad (s ? s : "", min_ms, max_ms, err);
  while (*p)
    {
      int64_t v = 0;
      int digits = 0, u;
      size_t ulen = 0;
      while (*p >= '0' && *p <= '9')
        {
          /* 12 digits of days is already far past any bound we take */
          if (++digits > 12)
            return bad (s, min_ms, max_ms, err);
          v = v * 10 + (*p++ - '0');
        }
      if (digits == 0 || (u = unit_at (p, &ulen)) < next_unit)
        return bad (s, min_ms, max_ms, err);
      if (v > (INT64_MAX - total) / units[u].ms)
        return bad (s, min_ms, max_ms, err);
      total += v * units[u].ms;
      next_unit = u + 1;
      p += ulen;
    }
  if (total < min_ms || total > max_ms)
    return bad (s, min_ms, max_ms, err);
  *ms = total;
  return 0;
}

void
duration_format (int64_t ms, char out[DURATION_TEXT_MAX])
{
  size_t used = 0;
  if (ms <= 0)
    {
      snprintf (out, DURATION_TEXT_MAX, "0s");
      return;
    }
  out[0] = '\0';
  for (size_t i = 0; i < N_UNITS && ms > 0; i++)
    {
      int64_t v = ms / units[i].ms;
      /* "1500ms", not "1s500ms": below a second, one group */
      if (units[i].ms == 1000 && ms % 1000 != 0)
        continue;
      if (v == 0)
        continue;
      used += (size_t) snprintf (out + used, DURATION_TEXT_MAX - used, "%lld%s", (long long) v,
                                 units[i].name);
      ms -= v * units[i].ms;
      if (used >= DURATION_TEXT_MAX)
        break;
    }
}
