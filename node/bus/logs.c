#include "node/bus/logs.h"

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

/* Decimal digits of v into out (at least 21 bytes), NUL-terminated. */
static void
u64_dec (uint64_t v, char *out)
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

/* A message that is not published again when it fails: counted lost. */
static void
publish (struct log_stream *w, const char *level, const char *text, size_t len,
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

/* Number seq is about to go out: journaled first (see struct log_stream). */
static void
reserve (struct log_stream *w, uint64_t seq)
{
  if (w->reserve != NULL && seq > w->limit)
    w->reserve (w, seq);
}

bool
logs_try_publish (struct log_stream *w, bool is_stderr, const char *text, size_t len)
{
  char seq[24];
  reserve (w, w->seq + 1);
  u64_dec (w->seq + 1, seq);
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
  reserve (w, w->seq + 1);
  w->seq++;
  w->bytes += len;
  w->node->counters.log_lines++;
  u64_dec (w->seq, seq);
  publish (w, level, text, len, LOGS_SEQ_HEADER, seq);
}

/* The last number taken: published, reported, or kept. */
static uint64_t
last_taken (const struct log_stream *w)
{
  return w->n_kept > w->kept_off ? w->kept[w->n_kept - 1].seq : w->seq;
}

int
logs_check_frame (const struct log_stream *w, uint64_t first_seq, uint64_t dropped, size_t n,
                  struct nxerr *err)
{
  uint64_t next = last_taken (w) + 1;
  if (first_seq == 0 || first_seq >= LOGS_SEQ_MAX || n >= LOGS_SEQ_MAX - first_seq)
    return nxerr_set (err, EPROTO, "protocol violation: Log frame numbered %llu (%zu lines)",
                      (unsigned long long) first_seq, n);
  if (dropped >= first_seq || first_seq - dropped != next)
    return nxerr_set (err, EPROTO,
                      "protocol violation: Log frame numbered %llu with %llu dropped before it, "
                      "expected %llu",
                      (unsigned long long) first_seq, (unsigned long long) dropped,
                      (unsigned long long) next);
  return 0;
}

int
logs_resume (struct log_stream *w, uint64_t next_seq, struct nxerr *err)
{
  if (next_seq == 0)
    return 0; /* an agent that does not say: the node's count goes on */
  if (next_seq >= LOGS_SEQ_MAX || next_seq <= w->seq)
    return nxerr_set (err, EPROTO,
                      "protocol violation: reattach at Nexc-Seq %llu, the node had reached %llu",
                      (unsigned long long) next_seq, (unsigned long long) w->seq);
  w->seq = next_seq - 1;
  w->ack.acked = w->seq; /* the agent holds what the dead node never confirmed */
  w->ack.rewinding = false; /* it has rewound by itself */
  w->ack.resend_due = false;
  return 0;
}

/* "FIRST-LAST", as a drop record's header says it. */
static void
format_range (uint64_t first, uint64_t last, char out[48])
{
  size_t len;
  u64_dec (first, out);
  len = strlen (out);
  out[len++] = '-';
  u64_dec (last, out + len);
}

void
logs_report_dropped (struct log_stream *w, uint64_t last, const char *where)
{
  char range[48], text[160];
  uint64_t first = w->seq + 1, count;
  int len;
  if (last < first)
    return;
  count = last - first + 1;
  reserve (w, last);
  w->seq = last;
  logs_note_dropped (w, count, where);
  format_range (first, last, range);
  len = snprintf (text, sizeof text, "nexc: %" PRIu64 " log lines dropped (Nexc-Seq %s): %s",
                  count, range, where);
  publish (w, "WARN", text, (size_t) len, LOGS_DROPPED_HEADER, range);
}

void
logs_report_lost (struct log_stream *w, const char *where)
{
  char range[48], text[200];
  uint64_t first = w->seq + 1, last = w->limit;
  int len;
  if (last < first || last >= LOGS_SEQ_MAX)
    return;
  w->seq = last;
  format_range (first, last, range);
  log_warn ("workload %s (%s): %s: its lines after Nexc-Seq %" PRIu64 " (at most %" PRIu64
            ") may be lost; the next run starts at %" PRIu64,
            w->id, w->name, where, first - 1, last - first + 1, last + 1);
  len = snprintf (text, sizeof text,
                  "nexc: %s: lines of Nexc-Seq %s that have not arrived are lost; the next "
                  "line is numbered above",
                  where, range);
  publish (w, "WARN", text, (size_t) len, LOGS_DROPPED_HEADER, range);
}

void
logs_account_end (struct log_stream *w, uint64_t next_seq, uint64_t unreported)
{
  if (next_seq > w->seq && next_seq < LOGS_SEQ_MAX && next_seq - 1 - w->seq == unreported)
    {
      logs_report_dropped (w, next_seq - 1, "still queued when the agent ended");
      return;
    }
  if (next_seq != 0)
    log_warn ("workload %s (%s): its agent ended at Nexc-Seq %llu with %llu lines unsent, but "
              "the node had reached %llu: counted, not trusted",
              w->id, w->name, (unsigned long long) next_seq, (unsigned long long) unreported,
              (unsigned long long) w->seq);
  if (unreported > LOGS_SEQ_MAX - w->seq)
    unreported = LOGS_SEQ_MAX - w->seq;
  w->seq += unreported; /* never reuse a number the agent may have given */
  logs_note_dropped (w, unreported, "agent buffer at exit");
}

static void
keep (struct log_stream *w, bool drop, uint64_t seq, bool is_stderr, const char *text, size_t len)
{
  struct log_kept *k;
  if (w->n_kept == w->cap_kept)
    {
      w->cap_kept = w->cap_kept ? 2 * w->cap_kept : 64;
      w->kept = xrealloc (w->kept, w->cap_kept * sizeof *w->kept);
    }
  k = &w->kept[w->n_kept++];
  k->seq = seq;
  k->drop = drop;
  k->is_stderr = is_stderr;
  k->len = len;
  k->text = NULL;
  if (!drop)
    {
      k->text = xmalloc (len ? len : 1);
      memcpy (k->text, text, len);
    }
}

static void
kept_clear (struct log_stream *w)
{
  for (size_t i = w->kept_off; i < w->n_kept; i++)
    free (w->kept[i].text);
  w->n_kept = w->kept_off = 0;
}

bool
logs_offer (struct log_stream *w, bool is_stderr, const char *text, size_t len)
{
  if (w->n_kept == w->kept_off && logs_try_publish (w, is_stderr, text, len))
    return true;
  keep (w, false, last_taken (w) + 1, is_stderr, text, len);
  return false;
}

#define DROPPED_IN_AGENT "agent buffer full (drop_oldest)"

void
logs_offer_dropped (struct log_stream *w, uint64_t last)
{
  if (w->n_kept == w->kept_off)
    {
      logs_report_dropped (w, last, DROPPED_IN_AGENT);
      return;
    }
  keep (w, true, last, false, NULL, 0);
}

bool
logs_retry (struct log_stream *w)
{
  while (w->kept_off < w->n_kept)
    {
      struct log_kept *k = &w->kept[w->kept_off];
      if (k->drop)
        logs_report_dropped (w, k->seq, DROPPED_IN_AGENT);
      else if (!logs_try_publish (w, k->is_stderr, k->text, k->len))
        return false;
      free (k->text);
      k->text = NULL;
      w->kept_off++;
    }
  w->n_kept = w->kept_off = 0;
  return true;
}

void
logs_drop_kept (struct log_stream *w, const char *where)
{
  uint64_t last;
  if (w->n_kept == w->kept_off)
    return;
  last = last_taken (w);
  kept_clear (w);
  logs_report_dropped (w, last, where);
}

int
logs_rewound (struct log_stream *w, uint64_t next_seq, struct nxerr *err)
{
  uint64_t acked = w->ack.acked, last = last_taken (w);
  char range[48], text[160];
  int len;
  if (!w->ack.rewinding)
    return nxerr_set (err, EPROTO, "protocol violation: Rewound without a resend asked for");
  if (next_seq <= acked || next_seq > last + 1 || next_seq >= LOGS_SEQ_MAX)
    return nxerr_set (err, EPROTO,
                      "protocol violation: rewound to Nexc-Seq %llu, the node had confirmed "
                      "%llu and reached %llu",
                      (unsigned long long) next_seq, (unsigned long long) acked,
                      (unsigned long long) last);
  kept_clear (w); /* they come again */
  if (next_seq > acked + 1)
    {
      /* Drops reported after the last confirmation (drop_oldest): their
       * record may have gone with the broken connection. Said again, not
       * counted again. */
      format_range (acked + 1, next_seq - 1, range);
      len = snprintf (text, sizeof text, "nexc: log lines of Nexc-Seq %s were dropped (%s)",
                      range, DROPPED_IN_AGENT);
      w->seq = next_seq - 1;
      publish (w, "WARN", text, (size_t) len, LOGS_DROPPED_HEADER, range);
    }
  w->seq = next_seq - 1;
  logack_rewound (w);
  return 0;
}

void
logs_stream_free (struct log_stream *w)
{
  kept_clear (w);
  free (w->kept);
  w->kept = NULL;
  w->cap_kept = 0;
}

bool
logs_congested (struct node *n)
{
  if (natsConnection_Status (n->nc_data) == NATS_CONN_STATUS_CONNECTED)
    {
      unsent_estimate = 0;
      return false;
    }
  return unsent_estimate > LOGS_RECONNECT_BUDGET;
}
