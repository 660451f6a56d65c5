/* evpub: putting one event on the bus, signed by the node (api/evsig.h), on
 * the data connection. Used by events.c (events published once) and
 * outbox.c (lifecycle events, published until confirmed). Loop thread. */
#ifndef NEXC_NODE_BUS_EVPUB_H
#define NEXC_NODE_BUS_EVPUB_H

#include <nats/nats.h>
#include <stddef.h>

struct node;

/* NATS_CONNECTION_CLOSED when the node has no data connection. */
natsStatus evpub_publish (struct node *n, const char *subject, const void *data, size_t len);

#endif
