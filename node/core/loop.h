/* loop: the node's single owner thread.
 *
 * Node state is written only on the loop thread (node/core/node.h says what
 * other threads may read). Other threads (nats.c's callbacks, the artifact
 * fetcher, the metrics scan) hand work over with loop_post, which
 * queues a closure and wakes the loop through an eventfd. File descriptors
 * (agent links, the signalfd) are watched with epoll; timers live in a binary
 * min-heap on the monotonic clock. */
#ifndef NEXC_NODE_LOOP_H
#define NEXC_NODE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "api/nxerr.h"

struct loop;

/* A watched fd. cb runs on the loop thread with the epoll events. */
struct loop_source {
  int fd;
  void (*cb) (struct loop_source *src, uint32_t events);
};

struct loop_timer {
  uint64_t due_ns;
  size_t heap_index; /* SIZE_MAX when not armed */
  void (*cb) (struct loop_timer *t);
};

typedef void (*loop_fn) (void *arg);

int loop_new (struct loop **out, struct nxerr *err);
void loop_free (struct loop *l);

/* Run until loop_stop; returns 0. */
int loop_run (struct loop *l);
void loop_stop (struct loop *l);

/* Thread-safe: run fn(arg) on the loop thread soon. Items posted before
 * loop_free and never run are released with drop(arg) if drop is non-NULL. */
void loop_post (struct loop *l, loop_fn fn, loop_fn drop, void *arg);

/* Run fn(arg) after the current batch of epoll events: objects owning a
 * loop_source are released this way, because a later event of the same batch
 * may still point at them. */
void loop_defer (struct loop *l, loop_fn fn, void *arg);

int loop_add (struct loop *l, struct loop_source *src, uint32_t events, struct nxerr *err);
int loop_mod (struct loop *l, struct loop_source *src, uint32_t events);
void loop_del (struct loop *l, struct loop_source *src);

void loop_timer_init (struct loop_timer *t, void (*cb) (struct loop_timer *t));
void loop_timer_arm (struct loop *l, struct loop_timer *t, uint64_t delay_ms);
void loop_timer_cancel (struct loop *l, struct loop_timer *t);
bool loop_timer_armed (const struct loop_timer *t);

#endif
