/* subgrave: subscriptions (and KV watchers) the node is done with, freed
 * only once no nats.c thread can still be handing them a message.
 *
 * nats.c 3.4.1 (Debian 12's libnats) finds a message's subscription in the
 * connection's table, drops the table's lock, and only then takes the
 * subscription's own lock, holding no reference in between (later
 * releases take one). A subscription unsubscribed and destroyed in that
 * window is freed under the reading thread: seen in CI as a SEGV in
 * natsConn_processMsg at a node's shutdown (it_test_uidalloc, ASan).
 *
 * So a subscription is unsubscribed at once (no new message finds it) and
 * freed only after a round trip on its connection has been answered
 * (api/roundtrip.h): the reading thread parses in order, so by the
 * time it has read the PONG it is done with every message before it. If
 * no round trip can be had (the connection is down), the subscription
 * waits here: freed with the next answered round trip on the same
 * connection, or after the connections are destroyed (their reading
 * threads joined) at shutdown.
 * On the loop thread, a subscription of the control connection needs no round
 * trip: the loop is that connection's only reader (node/bus/natsloop.h).
 * Any thread (the loop, the deployments watcher). */
#ifndef NEXC_NODE_SUBGRAVE_H
#define NEXC_NODE_SUBGRAVE_H

#include <nats/nats.h>

struct node;

/* Unsubscribe sub (from nc) and keep it until subgrave_settle (nc) or
 * subgrave_free. Takes ownership; NULL is ignored. */
void subgrave_sub (struct node *n, natsConnection *nc, natsSubscription *sub);

/* The same for a KV watcher of a bucket on nc (stopped at once). */
void subgrave_watcher (struct node *n, natsConnection *nc, kvWatcher *w);

/* One round trip on nc (bounded, skipped when nc is not connected); if
 * answered, free everything buried for nc before it. Blocks for that round
 * trip: call once after burying a batch. */
void subgrave_settle (struct node *n, natsConnection *nc);

/* Free all that waits: only after every connection was destroyed, before
 * nats_CloseAndWait. */
void subgrave_free (struct node *n);

#endif
