#include "bench/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api/xalloc.h"

void
samples_add (struct samples *s, double x)
{
  if (s->n == s->cap)
    {
      s->cap = s->cap ? s->cap * 2 : 256;
      s->v = xrealloc (s->v, s->cap * sizeof *s->v);
    }
  s->v[s->n++] = x;
  s->sorted = 0;
}

void
samples_free (struct samples *s)
{
  free (s->v);
  memset (s, 0, sizeof *s);
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return (x > y) - (x < y);
}

static void
sort (struct samples *s)
{
  if (!s->sorted && s->n > 1)
    qsort (s->v, s->n, sizeof *s->v, cmp_double);
  s->sorted = 1;
}

double
samples_pct (struct samples *s, double q)
{
  size_t rank;
  if (s->n == 0)
    return 0;
  sort (s);
  rank = (size_t) ceil (q / 100.0 * (double) s->n);
  if (rank < 1)
    rank = 1;
  if (rank > s->n)
    rank = s->n;
  return s->v[rank - 1];
}

struct summary
samples_summary (struct samples *s)
{
  struct summary r;
  double sum = 0;
  memset (&r, 0, sizeof r);
  if (s->n == 0)
    return r;
  sort (s);
  for (size_t i = 0; i < s->n; i++)
    sum += s->v[i];
  r.n = s->n;
  r.p50 = samples_pct (s, 50);
  r.p90 = samples_pct (s, 90);
  r.p99 = samples_pct (s, 99);
  r.min = s->v[0];
  r.max = s->v[s->n - 1];
  r.mean = sum / (double) s->n;
  return r;
}
