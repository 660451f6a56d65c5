/* subfree: give up a subscription of the client library or the CLI without
 * freeing it under nats.c's reading thread.
 *
 * nats.c 3.4.1 finds a message's subscription in the connection's table
 * and takes the subscription's lock holding no reference to it: a
 * subscription destroyed in between (a synchronous one is freed at once)
 * is used after it was freed. Late replies to a PING broadcast, a log
 * stream still flowing when a follower stops: messages do arrive then.
 * So it is unsubscribed first, and destroyed once a round trip on its
 * connection is answered (api/roundtrip.h): by then the reading thread is
 * done with every message before the PONG. On a closed connection the
 * reading thread is gone: destroyed at once. On one that is down (the
 * client is reconnecting) it is destroyed too: the reading thread of the
 * lost socket stops at its end, so the window left is the time it takes
 * to parse what it had already read, and a leak in every client that
 * stops while the server is away is the worse trade. Only when the server
 * is up and does not answer within the bound is the subscription left
 * allocated (a few hundred bytes against a crash; the node keeps such ones
 * for later: node/bus/subgrave.h).
 * Any thread; blocks for at most that round trip (1 s). */
#ifndef NEXC_API_SUBFREE_H
#define NEXC_API_SUBFREE_H

#include <nats/nats.h>

/* NULL is ignored. */
void subfree (natsConnection *nc, natsSubscription *sub);

/* The same for a KV watcher of a bucket on nc (its subscription inside). */
void subfree_watcher (natsConnection *nc, kvWatcher *w);

#endif
