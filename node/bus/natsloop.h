/* natsloop: a NATS connection read and written by the loop thread itself;
 * the node has two (n->natsloop for the control connection n->nc,
 * n->natsloop_data for the data connection n->nc_data).
 *
 * With nats.c's own threads a request crossed three threads before any of
 * the node's code ran: the connection's reading thread parsed it and woke
 * the subscription's delivery thread, whose callback posted it to the loop
 * through an eventfd (traced on 2 cores: 52 us from the delivery thread to
 * the loop alone, each wake-up an IPI on this nested VM). nats.c can instead
 * leave the socket to an event loop (natsOptions_SetEventLoop): the loop
 * reads when epoll says so (natsConnection_ProcessReadEvent), and the
 * subscriptions it reads for are synchronous ones whose messages it takes
 * right after the read, on the same thread, with no hand-off at all.
 *
 * What changes for the rest of the node:
 * - Other threads still publish, flush and ask JetStream on n->nc (the
 *   fetcher, the deployments watcher): nats.c asks for write interest,
 *   which this file turns into epoll changes (thread-safe), and their
 *   answers are read by the loop. So nothing may block on a round trip of
 *   either connection *on the loop thread*: nobody else would read the
 *   answer.
 * - libnats 3.4.1's event-loop mode keeps the unwritten part of its buffer
 *   across a broken connection and sends it on the next one, PINGs (and a
 *   message cut by a partial write) included: a flush made while it
 *   reconnects can leave its PONG count off for good. The data
 *   connection's flushes are echoes for that reason (node/bus/echo.h).
 * - Asynchronous subscriptions of n->nc (KV watchers, the object view) keep
 *   their delivery threads; only the reading moved.
 * - Once the loop has stopped, natsloop_pump_start gives the connection a
 *   reading thread again, for the teardown's flushes and drains.
 * - The loop thread is the only reader while the loop runs, so a
 *   subscription unsubscribed on it can be freed at once (node/bus/subgrave.h
 *   asks natsloop_reads_here).
 * Loop thread, except where said. */
#ifndef NEXC_NODE_BUS_NATSLOOP_H
#define NEXC_NODE_BUS_NATSLOOP_H

#include <nats/nats.h>
#include <stdbool.h>

#include "api/nxerr.h"

struct loop;
struct natsloop;

/* A watched subscription's message, on the loop thread; takes msg. */
typedef void (*natsloop_handler) (void *closure, natsSubscription *sub, natsMsg *msg);

/* On the thread that will run the loop. */
int natsloop_new (struct loop *loop, struct natsloop **out, struct nxerr *err);

/* Have the connection made with opts read and written by the loop (before
 * natsConnection_Connect; one connection per natsloop). */
int natsloop_options (struct natsloop *nl, natsOptions *opts, struct nxerr *err);

/* sub, a synchronous subscription of that connection: its messages go to h
 * after each read, in order. unwatch before unsubscribing it. */
void natsloop_watch (struct natsloop *nl, natsSubscription *sub, natsloop_handler h,
                     void *closure);
void natsloop_unwatch (struct natsloop *nl, natsSubscription *sub);

/* What the loop thread published goes out now rather than after its batch
 * of events (which may hold a spawn or a dozen frames): for replies and
 * events, which someone waits for. Other threads: nothing to do (their
 * publishes wake the loop). */
void natsloop_send_now (struct natsloop *nl);

/* Whether the calling thread is the connection's only reader now (the loop
 * thread while no pump runs). Any thread. */
bool natsloop_reads_here (const struct natsloop *nl);

/* After loop_run returned: a thread reads and writes for the connection
 * until natsloop_pump_stop, so the teardown's round trips are answered. */
int natsloop_pump_start (struct natsloop *nl, struct nxerr *err);

/* Before the connection is destroyed: the pump must not read it while it
 * is freed (closing needs no answer from the server). NULL is ignored. */
void natsloop_pump_stop (struct natsloop *nl);

/* After the connection was destroyed. NULL is ignored. */
void natsloop_free (struct natsloop *nl);

#endif
