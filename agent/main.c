/* nexc-agent: command line, process setup, and the event loop.
 *
 *   nexc-agent --fd 3 --parent-pid <node pid> [--sandbox none] [--log-level info]
 *
 * The loop is a phase × event table; every cell is one function below.
 *
 *   phase     | Ping | Deploy              | Stop              | main exited      | output done    | ring empty
 *   ----------+------+---------------------+-------------------+------------------+----------------+-----------
 *   IDLE      | Pong | spawn -> RUNNING,   | Exited{stopped},  |                  |                |
 *             |      | or StartFailed, end | end               |                  |                |
 *   RUNNING   | Pong | StartFailed, end    | TERM group, arm   | kill tree        |                |
 *             |      |                     | KILL timer        | -> DRAIN         |                |
 *   DRAIN     | Pong | StartFailed, end    | ignored           |                  | -> FLUSH       |
 *   FLUSH     | Pong | StartFailed, end    | ignored           |                  |                | Exited, end
 *
 * In every phase: link EOF or error, a frame the node may not send, or
 * SIGTERM/SIGINT/SIGHUP -> kill the tree and end. "output done" is both pipes
 * at EOF or AGENT_DRAIN_MS after the tree was killed; FLUSH gives up after
 * AGENT_FLUSH_MS (the rest counts as dropped). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/link.h"
#include "agent/logring.h"
#include "agent/output.h"
#include "agent/sandbox.h"
#include "agent/workload.h"
#include "api/frame.h"
#include "api/log.h"
#include "api/timefmt.h"

#define NS_PER_MS 1000000ull

enum phase { PHASE_IDLE, PHASE_RUNNING, PHASE_DRAIN, PHASE_FLUSH };

struct opts {
  int fd;
  pid_t parent;
  const char *sandbox;
  enum log_level level;
};

struct agent {
  struct sandbox sb;
  struct link link;
  struct log_ring ring;
  struct output out[2]; /* stdout, stderr */
  struct workload wl;
  int sigfd;
  enum phase phase;
  bool stopped;            /* a Stop arrived while the workload ran */
  uint32_t deploy_grace_ms;
  uint64_t kill_at;        /* Stop: when the group gets SIGKILL; 0 = not armed */
  uint64_t drain_until;    /* DRAIN: stop waiting for EOF on the pipes */
  uint64_t flush_until;    /* FLUSH: stop waiting for the link */
  bool done;
  int exit_code;
};

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

static int
agent_run (struct agent *a)
{
  while (!a->done)
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
          break;
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
        break;
      on_timers (a, now);
      if (link_pending (&a->link, &a->ring) && link_flush (&a->link, &a->ring, &err) < 0)
        {
          agent_link_failed (a, &err);
          break;
        }
      advance_ending (a, now);
    }
  return a->exit_code;
}

/* ---- setup ---- */

static void
usage (FILE *to)
{
  fprintf (to, "usage: nexc-agent --fd N --parent-pid PID [--sandbox none] "
               "[--log-level error|warn|info|debug]\n");
}

static int
parse_int (const char *s, long min, long max, long *out)
{
  char *end;
  long v;
  errno = 0;
  v = strtol (s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

static int
parse_args (int argc, char **argv, struct opts *o)
{
  static const struct option longopts[] = {
    { "fd", required_argument, NULL, 'f' },
    { "parent-pid", required_argument, NULL, 'p' },
    { "sandbox", required_argument, NULL, 's' },
    { "log-level", required_argument, NULL, 'l' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  long v;
  int c;
  o->fd = -1;
  o->parent = 0;
  o->sandbox = "none";
  o->level = LOG_INFO;
  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1)
    switch (c)
      {
      case 'f':
        if (parse_int (optarg, 3, INT_MAX, &v) < 0)
          {
            log_error ("--fd: expected a number >= 3, got \"%s\"", optarg);
            return -1;
          }
        o->fd = (int) v;
        break;
      case 'p':
        if (parse_int (optarg, 1, INT_MAX, &v) < 0)
          {
            log_error ("--parent-pid: expected a pid, got \"%s\"", optarg);
            return -1;
          }
        o->parent = (pid_t) v;
        break;
      case 's':
        o->sandbox = optarg;
        break;
      case 'l':
        if (log_level_parse (optarg, &o->level) < 0)
          {
            log_error ("--log-level: unknown level \"%s\"", optarg);
            return -1;
          }
        break;
      case 'h':
        usage (stdout);
        exit (AGENT_EXIT_OK);
      default:
        usage (stderr);
        return -1;
      }
  if (optind != argc || o->fd < 0 || o->parent == 0)
    {
      usage (stderr);
      return -1;
    }
  return 0;
}

/* Open /dev/null on any of 0, 1, 2 that is closed, so that no later open()
 * (a pipe, the link) lands there and a stray write goes to it. */
static void
ensure_std_fds (void)
{
  for (int fd = 0; fd < 3; fd++)
    if (fcntl (fd, F_GETFD) < 0)
      {
        int n = open ("/dev/null", O_RDWR);
        if (n >= 0 && n != fd)
          close (n); /* cannot happen: the lowest free fd is fd */
      }
}

/* Everything but 0, 1, 2 and the link: whatever the node leaked is not ours. */
static void
close_other_fds (int keep)
{
  struct rlimit rl;
  int max = 65536;
  if ((keep == 3 || close_range (3, (unsigned) keep - 1, 0) == 0)
      && close_range ((unsigned) keep + 1, ~0U, 0) == 0)
    return;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1048576)
    max = (int) rl.rlim_cur;
  for (int fd = 3; fd < max; fd++)
    if (fd != keep)
      close (fd);
}

static int
check_link_fd (int fd, struct nxerr *err)
{
  int type = 0;
  socklen_t len = sizeof type;
  if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
    return nxerr_sys (err, errno, "link fd %d", fd);
  if (type != SOCK_SEQPACKET)
    return nxerr_set (err, EINVAL, "link fd %d is not a SOCK_SEQPACKET socket", fd);
  return 0;
}

/* SIGCHLD and the termination signals arrive on a signalfd, read by the loop. */
static int
setup_signals (struct nxerr *err)
{
  sigset_t set;
  int fd;
  signal (SIGPIPE, SIG_IGN); /* a closed stderr must not kill us */
  sigemptyset (&set);
  sigaddset (&set, SIGCHLD);
  sigaddset (&set, SIGTERM);
  sigaddset (&set, SIGINT);
  sigaddset (&set, SIGHUP);
  if (sigprocmask (SIG_BLOCK, &set, NULL) < 0)
    return nxerr_sys (err, errno, "sigprocmask");
  fd = signalfd (-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0)
    return nxerr_sys (err, errno, "signalfd");
  return fd;
}

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

int
main (int argc, char **argv)
{
  static struct agent a; /* large (output line buffers): not on the stack */
  struct nxerr err = { 0 };
  struct opts o;
  int code;

  ensure_std_fds ();
  log_init ("nexc-agent", LOG_INFO);
  if (parse_args (argc, argv, &o) < 0)
    return AGENT_EXIT_USAGE;
  log_set_level (o.level);
  if (sandbox_parse (o.sandbox, &a.sb, &err) < 0)
    {
      log_error ("--sandbox: %s", err.msg);
      return AGENT_EXIT_USAGE;
    }

  /* Die with the node. If it died before the prctl took effect we were
   * already reparented, and nobody would ever talk to us. */
  if (prctl (PR_SET_PDEATHSIG, SIGKILL) < 0)
    {
      log_error ("prctl(PR_SET_PDEATHSIG): %s", strerror (errno));
      return AGENT_EXIT_INTERNAL;
    }
  if (getppid () != o.parent)
    {
      log_error ("parent %d is gone", (int) o.parent);
      return AGENT_EXIT_ORPHAN;
    }
  /* Orphans of the workload become our children, so we can find and kill
   * them: no process of a workload outlives its agent. */
  if (prctl (PR_SET_CHILD_SUBREAPER, 1) < 0)
    {
      log_error ("prctl(PR_SET_CHILD_SUBREAPER): %s", strerror (errno));
      return AGENT_EXIT_INTERNAL;
    }
  close_other_fds (o.fd);
  if (check_link_fd (o.fd, &err) < 0 || link_init (&a.link, o.fd, &err) < 0)
    {
      log_error ("%s", err.msg);
      return AGENT_EXIT_INTERNAL;
    }
  a.sigfd = setup_signals (&err);
  if (a.sigfd < 0)
    {
      log_error ("%s", err.msg);
      return AGENT_EXIT_INTERNAL;
    }
  log_ring_init (&a.ring, AGENT_RING_LINES, AGENT_RING_BYTES);
  workload_init (&a.wl);
  output_init (&a.out[0], -1, NEXC__AGENT__LOG__STREAM__STDOUT);
  output_init (&a.out[1], -1, NEXC__AGENT__LOG__STREAM__STDERR);
  a.phase = PHASE_IDLE;

  if (send_hello (&a, &err) < 0)
    {
      log_error ("hello: %s", err.msg);
      code = AGENT_EXIT_LINK;
    }
  else
    code = agent_run (&a);

  for (int i = 0; i < 2; i++)
    output_close (&a.out[i]);
  log_ring_free (&a.ring);
  link_free (&a.link);
  sandbox_cleanup (&a.sb);
  close (a.sigfd);
  return code;
}
