/* stop: the STOP request (reference §3.1), and stopping workloads for
 * shutdown. The reply is sent once the agent confirms every process of the
 * workload is gone (or the agent was killed after the grace period). */
#ifndef NEXC_NODE_STOP_H
#define NEXC_NODE_STOP_H

#include <stdbool.h>

struct node;
struct ctl_req;
struct workload;

void stop_handle (struct node *n, struct ctl_req *r);
/* Ask the workload's agent to stop it; the end arrives as an Exited frame. */
void stop_workload (struct node *n, struct workload *w);

#endif
