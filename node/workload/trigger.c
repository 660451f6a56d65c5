#include "node/workload/trigger.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <nats/nats.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/deploy_request.h"
#include "api/log.h"
#include "api/subjects.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/agents/agent.h"
#include "node/bus/events.h"
#include "node/bus/logs.h"
#include "node/bus/natsloop.h"
#include "node/bus/subgrave.h"
#include "node/core/node.h"
#include "node/agents/pool.h"
#include "node/sandbox/fsview.h"
#include "node/sandbox/sandbox.h"
#include "node/workload/env.h"
#include "node/workload/fn_msg.h"
#include "node/workload/supervise.h"
#include "node/workload/workload.h"

struct fn_call {
  struct fn_call *next, *prev;
  struct fn *fn;
  struct fn_msg *msg;
  struct agent *agent;
  int out_fd; /* the node's reference to the workload's stdout */
  uint64_t start_ns;
  struct loop_timer timer; /* backstop past the timeout */
};

struct fn {
  struct workload *w;
  natsSubscription **subs;
  int64_t *sids;
  size_t n_subs;
  int exe_fd;
  struct env env; /* secret: wiped on free */
  struct fn_msg *q_head, *q_tail;
  size_t q_len;
  struct fn_call *calls;
  size_t running;
  uint64_t ok, failed, runtime_ns;
  bool stopping;
};

static void pump (struct fn *fn);
static bool call_agent_frame (void *owner, struct agent *a, Frame *f);
static void call_agent_lost (void *owner, struct agent *a, const char *why);
/* The lease of an invocation's agent (owner: the struct fn_call). */
static const struct agent_ops call_ops = { call_agent_frame, call_agent_lost };

bool
trigger_is_function (const char *type)
{
  return type && strcmp (type, FN_TYPE) == 0;
}

/* ---- messages: nats.c thread -> loop ---- */

static void on_msg_loop (void *arg);

/* Loop thread, right after the read that brought msg (node/bus/natsloop.h):
 * copy what the invocation needs, destroy the message, queue it. */
static void
on_nats_msg (void *closure, natsSubscription *sub, natsMsg *msg)
{
  struct node *n = closure;
  struct fn_msg *m = fn_msg_new (n, natsSubscription_GetID (sub), msg);
  natsMsg_Destroy (msg);
  on_msg_loop (m);
}

/* ---- events and log lines (§4.3, §5) ---- */

static void
emit_result (struct fn *fn, const char *subject, bool ok, uint64_t elapsed_ns, const char *error)
{
  struct workload *w = fn->w;
  struct node *n = w->node;
  cleanup_buf struct buf b = BUF_INIT;
  struct jsonw j;
  char line[160];
  jsonw_init (&j, &b);
  jsonw_obj_begin (&j);
  jsonw_kstr (&j, "workload_name", w->name);
  jsonw_kstr (&j, "trigger_subject", subject);
  if (ok)
    jsonw_kint (&j, "elapsed_nanos", (int64_t) elapsed_ns);
  jsonw_kstr (&j, "namespace", w->ns);
  if (!ok)
    jsonw_kstr (&j, "error", error);
  jsonw_obj_end (&j);
  events_publish (n, w->ns, ok ? NEX_EVENT_FUNCTION_OK : NEX_EVENT_FUNCTION_FAILED, n->node_id,
                  timefmt_now (), &b);
  if (ok)
    {
      snprintf (line, sizeof line, "Function %s execution succeeded (%" PRIu64 "ns)", w->name,
                elapsed_ns);
      logs_publish_level (workload_log (w), "DEBUG", line, strlen (line));
      fn->ok++;
      n->counters.fn_ok++;
    }
  else
    {
      logs_publish_level (workload_log (w), "ERROR", "Function execution failed",
                          strlen ("Function execution failed"));
      log_debug ("function %s (%s) on %s failed: %s", w->id, w->name, subject, error);
      fn->failed++;
      n->counters.fn_failed++;
    }
}

/* ---- invocations ---- */

static void
call_free (struct fn_call *c)
{
  struct fn *fn = c->fn;
  struct node *n = fn->w->node;
  loop_timer_cancel (n->loop, &c->timer);
  if (c->prev)
    c->prev->next = c->next;
  else
    fn->calls = c->next;
  if (c->next)
    c->next->prev = c->prev;
  fn->running--;
  if (c->out_fd >= 0)
    close (c->out_fd);
  fn_msg_free (c->msg);
  free (c);
}

/* Let go of the call's agent (single-use: it is killed). */
static void
call_release_agent (struct fn_call *c)
{
  struct agent *a = c->agent;
  if (a == NULL)
    return;
  c->agent = NULL;
  agent_unlease (a);
  a->on_ready = NULL;
  agent_kill (a, NULL);
}

static void
call_fail (struct fn_call *c, const char *error)
{
  emit_result (c->fn, c->msg->subject, false, 0, error);
  call_release_agent (c);
  call_free (c);
}

static void
on_call_timer (struct loop_timer *t)
{
  struct fn_call *c = (struct fn_call *) ((char *) t - offsetof (struct fn_call, timer));
  struct fn *fn = c->fn;
  /* The agent kills the workload at the timeout: it did not even report. */
  if (c->agent)
    {
      struct agent *a = c->agent;
      c->agent = NULL;
      agent_unlease (a);
      agent_kill (a, "function agent did not report after its timeout");
    }
  call_fail (c, "timeout: the agent did not report");
  pump (fn);
}

/* A memfd holding bytes (at offset 0: pwrite leaves the shared offset). */
static int
memfd_with (const char *name, const uint8_t *p, size_t len, struct nxerr *err)
{
  int fd = memfd_create (name, MFD_CLOEXEC);
  size_t off = 0;
  if (fd < 0)
    return nxerr_sys (err, errno, "memfd_create");
  while (off < len)
    {
      ssize_t k = pwrite (fd, p + off, len - off, (off_t) off);
      if (k < 0 && errno == EINTR)
        continue;
      if (k <= 0)
        {
          nxerr_sys (err, k < 0 ? errno : EIO, "memfd write");
          close (fd);
          return -1;
        }
      off += (size_t) k;
    }
  return fd;
}

static int
send_io (struct agent *a, int role, int fd, struct nxerr *err)
{
  Frame f = NEXC__AGENT__FRAME__INIT;
  Nexc__Agent__FunctionIo io = NEXC__AGENT__FUNCTION_IO__INIT;
  io.role = role;
  f.body_case = NEXC__AGENT__FRAME__BODY_FUNCTION_IO;
  f.function_io = &io;
  return agent_send_frame (a, &f, fd, err);
}

static int
send_deploy (struct fn_call *c, struct agent *a, struct nxerr *err)
{
  struct fn *fn = c->fn;
  struct workload *w = fn->w;
  struct node *n = w->node;
  struct fn_msg *m = c->msg;
  Frame f = NEXC__AGENT__FRAME__INIT;
  Nexc__Agent__Deploy d = NEXC__AGENT__DEPLOY__INIT;
  size_t nv = fn->env.n + 1 + m->n_hdr, k = 0;
  Nexc__Agent__EnvVar *vars = xcalloc (nv, sizeof *vars);
  Nexc__Agent__EnvVar **pvars = xcalloc (nv, sizeof *pvars);
  char **names = xcalloc (m->n_hdr + 1, sizeof *names);
  int rc;
  for (size_t i = 0; i < fn->env.n; i++, k++)
    {
      nexc__agent__env_var__init (&vars[k]);
      vars[k].key = fn->env.kv[2 * i];
      vars[k].value = fn->env.kv[2 * i + 1];
    }
  nexc__agent__env_var__init (&vars[k]);
  vars[k].key = "NEX_TRIGGER_SUBJECT";
  vars[k++].value = m->subject;
  for (size_t i = 0; i < m->n_hdr; i++, k++)
    {
      names[i] = fn_msg_env_name (m->hdr[2 * i]);
      nexc__agent__env_var__init (&vars[k]);
      vars[k].key = names[i];
      vars[k].value = m->hdr[2 * i + 1];
    }
  for (size_t i = 0; i < nv; i++)
    pvars[i] = &vars[i];
  d.workload_id = w->id;
  d.name = w->name;
  d.n_argv = w->req ? w->req->argc : 0;
  d.argv = w->req ? w->req->argv : NULL;
  d.n_env = nv;
  d.env = pvars;
  d.artifact_size = w->artifact_size;
  d.function_mode = true;
  d.timeout_ms = (uint32_t) n->cfg.function_timeout_ms;
  rc = 0;
  if (a->slot)
    {
      /* The deploy's resources hold for every invocation's sandbox. */
      static const struct deploy_resources none;
      rc = sandbox_slot_apply (n->sandbox, a->slot, w->req ? &w->req->resources : &none, err);
      d.rlimit_nproc = a->slot->limits.pids;
      d.rlimit_nofile = (uint64_t) n->cfg.open_files_limit;
      fsview_fill (n, w->req ? &w->req->filesystem : NULL, &d);
    }
  if (rc == 0)
    {
      f.body_case = NEXC__AGENT__FRAME__BODY_DEPLOY;
      f.deploy = &d;
      rc = agent_send_frame (a, &f, fn->exe_fd, err);
    }
  for (size_t i = 0; i < m->n_hdr; i++)
    free (names[i]);
  free (names);
  free (pvars);
  free (vars);
  return rc;
}

static void
call_send (struct fn_call *c, struct agent *a)
{
  struct nxerr err = { 0 };
  struct node *n = c->fn->w->node;
  int in;
  char msg[400];
  c->agent = a;
  agent_lease (a, &call_ops, c, NULL);
  in = memfd_with ("nexc-fn-stdin", c->msg->data, c->msg->len, &err);
  if (in >= 0)
    c->out_fd = memfd_with ("nexc-fn-stdout", NULL, 0, &err);
  if (in < 0 || c->out_fd < 0 || send_io (a, NEXC__AGENT__FUNCTION_IO__ROLE__STDIN, in, &err) < 0
      || send_io (a, NEXC__AGENT__FUNCTION_IO__ROLE__STDOUT, c->out_fd, &err) < 0
      || send_deploy (c, a, &err) < 0)
    {
      if (in >= 0)
        close (in);
      snprintf (msg, sizeof msg, "failed to hand the invocation to an agent: %s", err.msg);
      call_fail (c, msg);
      return;
    }
  close (in); /* the agent has its own reference */
  loop_timer_arm (n->loop, &c->timer,
                  (uint64_t) n->cfg.function_timeout_ms + FN_AGENT_GRACE_MS);
}

static void
on_cold_ready (struct agent *a, bool ok, void *ud)
{
  struct fn_call *c = ud;
  struct fn *fn = c->fn;
  if (!ok)
    {
      c->agent = NULL;
      call_fail (c, "agent died during start");
      pump (fn);
      return;
    }
  call_send (c, a);
}

static void
call_start (struct fn *fn, struct fn_msg *m)
{
  struct node *n = fn->w->node;
  struct fn_call *c = xcalloc (1, sizeof *c);
  struct nxerr err = { 0 };
  struct agent *a;
  c->fn = fn;
  c->msg = m;
  c->out_fd = -1;
  c->start_ns = timefmt_mono_ns ();
  loop_timer_init (&c->timer, on_call_timer);
  c->next = fn->calls;
  if (fn->calls)
    fn->calls->prev = c;
  fn->calls = c;
  fn->running++;
  if (m->too_big)
    {
      char msg[120];
      snprintf (msg, sizeof msg, "payload larger than %d bytes", FN_PAYLOAD_MAX);
      call_fail (c, msg);
      return;
    }
  a = pool_lease (n->fn_pool);
  if (a)
    {
      call_send (c, a);
      return;
    }
  /* No warm agent: a cold one (the invocation pays the spawn). */
  a = pool_spawn (n->fn_pool, &err);
  if (a == NULL)
    {
      char msg[400];
      snprintf (msg, sizeof msg, "no agent: %s", err.msg);
      call_fail (c, msg);
      return;
    }
  a->state = AGENT_SPAWNING;
  a->on_ready = on_cold_ready;
  a->ud = c;
  c->agent = a;
}

static void
pump (struct fn *fn)
{
  struct node *n = fn->w->node;
  while (!fn->stopping && fn->q_head && fn->running < (size_t) n->cfg.function_pool_size)
    {
      struct fn_msg *m = fn->q_head;
      fn->q_head = m->next;
      if (fn->q_head == NULL)
        fn->q_tail = NULL;
      fn->q_len--;
      m->next = NULL;
      call_start (fn, m);
    }
}

static struct fn *
fn_by_sid (struct node *n, int64_t sid)
{
  for (struct workload *w = n->workloads; w; w = w->next)
    if (w->fn && w->state == WL_RUNNING && !w->fn->stopping)
      for (size_t i = 0; i < w->fn->n_subs; i++)
        if (w->fn->sids[i] == sid)
          return w->fn;
  return NULL;
}

static void
on_msg_loop (void *arg)
{
  struct fn_msg *m = arg;
  struct fn *fn = fn_by_sid (m->node, m->sid);
  if (fn == NULL) /* unsubscribed meanwhile */
    {
      fn_msg_free (m);
      return;
    }
  if (fn->q_len >= FN_QUEUE_MAX)
    {
      emit_result (fn, m->subject, false, 0, "too many pending invocations");
      fn_msg_free (m);
      return;
    }
  if (fn->q_tail)
    fn->q_tail->next = m;
  else
    fn->q_head = m;
  fn->q_tail = m;
  fn->q_len++;
  pump (fn);
}

/* ---- frames of an invocation's agent ---- */

static void
on_result (struct fn_call *c, const Nexc__Agent__FunctionResult *r)
{
  struct fn *fn = c->fn;
  struct workload *w = fn->w;
  struct node *n = w->node;
  struct agent *a = c->agent;
  uint64_t elapsed = r->elapsed_ns ? r->elapsed_ns : timefmt_mono_ns () - c->start_ns;
  char err[200];
  struct stat st = { 0 };
  /* Log frames counted their drops; only those no frame carried are new. */
  logs_note_dropped (workload_log (w), (unsigned long long) r->log_dropped_unreported, "agent buffer at exit");
  fn->runtime_ns += elapsed;
  err[0] = '\0';
  if (r->timed_out)
    snprintf (err, sizeof err, "timeout: ran longer than %lld ms",
              (long long) n->cfg.function_timeout_ms);
  else if (a && a->slot && n->sandbox && sandbox_slot_oom_kills (n->sandbox, a->slot) > 0)
    {
      n->counters.oom_kills++;
      snprintf (err, sizeof err, "killed: out of memory, limit %llu MiB",
                (unsigned long long) (a->slot->limits.memory_bytes >> 20));
    }
  else if (r->signal > 0)
    snprintf (err, sizeof err, "killed by signal %d", r->signal);
  else if (r->code != 0)
    snprintf (err, sizeof err, "exited with status %d", r->code);
  else if (fstat (c->out_fd, &st) < 0 || !S_ISREG (st.st_mode))
    snprintf (err, sizeof err, "reply unreadable");
  else if (st.st_size > FN_REPLY_MAX)
    snprintf (err, sizeof err, "reply larger than %d bytes", FN_REPLY_MAX);
  if (err[0] == '\0' && c->msg->reply)
    {
      size_t len = (size_t) st.st_size, off = 0;
      uint8_t *p = xmalloc (len + 1);
      while (off < len)
        {
          ssize_t k = pread (c->out_fd, p + off, len - off, (off_t) off);
          if (k < 0 && errno == EINTR)
            continue;
          if (k <= 0)
            break;
          off += (size_t) k;
        }
      natsStatus s = natsConnection_Publish (n->nc, c->msg->reply, p, (int) off);
      natsloop_send_now (n->natsloop);
      if (s != NATS_OK)
        {
          n->counters.replies_failed++;
          log_warn ("function %s: reply to %s: %s", w->name, c->msg->reply, natsStatus_GetText (s));
        }
      free (p);
    }
  if (err[0])
    emit_result (fn, c->msg->subject, false, 0, err);
  else
    emit_result (fn, c->msg->subject, true, elapsed, NULL);
  call_release_agent (c);
  call_free (c);
  pump (fn);
}

static bool
call_frame (struct fn_call *c, struct agent *a, Frame *f)
{
  struct fn *fn = c->fn;
  char why[120];
  switch (f->body_case)
    {
    case NEXC__AGENT__FRAME__BODY_STARTED:
      return true;
    case NEXC__AGENT__FRAME__BODY_START_FAILED:
      snprintf (why, sizeof why, "start failed: %.100s", f->start_failed->message);
      call_fail (c, why);
      pump (fn);
      return false;
    case NEXC__AGENT__FRAME__BODY_LOG:
      if (f->log->stream == NEXC__AGENT__LOG__STREAM__STREAM_UNSPECIFIED)
        break;
      if (f->log->dropped)
        logs_note_dropped (workload_log (fn->w), (unsigned long long) f->log->dropped, "agent buffer full");
      logs_publish (workload_log (fn->w), f->log->stream == NEXC__AGENT__LOG__STREAM__STDERR,
                    (const char *) f->log->text.data, f->log->text.len);
      return true;
    case NEXC__AGENT__FRAME__BODY_FUNCTION_RESULT:
      on_result (c, f->function_result);
      return false;
    default:
      break;
    }
  snprintf (why, sizeof why, "protocol violation: unexpected %s frame in a function call",
            frame_kind (f));
  c->agent = NULL;
  agent_unlease (a);
  agent_kill (a, why);
  call_fail (c, "agent failed: protocol violation");
  pump (fn);
  return false;
}

/* A batched Log frame: handed to call_frame as the single-line frames it
 * takes. */
static bool
call_log_lines (struct fn_call *c, struct agent *a, const Nexc__Agent__Log *lg)
{
  bool go_on = true;
  logs_batch_begin ();
  for (size_t i = 0; i < lg->n_lines && go_on; i++)
    {
      Nexc__Agent__Log one = NEXC__AGENT__LOG__INIT;
      Frame f = NEXC__AGENT__FRAME__INIT;
      one.stream = lg->lines[i]->stream;
      one.text = lg->lines[i]->text;
      one.dropped = i == 0 ? lg->dropped : 0;
      f.body_case = NEXC__AGENT__FRAME__BODY_LOG;
      f.log = &one;
      go_on = call_frame (c, a, &f);
    }
  logs_batch_end ();
  return go_on;
}

static bool
call_agent_frame (void *owner, struct agent *a, Frame *f)
{
  if (f->body_case == NEXC__AGENT__FRAME__BODY_LOG && f->log->n_lines > 0)
    return call_log_lines (owner, a, f->log);
  return call_frame (owner, a, f);
}

static void
call_agent_lost (void *owner, struct agent *a, const char *why)
{
  struct fn_call *c = owner;
  struct fn *fn = c->fn;
  char msg[200];
  (void) a;
  c->agent = NULL;
  snprintf (msg, sizeof msg, "agent failed: %.150s", why);
  call_fail (c, msg);
  pump (fn);
}

/* ---- the workload ---- */

void
trigger_fn_free (struct fn *fn)
{
  if (fn == NULL)
    return;
  bool buried = false;
  for (size_t i = 0; i < fn->n_subs; i++)
    if (fn->subs[i])
      {
        natsloop_unwatch (fn->w->node->natsloop, fn->subs[i]);
        subgrave_sub (fn->w->node, fn->w->node->nc, fn->subs[i]);
        buried = true;
      }
  if (buried)
    subgrave_settle (fn->w->node, fn->w->node->nc);
  free (fn->subs);
  free (fn->sids);
  while (fn->q_head)
    {
      struct fn_msg *m = fn->q_head;
      fn->q_head = m->next;
      fn_msg_free (m);
    }
  while (fn->calls)
    {
      call_release_agent (fn->calls);
      call_free (fn->calls);
    }
  env_wipe (&fn->env);
  if (fn->exe_fd >= 0)
    close (fn->exe_fd);
  free (fn);
}

static int
ensure_pool (struct node *n, struct nxerr *err)
{
  if (n->fn_pool)
    return 0;
  if (pool_new (n, &n->fn_pool, err) < 0)
    return -1;
  pool_set_size (n->fn_pool, (size_t) n->cfg.function_pool_size, "function pool");
  pool_start (n->fn_pool);
  return 0;
}

void
trigger_start (struct workload *w, int *exe_fd, struct env *env)
{
  struct node *n = w->node;
  struct fn *fn = xcalloc (1, sizeof *fn);
  const struct deploy_request *req = w->req;
  struct nxerr err = { 0 };
  char queue[600];
  char msg[700];
  fn->w = w;
  fn->exe_fd = *exe_fd;
  *exe_fd = -1;
  fn->env = *env;
  memset (env, 0, sizeof *env);
  w->fn = fn;
  if (ensure_pool (n, &err) < 0)
    {
      snprintf (msg, sizeof msg, "Failed to deploy workload: function pool: %s", err.msg);
      supervise_fail_deploy (w, msg);
      return;
    }
  snprintf (queue, sizeof queue, "nexc-fn.%s.%s", w->ns, w->name);
  fn->subs = xcalloc (req->n_triggers, sizeof *fn->subs);
  fn->sids = xcalloc (req->n_triggers, sizeof *fn->sids);
  for (size_t i = 0; i < req->n_triggers; i++)
    {
      natsStatus s = natsConnection_QueueSubscribeSync (&fn->subs[fn->n_subs], n->nc,
                                                        req->trigger_subjects[i], queue);
      if (s != NATS_OK)
        {
          snprintf (msg, sizeof msg, "Failed to deploy workload: nats: %s",
                    natsStatus_GetText (s));
          supervise_fail_deploy (w, msg); /* frees fn with w: unsubscribes the others */
          return;
        }
      natsSubscription_SetPendingLimits (fn->subs[fn->n_subs], FN_QUEUE_MAX * 4,
                                         64 * 1024 * 1024);
      fn->sids[fn->n_subs] = natsSubscription_GetID (fn->subs[fn->n_subs]);
      natsloop_watch (n->natsloop, fn->subs[fn->n_subs], on_nats_msg, n);
      fn->n_subs++;
    }
  /* Subscriptions must be known to the server before the deploy says so:
   * the reply follows the SUBs on the same connection, and the server
   * handles a connection's protocol in order. (A flush here would wait on
   * the loop thread for an answer only the loop can read.) */
  log_info ("function %s (%s/%s): %zu trigger subject(s), queue group %s", w->id, w->ns, w->name,
            fn->n_subs, queue);
  supervise_started (w, 0);
}

void
trigger_stop (struct workload *w)
{
  struct fn *fn = w->fn;
  fn->stopping = true;
  for (size_t i = 0; i < fn->n_subs; i++)
    {
      natsloop_unwatch (fn->w->node->natsloop, fn->subs[i]);
      subgrave_sub (fn->w->node, fn->w->node->nc, fn->subs[i]);
      fn->subs[i] = NULL;
    }
  subgrave_settle (fn->w->node, fn->w->node->nc);
  while (fn->q_head)
    {
      struct fn_msg *m = fn->q_head;
      fn->q_head = m->next;
      emit_result (fn, m->subject, false, 0, "workload stopped");
      fn_msg_free (m);
    }
  fn->q_tail = NULL;
  fn->q_len = 0;
  while (fn->calls)
    call_fail (fn->calls, "workload stopped");
  /* Ends w: workload_stopped "Workload shutdown requested", STOP answered. */
  supervise_exited (w, 0, 0, true, 0, 0);
}

/* ---- INFO ---- */

bool
trigger_stats (const struct workload *w, struct fn_stats *out)
{
  const struct fn *fn = w->fn;
  if (fn == NULL)
    return false;
  *out = (struct fn_stats){ .ok = fn->ok,
                            .failed = fn->failed,
                            .runtime_ns = fn->runtime_ns,
                            .running = fn->running,
                            .queued = fn->q_len };
  return true;
}
