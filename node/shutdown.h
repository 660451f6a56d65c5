/* shutdown: stopping the node on SIGTERM/SIGINT/SIGQUIT. Workloads get a
 * Stop (bounded grace), agents are killed, node_stopped is published, then
 * the loop ends and main closes NATS. */
#ifndef NEXC_NODE_SHUTDOWN_H
#define NEXC_NODE_SHUTDOWN_H

#include "api/nxerr.h"

struct node;

int shutdown_init (struct node *n, struct nxerr *err);
void shutdown_begin (struct node *n);

#endif
