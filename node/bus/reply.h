/* reply: the answers to control requests, published on the control
 * connection (n->nc, sent at once) in Nex's envelope (§1). Every room that
 * finishes a request answers through here: the DEPLOY is answered when its
 * workload starts, the STOP when its processes are gone. A reply that cannot
 * be sent is counted (counters.replies_failed) and logged. Loop thread only. */
#ifndef NEXC_NODE_BUS_REPLY_H
#define NEXC_NODE_BUS_REPLY_H

#include "api/buf.h"

struct node;

/* Publish a reply; a failure is counted and logged. NULL reply: dropped. */
void reply_send (struct node *n, const char *reply, const struct buf *payload);
void reply_err (struct node *n, const char *reply, const char *type, const char *msg);
void reply_ok (struct node *n, const char *reply, const char *type, const struct buf *data);

#endif
