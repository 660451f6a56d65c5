/* evpub: putting one event on the bus, signed by the node (api/evsig.h), on
 * the control connection: it sends at once (SendAsap), where the data
 * connection would hold an event for nats.c's flusher (~0.3-1 ms here, the
 * largest share of STOP -> workload_stopped). Events are few; the log flood
 * keeps the batching data connection. A workload's last log lines still
 * reach a subscriber before its workload_stopped: the agent ends only once
 * the node confirmed them (a flush: the server has them) and the event
 * comes after that. Used by events.c (events published once) and
 * outbox.c (lifecycle events, published until confirmed). Loop thread. */
#ifndef NEXC_NODE_BUS_EVPUB_H
#define NEXC_NODE_BUS_EVPUB_H

#include <nats/nats.h>
#include <stddef.h>

struct node;

/* NATS_CONNECTION_CLOSED when the node has no control connection. */
natsStatus evpub_publish (struct node *n, const char *subject, const void *data, size_t len);

#endif
