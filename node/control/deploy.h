/* deploy: the DEPLOY request (reference §2.2, made strict), up to its
 * acceptance:
 *   decode -> lame duck / limits -> type, triggers, resources -> requester
 *   key -> location -> environment open -> JWT verify, name, time, replay,
 *   issuer allow-list, hash claim
 * then node/workload/launch.c takes it. Every refusal answers the
 * run_response error envelope with its text. Loop thread. */
#ifndef NEXC_NODE_CONTROL_DEPLOY_H
#define NEXC_NODE_CONTROL_DEPLOY_H

struct node;
struct ctl_req;

/* Takes ownership of r. */
void deploy_handle (struct node *n, struct ctl_req *r);

#endif
