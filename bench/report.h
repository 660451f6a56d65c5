/* report: the rows of a benchmark run, printed as one table and written as
 * one JSON file.
 *
 * A row is one measurement: an id ("warm.none"), what it measures, the
 * result text, its floor, the ratio to the floor, the target and whether it
 * was met. Every number behind the text also goes into the row's JSON
 * object (row_num). Rows are created up front from the list of ids (so a
 * scenario that dies still leaves its rows, marked), filled by the
 * scenarios, and printed in creation order. */
#ifndef NEXC_BENCH_REPORT_H
#define NEXC_BENCH_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "api/nxerr.h"
#include "bench/stats.h"

struct report;
struct row;

enum verdict { VERDICT_NONE = -1, VERDICT_MISSED = 0, VERDICT_MET = 1 };

struct report *report_new (void);
void report_free (struct report *r);

/* Top-level JSON fields (machine, versions, mode...): key = string value. */
void report_meta (struct report *r, const char *key, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
void report_meta_num (struct report *r, const char *key, double v);

/* The row with this id, created (with result "not run") when new. */
struct row *report_row (struct report *r, const char *id);

void row_what (struct row *w, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
void row_result (struct row *w, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
/* Result text "p50 … p90 … p99 … max … ms (n=…)" from samples in µs, and
 * the numbers (in ms) as JSON fields. */
void row_latency (struct row *w, const struct summary *s);
void row_floor (struct row *w, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
void row_ratio (struct row *w, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
void row_target (struct row *w, const char *target, enum verdict v);
void row_num (struct row *w, const char *key, double v);
void row_str (struct row *w, const char *key, const char *s);
/* Mark failed (result "FAILED: why"); keeps what was measured before. */
void row_fail (struct row *w, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));
bool row_failed (const struct row *w);

/* The table, plain text (columns padded) or Markdown. */
void report_print (struct report *r, FILE *f, bool markdown);
int report_write_json (struct report *r, const char *path, struct nxerr *err);
/* Rows whose result is FAILED or still "not run". */
int report_count_failed (struct report *r);

#endif
