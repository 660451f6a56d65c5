/* Room node/control/: what arrives on the control subjects: decode, checks,
 * authorization, replies; it hands accepted work to node/workload/.
 *
 * control: the node's control subscriptions (the seven of reference §1, plus
 * $NEX.AUCTION of 0.2.4) and the handlers of PING, WPING, INFO, LAMEDUCK and
 * AUCTION. DEPLOY and STOP are handled in node/control/deploy.c and
 * node/control/stop.c.
 *
 * nats.c delivers on its own threads; control_* callbacks copy subject, reply
 * and payload into a struct ctl_req and post it to the loop, where the
 * handler runs with exclusive access to the node. */
#ifndef NEXC_NODE_CONTROL_CONTROL_H
#define NEXC_NODE_CONTROL_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "api/buf.h"
#include "api/nxerr.h"
#include "node/control/request.h"

struct node;

int control_subscribe (struct node *n, struct nxerr *err);
void control_unsubscribe (struct node *n);

#endif
