/* bench: what every scenario of nexc-bench shares.
 *
 * nexc-bench starts its own nats-server (JetStream, loopback, free port,
 * temp store) and a fresh nexc-node per scenario (proc.h), drives the node
 * over NATS with the client library's codecs (client.h), and records one row
 * per measurement in the report (report.h), which prints the table and writes
 * the JSON file at the end. Each scenario is one file (warm.c, cold.c, ...)
 * exporting one function `scenario_<name> (struct bench *)`; a scenario that
 * fails records its rows as FAILED with the reason and the run goes on.
 *
 * Owns: struct bench (options, paths, the report), the scenario table. */
#ifndef NEXC_BENCH_BENCH_H
#define NEXC_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/nkeys.h"
#include "api/nxerr.h"
#include "bench/report.h"

#define BENCH_MAX_CLIENT_SETS 4
#define BENCH_SCALE_LEVELS 3

struct bench_opts {
  bool smoke;
  const char *build_dir;  /* holds node/, agent/, examples/, bench/ */
  const char *json_path;  /* NULL: no JSON file */
  const char *only;       /* comma list of scenario names, NULL: all */
  const char *node_log_level;
  const char *filesystem;  /* process tier: "minimal" (default) or "host-ro" */
  const char *cgroup;      /* the nodes' "cgroup" (NULL: not set, the node's default) */
  int pool_size;          /* machine_pool_size of the nodes (default 4) */
  int warm_n;             /* timed warm deploys */
  int floor_rtt_n;        /* request/reply round trips for the floor */
  int cold_pool_n;        /* deploy pairs with a pool of 1 */
  int cold_small_n, cold_large_n;     /* uncached-artifact deploys */
  uint64_t cold_small_bytes, cold_large_bytes;
  double tput_seconds;
  int tput_clients[BENCH_MAX_CLIENT_SETS];
  int n_tput_clients;
  long log_lines;
  int scale_levels[BENCH_SCALE_LEVELS]; /* running workloads: 0, 100, 1000 */
  int ping_n, info_n, scale_deploy_n;
  int stop_n;
  int stop_grace_ms;
  int fn_n;               /* timed function invocations */
  int deploy_n;           /* deployment applies, and node kills (scenario 8) */
  bool peers;             /* --peers: also the peers scenario (bench/peers.c) */
};

struct bench {
  struct bench_opts o;
  struct report *report;
  struct nkey_pair issuer;  /* signs every workload and stop JWT */
  struct nkey_pair sender;  /* seals every environment */
  char node_bin[512], agent_bin[512], idle_bin[512];
  char hog_bin[512], ticker_bin[512], forker_bin[512], upper_bin[512];
  char self_bin[512];       /* this executable, for the responder subprocess */
  struct bench_nats *nats;  /* the one nats-server of the run */
  double warm_none_p50_us;  /* warm.none's p50 when it ran before, for peers */
};

/* Scenarios. Each adds its rows to b->report. */
void scenario_warm (struct bench *b);
void scenario_cold (struct bench *b);
void scenario_throughput (struct bench *b);
void scenario_logs (struct bench *b);
void scenario_scale (struct bench *b); /* memory (5) and scale (6) share one ramp */
void scenario_stop (struct bench *b);
void scenario_functions (struct bench *b);
void scenario_deployments (struct bench *b); /* issue #17: apply, heal */
void scenario_peers (struct bench *b); /* only with --peers or --only peers */

/* Row ids every scenario records, for --list-rows (the smoke test checks
 * the printed table against this list). Appends "id\n" lines to out. */
struct buf;
void bench_row_ids (const struct bench_opts *o, struct buf *out);

/* Progress on stderr: "nexc-bench: <scenario>: ...". */
void bench_progress (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* Monotonic clock. */
uint64_t bench_now_ns (void);
void bench_sleep_ms (int ms);

/* The node configuration used by every scenario: sandbox tier, pool size,
 * stop grace, heartbeat out of the way, our issuer and sender allowed.
 * Returns a malloc'd JSON text. */
char *bench_node_config (const struct bench *b, const char *sandbox, int pool_size);

#endif
