/* Room node/deployments/: declarative deployments (issue #17): the specs in
 * a JetStream KV bucket, replica slots claimed with compare-and-set leases
 * in a claims bucket, and this node's part of keeping them running. Every
 * node reconciles on its own; none coordinates. Sits above node/workload/
 * (a replica is an ordinary workload, started through launch_own) and
 * below node/main.c only.
 *
 * deployments: the per-node reconciler, on the loop thread. Each round
 * (lease_ms / 3): renew the slots held, claim free or expired slots this
 * node is eligible for (placement tags, capacity, spread: lease.c), release
 * the ones no longer wanted, and stop a replica whose lease this node could
 * not renew before its own expiry (self-fencing, ARCHITECTURE.md). The KV
 * I/O is kvwatch.c's thread; the spec's checks are api/deployment.c's plus
 * the issuer allow-list here. */
#ifndef NEXC_NODE_DEPLOYMENTS_H
#define NEXC_NODE_DEPLOYMENTS_H

#include <stdbool.h>

#include "api/jsonw.h"
#include "api/nxerr.h"

struct node;
struct workload;

/* After NATS is up and reattach ran (replicas taken back are kept only if
 * this node still holds their slot). Off in the config: does nothing. */
int deployments_start (struct node *n, struct nxerr *err);
/* After the loop ended: release the slots held (unless --detach-on-exit
 * left the replicas running for the next run) and stop the thread. */
void deployments_stop (struct node *n);
/* INFO: data.nexc.deployments. */
void deployments_write_info (struct node *n, struct jsonw *w);
/* The node just went lame duck: its slots are released now (the round
 * runs at once), not at the next round up to lease/3 later. */
void deployments_lameduck (struct node *n);

#endif
