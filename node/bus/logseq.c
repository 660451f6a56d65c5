/* logseq: the numbering side of a workload's log stream (node/bus/logs.h):
 * what the agent's frames must say (logs_check_frame), where a reattached
 * or rewound agent stands, the records of dropped and lost numbers, and the
 * lines kept while the connection broke under a publish. The messages
 * themselves are node/bus/logs.c's. Loop thread only. */
#include "node/bus/logs.h"
#include "node/bus/logs_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/log.h"
#include "api/xalloc.h"
#include "node/core/node.h"

#define DROPPED_IN_AGENT "agent buffer full (drop_oldest)"

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
  logs_u64_dec (first, out);
  len = strlen (out);
  out[len++] = '-';
  logs_u64_dec (last, out + len);
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
  logs_reserve (w, last);
  w->seq = last;
  logs_note_dropped (w, count, where);
  format_range (first, last, range);
  len = snprintf (text, sizeof text, "nexc: %" PRIu64 " log lines dropped (Nexc-Seq %s): %s",
                  count, range, where);
  logs_publish_record (w, "WARN", text, (size_t) len, LOGS_DROPPED_HEADER, range);
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
  logs_publish_record (w, "WARN", text, (size_t) len, LOGS_DROPPED_HEADER, range);
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
  log_debug ("logs: %s rewound to %llu (confirmed %llu, taken %llu, %zu kept)", w->id,
             (unsigned long long) next_seq, (unsigned long long) acked,
             (unsigned long long) last, w->n_kept - w->kept_off);
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
      logs_publish_record (w, "WARN", text, (size_t) len, LOGS_DROPPED_HEADER, range);
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

