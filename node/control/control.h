/* control: the node's control subscriptions (the seven of reference §1, plus
 * $NEX.AUCTION of 0.2.4) and the handlers of PING, WPING, INFO, LAMEDUCK and
 * AUCTION. DEPLOY and STOP are handled in
 * node/deploy.c and node/stop.c.
 *
 * nats.c delivers on its own threads; control_* callbacks copy subject, reply
 * and payload into a struct ctl_req and post it to the loop, where the
 * handler runs with exclusive access to the node. */
#ifndef NEXC_NODE_CONTROL_H
#define NEXC_NODE_CONTROL_H

#include <stddef.h>
#include <stdint.h>

#include "api/buf.h"
#include "api/nxerr.h"

struct node;

#define CONTROL_PAYLOAD_MAX (1024 * 1024)

enum ctl_op { CTL_PING, CTL_PING_NODE, CTL_WPING, CTL_INFO, CTL_DEPLOY, CTL_STOP, CTL_LAMEDUCK,
              CTL_AUCTION };

struct ctl_req {
  struct node *node;
  enum ctl_op op;
  char *subject;
  char *reply; /* NULL when the request has none */
  char *data;  /* NUL-terminated copy */
  size_t len;
  uint64_t recv_ns;
};

int control_subscribe (struct node *n, struct nxerr *err);
void control_unsubscribe (struct node *n);
void ctl_req_free (struct ctl_req *r);

/* Publish a reply; a failure is counted and logged. NULL reply: dropped. */
void control_reply (struct node *n, const char *reply, const struct buf *payload);
void control_reply_err (struct node *n, const char *reply, const char *type, const char *msg);
void control_reply_ok (struct node *n, const char *reply, const char *type,
                       const struct buf *data);

#endif
