#include "node/control/request.h"

#include <stdlib.h>

#include "api/xalloc.h"
#include "node/core/node.h"

/* What a request holds in memory: its copied payload, or nothing over the
 * cap (it is refused without a copy). */
static size_t
weight (size_t len)
{
  return 256 + (len > CONTROL_PAYLOAD_MAX ? 0 : len);
}

struct ctl_req *
ctl_req_new (struct node *n, size_t len)
{
  struct ctl_queue *q = &n->ctl_queue;
  size_t w = weight (len);
  size_t count = __atomic_add_fetch (&q->n, 1, __ATOMIC_RELAXED);
  size_t bytes = __atomic_add_fetch (&q->bytes, w, __ATOMIC_RELAXED);
  struct ctl_req *r;
  if (count > CONTROL_QUEUE_MAX || bytes > CONTROL_QUEUE_BYTES)
    {
      __atomic_sub_fetch (&q->n, 1, __ATOMIC_RELAXED);
      __atomic_sub_fetch (&q->bytes, w, __ATOMIC_RELAXED);
      __atomic_add_fetch (&q->refused, 1, __ATOMIC_RELAXED);
      return NULL;
    }
  r = xcalloc (1, sizeof *r);
  r->node = n;
  r->len = len;
  return r;
}

void
ctl_req_free (struct ctl_req *r)
{
  if (r == NULL)
    return;
  __atomic_sub_fetch (&r->node->ctl_queue.n, 1, __ATOMIC_RELAXED);
  __atomic_sub_fetch (&r->node->ctl_queue.bytes, weight (r->len), __ATOMIC_RELAXED);
  free (r->subject);
  free (r->reply);
  free (r->data);
  free (r);
}
