/* Scenario 4, log throughput: one workload (examples/hog, MODE=flood) writes
 * LINES numbered lines of 100 bytes as fast as it can; a subscriber on
 * $NEX.logs.default.> counts what arrives, checks Nexc-Seq (gaps, repeats)
 * and adds up the drop records (header Nexc-Dropped: FIRST-LAST). Twice:
 * under the default policy (block: nothing may be lost) and under
 * drop_oldest (losses must all be reported). The time is from the first
 * write (hog's line 1 carries its CLOCK_MONOTONIC) to the last line
 * received. Floor: a nats.c publisher (default options) publishing the same
 * messages (same subject shape, body and header) to the same kind of
 * subscriber, timed from its first publish to the last line received. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/buf.h"
#include "api/jsonw.h"
#include "bench/bench.h"
#include "bench/client.h"
#include "bench/proc.h"

#define LINE_LEN 100

struct sink {
  pthread_mutex_t mu;
  long received;      /* lines (messages with Nexc-Seq) */
  long distinct;      /* of which new numbers: repeats dropped, as a consumer would */
  long long last_seq;
  long long gaps;     /* sequence numbers skipped */
  long long reorders; /* a sequence number at or below the last one */
  long drop_records;
  long long reported; /* lines the drop records name */
  uint64_t first_ns, last_ns;
  uint64_t first_write_ns; /* hog's line 1: t=<CLOCK_MONOTONIC ns> */
};

/* "FIRST-LAST" -> how many. */
static long long
range_count (const char *v)
{
  char *end;
  long long a = strtoll (v, &end, 10), b;
  if (*end != '-')
    return 0;
  b = strtoll (end + 1, NULL, 10);
  return b >= a ? b - a + 1 : 0;
}

static uint64_t
first_write_of (natsMsg *msg)
{
  const char *d = natsMsg_GetData (msg);
  const char *t = d ? memmem (d, (size_t) natsMsg_GetDataLength (msg), " t=", 3) : NULL;
  return t ? strtoull (t + 3, NULL, 10) : 0;
}

static void
on_line (natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
  struct sink *s = closure;
  uint64_t now = bench_now_ns ();
  const char *v = NULL;
  long long seq = -1, dropped = -1;
  uint64_t t0 = 0;
  (void) nc;
  (void) sub;
  if (natsMsgHeader_Get (msg, "Nexc-Dropped", &v) == NATS_OK && v)
    dropped = range_count (v);
  else if (natsMsgHeader_Get (msg, "Nexc-Seq", &v) == NATS_OK && v)
    seq = atoll (v);
  if (seq == 1)
    t0 = first_write_of (msg);
  natsMsg_Destroy (msg);
  pthread_mutex_lock (&s->mu);
  if (dropped >= 0)
    {
      s->drop_records++;
      s->reported += dropped;
      pthread_mutex_unlock (&s->mu);
      return;
    }
  if (s->received++ == 0)
    s->first_ns = now;
  s->last_ns = now;
  if (t0)
    s->first_write_ns = t0;
  if (seq > s->last_seq + 1)
    s->gaps += seq - s->last_seq - 1;
  else if (seq <= s->last_seq)
    s->reorders++;
  if (seq > s->last_seq)
    {
      s->last_seq = seq;
      s->distinct++;
    }
  pthread_mutex_unlock (&s->mu);
}

static void
sink_snapshot (struct sink *s, struct sink *out)
{
  pthread_mutex_lock (&s->mu);
  *out = *s;
  pthread_mutex_unlock (&s->mu);
}

static int
subscribe (natsConnection *nc, const char *subject, struct sink *s, natsSubscription **sub,
           struct nxerr *err)
{
  memset (s, 0, sizeof *s);
  pthread_mutex_init (&s->mu, NULL);
  if (natsConnection_Subscribe (sub, nc, subject, on_line, s) != NATS_OK
      || natsSubscription_SetPendingLimits (*sub, -1, -1) != NATS_OK
      || natsConnection_Flush (nc) != NATS_OK)
    return nxerr_set (err, EIO, "subscribe %s", subject);
  return 0;
}

/* Wait until nothing new arrived for quiet_ms (or timeout_ms in all). */
static void
wait_quiet (struct sink *s, int quiet_ms, int timeout_ms)
{
  uint64_t deadline = bench_now_ns () + (uint64_t) timeout_ms * 1000000ull;
  long last = -1;
  while (bench_now_ns () < deadline)
    {
      struct sink snap;
      sink_snapshot (s, &snap);
      if (snap.received == last)
        return;
      last = snap.received;
      bench_sleep_ms (quiet_ms);
    }
}

static void
unsubscribe (natsSubscription *sub)
{
  if (sub == NULL)
    return;
  if (natsSubscription_Drain (sub) == NATS_OK)
    natsSubscription_WaitForDrainCompletion (sub, 5000);
  natsSubscription_Destroy (sub);
}

/* The machine's log_dropped from INFO while it runs (-1 when not listed). */
static long long
machine_dropped (natsConnection *nc, const struct bench_node *nd, const char *id)
{
  char subj[128];
  json_t *d = NULL, *m;
  size_t i;
  long long v = -1;
  struct nxerr err = { 0 };
  snprintf (subj, sizeof subj, "$NEX.INFO.default.%s", nd->node_id);
  if (bench_request (nc, subj, "", 0, 2000, &d, &err) < 0)
    return -1;
  json_array_foreach (json_object_get (d, "machines"), i, m)
  {
    const char *mid = json_string_value (json_object_get (m, "id"));
    if (mid && strcmp (mid, id) == 0)
      v = json_integer_value (json_object_get (m, "log_dropped"));
  }
  json_decref (d);
  return v;
}

struct nexc_result {
  struct sink got;
  long long node_dropped, machine_dropped, node_lines;
  uint64_t reply_ns; /* deploy reply arrival */
};

/* The node's config, with logs.on_full set when policy is given. */
static char *
logs_config (struct bench *b, const char *policy)
{
  char *cfg = bench_node_config (b, "none", b->o.pool_size);
  struct buf out = BUF_INIT;
  if (policy == NULL)
    return cfg;
  /* bench_node_config writes one JSON object: put the key first. */
  buf_printf (&out, "{\"logs\":{\"on_full\":\"%s\"},%s", policy, cfg + 1);
  free (cfg);
  return out.data;
}

static int
run_nexc (struct bench *b, const char *policy, struct nexc_result *res, struct nxerr *err)
{
  struct bench_node nd;
  natsConnection *nc = NULL, *subc = NULL;
  natsSubscription *sub = NULL;
  struct event_watch *ew = NULL;
  struct sink sink;
  struct pool_state ps;
  char *cfg = logs_config (b, policy);
  char hex[65], lines[48];
  const char *env_list[] = { "MODE=flood", lines, NULL };
  char *env = NULL;
  struct deployed d;
  int rc = -1;
  uint64_t deadline;

  memset (res, 0, sizeof *res);
  res->machine_dropped = -1;
  snprintf (lines, sizeof lines, "LINES=%ld", b->o.log_lines);
  if (node_start (b, &nd, cfg, true, err) < 0)
    {
      free (cfg);
      return -1;
    }
  free (cfg);
  if (bench_connect (b->nats->url, "nexc-bench-logs", &nc, err) < 0
      || bench_connect (b->nats->url, "nexc-bench-logsub", &subc, err) < 0
      || subscribe (subc, "$NEX.logs.default.>", &sink, &sub, err) < 0
      || event_watch_new (nc, "workload_stopped", &ew, err) < 0
      || bench_upload_file (nc, "hog", b->hog_bin, hex, err) < 0
      || (env = bench_seal_env (b, &nd, env_list, err)) == NULL)
    goto out;
  {
    struct deploy_spec spec = { .prefix = "flood", .key = "hog", .hash = hex, .sealed_env = env };
    if (bench_deploy (b, nc, &nd, &spec, &d, 10000, NULL, err) < 0)
      goto out;
    res->reply_ns = bench_now_ns ();
  }
  /* Until it ends: poll the machine's own drop counter meanwhile. */
  deadline = bench_now_ns () + 600ull * 1000000000ull;
  while (event_watch_wait (ew, d.id, 100) == 0)
    {
      long long md = machine_dropped (nc, &nd, d.id);
      if (md >= 0)
        res->machine_dropped = md;
      if (bench_now_ns () > deadline)
        {
          nxerr_set (err, ETIMEDOUT, "flood workload did not end within 600 s");
          goto out;
        }
    }
  wait_quiet (&sink, 300, 30000);
  if (bench_pool_state (nc, &nd, &ps, err) < 0)
    goto out;
  res->node_dropped = ps.log_dropped;
  res->node_lines = ps.log_lines;
  sink_snapshot (&sink, &res->got);
  rc = 0;
out:
  if (rc < 0)
    node_explain (&nd, err);
  event_watch_free (ew);
  unsubscribe (sub);
  free (env);
  natsConnection_Destroy (subc);
  natsConnection_Destroy (nc);
  node_stop (&nd, 10000);
  return rc;
}

/* The floor: the same messages from a plain nats.c publisher. */
static int
run_floor (struct bench *b, struct sink *out, double *pub_rate, uint64_t *t0_out,
           struct nxerr *err)
{
  natsConnection *pub = NULL, *subc = NULL;
  natsSubscription *sub = NULL;
  natsOptions *o = NULL;
  struct sink sink;
  const char *subj = "$NEX.logs.default.NFLOOR.floodfloor.floorid0000000000000";
  char pad[LINE_LEN];
  uint64_t t0;
  int rc = -1;
  memset (pad, 'x', sizeof pad);
  if (bench_connect (b->nats->url, "nexc-bench-floorsub", &subc, err) < 0
      || subscribe (subc, "$NEX.logs.default.>", &sink, &sub, err) < 0)
    goto out;
  if (natsOptions_Create (&o) != NATS_OK || natsOptions_SetURL (o, b->nats->url) != NATS_OK
      || natsConnection_Connect (&pub, o) != NATS_OK)
    {
      nxerr_set (err, EIO, "publisher connection");
      goto out;
    }
  t0 = bench_now_ns ();
  *t0_out = t0;
  for (long i = 1; i <= b->o.log_lines; i++)
    {
      cleanup_buf struct buf body = BUF_INIT;
      struct jsonw w;
      char head[32], text[LINE_LEN], seq[24];
      natsMsg *m = NULL;
      int h = snprintf (head, sizeof head, "line %ld ", i);
      snprintf (text, sizeof text, "%s%.*s", head, LINE_LEN - 1 - h, pad);
      jsonw_init (&w, &body);
      jsonw_obj_begin (&w);
      jsonw_kstr (&w, "text", text);
      jsonw_kstr (&w, "level", "INFO");
      jsonw_kstr (&w, "id", "floorid0000000000000");
      jsonw_obj_end (&w);
      snprintf (seq, sizeof seq, "%ld", i);
      if (natsMsg_Create (&m, subj, NULL, body.data, (int) body.len) != NATS_OK
          || natsMsgHeader_Set (m, "Nexc-Seq", seq) != NATS_OK
          || natsConnection_PublishMsg (pub, m) != NATS_OK)
        {
          natsMsg_Destroy (m);
          nxerr_set (err, EIO, "publish line %ld", i);
          goto out;
        }
      natsMsg_Destroy (m);
    }
  natsConnection_Flush (pub);
  *pub_rate = (double) b->o.log_lines / ((double) (bench_now_ns () - t0) / 1e9);
  wait_quiet (&sink, 300, 60000);
  sink_snapshot (&sink, out);
  rc = 0;
out:
  unsubscribe (sub);
  natsConnection_Destroy (pub);
  natsOptions_Destroy (o);
  natsConnection_Destroy (subc);
  return rc;
}

/* Lines delivered per second, from first_ns (first write or publish) to
 * the last line received. */
static double
rate_from (const struct sink *s, uint64_t first_ns)
{
  if (s->distinct < 1 || first_ns == 0 || s->last_ns <= first_ns)
    return 0;
  return (double) s->distinct / ((double) (s->last_ns - first_ns) / 1e9);
}

static double
secs (uint64_t a, uint64_t b)
{
  return b > a ? (double) (b - a) / 1e9 : 0;
}

/* One policy's row: delivered of written, the time, the rate beside the
 * floor's. Met only when every line arrived (and, with min_ratio, fast
 * enough). Returns the lines neither delivered nor reported dropped. */
static long long
report_policy (struct bench *b, struct row *r, const char *policy, const struct nexc_result *res,
               double frate, double min_ratio)
{
  const struct sink *g = &res->got;
  double rate = rate_from (g, g->first_write_ns);
  long long unreported = b->o.log_lines - g->distinct - g->reported;
  bool all = g->distinct == b->o.log_lines;
  char target[96];
  row_result (r, "%ld of %ld delivered in %.3f s (first write -> last line): %.0f lines/s; %lld "
              "reported dropped in %ld records, %lld unreported",
              g->distinct, b->o.log_lines, secs (g->first_write_ns, g->last_ns), rate,
              g->reported, g->drop_records, unreported);
  row_num (r, "lines_per_s", rate);
  row_num (r, "received", (double) g->distinct);
  row_num (r, "written", (double) b->o.log_lines);
  row_num (r, "seconds", secs (g->first_write_ns, g->last_ns));
  row_num (r, "reported_dropped", (double) g->reported);
  row_num (r, "unreported", (double) unreported);
  if (frate > 0)
    {
      row_floor (r, "%.0f lines/s (logs.floor)", frate);
      row_ratio (r, "%.2fx of floor", rate / frate);
      row_num (r, "ratio", rate / frate);
    }
  if (min_ratio > 0)
    {
      snprintf (target, sizeof target, "%s: delivered == written, >= %.1fx floor", policy,
                min_ratio);
      row_target (r, target, all && frate > 0 && rate >= min_ratio * frate ? VERDICT_MET
                                                                           : VERDICT_MISSED);
    }
  else
    {
      snprintf (target, sizeof target, "%s: delivered == written", policy);
      row_target (r, target, all ? VERDICT_MET : VERDICT_MISSED);
    }
  return unreported;
}

void
scenario_logs (struct bench *b)
{
  struct row *r = report_row (b->report, "logs.nexc");
  struct row *rd = report_row (b->report, "logs.drop_oldest");
  struct row *loss = report_row (b->report, "logs.loss");
  struct row *f = report_row (b->report, "logs.floor");
  struct nexc_result res, resd;
  struct sink fl;
  struct nxerr err = { 0 };
  double frate = 0, pub_rate = 0;
  uint64_t t0 = 0;
  long long unrep = 0, unrepd = 0;
  bool ok, okd;

  row_what (r, "one workload writing %ld lines of %d bytes, default policy (block)",
            b->o.log_lines, LINE_LEN);
  row_what (rd, "the same, deploy policy drop_oldest (node config logs.on_full)");
  row_what (loss, "Nexc-Seq gaps and repeats at the subscriber; gaps not named by a drop record");
  row_what (f, "floor: nats.c publisher, same messages, same subscriber");

  bench_progress ("logs: floor publisher, %ld lines", b->o.log_lines);
  if (run_floor (b, &fl, &pub_rate, &t0, &err) < 0)
    row_fail (f, "%s", err.msg);
  else
    {
      frate = rate_from (&fl, t0);
      row_result (f, "%ld of %ld delivered in %.3f s (first publish -> last line): %.0f lines/s "
                  "(published at %.0f/s)",
                  fl.distinct, b->o.log_lines, secs (t0, fl.last_ns), frate, pub_rate);
      row_num (f, "lines_per_s", frate);
      row_num (f, "received", (double) fl.distinct);
      row_num (f, "seconds", secs (t0, fl.last_ns));
      row_num (f, "publish_per_s", pub_rate);
    }

  bench_progress ("logs: flood workload, %ld lines, default policy", b->o.log_lines);
  ok = run_nexc (b, NULL, &res, &err) == 0;
  if (!ok)
    row_fail (r, "%s", err.msg);
  else
    unrep = report_policy (b, r, "block", &res, frate, 0.8);
  bench_progress ("logs: flood workload, %ld lines, drop_oldest", b->o.log_lines);
  okd = run_nexc (b, "drop_oldest", &resd, &err) == 0;
  if (!okd)
    row_fail (rd, "%s", err.msg);
  else
    unrepd = report_policy (b, rd, "drop_oldest", &resd, frate, 0);
  if (!ok || !okd)
    {
      row_fail (loss, "a run failed");
      return;
    }
  row_result (loss,
              "block: gaps %lld, repeats %lld, node-counted drops %lld; drop_oldest: gaps %lld "
              "(%lld named by %ld drop records), repeats %lld, node-counted drops %lld; "
              "unreported %lld / %lld",
              res.got.gaps, res.got.reorders, res.node_dropped, resd.got.gaps, resd.got.reported,
              resd.got.drop_records, resd.got.reorders, resd.node_dropped, unrep, unrepd);
  row_num (loss, "seq_gaps", (double) res.got.gaps);
  row_num (loss, "dropped", (double) res.node_dropped);
  row_num (loss, "drop_oldest_seq_gaps", (double) resd.got.gaps);
  row_num (loss, "drop_oldest_reported", (double) resd.got.reported);
  row_num (loss, "drop_oldest_dropped", (double) resd.node_dropped);
  row_num (loss, "unreported", (double) (unrep + unrepd));
  row_target (loss, "no gap under block; every drop_oldest gap named by a drop record",
              res.got.gaps == 0 && unrep == 0 && unrepd == 0
                      && resd.got.gaps == resd.got.reported
                  ? VERDICT_MET
                  : VERDICT_MISSED);
}
