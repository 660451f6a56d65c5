/* Room node/bus/: what the node publishes: replies, events, logs, and the
 * outbox that keeps lifecycle events until the server has them.
 *
 * events: CloudEvents the node publishes on $NEX.events.{ns}.{type} (§4).
 * A publish that fails (NATS gone and its reconnect buffer full) is counted
 * in counters.events_dropped and logged, never silent. */
#ifndef NEXC_NODE_EVENTS_H
#define NEXC_NODE_EVENTS_H

#include <stdint.h>
#include <time.h>

#include "api/buf.h"
#include "api/jsonw.h"

struct node;

/* The workload an event is about, as the events carry it (borrowed). */
struct events_wl {
  const char *ns, *id, *name;
  uint32_t restarts;
};

void events_publish (struct node *n, const char *ns, const char *type, const char *source,
                     struct timespec time, const struct buf *data);

void events_node_started (struct node *n);
void events_heartbeat (struct node *n);
void events_lameduck (struct node *n);
void events_node_stopped (struct node *n);
void events_workload_started (struct node *n, const struct events_wl *w);
/* code: exit status or -1; message per §4.3. */
void events_workload_stopped (struct node *n, const struct events_wl *w, int code,
                              const char *message);

/* The restart policy stopped restarting w (our extension). */
void events_workload_given_up (struct node *n, const struct events_wl *w, const char *message);

/* The tag map as a JSON object (keys sorted). */
void events_write_tags (struct node *n, struct jsonw *w);

#endif
