/* evpub: putting one event on the bus, signed by the node (api/evsig.h), on
 * the data connection, the one that carries the workloads' log lines. One
 * connection keeps one order: a subscriber gets a workload's lines, then
 * its workload_stopped, because the node published them in that order on
 * it, with no flush between (on two connections the event could overtake
 * lines still on their way, and the end had to wait a round trip for the
 * server to confirm them). The loop writes the event at once
 * (natsloop_send_now), not after its batch. Used by events.c (events
 * published once) and outbox.c (lifecycle events, published until
 * confirmed on this same connection). Loop thread. */
#ifndef NEXC_NODE_BUS_EVPUB_H
#define NEXC_NODE_BUS_EVPUB_H

#include <nats/nats.h>
#include <stddef.h>

struct node;

/* The connection events go out on: what the outbox flushes. */
natsConnection *evpub_conn (const struct node *n);

/* NATS_CONNECTION_CLOSED when the node has no data connection. */
natsStatus evpub_publish (struct node *n, const char *subject, const void *data, size_t len);

#endif
