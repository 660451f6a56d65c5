#include "node/bus/events.h"

#include <nats/nats.h>

#include "api/cloudevent.h"
#include "api/log.h"
#include "api/subjects.h"
#include "api/timefmt.h"
#include "node/bus/evpub.h"
#include "node/core/node.h"
#include "node/bus/outbox.h"

void
events_write_tags (struct node *n, struct jsonw *w)
{
  jsonw_obj_begin (w);
  for (size_t i = 0; i < n->tags.n; i++)
    jsonw_kstr (w, n->tags.keys[i], n->tags.vals[i]);
  jsonw_obj_end (w);
}

/* Lifecycle events go through the outbox (at least once, node/bus/outbox.h);
 * the others are published once, and counted when that fails. */
static void
publish (struct node *n, const char *ns, const char *type, const char *source,
         struct timespec time, const struct buf *data, bool durable)
{
  cleanup_buf struct buf subj = BUF_INIT;
  cleanup_buf struct buf ev = BUF_INIT;
  char id[37];
  natsStatus s;
  subjects_event (&subj, ns, type);
  cloudevent_uuid4 (id);
  cloudevent_encode (&ev, type, source, time, data->data, data->len, id, ++n->event_seq);
  if (durable && outbox_publish (n, subj.data, id, source, ev.data, ev.len))
    return;
  outbox_send_new (n); /* events go out in the order they were made */
  s = evpub_publish (n, subj.data, ev.data, ev.len);
  if (s != NATS_OK)
    {
      n->counters.events_dropped++;
      log_warn ("event %s/%s not delivered (%s); %llu events dropped so far", ns, type,
                natsStatus_GetText (s), (unsigned long long) n->counters.events_dropped);
    }
}

void
events_publish (struct node *n, const char *ns, const char *type, const char *source,
                struct timespec time, const struct buf *data)
{
  publish (n, ns, type, source, time, data, false);
}

static void
version_id (struct node *n, struct buf *b, bool with_tags)
{
  struct jsonw w;
  jsonw_init (&w, b);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "version", NEXC_VERSION);
  jsonw_kstr (&w, "id", n->node_id);
  if (with_tags)
    {
      jsonw_key (&w, "tags");
      events_write_tags (n, &w);
    }
  jsonw_obj_end (&w);
}

void
events_node_started (struct node *n)
{
  cleanup_buf struct buf b = BUF_INIT;
  version_id (n, &b, true);
  events_publish (n, NEX_NS_SYSTEM, NEX_EVENT_NODE_STARTED, n->node_id, n->start_wall, &b);
}

void
events_lameduck (struct node *n)
{
  cleanup_buf struct buf b = BUF_INIT;
  version_id (n, &b, false);
  /* Nex stamped this with the node start time (appendix D.12); we use now. */
  events_publish (n, NEX_NS_SYSTEM, NEX_EVENT_LAMEDUCK, n->node_id, timefmt_now (), &b);
}

void
events_heartbeat (struct node *n)
{
  cleanup_buf struct buf b = BUF_INIT;
  struct jsonw w;
  char up[TIMEFMT_UPTIME_MAX];
  node_uptime (n, false, up, sizeof up);
  jsonw_init (&w, &b);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "version", NEXC_VERSION);
  jsonw_kstr (&w, "node_id", n->node_id);
  jsonw_kstr (&w, "uptime", up);
  jsonw_key (&w, "tags");
  events_write_tags (n, &w);
  jsonw_kint (&w, "running_machines", (int64_t) n->n_workloads);
  jsonw_obj_end (&w);
  events_publish (n, NEX_NS_SYSTEM, NEX_EVENT_HEARTBEAT, n->node_id, timefmt_now (), &b);
}

void
events_node_stopped (struct node *n)
{
  cleanup_buf struct buf b = BUF_INIT;
  struct jsonw w;
  jsonw_init (&w, &b);
  jsonw_obj_begin (&w);
  jsonw_kstr (&w, "id", n->node_id);
  jsonw_kbool (&w, "graceful", true);
  if (n->detached) /* our extension: workloads left running (--detach-on-exit) */
    jsonw_kint (&w, "detached_workloads", (int64_t) n->detached);
  jsonw_obj_end (&w);
  events_publish (n, NEX_NS_SYSTEM, NEX_EVENT_NODE_STOPPED, n->node_id, timefmt_now (), &b);
}

void
events_workload_started (struct node *n, const struct events_wl *w)
{
  cleanup_buf struct buf b = BUF_INIT;
  struct jsonw j;
  jsonw_init (&j, &b);
  jsonw_obj_begin (&j);
  jsonw_kstr (&j, "workload_name", w->name);
  jsonw_kint (&j, "code", 0);
  if (w->restarts) /* our extension; absent on a first run, as Nex sends it */
    jsonw_kint (&j, "restarts", w->restarts);
  jsonw_obj_end (&j);
  publish (n, w->ns, NEX_EVENT_WORKLOAD_STARTED, w->id, timefmt_now (), &b, true);
}

void
events_workload_stopped (struct node *n, const struct events_wl *w, int code,
                         const char *message)
{
  cleanup_buf struct buf b = BUF_INIT;
  struct jsonw j;
  jsonw_init (&j, &b);
  jsonw_obj_begin (&j);
  jsonw_kstr (&j, "workload_name", w->name);
  jsonw_kint (&j, "code", code);
  jsonw_kstr (&j, "message", message);
  jsonw_obj_end (&j);
  publish (n, w->ns, NEX_EVENT_WORKLOAD_STOPPED, w->id, timefmt_now (), &b, true);
}

void
events_workload_given_up (struct node *n, const struct events_wl *w, const char *message)
{
  cleanup_buf struct buf b = BUF_INIT;
  struct jsonw j;
  jsonw_init (&j, &b);
  jsonw_obj_begin (&j);
  jsonw_kstr (&j, "workload_name", w->name);
  jsonw_kint (&j, "restarts", w->restarts);
  jsonw_kstr (&j, "message", message);
  jsonw_obj_end (&j);
  events_publish (n, w->ns, "workload_given_up", w->id, timefmt_now (), &b);
}
