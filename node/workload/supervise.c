#include "node/workload/supervise.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "api/jsonw.h"
#include "api/log.h"
#include "api/subjects.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/agents/agent.h"
#include "node/bus/reply.h"
#include "node/workload/launch.h"
#include "node/bus/events.h"
#include "node/bus/outbox.h"
#include "node/bus/logack.h"
#include "node/bus/logs.h"
#include "node/core/node.h"
#include "node/workload/persist.h"
#include "node/sandbox/sandbox.h"
#include "node/workload/creds.h"
#include "node/workload/trigger.h"
#include "node/workload/workload.h"

static void reply_stop_ok (struct workload *w);

/* ---- stopping ---- */

#define STOP_CONFIRM_MS 2000 /* after the grace period, before we stop waiting */

static void
on_stop_deadline (struct loop_timer *t)
{
  struct workload *w = (struct workload *) ((char *) t - offsetof (struct workload, stop_timer));
  /* The agent did not confirm in time: kill it; supervise_agent_lost ends the
   * workload and answers the STOP. */
  if (w->agent)
    agent_kill (w->agent, "agent did not confirm the stop in time");
}

void
supervise_stop (struct workload *w)
{
  struct node *n = w->node;
  struct nxerr err = { 0 };
  w->stop_requested = true;
  if (w->state == WL_RESTARTING)
    {
      /* Between two runs: nothing to signal. Answer and end it. */
      supervise_stop_restarting (w);
      return;
    }
  if (w->state == WL_STARTING)
    return; /* the deploy fails or is stopped when Started arrives */
  if (w->state != WL_RUNNING || w->exit.pending)
    return; /* ended already: its end waits only for its last lines */
  w->state = WL_STOPPING;
  if (w->fn) /* a function: no agent of its own */
    {
      trigger_stop (w);
      return;
    }
  if (w->agent == NULL || agent_send_stop (w->agent, (uint32_t) n->cfg.stop_grace_ms, &err) < 0)
    {
      if (w->agent)
        agent_kill (w->agent, err.msg);
      return;
    }
  w->stop_timer.cb = on_stop_deadline;
  loop_timer_arm (n->loop, &w->stop_timer, (uint64_t) n->cfg.stop_grace_ms + STOP_CONFIRM_MS);
}

static void
free_workload (void *arg)
{
  struct workload *w = arg;
  trigger_fn_free (w->fn);
  w->fn = NULL;
  workload_free (w);
}

/* workload_stopped for w's run, once: a node that died after journaling it
 * (and before forgetting w) republishes it; the end the node taking w back
 * finds is that same end, not announced again. */
static void
announce_stopped (struct workload *w, const struct events_wl *ev, int code, const char *msg)
{
  if (w->stop_announced)
    {
      w->stop_announced = false;
      log_info ("workload %s (%s): its end was announced before the node restarted: not again",
                w->id, w->name);
      return;
    }
  events_workload_stopped (w->node, ev, code, msg);
}

/* Final step of every workload: exactly one workload_stopped was sent by the
 * caller; unlink now, free after the current event batch. */
static void
end_workload (struct workload *w)
{
  struct node *n = w->node;
  w->state = WL_ENDED;
  persist_forget (w);
  creds_remove (w);
  loop_timer_cancel (n->loop, &w->stop_timer);
  loop_timer_cancel (n->loop, &w->logs_timer);
  logack_forget (workload_log (w));
  if (w->agent)
    {
      struct agent *a = w->agent;
      w->agent = NULL;
      agent_unlease (a);
      if (a->state != AGENT_DEAD)
        agent_kill (a, NULL);
    }
  workload_unlink (n, w);
  n->counters.workloads_exited++;
  loop_defer (n->loop, free_workload, w);
  if (n->on_workload_ended)
    n->on_workload_ended (n);
}

/* Release the agent of a workload that ended but may run again. */
static void
detach_agent (struct workload *w)
{
  struct agent *a = w->agent;
  creds_remove (w);
  loop_timer_cancel (w->node->loop, &w->stop_timer);
  loop_timer_cancel (w->node->loop, &w->logs_timer);
  if (a == NULL)
    return;
  w->agent = NULL;
  agent_unlease (a);
  if (a->state != AGENT_DEAD)
    agent_kill (a, NULL);
}

/* After workload_stopped: restart per policy, or end. */
static void
restart_or_end (struct workload *w, int code, bool stopped)
{
  struct node *n = w->node;
  struct log_stream *s = workload_log (w);
  /* Kept lines cannot wait for an agent that is gone: the next run's
   * numbering starts after them. */
  if (!logs_retry (s))
    logs_drop_kept (s, "the NATS connection broke under them as the workload ended");
  persist_forget (w);
  detach_agent (w);
  if (!stopped && !w->stop_requested && !n->lameduck && !n->stopping
      && launch_schedule_restart (w, code))
    return;
  end_workload (w);
}

void
supervise_stop_restarting (struct workload *w)
{
  reply_stop_ok (w);
  supervise_end_quietly (w);
}

bool
supervise_detach (struct workload *w)
{
  struct node *n = w->node;
  struct agent *a = w->agent;
  if (w->state != WL_RUNNING || a == NULL || a->sock == NULL || w->stop_requested
      || trigger_is_function (w->type) || launch_dies_with_node (w))
    return false;
  agent_detach (a);
  w->agent = NULL;
  loop_timer_cancel (n->loop, &w->stop_timer);
  loop_timer_cancel (n->loop, &w->restart_timer);
  loop_timer_cancel (n->loop, &w->logs_timer);
  logack_forget (workload_log (w));
  w->state = WL_ENDED;
  workload_unlink (n, w);
  loop_defer (n->loop, free_workload, w);
  return true;
}

void
supervise_end_quietly (struct workload *w)
{
  loop_timer_cancel (w->node->loop, &w->restart_timer);
  end_workload (w);
}

static void
reply_run_ok (struct workload *w)
{
  cleanup_buf struct buf b = BUF_INIT;
  struct jsonw j;
  jsonw_init (&j, &b);
  jsonw_obj_begin (&j);
  jsonw_kbool (&j, "started", true);
  jsonw_kstr (&j, "id", w->id);
  jsonw_kstr (&j, "issuer", w->claims.iss);
  jsonw_kstr (&j, "name", w->name);
  jsonw_obj_end (&j);
  reply_ok (w->node, w->deploy_reply, NEX_TYPE_RUN_RESPONSE, &b);
  free (w->deploy_reply);
  w->deploy_reply = NULL;
}

static void
reply_stop_ok (struct workload *w)
{
  cleanup_buf struct buf b = BUF_INIT;
  struct jsonw j;
  if (w->stop_reply == NULL)
    return;
  jsonw_init (&j, &b);
  jsonw_obj_begin (&j);
  jsonw_kbool (&j, "stopped", true);
  jsonw_kstr (&j, "id", w->id);
  jsonw_kstr (&j, "issuer", w->claims.iss);
  jsonw_kstr (&j, "name", w->name);
  jsonw_obj_end (&j);
  reply_ok (w->node, w->stop_reply, NEX_TYPE_STOP_RESPONSE, &b);
  free (w->stop_reply);
  w->stop_reply = NULL;
}

void
supervise_started (struct workload *w, uint32_t pid)
{
  struct node *n = w->node;
  struct events_wl ev = workload_ev (w);
  w->state = WL_RUNNING;
  w->started_mono_ns = timefmt_mono_ns ();
  n->counters.deploys_ok++;
  log_info ("workload %s (%s/%s) started, pid %u, in %.3f ms", w->id, w->ns, w->name, pid,
            (double) (w->started_mono_ns - w->created_mono_ns) / 1e6);
  /* Both before the reply: a deploy answered survives a crash, and so does
   * its workload_started (journaled by the outbox). */
  persist_remember (w);
  events_workload_started (n, &ev);
  reply_run_ok (w);
  outbox_send_new (n); /* the event, signed and sent after the reply */
  /* A STOP came while it was starting: carry it out now. */
  if (w->stop_requested)
    supervise_stop (w);
}

void
supervise_fail_deploy (struct workload *w, const char *reply_error)
{
  struct node *n = w->node;
  struct events_wl ev = workload_ev (w);
  char msg[512];
  n->counters.deploys_failed++;
  log_warn ("workload %s (%s) failed to deploy: %s", w->id, w->name, reply_error);
  reply_err (n, w->deploy_reply, NEX_TYPE_RUN_RESPONSE, reply_error);
  free (w->deploy_reply);
  w->deploy_reply = NULL;
  snprintf (msg, sizeof msg, "Failed to start workload: %s; vm: %s", w->name, w->id);
  announce_stopped (w, &ev, -1, msg);
  reply_stop_ok (w); /* a STOP that came while it was starting: it is gone */
  end_workload (w);
}

void
supervise_start_failed (struct workload *w, const char *message)
{
  char err[600];
  snprintf (err, sizeof err, "Failed to deploy workload: workload rejected by agent: %.500s",
            message ? message : "");
  supervise_fail_deploy (w, err);
}

/* Processes of w's sandbox that its memory limit killed (the cgroup's
 * count, read before the leaf goes away); added to INFO's oom_kills. */
static uint64_t
oom_kills (struct workload *w, uint64_t *limit_mib)
{
  struct agent *a = w->agent;
  uint64_t k;
  if (a == NULL || a->slot == NULL || w->node->sandbox == NULL)
    return 0;
  k = sandbox_slot_oom_kills (w->node->sandbox, a->slot);
  *limit_mib = a->slot->limits.memory_bytes >> 20;
  w->node->counters.oom_kills += k;
  return k;
}

/* What a workload's end says: workload_stopped, the STOP's reply. */
static void
announce_exit (struct workload *w, int code, int sig, bool stopped, uint64_t next_seq,
               uint64_t log_dropped_unreported)
{
  struct node *n = w->node;
  struct events_wl ev = workload_ev (w);
  char msg[512];
  uint64_t limit = 0, oom = oom_kills (w, &limit);
  /* Drops Log frames reported were counted as they came; these are the
   * ones no frame carried (lines still queued when the link stayed slow at
   * the end), and the next run's numbering starts after them. */
  if (!logs_retry (workload_log (w)))
    logs_drop_kept (workload_log (w), "the NATS connection broke under them at the end");
  logs_account_end (workload_log (w), next_seq, log_dropped_unreported);
  if (oom && sig == SIGKILL)
    snprintf (msg, sizeof msg,
              "Exited workload: %s; vm: %s; status: -1 (killed: out of memory, limit %llu MiB)",
              w->name, w->id, (unsigned long long) limit);
  else if (oom)
    snprintf (msg, sizeof msg,
              "Exited workload: %s; vm: %s; status: %d (%llu of its processes killed: out of "
              "memory, limit %llu MiB)",
              w->name, w->id, code, (unsigned long long) oom, (unsigned long long) limit);
  else if (sig > 0 && sig < 65)
    snprintf (msg, sizeof msg, "Exited workload: %s; vm: %s; status: %d (signal %d)", w->name,
              w->id, code, sig);
  else
    snprintf (msg, sizeof msg, "Exited workload: %s; vm: %s; status: %d", w->name, w->id, code);
  if (stopped || w->stop_requested)
    snprintf (msg, sizeof msg, "Workload shutdown requested");
  log_info ("workload %s (%s) ended: %s", w->id, w->name, msg);
  announce_stopped (w, &ev, code, msg);
  outbox_send_new (n); /* first: what a stop is waited on with is this event */
  reply_stop_ok (w);
}

void
supervise_exited (struct workload *w, int code, int sig, bool stopped, uint64_t next_seq,
                  uint64_t log_dropped_unreported)
{
  announce_exit (w, code, sig, stopped, next_seq, log_dropped_unreported);
  restart_or_end (w, code, stopped);
}

/* ---- an end that waits for its last lines ---- */

/* The bound on that wait: the agent's own (agent/agent.h AGENT_ACK_WAIT_MS),
 * after which lines sent and never confirmed are forgotten. */
#define EXIT_ACK_WAIT_MS 1000

static void
finish_exit (struct workload *w)
{
  w->exit.pending = false;
  loop_timer_cancel (w->node->loop, &w->stop_timer);
  if (!w->exit.announced)
    {
      supervise_exited (w, w->exit.code, w->exit.sig, w->exit.stopped, w->exit.next_seq,
                        w->exit.dropped_unreported);
      return;
    }
  w->exit.announced = false;
  reply_stop_ok (w); /* a STOP that came meanwhile: it has stopped */
  restart_or_end (w, w->exit.code, w->exit.stopped); /* persist_forget releases the event */
}

static void
on_exit_timer (struct loop_timer *t)
{
  struct workload *w = (struct workload *) ((char *) t - offsetof (struct workload, stop_timer));
  struct log_stream *s = workload_log (w);
  if (s->ack.acked < s->seq)
    log_warn ("workload %s (%s): its last lines (to %llu) not confirmed by the server in %d ms: "
              "ending it all the same",
              w->id, w->name, (unsigned long long) s->seq, EXIT_ACK_WAIT_MS);
  finish_exit (w);
}

/* Whether the server confirmed every line s published up to seq, and none
 * waits for a retry. */
static bool
lines_confirmed (const struct log_stream *s, uint64_t seq)
{
  return seq >= s->seq && s->n_kept <= s->kept_off;
}

/* An Exited whose lines the server has not all confirmed: the agent sends
 * it without waiting for their LogAck, and keeps them (for a resend after a
 * broken connection) until then, so the agent stays, its frames read on,
 * until logack confirms them; then the workload ends or restarts. What a
 * user waits for need not wait for that round trip: once every line is
 * published, workload_stopped goes out behind them on the same connection
 * (node/bus/evpub.h), and the STOP is answered. Lines kept for a retry (the
 * connection broke under them) are published first, so then all of it
 * waits. True when the end waits. */
static bool
exit_waits_for_lines (struct workload *w, const Nexc__Agent__Exited *ex)
{
  struct log_stream *s = workload_log (w);
  if (w->node->logack == NULL || s->ack.on_ack == NULL || lines_confirmed (s, s->ack.acked))
    return false;
  w->exit.pending = true;
  w->exit.stopped = ex->stopped;
  w->exit.code = ex->code;
  w->exit.sig = ex->signal;
  w->exit.next_seq = ex->next_seq;
  w->exit.dropped_unreported = ex->log_dropped_unreported;
  w->stop_timer.cb = on_exit_timer;
  /* The lines' Log frames asked logack for their flush (or, kept for a
   * retry, will once published): nothing more to ask. */
  loop_timer_arm (w->node->loop, &w->stop_timer, EXIT_ACK_WAIT_MS);
  if (s->n_kept <= s->kept_off)
    {
      uint64_t seq = s->seq;
      w->exit.announced = true;
      announce_exit (w, ex->code, ex->signal, ex->stopped, ex->next_seq,
                     ex->log_dropped_unreported);
      outbox_hold (w->node, w->id, true); /* journaled until persist_forget */
      if (s->seq != seq) /* numbers the agent dropped at its end: confirmed with the rest */
        logack_note (s);
    }
  return true;
}

void
supervise_agent_lost (struct workload *w, const char *why)
{
  struct events_wl ev = workload_ev (w);
  char msg[512];
  uint64_t limit = 0, oom = w->state == WL_ENDED ? 0 : oom_kills (w, &limit);
  w->agent = NULL;
  if (w->state == WL_ENDED)
    return;
  if (w->exit.pending)
    {
      /* It had ended; only the confirmation of its last lines was awaited. */
      log_info ("workload %s (%s): agent gone (%s) before its last lines were confirmed", w->id,
                w->name, why);
      finish_exit (w);
      return;
    }
  if (w->state == WL_STARTING)
    {
      char err[600];
      snprintf (err, sizeof err, "Failed to deploy workload: agent failed: %.500s", why);
      supervise_fail_deploy (w, err);
      return;
    }
  if (oom)
    snprintf (msg, sizeof msg,
              "Exited workload: %s; vm: %s; status: -1 (killed: out of memory, limit %llu MiB; "
              "%s)",
              w->name, w->id, (unsigned long long) limit, why);
  else
    snprintf (msg, sizeof msg, "Exited workload: %s; vm: %s; status: -1 (%s)", w->name, w->id,
              why);
  if (w->stop_requested)
    snprintf (msg, sizeof msg, "Workload shutdown requested");
  log_warn ("workload %s (%s): %s", w->id, w->name, why);
  announce_stopped (w, &ev, -1, msg);
  reply_stop_ok (w);
  restart_or_end (w, -1, false);
}

/* ---- the frames of a workload's agent ---- */

/* While the data connection is down, the link stays unread: its frames
 * wait in the socket, then in the agent, whose workload then blocks (or
 * drops, under drop_oldest); nothing piles up in nats.c's reconnect buffer
 * to be lost past its size. Checked again every LOGS_HOLD_RETRY_MS. */
#define LOGS_HOLD_RETRY_MS 5

static void
on_logs_timer (struct loop_timer *t)
{
  struct workload *w = (struct workload *) ((char *) t - offsetof (struct workload, logs_timer));
  struct log_stream *s = workload_log (w);
  if (w->agent == NULL)
    return;
  /* Lines the broken connection refused go first, in order. */
  if (!logs_retry (s) || logs_congested (w->node))
    {
      loop_timer_arm (w->node->loop, &w->logs_timer, LOGS_HOLD_RETRY_MS);
      return;
    }
  logack_note (s);
  agent_hold (w->agent, false);
}

/* The server has every line up to seq: the agent may forget them. A lost
 * ack only delays that (the next covers it). */
static void
on_log_ack (struct log_stream *s, uint64_t seq)
{
  struct workload *w = (struct workload *) ((char *) s - offsetof (struct workload, log));
  struct nxerr err = { 0 };
  if (w->agent == NULL || w->agent->state == AGENT_DEAD || w->agent->awaiting_reattach)
    return;
  if (w->exit.pending && lines_confirmed (s, seq))
    {
      /* Its end, now (logack allows it from here), takes the agent with
       * it: no LogAck to wake the agent for first. */
      finish_exit (w);
      return;
    }
  if (agent_send_log_ack (w->agent, seq, &err) < 0 && err.code != EAGAIN)
    log_debug ("workload %s: log ack: %s", w->id, err.msg);
}

/* The connection broke with lines past seq unconfirmed: the agent sends
 * them again. False when it cannot be asked now (asked again). An agent
 * that is gone or not yet reattached needs no asking: it rewinds by
 * itself when a node connects. */
static bool
on_log_resend (struct log_stream *s, uint64_t seq)
{
  struct workload *w = (struct workload *) ((char *) s - offsetof (struct workload, log));
  struct nxerr err = { 0 };
  if (w->agent == NULL || w->agent->state == AGENT_DEAD || w->agent->awaiting_reattach)
    return true;
  if (agent_send_log_resend (w->agent, seq, &err) == 0)
    return true;
  if (err.code != EAGAIN)
    log_debug ("workload %s: log resend: %s", w->id, err.msg);
  return err.code != EAGAIN;
}

bool
supervise_logs_acked (struct workload *w)
{
  struct log_stream *s = workload_log (w);
  if (w->node->logack == NULL)
    return false;
  s->ack.on_ack = on_log_ack;
  s->ack.on_resend = on_log_resend;
  s->ack.acked = s->seq; /* the new run's lines all come after */
  return true;
}

/* Returns whether to read on: not while lines are kept for a retry (the
 * connection broke under a publish) or the connection is congested. */
static bool
logs_backpressure (struct workload *w, struct agent *a)
{
  struct log_stream *s = workload_log (w);
  bool kept = s->n_kept > s->kept_off;
  if (!kept)
    logack_note (s);
  if (!kept && !logs_congested (w->node))
    return true;
  agent_hold (a, true);
  w->logs_timer.cb = on_logs_timer;
  loop_timer_arm (w->node->loop, &w->logs_timer, LOGS_HOLD_RETRY_MS);
  return false;
}

/* A Log frame: its numbering checked against what the node expects, then
 * each line published on its own, in order (the frame was validated whole
 * by frame_decode: every line has a stream and a bounded text). The drops
 * it reports came right before its first line. Returns whether to read on. */
static bool
handle_log (struct workload *w, struct agent *a, const Nexc__Agent__Log *lg)
{
  struct log_stream *s = workload_log (w);
  size_t n = lg->n_lines > 0 ? lg->n_lines : 1;
  struct nxerr err = { 0 };
  if (logs_check_frame (s, lg->first_seq, lg->dropped, n, &err) < 0)
    {
      agent_kill (a, err.msg);
      return false;
    }
  if (lg->dropped)
    logs_offer_dropped (s, lg->first_seq - 1);
  if (lg->n_lines == 0) /* the single form: one line */
    logs_offer (s, lg->stream == NEXC__AGENT__LOG__STREAM__STDERR, (const char *) lg->text.data,
                lg->text.len);
  else
    {
      logs_batch_begin ();
      for (size_t i = 0; i < lg->n_lines; i++)
        {
          const Nexc__Agent__Log__Line *ln = lg->lines[i];
          logs_offer (s, ln->stream == NEXC__AGENT__LOG__STREAM__STDERR,
                      (const char *) ln->text.data, ln->text.len);
        }
      logs_batch_end ();
    }
  return logs_backpressure (w, a);
}

bool
supervise_frame (void *owner, struct agent *a, Frame *f)
{
  struct workload *w = owner;
  switch (f->body_case)
    {
    case NEXC__AGENT__FRAME__BODY_STARTED:
      if (w->state != WL_STARTING)
        break;
      supervise_started (w, f->started->pid);
      return a->state != AGENT_DEAD;
    case NEXC__AGENT__FRAME__BODY_START_FAILED:
      if (w->state != WL_STARTING)
        break;
      supervise_start_failed (w, f->start_failed->message);
      return false;
    case NEXC__AGENT__FRAME__BODY_LOG:
      if (w->state == WL_STARTING || a->awaiting_reattach)
        break;
      return handle_log (w, a, f->log);
    case NEXC__AGENT__FRAME__BODY_REWOUND:
      if (w->state == WL_STARTING || a->awaiting_reattach)
        break;
      {
        struct nxerr err = { 0 };
        if (logs_rewound (workload_log (w), f->rewound->next_seq, &err) < 0)
          {
            agent_kill (a, err.msg);
            return false;
          }
      }
      return true;
    case NEXC__AGENT__FRAME__BODY_EXITED:
      if (w->state == WL_STARTING || w->exit.pending)
        break;
      if (exit_waits_for_lines (w, f->exited))
        return true;
      supervise_exited (w, f->exited->code, f->exited->signal, f->exited->stopped,
                        f->exited->next_seq, f->exited->log_dropped_unreported);
      return false;
    default:
      break;
    }
  return agent_violation (a, f);
}

static void
agent_lost (void *owner, struct agent *a, const char *why)
{
  (void) a;
  supervise_agent_lost (owner, why);
}

const struct agent_ops supervise_agent_ops = { supervise_frame, agent_lost };
