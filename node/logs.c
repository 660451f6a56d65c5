#include "node/logs.h"

#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>

#include "api/jsonw.h"
#include "api/log.h"
#include "api/subjects.h"
#include "api/timefmt.h"
#include "node/node.h"
#include "node/workload.h"

/* At most one drop report per workload per second in the node's own log. */
static void
report_drop (struct workload *w, const char *where)
{
  static uint64_t last_ns;
  uint64_t now = timefmt_mono_ns ();
  if (now - last_ns < 1000000000ull)
    return;
  last_ns = now;
  log_warn ("workload %s (%s): %" PRIu64 " log lines dropped so far (%s)", w->id, w->name,
            w->log_dropped, where);
}

void
logs_note_dropped (struct workload *w, unsigned long long dropped, const char *where)
{
  if (dropped == 0)
    return;
  w->log_dropped += dropped;
  w->node->counters.log_dropped_agent += dropped;
  report_drop (w, where);
}

void
logs_publish (struct workload *w, bool is_stderr, const char *text, size_t len)
{
  logs_publish_level (w, is_stderr ? "ERROR" : "INFO", text, len);
}

void
logs_publish_level (struct workload *w, const char *level, const char *text, size_t len)
{
  struct node *n = w->node;
  cleanup_buf struct buf subj = BUF_INIT;
  cleanup_buf struct buf body = BUF_INIT;
  struct jsonw j;
  natsMsg *msg = NULL;
  natsStatus s;
  char seq[24];

  w->log_seq++;
  w->log_bytes += len;
  n->counters.log_lines++;
  subjects_log (&subj, w->ns, n->node_id, w->name, w->id);
  jsonw_init (&j, &body);
  jsonw_obj_begin (&j);
  jsonw_key (&j, "text");
  jsonw_strn (&j, text, len);
  jsonw_kstr (&j, "level", level);
  jsonw_kstr (&j, "id", w->id);
  jsonw_obj_end (&j);
  snprintf (seq, sizeof seq, "%" PRIu64, w->log_seq);
  s = natsMsg_Create (&msg, subj.data, NULL, body.data, (int) body.len);
  if (s == NATS_OK)
    s = natsMsgHeader_Set (msg, LOGS_SEQ_HEADER, seq);
  if (s == NATS_OK)
    s = natsConnection_PublishMsg (n->nc_data, msg);
  natsMsg_Destroy (msg);
  if (s != NATS_OK)
    {
      w->log_dropped++;
      n->counters.log_dropped_publish++;
      report_drop (w, natsStatus_GetText (s));
    }
}
