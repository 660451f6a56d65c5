/* outbox: workload lifecycle events (workload_started, workload_stopped)
 * delivered at least once, even when the node dies right after publishing.
 *
 * Core NATS says nothing about delivery: an event can sit in nats.c's write
 * buffer, or in its reconnect buffer for as long as the server is away, and
 * a node killed then takes it along, while its journal already says the
 * workload is gone. So each such event is written to the journal
 * (node/state/journal.h) before it is published, and deleted only once a
 * message sent after it on the same connection has come back from the server
 * (a flush by echo, node/bus/echo.h, so the loop never waits; the last one,
 * at shutdown, a PING/PONG). A node that starts
 * with events in its journal publishes them again, oldest first. Duplicates
 * are possible (a crash between the server's answer and the delete, or a
 * reconnect in between) and carry the same CloudEvent id, so a consumer can
 * drop them.
 *
 * Without a journal (--ephemeral-identity) events are published once, as
 * others are.
 * Loop thread only. */
#ifndef NEXC_NODE_OUTBOX_H
#define NEXC_NODE_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "api/nxerr.h"

struct node;

/* After the NATS connections and n->echo_data exist: publish again what the
 * journal holds from an earlier run. */
int outbox_start (struct node *n, struct nxerr *err);

/* Publish the CloudEvent ev (id is its id) on subject, durably: true when
 * the outbox keeps it until confirmed; false when it cannot (no journal, or
 * writing to it failed): the caller then publishes it once, as any event. */
bool outbox_publish (struct node *n, const char *subject, const char *id, const char *source,
                     const char *ev, size_t len);

/* While held, the events of source (a workload id) stay journaled even once
 * the server has them: a workload whose end was announced while the journal
 * still has it (announced before its last lines were confirmed,
 * node/workload/supervise.c; or taken back by a node that found that end
 * journaled, reattach.c) keeps its workload_stopped there until
 * persist_forget, so a node that dies meanwhile and takes the workload back
 * knows the end was announced (outbox_stop_announced). Released, they go
 * with the next flush. */
void outbox_hold (struct node *n, const char *source, bool hold);

/* Sign and send, in order, the events outbox_publish journaled but did not
 * send yet: it leaves that to after the reply they come with (a reply means
 * the journal has the event, not that it was published first). The caller
 * that sent the reply calls this; anything else is sent after the current
 * batch of loop events, and before any event published directly. */
void outbox_send_new (struct node *n);

/* Whether the last lifecycle event of workload_id among a journal's
 * unconfirmed events ev[0..n) (oldest first) is its workload_stopped. Then
 * the run that made it announced the workload's end and died before it
 * forgot the workload (the event is journaled first, the workload deleted
 * after): the node that takes the workload back republishes that event and
 * must not announce the same end again with a new id. */
struct journal_event;
bool outbox_stop_announced (const struct journal_event *ev, size_t n, const char *workload_id);

/* At shutdown, before the journal closes: one last flush (bounded), confirm
 * what it covers. What stays unconfirmed stays journaled. */
void outbox_stop (struct node *n);

#endif
