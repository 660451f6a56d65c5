/* Scenario 4, log throughput: one workload (examples/hog, MODE=flood) writes
 * LINES lines of 100 bytes as fast as it can; a subscriber on
 * $NEX.logs.default.> counts what arrives and checks the Nexc-Seq header for
 * gaps. The node reports what it dropped (INFO nexc.log_dropped, and the
 * machine's log_dropped while it runs); whatever is neither received nor
 * reported is unreported loss. Floor: a nats.c publisher (default options)
 * publishing the same messages (same subject shape, body and header) to the
 * same kind of subscriber. */
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
  long received;
  long long last_seq;
  long long gaps;     /* sequence numbers skipped */
  long long reorders; /* a sequence number at or below the last one */
  uint64_t first_ns, last_ns;
};

static void
on_line (natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
  struct sink *s = closure;
  uint64_t now = bench_now_ns ();
  const char *v = NULL;
  long long seq = -1;
  (void) nc;
  (void) sub;
  if (natsMsgHeader_Get (msg, "Nexc-Seq", &v) == NATS_OK && v)
    seq = atoll (v);
  natsMsg_Destroy (msg);
  pthread_mutex_lock (&s->mu);
  if (s->received++ == 0)
    s->first_ns = now;
  s->last_ns = now;
  if (seq > s->last_seq + 1)
    s->gaps += seq - s->last_seq - 1;
  else if (seq <= s->last_seq)
    s->reorders++;
  if (seq > s->last_seq)
    s->last_seq = seq;
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

static int
run_nexc (struct bench *b, struct nexc_result *res, struct nxerr *err)
{
  struct bench_node nd;
  natsConnection *nc = NULL, *subc = NULL;
  natsSubscription *sub = NULL;
  struct event_watch *ew = NULL;
  struct sink sink;
  struct pool_state ps;
  char *cfg = bench_node_config (b, "none", b->o.pool_size);
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
run_floor (struct bench *b, struct sink *out, double *pub_rate, struct nxerr *err)
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

static double
rate_of (const struct sink *s)
{
  if (s->received < 2 || s->last_ns <= s->first_ns)
    return 0;
  return (double) s->received / ((double) (s->last_ns - s->first_ns) / 1e9);
}

void
scenario_logs (struct bench *b)
{
  struct row *r = report_row (b->report, "logs.nexc");
  struct row *loss = report_row (b->report, "logs.loss");
  struct row *f = report_row (b->report, "logs.floor");
  struct nexc_result res;
  struct sink fl;
  struct nxerr err = { 0 };
  double rate = 0, frate = 0, pub_rate = 0;
  long long unreported = 0;
  bool floor_ok;

  row_what (r, "log lines/s received, one workload writing %ld lines of %d bytes",
            b->o.log_lines, LINE_LEN);
  row_what (loss, "log lines dropped (node-reported) / lost (Nexc-Seq gaps) / unreported");
  row_what (f, "floor: nats.c publisher, same messages, same subscriber");

  bench_progress ("logs: floor publisher, %ld lines", b->o.log_lines);
  floor_ok = run_floor (b, &fl, &pub_rate, &err) == 0;
  if (!floor_ok)
    row_fail (f, "%s", err.msg);
  else
    {
      frate = rate_of (&fl);
      row_result (f, "%.0f lines/s received (%ld of %ld; published at %.0f/s)", frate,
                  fl.received, b->o.log_lines, pub_rate);
      row_num (f, "lines_per_s", frate);
      row_num (f, "received", (double) fl.received);
      row_num (f, "publish_per_s", pub_rate);
    }

  bench_progress ("logs: flood workload, %ld lines", b->o.log_lines);
  if (run_nexc (b, &res, &err) < 0)
    {
      row_fail (r, "%s", err.msg);
      row_fail (loss, "%s", err.msg);
      return;
    }
  rate = rate_of (&res.got);
  unreported = b->o.log_lines - res.got.received - res.node_dropped;
  row_result (r, "%.0f lines/s (%ld of %ld received)", rate, res.got.received, b->o.log_lines);
  row_num (r, "lines_per_s", rate);
  row_num (r, "received", (double) res.got.received);
  if (frate > 0)
    {
      row_floor (r, "%.0f lines/s (logs.floor)", frate);
      row_ratio (r, "%.0f%% of floor", 100.0 * rate / frate);
      row_num (r, "ratio", rate / frate);
    }
  row_target (r, ">= 50% of floor, zero unreported loss",
              frate > 0 && rate >= 0.5 * frate && unreported == 0 ? VERDICT_MET : VERDICT_MISSED);
  {
    char mtext[96];
    if (res.machine_dropped < 0)
      snprintf (mtext, sizeof mtext, "ended before the first INFO poll");
    else
      snprintf (mtext, sizeof mtext, "%lld at the last INFO poll while it ran", res.machine_dropped);
    row_result (loss,
                "dropped %lld (node INFO nexc.log_dropped; machine's own counter: %s), Nexc-Seq "
                "gaps %lld, out of order %lld, unreported %lld",
                res.node_dropped, mtext, res.got.gaps, res.got.reorders, unreported);
  }
  row_num (loss, "dropped", (double) res.node_dropped);
  row_num (loss, "machine_dropped_last_seen", (double) res.machine_dropped);
  row_num (loss, "seq_gaps", (double) res.got.gaps);
  row_num (loss, "unreported", (double) unreported);
  row_num (loss, "node_log_lines", (double) res.node_lines);
  row_target (loss, "zero unreported loss", unreported == 0 ? VERDICT_MET : VERDICT_MISSED);
}
