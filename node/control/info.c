#include "node/control/info.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/control/metrics.h"
#include "node/core/node.h"
#include "node/workload/trigger.h"
#include "node/workload/workload.h"

/* INFO lists every workload in one reply: descriptions are cut there. */
#define INFO_DESCRIPTION_MAX 256

/* Everything an entry is made from that can change while the workload
 * lives; the rest (id, names, type, description) is fixed at deploy. */
struct info_key {
  uint64_t uptime_s; /* UINT64_MAX: not started */
  uint64_t log_seq, log_bytes, log_dropped;
  uint64_t cpu_ticks, mem_bytes, mem_peak_bytes;
  double cpu_rate;
  uint32_t pids, restarts;
  int state;
  bool has_fn;
  struct fn_stats fn;
  char hash[65];
};

/* One allocation, so workload_free frees it with free(). */
struct info_entry {
  struct info_key key;
  size_t len;
  char json[];
};

static void
key_of (const struct workload *wl, uint64_t now_ns, struct info_key *k)
{
  memset (k, 0, sizeof *k); /* padding too: keys are compared with memcmp */
  k->uptime_s = wl->started_mono_ns ? (now_ns - wl->started_mono_ns) / 1000000000ull
                                    : UINT64_MAX;
  k->log_seq = wl->log.seq;
  k->log_bytes = wl->log.bytes;
  k->log_dropped = wl->log.dropped;
  k->cpu_ticks = wl->cpu_ticks;
  k->mem_bytes = wl->mem_bytes;
  k->mem_peak_bytes = wl->mem_peak_bytes;
  k->cpu_rate = wl->cpu_rate;
  k->pids = wl->pids;
  k->restarts = wl->restarts;
  k->state = (int) wl->state;
  k->has_fn = trigger_stats (wl, &k->fn);
  memcpy (k->hash, wl->hash, sizeof k->hash);
}

static void
jsonw_strn_key_bounded (struct jsonw *w, const char *key, const char *s, size_t max)
{
  size_t n = strlen (s);
  jsonw_key (w, key);
  jsonw_strn (w, s, n < max ? n : max);
}

/* INFO's runtime: total execution time for a function (§1.4 rule for
 * v8/wasm), the uptime for others. */
static void
fn_runtime (const struct info_key *k, const char *uptime, char *out, size_t cap)
{
  uint64_t ns = k->fn.runtime_ns;
  if (!k->has_fn)
    snprintf (out, cap, "%s", uptime);
  else if (ns < 1000)
    snprintf (out, cap, "%" PRIu64 "ns", ns);
  else if (ns < 1000000000ull)
    snprintf (out, cap, "%" PRIu64 "ms", ns / 1000000);
  else
    timefmt_uptime (out, cap, ns / 1000000000ull);
}

/* INFO's "function" object (our extension; nothing for other workloads). */
static void
fn_write_info (const struct workload *w, const struct info_key *k, struct jsonw *j)
{
  const struct fn_stats *fn = &k->fn;
  if (!k->has_fn)
    return;
  jsonw_key (j, "function");
  jsonw_obj_begin (j);
  jsonw_key (j, "trigger_subjects");
  jsonw_arr_begin (j);
  for (size_t i = 0; w->req && i < w->req->n_triggers; i++)
    jsonw_str (j, w->req->trigger_subjects[i]);
  jsonw_arr_end (j);
  jsonw_kint (j, "invocations", (int64_t) (fn->ok + fn->failed));
  jsonw_kint (j, "succeeded", (int64_t) fn->ok);
  jsonw_kint (j, "failed", (int64_t) fn->failed);
  jsonw_kint (j, "runtime_ns", (int64_t) fn->runtime_ns);
  jsonw_kint (j, "running", (int64_t) fn->running);
  jsonw_kint (j, "queued", (int64_t) fn->queued);
  jsonw_obj_end (j);
}

static void
write_machine (struct jsonw *w, const struct workload *wl, const struct info_key *k)
{
  char up[TIMEFMT_UPTIME_MAX];
  char rt[TIMEFMT_UPTIME_MAX + 8];
  if (k->uptime_s != UINT64_MAX)
    timefmt_uptime (up, sizeof up, k->uptime_s);
  else
    snprintf (up, sizeof up, "unknown");
  jsonw_obj_begin (w);
  jsonw_kstr (w, "id", wl->id);
  /* Nex always said true; a workload waiting out its restart backoff is not. */
  jsonw_kbool (w, "healthy", wl->state != WL_RESTARTING);
  jsonw_kstr (w, "uptime", up);
  if (*wl->ns)
    jsonw_kstr (w, "namespace", wl->ns);
  jsonw_key (w, "workload");
  jsonw_obj_begin (w);
  jsonw_kstr (w, "name", wl->name);
  if (wl->description && *wl->description)
    jsonw_strn_key_bounded (w, "description", wl->description, INFO_DESCRIPTION_MAX);
  fn_runtime (k, up, rt, sizeof rt); /* functions: total execution time */
  jsonw_kstr (w, "runtime", rt);
  jsonw_kstr (w, "type", wl->type);
  jsonw_kstr (w, "hash", wl->hash);
  jsonw_obj_end (w);
  /* Our extensions, after Nex's fields (Go clients ignore unknown keys). */
  jsonw_kint (w, "restarts", wl->restarts);
  jsonw_kint (w, "log_lines", (int64_t) wl->log.seq);
  jsonw_kint (w, "log_dropped", (int64_t) wl->log.dropped);
  jsonw_key (w, "metrics");
  metrics_write_workload (wl, w);
  fn_write_info (wl, k, w);
  jsonw_obj_end (w);
}

/* wl's entry, encoded again only when one of its inputs moved. */
static const struct info_entry *
entry_of (struct workload *wl, uint64_t now_ns)
{
  struct info_entry *e = wl->info;
  struct info_key k;
  key_of (wl, now_ns, &k);
  if (e == NULL || memcmp (&e->key, &k, sizeof k) != 0)
    {
      cleanup_buf struct buf b = BUF_INIT;
      struct jsonw j;
      jsonw_init (&j, &b);
      write_machine (&j, wl, &k);
      e = xrealloc (wl->info, sizeof *e + b.len);
      e->key = k;
      e->len = b.len;
      memcpy (e->json, b.data, b.len);
      wl->info = e;
    }
  return e;
}

void
info_write_machines (struct node *n, const char *ns, struct jsonw *w)
{
  uint64_t now = timefmt_mono_ns ();
  jsonw_arr_begin (w);
  for (struct workload *wl = workload_oldest (n); wl; wl = wl->prev)
    if ((wl->state == WL_RUNNING || wl->state == WL_STOPPING || wl->state == WL_RESTARTING)
        && strcasecmp (wl->ns, ns) == 0)
      {
        const struct info_entry *e = entry_of (wl, now);
        jsonw_raw (w, e->json, e->len);
      }
  jsonw_arr_end (w);
}
