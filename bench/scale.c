/* Scenarios 5 and 6, memory and scale, on one node ramped from 0 to 100 to
 * 1,000 running workloads (/bin/sleep uploaded as the artifact, argv
 * ["1000"]).
 *
 * Memory: RSS (and PSS, USS from smaps_rollup) of the idle node, of each warm
 * agent, of each agent running a workload, and of the node with the top
 * count running. Scale: PING and INFO request/reply p50 at each level, and
 * deploy latency (deploy + stop, pool full before each) at 0 and at the top.
 * When a ramp cannot reach its count, the rows say how far it got and the
 * error that stopped it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "api/buf.h"
#include "bench/bench.h"
#include "bench/client.h"
#include "bench/proc.h"

struct agent_mem {
  size_t idle, running;        /* agents counted */
  struct mem_usage idle_sum, running_sum;
};

static void
add_mem (struct mem_usage *sum, const struct mem_usage *m)
{
  sum->rss_kb += m->rss_kb;
  sum->pss_kb += m->pss_kb;
  sum->uss_kb += m->uss_kb;
}

/* Memory of the node's agents, split by whether they run a workload (have a
 * child). */
static void
agents_mem (pid_t node, struct agent_mem *am)
{
  struct proc_ent *t = NULL;
  size_t n = proc_table (&t);
  memset (am, 0, sizeof *am);
  for (size_t i = 0; i < n; i++)
    {
      struct mem_usage m;
      bool busy = false;
      if (t[i].ppid != node || proc_mem (t[i].pid, &m) < 0)
        continue;
      for (size_t j = 0; j < n && !busy; j++)
        busy = t[j].ppid == t[i].pid;
      if (busy)
        {
          am->running++;
          add_mem (&am->running_sum, &m);
        }
      else
        {
          am->idle++;
          add_mem (&am->idle_sum, &m);
        }
    }
  free (t);
}

static void
mem_row (struct row *r, const struct mem_usage *sum, size_t n, const char *unit)
{
  double k = n ? (double) n : 1;
  row_result (r, "RSS %.0f KiB, PSS %.0f KiB, USS %.0f KiB %s (%zu measured)",
              (double) sum->rss_kb / k, (double) sum->pss_kb / k, (double) sum->uss_kb / k, unit,
              n);
  row_num (r, "rss_kib", (double) sum->rss_kb / k);
  row_num (r, "pss_kib", (double) sum->pss_kb / k);
  row_num (r, "uss_kib", (double) sum->uss_kb / k);
  row_num (r, "count", (double) n);
}

/* Time one pass over /proc/<pid>/stat of every process (what the node's
 * metrics sampler does every metrics_interval_ms, and the agent's kill-tree
 * per round), in µs; *procs gets the process count. */
static double
procscan_us (size_t *procs)
{
  struct proc_ent *t = NULL;
  uint64_t t0 = bench_now_ns ();
  *procs = proc_table (&t);
  free (t);
  return (double) (bench_now_ns () - t0) / 1e3;
}

/* p50 of n round trips on subject (µs samples into s). */
static int
rtt_p50 (natsConnection *nc, const char *subject, int n, struct samples *s, size_t *len,
         struct nxerr *err)
{
  for (int i = 0; i < n; i++)
    {
      uint64_t ns;
      if (bench_rtt (nc, subject, 10000, &ns, len, err) < 0)
        return -1;
      samples_add (s, (double) ns / 1e3);
    }
  return 0;
}

static int
deploy_latency (struct bench *b, natsConnection *nc, const struct bench_node *nd,
                const struct deploy_spec *spec, int n, struct samples *s, struct nxerr *err)
{
  for (int i = 0; i < n; i++)
    {
      struct deployed d;
      char *payload = NULL;
      uint64_t ns;
      int rc;
      if (bench_wait_pool_full (nc, nd, 30000, err) < 0
          || bench_deploy_payload (b, nd, spec, &d, &payload, err) < 0)
        return -1;
      rc = bench_deploy_send (nc, nd, payload, &d, 30000, &ns, err);
      free (payload);
      if (rc < 0 || bench_stop (b, nc, nd, &d, 30000, NULL, err) < 0)
        return -1;
      samples_add (s, (double) ns / 1e3);
    }
  return 0;
}

#define SCALE_METRICS_MS 1000 /* see scale_config */

/* A node at 1,000 workloads publishes their metrics every interval: the
 * scenario lasts ~5 s, the default interval, so it would often see none.
 * At 1 s the rows at 1,000 workloads run beside sweeps (one held the loop
 * for 58-74 ms before the sweep went out in slices). The key goes first:
 * bench_node_config writes one JSON object. */
static char *
scale_config (struct bench *b)
{
  char *cfg = bench_node_config (b, "none", b->o.pool_size);
  struct buf out = BUF_INIT;
  buf_printf (&out, "{\"metrics_interval_ms\":%d,%s", SCALE_METRICS_MS, cfg + 1);
  free (cfg);
  return out.data;
}

void
scenario_scale (struct bench *b)
{
  const int *lv = b->o.scale_levels;
  const int top = lv[BENCH_SCALE_LEVELS - 1];
  char id[64], ping_subj[128], info_subj[128], hex[65];
  struct row *node_idle = report_row (b->report, "mem.node.idle");
  struct row *agent_warm = report_row (b->report, "mem.agent.warm");
  struct row *agent_run = report_row (b->report, "mem.agent.running");
  struct row *node_top, *dep0, *deptop, *scan;
  double scan0_us = 0;
  size_t scan0_procs = 0;
  struct row *ping[BENCH_SCALE_LEVELS], *info[BENCH_SCALE_LEVELS];
  struct bench_node nd;
  struct nxerr err = { 0 };
  natsConnection *nc = NULL;
  char *cfg = scale_config (b);
  char *env = NULL;
  const char *sleep_argv[] = { "1000", NULL };
  struct deploy_spec spec = { .prefix = "s", .key = "sleep", .argv = sleep_argv };
  struct mem_usage idle_mem = { 0 }, top_mem = { 0 };
  struct agent_mem am;
  double ping0 = 0, info0 = 0, dep0_p50 = 0, dep0_p99 = 0;
  int running = 0;
  char stopped_by[NXERR_MSG_MAX] = "";
  struct rlimit nofile, nproc;

  snprintf (id, sizeof id, "mem.node.w%d", top);
  node_top = report_row (b->report, id);
  dep0 = report_row (b->report, "scale.deploy.w0");
  snprintf (id, sizeof id, "scale.deploy.w%d", top);
  deptop = report_row (b->report, id);
  snprintf (id, sizeof id, "scale.procscan.w%d", top);
  scan = report_row (b->report, id);
  row_what (scan, "one scan of /proc/*/stat with %d workloads running (node metrics sampler, "
                  "agent kill-tree round)",
            top);
  for (int i = 0; i < BENCH_SCALE_LEVELS; i++)
    {
      snprintf (id, sizeof id, "scale.ping.w%d", lv[i]);
      ping[i] = report_row (b->report, id);
      row_what (ping[i], "PING request/reply with %d workloads running", lv[i]);
      snprintf (id, sizeof id, "scale.info.w%d", lv[i]);
      info[i] = report_row (b->report, id);
      row_what (info[i], "INFO request/reply with %d workloads running", lv[i]);
    }
  row_what (node_idle, "node memory, idle (pool %d warm, no workload)", b->o.pool_size);
  row_what (agent_warm, "memory per warm agent (nexc-agent, no workload)");
  row_what (agent_run, "memory per agent running a workload (the workload itself excluded)");
  row_what (node_top, "node memory with %d workloads running", top);
  row_what (dep0, "deploy latency with 0 workloads running (deploy+stop, pool full)");
  row_what (deptop, "deploy latency with %d workloads running", top);

  getrlimit (RLIMIT_NOFILE, &nofile);
  getrlimit (RLIMIT_NPROC, &nproc);
  bench_progress ("scale: ramp 0 -> %d -> %d running workloads (nofile %llu, nproc %llu)", lv[1],
                  top, (unsigned long long) nofile.rlim_cur, (unsigned long long) nproc.rlim_cur);
  if (node_start (b, &nd, cfg, true, &err) < 0)
    {
      free (cfg);
      row_fail (node_idle, "%s", err.msg);
      return;
    }
  free (cfg);
  snprintf (ping_subj, sizeof ping_subj, "$NEX.PING.%s", nd.node_id);
  snprintf (info_subj, sizeof info_subj, "$NEX.INFO.default.%s", nd.node_id);
  if (bench_connect (b->nats->url, "nexc-bench-scale", &nc, &err) < 0
      || bench_upload_file (nc, "sleep", "/bin/sleep", hex, &err) < 0
      || (env = bench_seal_env (b, &nd, NULL, &err)) == NULL)
    {
      row_fail (node_idle, "%s", err.msg);
      goto out;
    }
  spec.hash = hex;
  spec.sealed_env = env;

  /* Idle memory: pool full, settled. */
  bench_sleep_ms (500);
  if (proc_mem (nd.pid, &idle_mem) < 0)
    row_fail (node_idle, "cannot read /proc/%d/smaps_rollup", (int) nd.pid);
  mem_row (node_idle, &idle_mem, 1, "");
  agents_mem (nd.pid, &am);
  mem_row (agent_warm, &am.idle_sum, am.idle, "per agent");
  row_target (agent_warm, "<= 1 MiB RSS per warm agent",
              am.idle && am.idle_sum.rss_kb / (long) am.idle <= 1024 ? VERDICT_MET
                                                                      : VERDICT_MISSED);

  for (int i = 0; i < BENCH_SCALE_LEVELS; i++)
    {
      struct samples sp = { 0 }, si = { 0 };
      struct summary p, q;
      size_t info_len = 0;
      /* Ramp. */
      while (running < lv[i] && stopped_by[0] == '\0')
        {
          struct deployed d;
          if (bench_deploy (b, nc, &nd, &spec, &d, 30000, NULL, &err) < 0)
            {
              node_explain (&nd, &err);
              snprintf (stopped_by, sizeof stopped_by, "%s", err.msg);
            }
          else
            running++;
        }
      if (stopped_by[0])
        bench_progress ("scale: stopped at %d running: %s", running, stopped_by);
      if (bench_wait_pool_full (nc, &nd, 60000, &err) < 0)
        bench_progress ("scale: pool not refilled at %d: %s", running, err.msg);
      bench_sleep_ms (200);
      bench_progress ("scale: %d running, measuring", running);
      if (rtt_p50 (nc, ping_subj, b->o.ping_n, &sp, NULL, &err) < 0)
        {
          node_explain (&nd, &err);
          row_fail (ping[i], "%s", err.msg);
        }
      if (rtt_p50 (nc, info_subj, b->o.info_n, &si, &info_len, &err) < 0)
        {
          node_explain (&nd, &err);
          row_fail (info[i], "%s", err.msg);
        }
      p = samples_summary (&sp);
      q = samples_summary (&si);
      row_latency (ping[i], &p);
      row_latency (info[i], &q);
      row_num (ping[i], "running", running);
      row_num (info[i], "running", running);
      row_num (info[i], "reply_bytes", (double) info_len);
      if (running != lv[i])
        {
          row_ratio (ping[i], "only %d running: %s", running, stopped_by);
          row_ratio (info[i], "only %d running", running);
        }
      if (i == 0)
        {
          struct samples sd = { 0 };
          struct summary d0;
          ping0 = p.p50;
          info0 = q.p50;
          scan0_us = procscan_us (&scan0_procs);
          if (deploy_latency (b, nc, &nd, &spec, b->o.scale_deploy_n, &sd, &err) < 0)
            {
              node_explain (&nd, &err);
              row_fail (dep0, "%s", err.msg);
            }
          d0 = samples_summary (&sd);
          row_latency (dep0, &d0);
          dep0_p50 = d0.p50;
          dep0_p99 = d0.p99;
          samples_free (&sd);
        }
      else
        {
          row_floor (ping[i], "%.3f ms (p50 at 0)", ping0 / 1e3);
          if (ping0 > 0)
            row_ratio (ping[i], "p50 %.2fx of 0 workloads%s", p.p50 / ping0,
                       running != lv[i] ? " (count not reached)" : "");
          row_num (ping[i], "ratio_p50", ping0 > 0 ? p.p50 / ping0 : 0);
          if (info0 > 0 && q.n)
            {
              row_floor (info[i], "%.3f ms (p50 at 0)", info0 / 1e3);
              row_ratio (info[i], "p50 %.2fx of 0 workloads", q.p50 / info0);
              row_num (info[i], "ratio_p50", q.p50 / info0);
            }
        }
      if (i == BENCH_SCALE_LEVELS - 1)
        {
          struct samples sd = { 0 };
          struct summary dt;
          row_target (ping[i], "PING p50 <= 1.2x its value at 0",
                      ping0 > 0 && p.p50 <= 1.2 * ping0 ? VERDICT_MET : VERDICT_MISSED);
          row_target (info[i], "INFO p50 <= 4x its value at 0",
                      info0 > 0 && running == lv[i] && q.p50 <= 4 * info0 ? VERDICT_MET
                                                                          : VERDICT_MISSED);
          if (proc_mem (nd.pid, &top_mem) < 0)
            row_fail (node_top, "cannot read node memory");
          agents_mem (nd.pid, &am);
          row_result (node_top,
                      "RSS %ld KiB, PSS %ld KiB with %d running: +%.1f KiB RSS per workload "
                      "over idle; agents total RSS %.0f MiB, PSS %.0f MiB",
                      top_mem.rss_kb, top_mem.pss_kb, running,
                      running ? (double) (top_mem.rss_kb - idle_mem.rss_kb) / running : 0.0,
                      (double) (am.running_sum.rss_kb + am.idle_sum.rss_kb) / 1024.0,
                      (double) (am.running_sum.pss_kb + am.idle_sum.pss_kb) / 1024.0);
          row_num (node_top, "rss_kib", (double) top_mem.rss_kb);
          row_num (node_top, "pss_kib", (double) top_mem.pss_kb);
          row_num (node_top, "running", running);
          row_num (node_top, "per_workload_rss_kib",
                   running ? (double) (top_mem.rss_kb - idle_mem.rss_kb) / running : 0.0);
          if (running != top)
            row_ratio (node_top, "reached %d of %d: %s", running, top, stopped_by);
          mem_row (agent_run, &am.running_sum, am.running, "per agent");
          {
            size_t procs = 0;
            double us = procscan_us (&procs);
            row_result (scan, "%.2f ms for %zu processes", us / 1e3, procs);
            row_num (scan, "ms", us / 1e3);
            row_num (scan, "processes", (double) procs);
            row_floor (scan, "%.2f ms for %zu processes at 0", scan0_us / 1e3, scan0_procs);
          }
          if (deploy_latency (b, nc, &nd, &spec, b->o.scale_deploy_n, &sd, &err) < 0)
            {
              node_explain (&nd, &err);
              row_fail (deptop, "%s", err.msg);
            }
          dt = samples_summary (&sd);
          row_latency (deptop, &dt);
          row_num (deptop, "running", running);
          if (dep0_p50 > 0 && dt.n)
            {
              row_floor (deptop, "%.3f ms (scale.deploy.w0 p50)", dep0_p50 / 1e3);
              row_ratio (deptop, "p50 %.2fx, p99 %.2fx of p99 at 0", dt.p50 / dep0_p50,
                         dep0_p99 > 0 ? dt.p99 / dep0_p99 : 0);
              row_num (deptop, "ratio_p50", dt.p50 / dep0_p50);
              row_num (deptop, "ratio_p99", dep0_p99 > 0 ? dt.p99 / dep0_p99 : 0);
              row_target (deptop, "p99 <= 1.5x p99 at 0",
                          dep0_p99 > 0 && running == lv[i] && dt.p99 <= 1.5 * dep0_p99
                              ? VERDICT_MET
                              : VERDICT_MISSED);
            }
          samples_free (&sd);
        }
      samples_free (&sp);
      samples_free (&si);
    }
out:
  free (env);
  natsConnection_Destroy (nc);
  if (node_stop (&nd, 120000) < 0)
    bench_progress ("scale: node did not exit cleanly");
}
