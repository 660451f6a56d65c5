/* shutdown: stopping the node on SIGTERM/SIGINT/SIGQUIT. Workloads get a
 * Stop (bounded grace), agents are killed, node_stopped is published, then
 * the loop ends and main closes NATS. */
#ifndef NEXC_NODE_SHUTDOWN_H
#define NEXC_NODE_SHUTDOWN_H

#include <stdint.h>

#include "api/nxerr.h"

struct node;

int shutdown_init (struct node *n, struct nxerr *err);
void shutdown_begin (struct node *n);
/* Lame duck with a deadline (our extension): running workloads may finish
 * until deadline_ms, then they are stopped; once none is left the node exits
 * 0 when started with --exit-on-drain. */
void shutdown_drain (struct node *n, uint64_t deadline_ms);

#endif
