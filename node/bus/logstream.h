/* logstream: the JetStream stream that keeps the log subjects for replay
 * (config "logs": {"stream"}, node/core/config.h).
 *
 * With a stream configured, the node makes sure at start that a stream of
 * that name captures $NEX.logs.> (file storage, limits retention, the
 * configured max age, bytes and replicas, discard old), creating it when it
 * is missing. One that exists is never changed: another node or the
 * operator owns it; each setting that differs is named in a warning. When
 * JetStream is not there (no responders, a timeout, NATS away) the node
 * says so once and tries again after each reconnect and after 1 s,
 * 2 s, 4 s... up to every minute;
 * publishing never waits for any of this: log lines go out as plain
 * publishes either way, and the server stores those the stream captures.
 *
 * The JetStream requests are blocking, so a thread of this module makes
 * them, on the control connection; it touches no node state. What it found
 * is kept under its mutex, for INFO (nexc.logs.stream) on the loop thread.
 * Without a stream configured every function here does nothing. */
#ifndef NEXC_NODE_LOGSTREAM_H
#define NEXC_NODE_LOGSTREAM_H

#include "api/jsonw.h"
#include "api/nxerr.h"

struct node;

/* After the NATS connections exist: start the thread, which ensures the
 * stream in the background. */
int logstream_start (struct node *n, struct nxerr *err);
/* Any thread (the reconnect callback): try again now if not ensured yet. */
void logstream_kick (struct node *n);
/* INFO's "logs" object: {"stream": null} or the stream and what the node
 * found. Loop thread. */
void logstream_write_info (struct node *n, struct jsonw *w);
/* At shutdown: stop the thread (before the connections go)... */
void logstream_stop (struct node *n);
/* ...and free what is left (after they are gone: a reconnect callback may
 * still kick until then). */
void logstream_free (struct node *n);

#endif
