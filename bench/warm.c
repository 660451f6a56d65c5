/* Scenario 1, warm deploy latency: DEPLOY sent -> run_response received, for
 * the idle workload already in the artifact cache, with a full warm pool
 * before every deploy; each deploy is stopped before the next. Floors,
 * measured in the same loop just before each deploy so that they see the
 * same machine: a request/reply to a trivial nats.c responder (SendAsap on
 * both sides), posix_spawn+wait of the same executable, and their sum. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "bench/client.h"
#include "bench/proc.h"
#include "bench/responder.h"

#define WARMUP_DEPLOYS 10

struct floors {
  struct responder *resp; /* NULL: no floors in this run */
  char **spawn_argv;
  int rtt_per_deploy;
  struct samples rtt, spawn;
};

/* Deploy+stop n times on a fresh node of the given tier; latencies in µs.
 * Returns -1 with err; *tier_missing is set when the node refuses the tier
 * or cannot fill its pool with it. */
static int
run_tier (struct bench *b, const char *tier, int n, struct floors *fl, struct samples *lat,
          long *misses, bool *tier_missing, struct nxerr *err)
{
  struct bench_node nd;
  natsConnection *nc = NULL;
  char *cfg = bench_node_config (b, tier, b->o.pool_size);
  char hex[65];
  char *env = NULL;
  struct pool_state before, after;
  struct samples untimed = { 0 };
  int rc = -1;

  *tier_missing = false;
  if (node_start (b, &nd, cfg, true, err) < 0)
    {
      free (cfg);
      /* The node refuses the tier at start, or its agents do at spawn. */
      *tier_missing = strstr (err->msg, "refill failing") != NULL
                      || strstr (err->msg, "sandbox") != NULL;
      return -1;
    }
  free (cfg);
  if (bench_connect (b->nats->url, "nexc-bench-warm", &nc, err) < 0
      || bench_upload_file (nc, "idle", b->idle_bin, hex, err) < 0
      || (env = bench_seal_env (b, &nd, NULL, err)) == NULL)
    goto out;
  {
    struct deploy_spec spec = { .prefix = "warm", .key = "idle", .hash = hex, .sealed_env = env };
    for (int i = 0; i < WARMUP_DEPLOYS + n; i++)
      {
        struct deployed d;
        char *payload = NULL;
        uint64_t ns = 0;
        int sent;
        bool timed = i >= WARMUP_DEPLOYS;
        if (bench_wait_pool_full (nc, &nd, 10000, err) < 0)
          goto out;
        if (i == WARMUP_DEPLOYS && bench_pool_state (nc, &nd, &before, err) < 0)
          goto out;
        if (fl && fl->resp)
          {
            for (int k = 0; k < fl->rtt_per_deploy; k++)
              if (responder_rtt (fl->resp, timed ? &fl->rtt : &untimed, err) < 0)
                goto out;
            if (timed && floor_spawn_once (fl->spawn_argv, &fl->spawn, err) < 0)
              goto out;
          }
        if (bench_deploy_payload (b, &nd, &spec, &d, &payload, err) < 0)
          goto out;
        sent = bench_deploy_send (nc, &nd, payload, &d, 10000, &ns, err);
        free (payload);
        if (sent < 0 || bench_stop (b, nc, &nd, &d, 10000, NULL, err) < 0)
          goto out;
        if (timed)
          samples_add (lat, (double) ns / 1e3);
      }
  }
  if (bench_pool_state (nc, &nd, &after, err) < 0)
    goto out;
  *misses = after.misses - before.misses;
  rc = 0;
out:
  if (rc < 0)
    node_explain (&nd, err);
  samples_free (&untimed);
  free (env);
  natsConnection_Destroy (nc);
  node_stop (&nd, 10000);
  return rc;
}

void
scenario_warm (struct bench *b)
{
  struct row *none = report_row (b->report, "warm.none");
  struct row *proc = report_row (b->report, "warm.process");
  struct row *rtt = report_row (b->report, "warm.floor.rtt");
  struct row *spawn = report_row (b->report, "warm.floor.spawn");
  struct row *sum = report_row (b->report, "warm.floor.sum");
  struct samples s_none = { 0 }, s_proc = { 0 };
  struct summary f_rtt, f_spawn, w;
  struct nxerr err = { 0 };
  char *spawn_argv[] = { b->idle_bin, (char *) "exit", NULL };
  struct floors fl = { .spawn_argv = spawn_argv };
  double floor_p50;
  long misses = 0;
  bool missing;

  row_what (none, "warm deploy latency, tier none (DEPLOY -> run_response)");
  row_what (proc, "warm deploy latency, tier process");
  row_what (rtt, "floor: NATS request/reply to a trivial nats.c responder (SendAsap)");
  row_what (spawn, "floor: posix_spawn+wait of the same executable");
  row_what (sum, "floor: round trip + spawn");

  fl.rtt_per_deploy = b->o.floor_rtt_n / b->o.warm_n;
  if (fl.rtt_per_deploy < 1)
    fl.rtt_per_deploy = 1;
  if (floor_spawn (spawn_argv, 0, &fl.spawn, &err) < 0 /* page cache warm-up only */
      || responder_start (b, &fl.resp, &err) < 0)
    {
      row_fail (rtt, "%s", err.msg);
      row_fail (spawn, "%s", err.msg);
    }
  bench_progress ("warm: tier none, %d deploys (pool %d), each after %d round trip(s) to a "
                  "responder and one spawn",
                  b->o.warm_n, b->o.pool_size, fl.rtt_per_deploy);
  if (run_tier (b, "none", b->o.warm_n, fl.resp ? &fl : NULL, &s_none, &misses, &missing, &err)
      < 0)
    row_fail (none, "%s", err.msg);
  responder_stop (fl.resp);
  f_rtt = samples_summary (&fl.rtt);
  f_spawn = samples_summary (&fl.spawn);
  row_latency (rtt, &f_rtt);
  row_latency (spawn, &f_spawn);
  floor_p50 = f_rtt.p50 + f_spawn.p50;
  row_result (sum, "p50 %.3f ms (sum of the two medians)", floor_p50 / 1e3);
  row_num (sum, "p50_ms", floor_p50 / 1e3);
  if (f_rtt.n == 0 || f_spawn.n == 0)
    row_fail (sum, "a floor was not measured");

  w = samples_summary (&s_none);
  row_latency (none, &w);
  b->warm_none_p50_us = w.p50;
  row_num (none, "pool_misses", (double) misses);
  row_floor (none, "%.3f ms (warm.floor.sum)", floor_p50 / 1e3);
  if (w.n > 0 && floor_p50 > 0)
    {
      double r50 = w.p50 / floor_p50, r99 = w.p99 / floor_p50;
      row_ratio (none, "p50 %.2fx, p99 %.2fx", r50, r99);
      row_num (none, "ratio_p50", r50);
      row_num (none, "ratio_p99", r99);
      /* Issue #16: the ratio to the floor of the same run is what counts. */
      row_target (none, "p50 <= 1.2x floor sum", r50 <= 1.2 ? VERDICT_MET : VERDICT_MISSED);
    }
  if (misses)
    row_fail (none, "%ld pool misses during warm deploys", misses);
  samples_free (&s_none);

  bench_progress ("warm: tier process (probe)");
  if (run_tier (b, "process", b->o.warm_n, NULL, &s_proc, &misses, &missing, &err) < 0)
    {
      if (missing)
        {
          row_result (proc, "n/a (sandbox tier not implemented)");
          row_str (proc, "why", err.msg);
        }
      else
        row_fail (proc, "%s", err.msg);
    }
  else
    {
      w = samples_summary (&s_proc);
      row_latency (proc, &w);
      row_floor (proc, "%.3f ms (warm.floor.sum)", floor_p50 / 1e3);
      if (floor_p50 > 0 && w.n > 0)
        {
          row_ratio (proc, "p50 %.2fx, p99 %.2fx", w.p50 / floor_p50, w.p99 / floor_p50);
          row_num (proc, "ratio_p50", w.p50 / floor_p50);
          row_target (proc, "p50 <= 1.3x floor sum",
                      w.p50 / floor_p50 <= 1.3 ? VERDICT_MET : VERDICT_MISSED);
        }
    }
  samples_free (&s_proc);
  samples_free (&fl.rtt);
  samples_free (&fl.spawn);
}
