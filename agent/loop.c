#include "agent/loop.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
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

/* The link is gone or misused: nobody to report to. */
static void
agent_link_failed (struct agent *a, const struct nxerr *err)
{
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

static void
agent_send_exited (struct agent *a)
{
  Nexc__Agent__Exited ex = NEXC__AGENT__EXITED__INIT;
  Frame f = NEXC__AGENT__FRAME__INIT;
  workload_exit_info (&a->wl, &ex.code, &ex.signal);
  ex.stopped = a->stopped;
  ex.log_dropped = a->ring.total_dropped;
  f.body_case = NEXC__AGENT__FRAME__BODY_EXITED;
  f.exited = &ex;
  log_debug ("workload exited: code %d signal %d stopped %d dropped %llu", ex.code, ex.signal,
             ex.stopped, (unsigned long long) ex.log_dropped);
  a->done = true;
  a->exit_code = AGENT_EXIT_OK;
  agent_send_last (a, &f);
}

/* ---- frames from the node ---- */

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
  if (workload_spawn (&a->wl, d, exe_fd, &a->sb, &err) < 0)
    {
      agent_start_failed (a, err.msg);
      return;
    }
  log_info ("workload %s (%s) started, pid %d", d->workload_id, d->name, (int) a->wl.pid);
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
      agent_send_exited (a);
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

static void
on_frame (struct agent *a, Frame *f, int fd)
{
  switch (f->body_case)
    {
    case NEXC__AGENT__FRAME__BODY_PING:
      on_ping (a, f->ping);
      break;
    case NEXC__AGENT__FRAME__BODY_DEPLOY:
      on_deploy (a, f->deploy, fd);
      break;
    case NEXC__AGENT__FRAME__BODY_STOP:
      on_stop (a, f->stop);
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
  for (int i = 0; i < AGENT_LINK_FRAMES_IN && !a->done; i++)
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
}

/* DRAIN -> FLUSH -> end, each when its condition or deadline is met. */
static void
advance_ending (struct agent *a, uint64_t now)
{
  if (a->phase == PHASE_DRAIN)
    {
      bool eof = a->out[0].fd < 0 && a->out[1].fd < 0;
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
  if (a->phase == PHASE_FLUSH)
    {
      if ((a->ring.count > 0 || link_ctl_pending (&a->link)) && now < a->flush_until)
        return;
      if (a->ring.count > 0)
        {
          log_warn ("link too slow: %zu output lines dropped at exit", a->ring.count);
          log_ring_discard (&a->ring);
        }
      agent_send_exited (a);
    }
}

static int
poll_timeout (const struct agent *a, uint64_t now)
{
  uint64_t next = 0;
  uint64_t cand[5] = { output_deadline (&a->out[0]), output_deadline (&a->out[1]), a->kill_at,
                       a->phase == PHASE_DRAIN ? a->drain_until : 0,
                       a->phase == PHASE_FLUSH ? a->flush_until : 0 };
  for (int i = 0; i < 5; i++)
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
  p[0] = (struct pollfd){ .fd = a->link.sock, .events = POLLIN };
  if (link_pending (&a->link, &a->ring))
    p[0].events |= POLLOUT;
  p[1] = (struct pollfd){ .fd = a->sigfd, .events = POLLIN };
  p[2] = (struct pollfd){ .fd = a->out[0].fd, .events = POLLIN }; /* fd -1: ignored */
  p[3] = (struct pollfd){ .fd = a->out[1].fd, .events = POLLIN };
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
    on_link_readable (a);
  now = timefmt_mono_ns ();
  for (int i = 0; i < 2 && !a->done && n > 0; i++)
    if (p[2 + i].revents)
      output_read (&a->out[i], &a->ring, now);
  if (a->done)
    return;
  on_timers (a, now);
  if (link_pending (&a->link, &a->ring) && link_flush (&a->link, &a->ring, &err) < 0)
    {
      agent_link_failed (a, &err);
      return;
    }
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
  memset (a, 0, sizeof *a);
  a->sb = *sb;
  a->sigfd = sigfd;
  if (link_init (&a->link, sock, err) < 0)
    return -1;
  log_ring_init (&a->ring, AGENT_RING_LINES, AGENT_RING_BYTES);
  workload_init (&a->wl);
  output_init (&a->out[0], -1, NEXC__AGENT__LOG__STREAM__STDOUT);
  output_init (&a->out[1], -1, NEXC__AGENT__LOG__STREAM__STDERR);
  a->phase = PHASE_IDLE;
  return 0;
}

void
agent_free (struct agent *a)
{
  for (int i = 0; i < 2; i++)
    output_close (&a->out[i]);
  log_ring_free (&a->ring);
  link_free (&a->link);
  sandbox_cleanup (&a->sb);
  if (a->sigfd >= 0)
    close (a->sigfd);
  a->sigfd = -1;
}
