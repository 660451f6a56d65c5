/* echo: proof that the NATS server has taken everything the node published
 * on a connection so far, without nats.c's PING/PONG.
 *
 * The server handles a connection's messages in order, so once a message
 * the node published to a subject only it listens on (a fresh inbox, on the
 * same connection) comes back, every publication before it has been taken
 * (delivered to the subscribers the server had then). That is what a flush
 * promised. A flush cannot be used on a connection read by the loop
 * (node/bus/natsloop.h): libnats 3.4.1's event-loop mode keeps what it had
 * not written when the connection broke, and the first publish while it
 * reconnects moves that into the reconnect buffer, PINGs included. Their
 * PONGs then come on the new connection with no flush waiting, nats.c's
 * count of PONGs runs ahead of its PINGs for good, and every later flush
 * times out (seen: logs stuck after a cut connection, it_test_logs). An
 * echo carries its own number instead of being counted.
 *
 * The node's NATS user must be allowed to publish to and subscribe to
 * _INBOX.> (nats.c's requests already subscribe there; a user limited to
 * allow_responses would see every echo refused, and logged). A client that
 * may subscribe to _INBOX.> can see the subject and forge an echo: that
 * only lets agents forget lines early (lost if the connection then breaks).
 *
 * Loop thread only. */
#ifndef NEXC_NODE_BUS_ECHO_H
#define NEXC_NODE_BUS_ECHO_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/nxerr.h"

struct node;
struct natsloop;
struct echo;

/* ok: the echo came back on the connection it was sent on (no reconnect
 * between); false: it did not within its bound, its connection broke, or it
 * could not be sent. */
typedef void (*echo_done) (void *arg, bool ok);

/* Subscribe to a fresh inbox on nc (read by nl). */
int echo_new (struct node *n, struct natsloop *nl, natsConnection *nc, struct echo **out,
              struct nxerr *err);

/* Publish an echo now (after what was published before); done(arg, ok) on
 * the loop thread once it came back or timeout_ms passed, never from
 * inside this call. */
void echo_ask (struct echo *e, uint32_t timeout_ms, echo_done done, void *arg);

/* No more calls for arg. */
void echo_forget (struct echo *e, void *arg);

/* Before the connection goes: unsubscribe (the subscription is freed with
 * the node's others, node/bus/subgrave.h). NULL is ignored. */
void echo_free (struct echo *e);

#endif
