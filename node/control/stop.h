/* stop: the STOP request (reference §3.1): decode, the stop JWT's checks,
 * then supervise_stop (node/workload/supervise.h). The reply is sent once
 * the agent confirms every process of the workload is gone (or the agent
 * was killed after the grace period). Loop thread. */
#ifndef NEXC_NODE_STOP_H
#define NEXC_NODE_STOP_H

#include <stdbool.h>

struct node;
struct ctl_req;
struct workload;

void stop_handle (struct node *n, struct ctl_req *r);

#endif
