#include "agent/loop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent/agent.h"
#include "api/frame.h"
#include "api/log.h"
#include "api/timefmt.h"

#define NS_PER_MS 1000000ull

/* ---- frames to the node ---- */

static int
send_hello (struct agent *a, struct nxerr *err)
{
  Nexc__Agent__Hello h = NEXC__AGENT__HELLO__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  h.agent_version = NEXC_VERSION;
  h.pid = (uint32_t) getpid ();
  h.sandbox = (char *) sandbox_name (&a->sb);
  f.body_case = NEXC__AGENT__FRAME__BODY_HELLO;
  f.hello = &h;
  return link_send_ctl (&a->link, &f, err);
}

/* ---- endings ---- */

static void
agent_end (struct agent *a, int code)
{
  struct nxerr err = { 0 };
  if (workload_kill_tree (&a->wl, AGENT_KILL_TREE_MS, &err) < 0)
    log_error ("kill workload: %s", err.msg);
  a->done = true;
  a->exit_code = code;
}

/* Reattach: the node is gone but the workload is ours to keep. Queued
 * control frames (Pongs) were for the old node: dropped. */
static void
agent_detach (struct agent *a)
{
  log_info ("link closed by the node: the workload runs on, waiting for a node to reattach");
  while (a->link.ctl_count > 0)
    {
      frame_free (a->link.ctl[a->link.ctl_head]);
      a->link.ctl_head = (a->link.ctl_head + 1) % AGENT_CTL_QUEUE_MAX;
      a->link.ctl_count--;
    }
  close (a->link.sock);
  a->link.sock = -1;
}

/* An abstract socket (tier none) has no file mode to keep others out:
 * only a process of our own uid (the node's) may take the workload over. A
 * file socket sits in the node's 0700 directory already. */
static bool
peer_may_reattach (int listen_fd, int s)
{
  struct sockaddr_un sa;
  socklen_t len = sizeof sa;
  struct ucred cr = { 0, 0, 0 };
  socklen_t clen = sizeof cr;
  if (getsockname (listen_fd, (struct sockaddr *) &sa, &len) < 0)
    return false;
  if (len <= offsetof (struct sockaddr_un, sun_path) || sa.sun_path[0] != '\0')
    return true;
  if (getsockopt (s, SOL_SOCKET, SO_PEERCRED, &cr, &clen) < 0 || cr.uid != geteuid ())
    {
      log_warn ("reattach: a connection from uid %d refused (not ours)", (int) cr.uid);
      return false;
    }
  return true;
}

/* A node connected to the reattach socket: say where the workload stands;
 * the ring (and the Exited, once the ring is empty) follow on the new link. */
static void
agent_accept (struct agent *a)
{
  Nexc__Agent__Reattach r = NEXC__AGENT__REATTACH__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  struct nxerr err = { 0 };
  int s = accept4 (a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (s < 0)
    {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
        log_warn ("reattach: accept: %s", strerror (errno));
      return;
    }
  if (!peer_may_reattach (a->listen_fd, s))
    {
      close (s);
      return;
    }
  a->link.sock = s;
  a->orphan_until = 0;
  r.workload_id = a->workload_id;
  r.pid = (uint32_t) a->wl.pid;
  r.exited = a->phase == PHASE_DRAIN || a->phase == PHASE_FLUSH;
  if (r.exited)
    workload_exit_info (&a->wl, &r.code, &r.signal);
  /* Lines sent to the dead node but never acknowledged go again. */
  log_ring_rewind (&a->ring);
  a->ack_until = 0;
  r.dropped = a->ring.total_dropped;
  r.buffered = a->ring.count;
  r.next_seq = log_ring_resume_seq (&a->ring);
  f.body_case = NEXC__AGENT__FRAME__BODY_REATTACH;
  f.reattach = &r;
  log_info ("reattach: a node connected (%zu lines buffered, %llu dropped)", a->ring.count,
            (unsigned long long) a->ring.total_dropped);
  if (a->phase == PHASE_FLUSH)
    a->flush_until = timefmt_mono_ns () + AGENT_FLUSH_MS * NS_PER_MS;
  a->exited_sent = false; /* the Exited the last node got goes again, after the ring */
  if (link_send_ctl (&a->link, &f, &err) < 0)
    agent_detach (a);
}

/* The link is gone or misused: nobody to report to. */
static void
agent_link_failed (struct agent *a, const struct nxerr *err)
{
  if (a->listen_fd >= 0 && !a->die_with_node && a->phase != PHASE_IDLE && a->link.sock >= 0)
    {
      if (err->code != ECONNRESET)
        log_warn ("link: %s", err->msg);
      agent_detach (a);
      return;
    }
  if (err->code == ECONNRESET)
    {
      log_info ("link closed by the node%s", a->phase == PHASE_IDLE ? "" : ": killing the workload");
      agent_end (a, AGENT_EXIT_OK);
    }
  else
    {
      log_error ("link: %s", err->msg);
      agent_end (a, AGENT_EXIT_LINK);
    }
}

/* The last frame of this agent's life. */
static void
agent_send_last (struct agent *a, const Frame *f)
{
  struct nxerr err = { 0 };
  if (link_send_wait (&a->link, f, AGENT_EXITED_SEND_MS, &err) < 0)
    {
      log_error ("%s", err.msg);
      a->exit_code = AGENT_EXIT_LINK;
    }
}

static void
agent_start_failed (struct agent *a, const char *msg)
{
  Nexc__Agent__StartFailed sf = NEXC__AGENT__START_FAILED__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  log_warn ("start failed: %s", msg);
  agent_end (a, AGENT_EXIT_OK);
  sf.message = (char *) msg;
  f.body_case = NEXC__AGENT__FRAME__BODY_START_FAILED;
  f.start_failed = &sf;
  agent_send_last (a, &f);
}

/* last: the agent's last frame (it ends once sent); else queued ahead of
 * the LogAck of lines still held. */
static void
agent_send_exited (struct agent *a, bool last)
{
  Nexc__Agent__Exited ex = NEXC__AGENT__EXITED__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  struct nxerr err = { 0 };
  workload_exit_info (&a->wl, &ex.code, &ex.signal);
  ex.stopped = a->stopped;
  ex.log_dropped = a->ring.total_dropped;
  ex.log_dropped_unreported = a->ring.pending_dropped;
  ex.next_seq = a->ring.next_seq;
  f.body_case = NEXC__AGENT__FRAME__BODY_EXITED;
  f.exited = &ex;
  log_debug ("workload exited: code %d signal %d stopped %d dropped %llu%s", ex.code, ex.signal,
             ex.stopped, (unsigned long long) ex.log_dropped,
             last ? "" : " (ahead of the last LogAck)");
  if (!last)
    {
      a->exited_sent = true;
      if (link_send_ctl (&a->link, &f, &err) < 0)
        agent_link_failed (a, &err);
      return;
    }
  a->done = true;
  a->exit_code = AGENT_EXIT_OK;
  agent_send_last (a, &f);
}

static void
agent_send_function_result (struct agent *a)
{
  Nexc__Agent__FunctionResult r = NEXC__AGENT__FUNCTION_RESULT__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  workload_exit_info (&a->wl, &r.code, &r.signal);
  r.elapsed_ns = a->fn_elapsed_ns;
  r.timed_out = a->fn_timed_out;
  r.log_dropped = a->ring.total_dropped;
  r.log_dropped_unreported = a->ring.pending_dropped;
  r.next_seq = a->ring.next_seq;
  f.body_case = NEXC__AGENT__FRAME__BODY_FUNCTION_RESULT;
  f.function_result = &r;
  log_debug ("function ended: code %d signal %d timed out %d in %llu ns", r.code, r.signal,
             r.timed_out, (unsigned long long) r.elapsed_ns);
  a->done = true;
  a->exit_code = AGENT_EXIT_OK;
  agent_send_last (a, &f);
}

static void
fn_io_close (struct agent *a)
{
  for (int i = 0; i < 2; i++)
    if (a->fn_io[i] >= 0)
      {
        close (a->fn_io[i]);
        a->fn_io[i] = -1;
      }
}

/* ---- frames from the node ---- */

/* Frees only lines that were sent; a stale or excessive ack from a
 * confused node frees nothing else. With resend, the node may have lost
 * what it published after seq (its connection broke): every line still
 * held goes again, and Rewound, ahead of them on the link, says from where. */
static void
on_log_ack (struct agent *a, const Nexc__Agent__LogAck *k)
{
  Nexc__Agent__Rewound rw = NEXC__AGENT__REWOUND__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  struct nxerr err = { 0 };
  log_ring_ack (&a->ring, k->seq);
  if (!k->resend)
    return;
  log_ring_rewind (&a->ring);
  rw.next_seq = log_ring_resume_seq (&a->ring);
  f.body_case = NEXC__AGENT__FRAME__BODY_REWOUND;
  f.rewound = &rw;
  if (link_send_ctl (&a->link, &f, &err) < 0)
    agent_link_failed (a, &err);
}

static void
on_ping (struct agent *a, const Nexc__Agent__Ping *p)
{
  Nexc__Agent__Pong po = NEXC__AGENT__PONG__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  struct nxerr err = { 0 };
  po.nonce = p->nonce;
  f.body_case = NEXC__AGENT__FRAME__BODY_PONG;
  f.pong = &po;
  if (link_send_ctl (&a->link, &f, &err) < 0)
    agent_link_failed (a, &err);
}

static void
on_deploy (struct agent *a, const Nexc__Agent__Deploy *d, int exe_fd)
{
  Nexc__Agent__Started st = NEXC__AGENT__STARTED__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  struct nxerr err = { 0 };
  if (a->phase != PHASE_IDLE)
    {
      agent_start_failed (a, "deploy: this agent already ran a workload");
      return;
    }
  if (exe_fd < 0)
    {
      agent_start_failed (a, "deploy: no executable fd attached");
      return;
    }
  if (d->function_mode && (a->fn_io[0] < 0 || a->fn_io[1] < 0))
    {
      agent_start_failed (a, "deploy: function mode without its stdin and stdout");
      return;
    }
  a->fn_mode = d->function_mode;
  log_ring_configure (&a->ring,
                      d->logs_on_full == NEXC__AGENT__DEPLOY__LOGS_ON_FULL__DROP_OLDEST
                          ? LOG_ON_FULL_DROP_OLDEST
                          : LOG_ON_FULL_BLOCK,
                      d->logs_first_seq, d->logs_acked);
  a->wl.in_file = a->fn_io[0];
  a->wl.out_file = a->fn_io[1];
  a->fn_start_ns = timefmt_mono_ns ();
  if (workload_spawn (&a->wl, d, exe_fd, &a->sb, &err) < 0)
    {
      fn_io_close (a);
      agent_start_failed (a, err.msg);
      return;
    }
  fn_io_close (a); /* the workload has its own copies */
  if (a->fn_mode && d->timeout_ms)
    a->fn_deadline = a->fn_start_ns + (uint64_t) d->timeout_ms * NS_PER_MS;
  log_info ("workload %s (%s) started, pid %d", d->workload_id, d->name, (int) a->wl.pid);
  snprintf (a->workload_id, sizeof a->workload_id, "%s", d->workload_id);
  /* From now on the workload outlives the node (a restarted node reattaches
   * through listen_fd): no more death with the parent. Unless the node
   * says it must not (a deployment's replica: another node takes its slot
   * over once the lease runs out, so it must not run on here). */
  a->die_with_node = d->die_with_node;
  if (a->listen_fd >= 0 && !a->die_with_node && prctl (PR_SET_PDEATHSIG, 0) < 0)
    log_warn ("prctl(PR_SET_PDEATHSIG, 0): %s", strerror (errno));
  output_init (&a->out[0], a->wl.out_fd, NEXC__AGENT__LOG__STREAM__STDOUT);
  output_init (&a->out[1], a->wl.err_fd, NEXC__AGENT__LOG__STREAM__STDERR);
  a->deploy_grace_ms = d->stop_grace_ms;
  a->phase = PHASE_RUNNING;
  st.pid = (uint32_t) a->wl.pid;
  f.body_case = NEXC__AGENT__FRAME__BODY_STARTED;
  f.started = &st;
  if (link_send_ctl (&a->link, &f, &err) < 0)
    agent_link_failed (a, &err);
}

/* Stop.grace_ms, or the Deploy's stop_grace_ms when the Stop gives none;
 * 0 in both means SIGKILL at once. A second Stop can only shorten the wait. */
static void
on_stop (struct agent *a, const Nexc__Agent__Stop *s)
{
  uint32_t grace = s->grace_ms ? s->grace_ms : a->deploy_grace_ms;
  uint64_t at = timefmt_mono_ns () + (uint64_t) grace * NS_PER_MS;
  switch (a->phase)
    {
    case PHASE_IDLE:
      /* Nothing runs: the agent's work is over all the same. */
      a->stopped = true;
      agent_send_exited (a, true);
      return;
    case PHASE_RUNNING:
      if (!a->stopped)
        {
          log_info ("stop: SIGTERM to the workload, SIGKILL in %u ms", grace);
          a->stopped = true;
          workload_signal (&a->wl, SIGTERM);
          workload_signal (&a->wl, SIGCONT); /* a stopped process cannot act on TERM */
          a->kill_at = at;
        }
      else if (at < a->kill_at)
        a->kill_at = at;
      return;
    case PHASE_DRAIN:
    case PHASE_FLUSH:
      return; /* the workload already ended on its own */
    }
}

/* Keeps fd (sets *fd to -1) when it is taken. */
static void
on_function_io (struct agent *a, const Nexc__Agent__FunctionIo *io, int *fd)
{
  int slot = io->role == NEXC__AGENT__FUNCTION_IO__ROLE__STDIN    ? 0
             : io->role == NEXC__AGENT__FUNCTION_IO__ROLE__STDOUT ? 1
                                                                  : -1;
  struct nxerr err;
  if (a->phase != PHASE_IDLE || *fd < 0 || slot < 0 || a->fn_io[slot] >= 0)
    {
      nxerr_set (&err, EPROTO, "protocol: unexpected function_io frame");
      agent_link_failed (a, &err);
      return;
    }
  a->fn_io[slot] = *fd;
  *fd = -1;
}

static void
on_frame (struct agent *a, Frame *f, int fd)
{
  switch (f->body_case)
    {
    case NEXC__AGENT__FRAME__BODY_FUNCTION_IO:
      on_function_io (a, f->function_io, &fd);
      break;
    case NEXC__AGENT__FRAME__BODY_PING:
      on_ping (a, f->ping);
      break;
    case NEXC__AGENT__FRAME__BODY_DEPLOY:
      on_deploy (a, f->deploy, fd);
      break;
    case NEXC__AGENT__FRAME__BODY_STOP:
      on_stop (a, f->stop);
      break;
    case NEXC__AGENT__FRAME__BODY_LOG_ACK:
      on_log_ack (a, f->log_ack);
      break;
    default:
      {
        struct nxerr err;
        nxerr_set (&err, EPROTO, "protocol: the node sent a %s frame", frame_kind (f));
        agent_link_failed (a, &err);
      }
    }
  if (fd >= 0)
    close (fd); /* the workload has its own reference now, if any */
}

static void
on_link_readable (struct agent *a)
{
  for (int i = 0; i < AGENT_LINK_FRAMES_IN && !a->done && a->link.sock >= 0; i++)
    {
      struct nxerr err = { 0 };
      Frame *f = NULL;
      int fd = -1;
      int rc = frame_recv (a->link.sock, &f, &fd, &err);
      if (rc == 0)
        return;
      if (rc < 0)
        {
          agent_link_failed (a, &err);
          return;
        }
      on_frame (a, f, fd);
      frame_free (f);
    }
}

/* ---- the workload's life ---- */

static void
on_main_exited (struct agent *a)
{
  struct nxerr err = { 0 };
  int code, sig;
  workload_exit_info (&a->wl, &code, &sig);
  if (a->fn_mode)
    {
      a->fn_elapsed_ns = timefmt_mono_ns () - a->fn_start_ns;
      a->fn_deadline = 0;
    }
  log_info ("workload main process ended (code %d, signal %d)", code, sig);
  /* Whatever it left behind goes now; its pipes then reach EOF. */
  if (workload_kill_tree (&a->wl, AGENT_KILL_TREE_MS, &err) < 0)
    log_error ("kill workload descendants: %s", err.msg);
  a->kill_at = 0;
  a->phase = PHASE_DRAIN;
  a->drain_until = timefmt_mono_ns () + AGENT_DRAIN_MS * NS_PER_MS;
}

static void
on_signals (struct agent *a)
{
  struct signalfd_siginfo si;
  bool chld = false;
  while (read (a->sigfd, &si, sizeof si) == (ssize_t) sizeof si)
    {
      if (si.ssi_signo == SIGCHLD)
        chld = true;
      else
        {
          log_info ("signal %u: killing the workload", si.ssi_signo);
          agent_end (a, AGENT_EXIT_SIGNAL + (int) si.ssi_signo);
          return;
        }
    }
  if (chld && workload_reap (&a->wl) && a->phase == PHASE_RUNNING)
    on_main_exited (a);
}

static void
on_timers (struct agent *a, uint64_t now)
{
  for (int i = 0; i < 2; i++)
    output_tick (&a->out[i], &a->ring, now, false);
  if (a->kill_at != 0 && now >= a->kill_at)
    {
      log_info ("stop: grace over, SIGKILL to the workload");
      a->kill_at = 0;
      workload_signal (&a->wl, SIGKILL);
    }
  if (a->fn_deadline != 0 && now >= a->fn_deadline && a->phase == PHASE_RUNNING)
    {
      log_info ("function: timeout, SIGKILL to the workload");
      a->fn_deadline = 0;
      a->fn_timed_out = true;
      workload_signal (&a->wl, SIGKILL); /* the tree goes when the main exit is reaped */
    }
}

/* Detached with a workload that ended (or cannot end its output until a
 * node reads it): wait for a node, within bounds. True when given up. */
static bool
orphan_expired (struct agent *a, uint64_t now)
{
  if (a->orphan_until == 0)
    a->orphan_until = now + (uint64_t) AGENT_ORPHAN_WAIT_MS * NS_PER_MS;
  if (now < a->orphan_until)
    return false;
  log_warn ("workload ended and no node reattached within %d ms: exiting", AGENT_ORPHAN_WAIT_MS);
  a->done = true;
  a->exit_code = AGENT_EXIT_OK;
  return true;
}

/* Output read but waiting for room in the ring: the node is slow, not the
 * workload, so the drain's deadline does not run meanwhile. */
static bool
input_waiting (const struct agent *a)
{
  return output_has_input (&a->out[0]) || output_has_input (&a->out[1]);
}

/* FLUSH gives up only after AGENT_FLUSH_MS without progress (lines sent or
 * acknowledged): a slow but moving node gets everything. */
static void
flush_progress (struct agent *a, uint64_t now)
{
  if (a->ring.sent_total == a->flush_sent && a->ring.count == a->flush_count)
    return;
  a->flush_sent = a->ring.sent_total;
  a->flush_count = a->ring.count;
  a->flush_until = now + AGENT_FLUSH_MS * NS_PER_MS;
}

/* DRAIN -> FLUSH -> end, each when its condition or deadline is met. */
static void
advance_ending (struct agent *a, uint64_t now)
{
  if (a->phase == PHASE_DRAIN)
    {
      bool eof = a->out[0].fd < 0 && a->out[1].fd < 0;
      if (input_waiting (a))
        {
          if (a->link.sock < 0 && orphan_expired (a, now))
            return;
          a->drain_until = now + AGENT_DRAIN_MS * NS_PER_MS;
          return;
        }
      if (!eof && now < a->drain_until)
        return;
      if (!eof)
        log_warn ("workload output still open %d ms after the end: closing it", AGENT_DRAIN_MS);
      for (int i = 0; i < 2; i++)
        {
          output_tick (&a->out[i], &a->ring, now, true);
          output_close (&a->out[i]);
        }
      a->phase = PHASE_FLUSH;
      a->flush_until = now + AGENT_FLUSH_MS * NS_PER_MS;
    }
  if (a->phase == PHASE_FLUSH && a->link.sock < 0)
    {
      /* Detached: the Exited waits for a node, within bounds. */
      orphan_expired (a, now);
      return;
    }
  if (a->phase == PHASE_FLUSH)
    {
      flush_progress (a, now);
      if ((log_ring_unsent (&a->ring) > 0 || link_ctl_pending (&a->link)) && now < a->flush_until)
        return;
      if (log_ring_unsent (&a->ring) == 0 && a->ring.count > 0)
        {
          /* All sent, not all confirmed: the Exited now (see loop.h), then
           * a while for the acks. */
          if (!a->exited_sent && !a->fn_mode)
            {
              agent_send_exited (a, false);
              if (a->done)
                return;
            }
          if (a->ack_until == 0)
            a->ack_until = now + AGENT_ACK_WAIT_MS * NS_PER_MS;
          if (now < a->ack_until)
            return;
          log_warn ("%zu output lines sent but not confirmed by the node in %d ms: forgotten",
                    a->ring.count, AGENT_ACK_WAIT_MS);
        }
      else if (a->ring.count > 0)
        log_warn ("link too slow: %zu output lines dropped at exit", log_ring_unsent (&a->ring));
      log_ring_discard (&a->ring);
      if (a->fn_mode)
        agent_send_function_result (a);
      else if (a->exited_sent)
        {
          a->done = true;
          a->exit_code = AGENT_EXIT_OK;
        }
      else
        agent_send_exited (a, true);
    }
}

static int
poll_timeout (const struct agent *a, uint64_t now)
{
  uint64_t next = 0;
  uint64_t cand[8] = { output_deadline (&a->out[0], &a->ring),
                       output_deadline (&a->out[1], &a->ring), a->kill_at,
                       a->phase == PHASE_DRAIN ? a->drain_until : 0,
                       a->phase == PHASE_FLUSH && a->link.sock >= 0 ? a->flush_until : 0,
                       a->link.sock < 0 ? a->orphan_until : 0,
                       a->fn_deadline /* function mode: the invocation's timeout */,
                       a->phase == PHASE_FLUSH && a->link.sock >= 0 ? a->ack_until : 0 };
  for (int i = 0; i < 8; i++)
    if (cand[i] != 0 && (next == 0 || cand[i] < next))
      next = cand[i];
  if (next == 0)
    return -1;
  if (next <= now)
    return 0;
  /* Round up, so we never wake just before a deadline and spin. */
  return (int) ((next - now + NS_PER_MS - 1) / NS_PER_MS);
}

/* One turn of the loop: wait for something, then do a bounded amount of
 * each kind of work, so that no source (a flooding workload) starves the
 * others (a Ping). */
static void
agent_step (struct agent *a)
{
  struct pollfd p[4];
  struct nxerr err = { 0 };
  uint64_t now;
  int n;
  bool detached = a->link.sock < 0;
  p[0] = (struct pollfd){ .fd = detached ? a->listen_fd : a->link.sock, .events = POLLIN };
  if (!detached && link_pending (&a->link, &a->ring))
    p[0].events |= POLLOUT;
  p[1] = (struct pollfd){ .fd = a->sigfd, .events = POLLIN };
  /* A pipe whose last read still waits for room in the ring is not polled
   * (fd -1 is ignored): backpressure, the workload's writes block. */
  for (int i = 0; i < 2; i++)
    p[2 + i] = (struct pollfd){ .fd = output_wants_read (&a->out[i]) ? a->out[i].fd : -1,
                                .events = POLLIN };
  n = poll (p, 4, poll_timeout (a, timefmt_mono_ns ()));
  if (n < 0 && errno != EINTR)
    {
      log_error ("poll: %s", strerror (errno));
      agent_end (a, AGENT_EXIT_INTERNAL);
      return;
    }
  if (n > 0 && p[1].revents)
    on_signals (a);
  if (!a->done && n > 0 && p[0].revents)
    {
      if (detached)
        agent_accept (a);
      else
        on_link_readable (a);
    }
  now = timefmt_mono_ns ();
  for (int i = 0; i < 2 && !a->done && n > 0; i++)
    if (p[2 + i].revents)
      output_read (&a->out[i], &a->ring, now);
  if (a->done)
    return;
  on_timers (a, now);
  if (a->link.sock >= 0 && link_pending (&a->link, &a->ring) && link_flush (&a->link, &a->ring, &err) < 0)
    {
      agent_link_failed (a, &err);
      return;
    }
  /* What the link took made room: input that waited goes in now. */
  for (int i = 0; i < 2 && !a->done; i++)
    output_pump (&a->out[i], &a->ring, now);
  advance_ending (a, now);
}

int
agent_run (struct agent *a)
{
  struct nxerr err = { 0 };
  if (send_hello (a, &err) < 0)
    {
      log_error ("hello: %s", err.msg);
      return AGENT_EXIT_LINK;
    }
  while (!a->done)
    agent_step (a);
  return a->exit_code;
}


int
agent_init (struct agent *a, const struct sandbox *sb, int sock, int sigfd, struct nxerr *err)
{
  a->sb = *sb;
  a->sigfd = sigfd;
  if (link_init (&a->link, sock, err) < 0)
    return -1;
  log_ring_init (&a->ring, AGENT_RING_LINES, AGENT_RING_BYTES);
  workload_init (&a->wl);
  output_init (&a->out[0], -1, NEXC__AGENT__LOG__STREAM__STDOUT);
  output_init (&a->out[1], -1, NEXC__AGENT__LOG__STREAM__STDERR);
  a->phase = PHASE_IDLE;
  a->listen_fd = -1;
  a->fn_io[0] = a->fn_io[1] = -1; /* function mode (FunctionIo frames) */
  return 0;
}

void
agent_free (struct agent *a)
{
  for (int i = 0; i < 2; i++)
    output_close (&a->out[i]);
  fn_io_close (a);
  log_ring_free (&a->ring);
  link_free (&a->link);
  if (a->listen_fd >= 0)
    close (a->listen_fd);
  a->listen_fd = -1;
  sandbox_cleanup (&a->sb);
  if (a->sigfd >= 0)
    close (a->sigfd);
  a->sigfd = -1;
}
