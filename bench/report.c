#include "bench/report.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#include "api/xalloc.h"

#define TEXT_MAX 320

struct row {
  char id[64];
  char what[TEXT_MAX];
  char result[TEXT_MAX];
  char floor[TEXT_MAX];
  char ratio[TEXT_MAX];
  char target[TEXT_MAX];
  enum verdict verdict;
  bool failed, ran;
  json_t *nums; /* owned */
};

struct report {
  struct row **rows;
  size_t n;
  json_t *meta; /* owned */
};

struct report *
report_new (void)
{
  struct report *r = xcalloc (1, sizeof *r);
  r->meta = json_object ();
  return r;
}

void
report_free (struct report *r)
{
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->n; i++)
    {
      json_decref (r->rows[i]->nums);
      free (r->rows[i]);
    }
  free (r->rows);
  json_decref (r->meta);
  free (r);
}

void
report_meta (struct report *r, const char *key, const char *fmt, ...)
{
  char text[1024];
  va_list ap;
  va_start (ap, fmt);
  vsnprintf (text, sizeof text, fmt, ap);
  va_end (ap);
  json_object_set_new (r->meta, key, json_string (text));
}

void
report_meta_num (struct report *r, const char *key, double v)
{
  json_object_set_new (r->meta, key, json_real (v));
}

struct row *
report_row (struct report *r, const char *id)
{
  struct row *w;
  for (size_t i = 0; i < r->n; i++)
    if (strcmp (r->rows[i]->id, id) == 0)
      return r->rows[i];
  w = xcalloc (1, sizeof *w);
  snprintf (w->id, sizeof w->id, "%s", id);
  snprintf (w->result, sizeof w->result, "not run");
  w->verdict = VERDICT_NONE;
  w->nums = json_object ();
  r->rows = xrealloc (r->rows, (r->n + 1) * sizeof *r->rows);
  r->rows[r->n++] = w;
  return w;
}

#define VFORMAT(dst)                                                                              \
  do                                                                                              \
    {                                                                                             \
      va_list ap;                                                                                 \
      va_start (ap, fmt);                                                                         \
      vsnprintf (dst, sizeof dst, fmt, ap);                                                       \
      va_end (ap);                                                                                \
    }                                                                                             \
  while (0)

void
row_what (struct row *w, const char *fmt, ...)
{
  VFORMAT (w->what);
}

void
row_result (struct row *w, const char *fmt, ...)
{
  if (w->failed)
    return;
  VFORMAT (w->result);
  w->ran = true;
}

void
row_latency (struct row *w, const struct summary *s)
{
  row_result (w, "p50 %.3f  p90 %.3f  p99 %.3f  max %.3f ms (n=%zu)", s->p50 / 1e3, s->p90 / 1e3,
              s->p99 / 1e3, s->max / 1e3, s->n);
  row_num (w, "p50_ms", s->p50 / 1e3);
  row_num (w, "p90_ms", s->p90 / 1e3);
  row_num (w, "p99_ms", s->p99 / 1e3);
  row_num (w, "max_ms", s->max / 1e3);
  row_num (w, "min_ms", s->min / 1e3);
  row_num (w, "mean_ms", s->mean / 1e3);
  row_num (w, "n", (double) s->n);
}

void
row_floor (struct row *w, const char *fmt, ...)
{
  VFORMAT (w->floor);
}

void
row_ratio (struct row *w, const char *fmt, ...)
{
  VFORMAT (w->ratio);
}

void
row_target (struct row *w, const char *target, enum verdict v)
{
  snprintf (w->target, sizeof w->target, "%s", target);
  w->verdict = v;
}

void
row_num (struct row *w, const char *key, double v)
{
  json_object_set_new (w->nums, key, json_real (v));
}

void
row_str (struct row *w, const char *key, const char *s)
{
  json_object_set_new (w->nums, key, json_string (s));
}

void
row_fail (struct row *w, const char *fmt, ...)
{
  char why[TEXT_MAX - 16];
  VFORMAT (why);
  if (w->failed)
    return; /* the first reason is the one that matters */
  snprintf (w->result, sizeof w->result, "FAILED: %s", why);
  w->failed = true;
  w->ran = true;
}

bool
row_failed (const struct row *w)
{
  return w->failed;
}

static const char *
verdict_text (enum verdict v)
{
  return v == VERDICT_MET ? "met" : v == VERDICT_MISSED ? "MISSED" : "";
}

static void
target_cell (const struct row *w, char *out, size_t n)
{
  if (w->target[0] == '\0')
    snprintf (out, n, "%s", "");
  else
    snprintf (out, n, "%s: %s", w->target, w->verdict == VERDICT_NONE ? "n/a"
                                                                        : verdict_text (w->verdict));
}

void
report_print (struct report *r, FILE *f, bool markdown)
{
  static const char *const heads[] = { "id", "measurement", "result", "floor", "ratio", "target" };
  size_t width[6];
  for (int c = 0; c < 6; c++)
    width[c] = strlen (heads[c]);
  for (size_t i = 0; i < r->n; i++)
    {
      struct row *w = r->rows[i];
      char tgt[TEXT_MAX + 32];
      const char *cells[6] = { w->id, w->what, w->result, w->floor, w->ratio, tgt };
      target_cell (w, tgt, sizeof tgt);
      for (int c = 0; c < 6; c++)
        if (strlen (cells[c]) > width[c])
          width[c] = strlen (cells[c]);
    }
  if (markdown)
    {
      fprintf (f, "| %s | %s | %s | %s | %s | %s |\n|---|---|---|---|---|---|\n", heads[0],
               heads[1], heads[2], heads[3], heads[4], heads[5]);
      for (size_t i = 0; i < r->n; i++)
        {
          struct row *w = r->rows[i];
          char tgt[TEXT_MAX + 32];
          target_cell (w, tgt, sizeof tgt);
          fprintf (f, "| `%s` | %s | %s | %s | %s | %s |\n", w->id, w->what, w->result, w->floor,
                   w->ratio, tgt);
        }
      return;
    }
  for (int c = 0; c < 6; c++)
    fprintf (f, "%-*s%s", (int) width[c], heads[c], c < 5 ? "  " : "\n");
  for (size_t i = 0; i < r->n; i++)
    {
      struct row *w = r->rows[i];
      char tgt[TEXT_MAX + 32];
      const char *cells[6] = { w->id, w->what, w->result, w->floor, w->ratio, tgt };
      target_cell (w, tgt, sizeof tgt);
      for (int c = 0; c < 6; c++)
        {
          if (c == 5)
            fprintf (f, "%s\n", cells[c]);
          else
            fprintf (f, "%-*s  ", (int) width[c], cells[c]);
        }
    }
}

int
report_write_json (struct report *r, const char *path, struct nxerr *err)
{
  json_t *root = json_deep_copy (r->meta);
  json_t *rows = json_array ();
  int rc;
  for (size_t i = 0; i < r->n; i++)
    {
      struct row *w = r->rows[i];
      json_t *o = json_object ();
      json_object_set_new (o, "id", json_string (w->id));
      json_object_set_new (o, "measurement", json_string (w->what));
      json_object_set_new (o, "result", json_string (w->result));
      json_object_set_new (o, "floor", json_string (w->floor));
      json_object_set_new (o, "ratio", json_string (w->ratio));
      json_object_set_new (o, "target", json_string (w->target));
      json_object_set_new (o, "met", w->verdict == VERDICT_NONE
                                         ? json_null ()
                                         : json_boolean (w->verdict == VERDICT_MET));
      json_object_set_new (o, "failed", json_boolean (w->failed || !w->ran));
      json_object_set (o, "values", w->nums);
      json_array_append_new (rows, o);
    }
  json_object_set_new (root, "rows", rows);
  rc = json_dump_file (root, path, JSON_INDENT (2) | JSON_PRESERVE_ORDER);
  json_decref (root);
  if (rc < 0)
    return nxerr_set (err, EIO, "cannot write %s", path);
  return 0;
}

int
report_count_failed (struct report *r)
{
  int n = 0;
  for (size_t i = 0; i < r->n; i++)
    n += r->rows[i]->failed || !r->rows[i]->ran;
  return n;
}
