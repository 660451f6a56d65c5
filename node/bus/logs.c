#include "node/bus/logs.h"
#include "node/bus/logs_int.h"

#include <errno.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <stdio.h>
#include <string.h>

#include "api/buf.h"
#include "api/jsonw.h"
#include "api/log.h"
#include "api/subjects.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/core/node.h"

/* Messages whose natsMsg_Destroy waits for logs_batch_end. */
#define LOGS_BATCH_MAX 1024
/* While the data connection is down, nats.c queues publishes in its
 * reconnect buffer (16 MiB, node/main.c) and fails those past it. Logs may
 * use this much of it (a frame's worth more per workload whose frame was
 * read before it was held); events keep the rest. */
#define LOGS_RECONNECT_BUDGET (8u << 20)
/* While connected, what nats.c holds for the socket grows without bound
 * (the loop writes it, node/bus/natsloop.h): past this much, links wait for
 * the server to take it. */
#define LOGS_WRITE_BUDGET (4 << 20)
/* What nats.c adds around a message: PUB/HPUB line, header block. */
#define LOGS_MSG_OVERHEAD 64

/* What every line of one workload shares, built once and reused while its
 * lines follow one another (a flood is one workload's lines back to back):
 * the subject, and the JSON around the text for INFO and ERROR. Built with
 * subjects_log and jsonw, so the bytes are theirs. Loop thread only. */
struct wl_parts {
  char *ns, *name, *node_id;
  char id[32];
  struct buf subject;
  struct buf head;                    /* {"text": */
  struct buf tail_info, tail_error;   /* ,"level":"INFO","id":"..."} */
};

static struct wl_parts parts;
static struct buf body; /* reused for every message */
static natsMsg *batch[LOGS_BATCH_MAX];
static size_t batch_len;
static bool batching;
/* Bytes published since the data connection was last seen connected: an
 * estimate of what waits in the reconnect buffer. */
static uint64_t unsent_estimate;

/* At most one drop report per second in the node's own log, for all
 * workloads together (the counts are exact in INFO and the metrics). */
static void
report_drop (const struct log_stream *w, const char *where)
{
  static uint64_t last_ns;
  uint64_t now = timefmt_mono_ns ();
  if (now - last_ns < 1000000000ull)
    return;
  last_ns = now;
  log_warn ("workload %s (%s): %" PRIu64 " log lines dropped so far (%s)", w->id, w->name,
            w->dropped, where);
}

void
logs_note_dropped (struct log_stream *w, unsigned long long dropped, const char *where)
{
  if (dropped == 0)
    return;
  w->dropped += dropped;
  w->node->counters.log_dropped_agent += dropped;
  report_drop (w, where);
}

static bool
same (const char *a, const char *b)
{
  return a == b || (a != NULL && b != NULL && strcmp (a, b) == 0);
}

/* The JSON body of a line with an empty text at level: head is what comes
 * before the text's opening quote, the tail what follows its closing one. */
static void
build_tail (struct buf *tail, const char *level, const char *id, struct buf *head)
{
  cleanup_buf struct buf b = BUF_INIT;
  struct jsonw j;
  size_t at;
  jsonw_init (&j, &b);
  jsonw_obj_begin (&j);
  jsonw_key (&j, "text");
  at = b.len;
  jsonw_strn (&j, "", 0);
  jsonw_kstr (&j, "level", level);
  jsonw_kstr (&j, "id", id);
  jsonw_obj_end (&j);
  buf_reset (head);
  buf_append (head, b.data, at);
  buf_reset (tail);
  buf_append (tail, b.data + at + 2, b.len - at - 2); /* after "" */
}

static const struct wl_parts *
parts_for (const struct log_stream *w)
{
  struct node *n = w->node;
  if (parts.subject.len > 0 && strcmp (parts.id, w->id) == 0 && same (parts.name, w->name)
      && same (parts.ns, w->ns) && same (parts.node_id, n->node_id))
    return &parts;
  free (parts.ns);
  free (parts.name);
  free (parts.node_id);
  parts.ns = w->ns ? xstrdup (w->ns) : NULL;
  parts.name = w->name ? xstrdup (w->name) : NULL;
  parts.node_id = n->node_id ? xstrdup (n->node_id) : NULL;
  snprintf (parts.id, sizeof parts.id, "%s", w->id);
  subjects_log (&parts.subject, w->ns, n->node_id, w->name, w->id);
  build_tail (&parts.tail_info, "INFO", w->id, &parts.head);
  build_tail (&parts.tail_error, "ERROR", w->id, &parts.head);
  return &parts;
}

/* Bytes jsonw_escape copies as they are (its own fast path). */
static bool
json_plain (const char *s, size_t n)
{
  static bool table[256];
  static bool ready;
  if (!ready)
    {
      for (int c = 0x20; c < 0x80; c++)
        table[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&';
      ready = true;
    }
  for (size_t i = 0; i < n; i++)
    if (!table[(unsigned char) s[i]])
      return false;
  return true;
}

void
logs_u64_dec (uint64_t v, char *out)
{
  char tmp[21];
  size_t k = 0, i = 0;
  do
    tmp[k++] = (char) ('0' + v % 10);
  while ((v /= 10) != 0);
  while (k > 0)
    out[i++] = tmp[--k];
  out[i] = '\0';
}

static void
release (natsMsg *msg)
{
  if (batching && batch_len < LOGS_BATCH_MAX)
    batch[batch_len++] = msg;
  else
    natsMsg_Destroy (msg);
}

void
logs_batch_begin (void)
{
  batching = true;
}

void
logs_batch_end (void)
{
  for (size_t i = 0; i < batch_len; i++)
    natsMsg_Destroy (batch[i]);
  batch_len = 0;
  batching = false;
}

void
logs_publish (struct log_stream *w, bool is_stderr, const char *text, size_t len)
{
  logs_publish_level (w, is_stderr ? "ERROR" : "INFO", text, len);
}

/* One message on w's subject: the body for text at level, and one header
 * (Nexc-Seq for a line, Nexc-Dropped for a drop record). Returns nats.c's
 * status; the caller decides what a failure means. */
static natsStatus
publish_msg (struct log_stream *w, const char *level, const char *text, size_t len,
             const char *hname, const char *hvalue)
{
  struct node *n = w->node;
  const struct wl_parts *p = parts_for (w);
  natsMsg *msg = NULL;
  natsStatus s;

  buf_reset (&body);
  buf_append (&body, p->head.data, p->head.len);
  if (json_plain (text, len))
    {
      buf_reserve (&body, len + 2);
      buf_putc (&body, '"');
      buf_append (&body, text, len);
      buf_putc (&body, '"');
    }
  else
    jsonw_escape (&body, text, len);
  if (strcmp (level, "INFO") == 0)
    buf_append (&body, p->tail_info.data, p->tail_info.len);
  else if (strcmp (level, "ERROR") == 0)
    buf_append (&body, p->tail_error.data, p->tail_error.len);
  else
    {
      cleanup_buf struct buf head = BUF_INIT;
      cleanup_buf struct buf tail = BUF_INIT;
      build_tail (&tail, level, w->id, &head);
      buf_append (&body, tail.data, tail.len);
    }
  unsent_estimate += p->subject.len + body.len + strlen (hvalue) + LOGS_MSG_OVERHEAD;
  s = natsMsg_Create (&msg, p->subject.data, NULL, body.data, (int) body.len);
  if (s == NATS_OK)
    s = natsMsgHeader_Set (msg, hname, hvalue);
  if (s == NATS_OK)
    s = natsConnection_PublishMsg (n->nc_data, msg);
  if (msg != NULL)
    release (msg);
  return s;
}

void
logs_publish_record (struct log_stream *w, const char *level, const char *text, size_t len,
                     const char *hname, const char *hvalue)
{
  natsStatus s = publish_msg (w, level, text, len, hname, hvalue);
  if (s != NATS_OK)
    {
      w->dropped++;
      w->node->counters.log_dropped_publish++;
      report_drop (w, natsStatus_GetText (s));
    }
}

void
logs_reserve (struct log_stream *w, uint64_t seq)
{
  if (w->reserve != NULL && seq > w->limit)
    w->reserve (w, seq);
}

bool
logs_try_publish (struct log_stream *w, bool is_stderr, const char *text, size_t len)
{
  char seq[24];
  logs_reserve (w, w->seq + 1);
  logs_u64_dec (w->seq + 1, seq);
  if (publish_msg (w, is_stderr ? "ERROR" : "INFO", text, len, LOGS_SEQ_HEADER, seq) != NATS_OK)
    return false;
  w->seq++;
  w->bytes += len;
  w->node->counters.log_lines++;
  return true;
}

void
logs_publish_level (struct log_stream *w, const char *level, const char *text, size_t len)
{
  char seq[24];
  logs_reserve (w, w->seq + 1);
  w->seq++;
  w->bytes += len;
  w->node->counters.log_lines++;
  logs_u64_dec (w->seq, seq);
  logs_publish_record (w, level, text, len, LOGS_SEQ_HEADER, seq);
}

bool
logs_congested (struct node *n)
{
  if (natsConnection_Status (n->nc_data) == NATS_CONN_STATUS_CONNECTED)
    {
      unsent_estimate = 0;
      return natsConnection_Buffered (n->nc_data) > LOGS_WRITE_BUDGET;
    }
  return unsent_estimate > LOGS_RECONNECT_BUDGET;
}
