/* metrics: per-workload and per-node figures, published every
 * metrics_interval_ms as CloudEvents (workload_metrics on the workload's
 * namespace, node_metrics on system; shapes in schemas/events.md) and shown
 * in INFO.
 *
 * A workload's figures cover every process under its agent (the agent
 * itself excluded), found with one scan of /proc per interval: CPU time
 * (user+system, and the rate since the previous sample in CPUs), resident
 * memory now and its peak, and the number of processes. This works the same
 * in every sandbox tier, with or without cgroups. */
#ifndef NEXC_NODE_METRICS_H
#define NEXC_NODE_METRICS_H

#include <stdint.h>

#include "api/jsonw.h"

struct node;
struct workload;

extern const uint64_t metrics_latency_bounds_us[12];

/* Every metrics_interval_ms: the /proc scan on a thread of its own, then
 * the figures applied and published on the loop thread. */
void metrics_start (struct node *n);
/* At shutdown, after the loop: wait for a sampling still running. */
void metrics_stop (struct node *n);
/* One handled control request, from its arrival on the nats.c thread to the
 * end of its handler. DEPLOY is not counted: its handler only starts a
 * pipeline (artifact fetch, agent hand-off) that answers later. */
void metrics_record_latency (struct node *n, uint64_t ns);
void metrics_write_workload (const struct workload *w, struct jsonw *j);
void metrics_write_node (struct node *n, struct jsonw *j);

#endif
