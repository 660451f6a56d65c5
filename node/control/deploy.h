/* deploy: the DEPLOY request (reference §2.2, made strict), up to its
 * acceptance:
 *   namespace, lame duck, limits -> decode -> type, triggers, resources ->
 *   requester key -> location, jsdomain -> environment open -> JWT verify,
 *   name, time, issuer allow-list, bound token (node/control/bound.h),
 *   replay, hash claim
 * then node/workload/launch.c takes it. Every refusal answers the
 * run_response error envelope with its text. Loop thread. */
#ifndef NEXC_NODE_CONTROL_DEPLOY_H
#define NEXC_NODE_CONTROL_DEPLOY_H

struct node;
struct ctl_req;

/* Takes ownership of r. */
void deploy_handle (struct node *n, struct ctl_req *r);

#endif
