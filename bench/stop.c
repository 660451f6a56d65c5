/* Scenario 7, stop latency: STOP sent -> workload_stopped event received,
 * for examples/ticker (ends on SIGTERM) and examples/forker (ignores it, as
 * do its children: killed when stop_grace_ms is over). The grace period is
 * the node's configuration (reported on its own row) and is subtracted from
 * forker's latency. Floor: the same with no node in between, a NATS round
 * trip (to the trivial responder) plus kill(SIGTERM)+waitpid of a ticker
 * started by the bench; forker's floor adds the grace period. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/client.h"
#include "bench/proc.h"
#include "bench/responder.h"

#define SETTLE_MS 20 /* after the deploy reply: handlers installed, children forked */

static int
floor_term (const char *ticker, int n, struct samples *out, struct nxerr *err)
{
  char *argv[] = { (char *) ticker, NULL };
  char *envp[] = { (char *) "TICK_MS=1000", NULL };
  posix_spawn_file_actions_t fa;
  int rc = 0;
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen (&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  for (int i = 0; i < n && rc == 0; i++)
    {
      pid_t pid;
      int st, r = posix_spawn (&pid, ticker, &fa, NULL, argv, envp);
      uint64_t t0;
      if (r != 0)
        {
          rc = nxerr_sys (err, r, "spawn %s", ticker);
          break;
        }
      bench_sleep_ms (SETTLE_MS);
      t0 = bench_now_ns ();
      kill (pid, SIGTERM);
      while (waitpid (pid, &st, 0) < 0 && errno == EINTR)
        ;
      samples_add (out, (double) (bench_now_ns () - t0) / 1e3);
    }
  posix_spawn_file_actions_destroy (&fa);
  return rc;
}

/* Deploy+stop n times; event latency (µs) into ev, STOP reply into rep. */
static int
stop_series (struct bench *b, natsConnection *nc, const struct bench_node *nd,
             struct event_watch *ew, const char *key, const char *hex, const char *env, int n,
             struct samples *ev, struct samples *rep, struct nxerr *err)
{
  struct deploy_spec spec = { .prefix = key, .key = key, .hash = hex, .sealed_env = env };
  for (int i = 0; i < n; i++)
    {
      struct deployed d;
      uint64_t t0, at, rns;
      if (bench_wait_pool_full (nc, nd, 10000, err) < 0
          || bench_deploy (b, nc, nd, &spec, &d, 10000, NULL, err) < 0)
        return -1;
      bench_sleep_ms (SETTLE_MS);
      if (bench_stop (b, nc, nd, &d, 30000, &rns, err) < 0)
        return -1;
      /* When the STOP went out: bench_stop times its request from after the
       * client signed its JWT, which the floor does not include either. */
      t0 = bench_now_ns () - rns;
      at = event_watch_wait (ew, d.id, 10000);
      if (at == 0)
        return nxerr_set (err, ETIMEDOUT, "no workload_stopped event for %s", d.id);
      samples_add (ev, (double) (at - t0) / 1e3);
      samples_add (rep, (double) rns / 1e3);
    }
  return 0;
}

void
scenario_stop (struct bench *b)
{
  struct row *tick = report_row (b->report, "stop.ticker");
  struct row *fork_ = report_row (b->report, "stop.forker");
  struct row *grace = report_row (b->report, "stop.grace");
  struct row *term = report_row (b->report, "stop.floor.term");
  struct samples s_term = { 0 }, s_rtt = { 0 }, ev_t = { 0 }, rep_t = { 0 }, ev_f = { 0 },
                 rep_f = { 0 }, beyond = { 0 };
  struct summary st, sr, et, ef, rt, rf, bf;
  struct bench_node nd;
  struct nxerr err = { 0 };
  natsConnection *nc = NULL;
  struct event_watch *ew = NULL;
  char *cfg = bench_node_config (b, "none", b->o.pool_size);
  const char *tenv[] = { "TICK_MS=1000", NULL };
  char hex_t[65], hex_f[65];
  char *env_t = NULL, *env_f = NULL;
  double floor_t, gms = b->o.stop_grace_ms * 1e3;

  row_what (tick, "STOP -> workload_stopped, workload exits on SIGTERM (examples/ticker)");
  row_what (fork_, "STOP -> workload_stopped minus grace, workload ignores SIGTERM "
                   "(examples/forker, 3 children)");
  row_what (grace, "grace period (node config stop_grace_ms), excluded above");
  row_what (term, "floor: kill(SIGTERM)+waitpid of a ticker, no node");
  row_result (grace, "%d ms", b->o.stop_grace_ms);
  row_num (grace, "stop_grace_ms", b->o.stop_grace_ms);

  bench_progress ("stop: %d stops each of ticker and forker", b->o.stop_n);
  if (floor_term (b->ticker_bin, b->o.stop_n, &s_term, &err) < 0)
    row_fail (term, "%s", err.msg);
  if (floor_rtt (b, 200, &s_rtt, &err) < 0)
    row_fail (term, "%s", err.msg);
  st = samples_summary (&s_term);
  sr = samples_summary (&s_rtt);
  row_latency (term, &st);
  floor_t = st.p50 + sr.p50;
  row_floor (term, "+ NATS round trip p50 %.3f ms = %.3f ms", sr.p50 / 1e3, floor_t / 1e3);

  if (node_start (b, &nd, cfg, true, &err) < 0)
    {
      free (cfg);
      row_fail (tick, "%s", err.msg);
      row_fail (fork_, "%s", err.msg);
      goto out;
    }
  free (cfg);
  if (bench_connect (b->nats->url, "nexc-bench-stop", &nc, &err) < 0
      || event_watch_new (nc, "workload_stopped", &ew, &err) < 0
      || bench_upload_file (nc, "ticker", b->ticker_bin, hex_t, &err) < 0
      || bench_upload_file (nc, "forker", b->forker_bin, hex_f, &err) < 0
      || (env_t = bench_seal_env (b, &nd, tenv, &err)) == NULL
      || (env_f = bench_seal_env (b, &nd, NULL, &err)) == NULL)
    {
      row_fail (tick, "%s", err.msg);
      row_fail (fork_, "%s", err.msg);
      goto stop_node;
    }
  if (stop_series (b, nc, &nd, ew, "ticker", hex_t, env_t, b->o.stop_n, &ev_t, &rep_t, &err) < 0)
    {
      node_explain (&nd, &err);
      row_fail (tick, "%s", err.msg);
    }
  if (stop_series (b, nc, &nd, ew, "forker", hex_f, env_f, b->o.stop_n, &ev_f, &rep_f, &err) < 0)
    {
      node_explain (&nd, &err);
      row_fail (fork_, "%s", err.msg);
    }
  for (size_t i = 0; i < ev_f.n; i++)
    samples_add (&beyond, ev_f.v[i] - gms);
  et = samples_summary (&ev_t);
  ef = samples_summary (&ev_f);
  bf = samples_summary (&beyond);
  rt = samples_summary (&rep_t);
  rf = samples_summary (&rep_f);
  row_latency (tick, &et);
  row_num (tick, "stop_reply_p50_ms", rt.p50 / 1e3);
  row_latency (fork_, &bf);
  row_num (fork_, "with_grace_p50_ms", ef.p50 / 1e3);
  row_num (fork_, "stop_reply_p50_ms", rf.p50 / 1e3);
  row_floor (tick, "%.3f ms (stop.floor.term + round trip)", floor_t / 1e3);
  row_floor (fork_, "%.3f ms (same, after the grace)", floor_t / 1e3);
  if (floor_t > 0 && et.n)
    {
      row_ratio (tick, "p50 %.2fx", et.p50 / floor_t);
      row_num (tick, "ratio_p50", et.p50 / floor_t);
      row_target (tick, "p50 <= 2x floor", et.p50 <= 2 * floor_t ? VERDICT_MET : VERDICT_MISSED);
    }
  if (floor_t > 0 && bf.n)
    row_ratio (fork_, "p50 %.2fx (%.1f ms with grace)", bf.p50 / floor_t, ef.p50 / 1e3);
stop_node:
  event_watch_free (ew);
  natsConnection_Destroy (nc);
  node_stop (&nd, 10000);
out:
  free (env_t);
  free (env_f);
  samples_free (&s_term);
  samples_free (&s_rtt);
  samples_free (&ev_t);
  samples_free (&rep_t);
  samples_free (&ev_f);
  samples_free (&rep_f);
  samples_free (&beyond);
}
