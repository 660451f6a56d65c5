/* fn_msg: one message on a function's trigger subject, copied off the
 * nats.c thread that got it (payload over FN_PAYLOAD_MAX only marked
 * too_big; at most FN_HEADERS_MAX printable-ASCII headers), so the message
 * can be destroyed at once and the copy posted to the loop. Any thread. */
#ifndef NEXC_NODE_WORKLOAD_FN_MSG_H
#define NEXC_NODE_WORKLOAD_FN_MSG_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FN_PAYLOAD_MAX (1024 * 1024) /* request payload (stdin) */
#define FN_HEADERS_MAX 64            /* headers passed as NEX_HEADER_<NAME> */

struct node;

/* One trigger message, copied off the nats.c thread. */
struct fn_msg {
  struct fn_msg *next;
  struct node *node;
  int64_t sid;
  char *subject, *reply;
  uint8_t *data;
  size_t len;
  bool too_big;
  char **hdr; /* name, value pairs */
  size_t n_hdr;
};

/* A copy of msg (msg stays the caller's). */
struct fn_msg *fn_msg_new (struct node *n, int64_t sid, natsMsg *msg);
void fn_msg_free (struct fn_msg *m);
/* The environment name of header h: NEX_HEADER_<NAME>, letters and digits
 * upper-cased, anything else '_'. malloc'd. */
char *fn_msg_env_name (const char *h);

#endif
