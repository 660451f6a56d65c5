#include "node/workload/persist.h"

#include <stddef.h>
#include <string.h>

#include "api/deploy_request.h"
#include "api/log.h"
#include "api/timefmt.h"
#include "node/agents/agent.h"
#include "node/bus/outbox.h"
#include "node/core/node.h"
#include "node/sandbox/sandbox.h"
#include "node/state/journal.h"
#include "node/workload/workload.h"

static void reserve_logs (struct log_stream *s, uint64_t seq);

/* Put w's entry, its log limit at least PERSIST_LOG_BLOCK past need. */
static void
remember (struct workload *w, uint64_t need)
{
  struct journal *j = w->node->journal;
  struct agent *a = w->agent;
  cleanup_buf struct buf req = BUF_INIT;
  struct journal_entry e;
  struct nxerr err = { 0 };
  struct timespec now = timefmt_now ();
  uint64_t ran_ns = w->started_mono_ns ? timefmt_mono_ns () - w->started_mono_ns : 0;
  if (j == NULL || a == NULL || a->sock == NULL || w->req == NULL)
    return;
  deploy_request_encode (w->req, &req);
  memset (&e, 0, sizeof e);
  e.id = w->id;
  e.ns = w->ns;
  e.name = w->name;
  e.type = w->type;
  e.hash = w->hash;
  e.size = w->artifact_size;
  e.request = req.data;
  e.agent_pid = (uint64_t) a->pid;
  e.sock = a->sock;
  e.started_ms = (uint64_t) now.tv_sec * 1000 + (uint64_t) now.tv_nsec / 1000000 - ran_ns / 1000000;
  e.restarts = w->restarts;
  e.autostart = w->autostart;
  e.sandbox_uid = a->slot ? a->slot->uid : 0;
  /* What a reattached agent may not go back before: while it keeps lines
   * until acknowledged (LogAck), it resends from the oldest unconfirmed, so
   * the confirmed count, not the published one (a put renewing the limit
   * comes in the middle of a flood). */
  e.log_seq = w->log.ack.on_ack ? w->log.ack.acked : w->log.seq;
  /* Moved on even when the put fails: one error, not one per line. */
  if (w->log.limit < need + PERSIST_LOG_BLOCK && need < LOGS_SEQ_MAX - PERSIST_LOG_BLOCK)
    w->log.limit = need + PERSIST_LOG_BLOCK;
  w->log.reserve = reserve_logs;
  e.log_limit = w->log.limit;
  if (journal_put (j, &e, &err) < 0)
    log_error ("journal: workload %s: %s (it would not survive a node restart)", w->id, err.msg);
}

static void
reserve_logs (struct log_stream *s, uint64_t seq)
{
  struct workload *w = (struct workload *) ((char *) s - offsetof (struct workload, log));
  remember (w, seq);
}

void
persist_remember (struct workload *w)
{
  remember (w, w->log.seq);
}

void
persist_adopt_logs (struct workload *w, uint64_t log_limit)
{
  if (w->node->journal == NULL)
    return;
  w->log.limit = log_limit;
  w->log.reserve = reserve_logs;
}

void
persist_forget (struct workload *w)
{
  struct journal *j = w->node->journal;
  struct nxerr err = { 0 };
  if (j == NULL)
    return;
  if (journal_del (j, w->id, &err) < 0)
    log_error ("journal: workload %s: %s", w->id, err.msg);
  outbox_hold (w->node, w->id, false); /* its announced end need not stay journaled now */
}
