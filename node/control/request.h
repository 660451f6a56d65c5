/* request: one control request as the loop receives it. Right after the
 * read that brought the message (node/bus/natsloop.h), the loop copies
 * subject, reply and payload into a ctl_req (node/control/control.c); the
 * handler it is dispatched to owns it from then on. */
#ifndef NEXC_NODE_CONTROL_REQUEST_H
#define NEXC_NODE_CONTROL_REQUEST_H

#include <stddef.h>
#include <stdint.h>

struct node;

#define CONTROL_PAYLOAD_MAX (1024 * 1024)
/* Requests received and not yet done with (a deploy waiting for its
 * artifact), and their bytes: past either bound the node answers "busy" at
 * once instead of holding them without limit. */
#define CONTROL_QUEUE_MAX 1024
#define CONTROL_QUEUE_BYTES (64u * 1024 * 1024)

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

/* A ctl_req for a message, counted in n's control queue; NULL (nothing
 * counted) when the queue is full. Any thread. */
struct ctl_req *ctl_req_new (struct node *n, size_t len);
void ctl_req_free (struct ctl_req *r);

#endif
