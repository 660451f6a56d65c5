/* stats: latency samples and their summary.
 *
 * Samples are kept whole (a few thousand doubles) and sorted once at the
 * end; percentiles use the nearest-rank rule, so p99 of 500 samples is the
 * 495th smallest and max is the largest one seen. Units are the caller's
 * (the scenarios use microseconds). */
#ifndef NEXC_BENCH_STATS_H
#define NEXC_BENCH_STATS_H

#include <stddef.h>

struct samples {
  double *v;
  size_t n, cap;
  int sorted;
};

struct summary {
  size_t n;
  double p50, p90, p99, max, min, mean;
};

void samples_add (struct samples *s, double x);
void samples_free (struct samples *s);
/* Summary of the samples (zeros when empty). Sorts s. */
struct summary samples_summary (struct samples *s);
/* Nearest-rank percentile q in [0, 100] (sorts s). */
double samples_pct (struct samples *s, double q);

#endif
