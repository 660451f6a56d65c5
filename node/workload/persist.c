#include "node/workload/persist.h"

#include <string.h>

#include "api/deploy_request.h"
#include "api/log.h"
#include "api/timefmt.h"
#include "node/agents/agent.h"
#include "node/core/node.h"
#include "node/sandbox/sandbox.h"
#include "node/state/journal.h"
#include "node/workload/workload.h"

void
persist_remember (struct workload *w)
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
  e.log_seq = w->log.seq;
  if (journal_put (j, &e, &err) < 0)
    log_error ("journal: workload %s: %s (it would not survive a node restart)", w->id, err.msg);
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
}
