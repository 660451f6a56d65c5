/* nexc-agent: the command line and the process setup, then the loop.
 *
 *   nexc-agent --fd 3 --parent-pid <node pid> [--sandbox none|process] [--log-level info]
 *              [--uid U --gid G --workdir DIR --state-dir DIR [--network host|none]]
 *              [--user-namespace] [--listen-fd N] [--selftest]
 *   nexc-agent --zygote --fd 3 --parent-pid <node pid>     (agent/zygote.h)
 *
 * The process tier's options describe the sandbox the node prepared (see
 * agent/sandbox.h); --selftest sets it up, verifies it from a child, writes
 * the report to --fd and exits (nexc-node preflight).
 * Spawned by the node with the link (a SOCK_SEQPACKET socket) as --fd. See
 * agent/agent.h for what the agent is, agent/loop.h for what it does. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/loop.h"
#include "agent/sandbox.h"
#include "agent/zygote.h"
#include "api/log.h"

struct opts {
  int fd;
  pid_t parent;
  const char *sandbox;
  enum log_level level;
  long uid, gid;
  const char *workdir, *state_dir, *network;
  bool selftest;
  bool userns;
  int listen_fd; /* reattach socket (listening), or -1 */
};

static void
usage (FILE *to)
{
  fprintf (to, "usage: nexc-agent --fd N --parent-pid PID [--sandbox none|process] "
               "[--log-level error|warn|info|debug]\n"
               "                  [--uid U --gid G --workdir DIR --state-dir DIR "
               "[--network host|none] [--user-namespace]] [--listen-fd N] [--selftest]\n"
               "       nexc-agent --zygote --fd N --parent-pid PID\n"
               "       nexc-agent --help | --version\n"
               "started by nexc-node, which passes the link on fd N; not run by hand.\n");
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
    { "uid", required_argument, NULL, 'u' },
    { "gid", required_argument, NULL, 'g' },
    { "workdir", required_argument, NULL, 'w' },
    { "state-dir", required_argument, NULL, 'S' },
    { "network", required_argument, NULL, 'n' },
    { "selftest", no_argument, NULL, 'T' },
    { "user-namespace", no_argument, NULL, 'U' },
    { "listen-fd", required_argument, NULL, 'L' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
  };
  long v;
  int c;
  o->fd = -1;
  o->parent = 0;
  o->sandbox = "none";
  o->level = LOG_INFO;
  o->uid = o->gid = 0;
  o->workdir = o->state_dir = NULL;
  o->network = "host";
  o->selftest = false;
  o->userns = false;
  o->listen_fd = -1;
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
      case 'u':
      case 'g':
        if (parse_int (optarg, 1, INT_MAX, &v) < 0)
          {
            log_error ("--%s: expected a non-zero id, got \"%s\"", c == 'u' ? "uid" : "gid",
                       optarg);
            return -1;
          }
        *(c == 'u' ? &o->uid : &o->gid) = v;
        break;
      case 'w':
        o->workdir = optarg;
        break;
      case 'S':
        o->state_dir = optarg;
        break;
      case 'n':
        if (strcmp (optarg, "host") != 0 && strcmp (optarg, "none") != 0)
          {
            log_error ("--network: expected host or none, got \"%s\"", optarg);
            return -1;
          }
        o->network = optarg;
        break;
      case 'T':
        o->selftest = true;
        break;
      case 'U':
        o->userns = true;
        break;
      case 'L':
        if (parse_int (optarg, 3, INT_MAX, &v) < 0)
          {
            log_error ("--listen-fd: expected a number >= 3, got \"%s\"", optarg);
            return -1;
          }
        o->listen_fd = (int) v;
        break;
      case 'h':
        usage (stdout);
        exit (AGENT_EXIT_OK);
      case 'V':
        printf ("nexc-agent %s\n", NEXC_VERSION);
        exit (AGENT_EXIT_OK);
      default:
        usage (stderr);
        return -1;
      }
  if (optind != argc || o->fd < 0 || o->parent == 0 || o->listen_fd == o->fd)
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

/* Everything but 0, 1, 2, the link and the reattach socket (keep2, or -1):
 * whatever the node leaked is not ours. */
static void
close_other_fds (int keep, int keep2)
{
  struct rlimit rl;
  int max = 65536;
  int lo = keep2 >= 0 && keep2 < keep ? keep2 : keep;
  int hi = keep2 > keep ? keep2 : keep;
  if ((lo == 3 || close_range (3, (unsigned) lo - 1, 0) == 0)
      && (hi == lo || hi == lo + 1 || close_range ((unsigned) lo + 1, (unsigned) hi - 1, 0) == 0)
      && close_range ((unsigned) hi + 1, ~0U, 0) == 0)
    return;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1048576)
    max = (int) rl.rlim_cur;
  for (int fd = 3; fd < max; fd++)
    if (fd != keep && fd != keep2)
      close (fd);
}

/* The reattach socket: a bound SOCK_SEQPACKET socket the agent listens on
 * itself (so that a connecting node sees the agent's pid in SO_PEERCRED;
 * one a node already listened on is taken as it is), close-on-exec (the
 * workload must not inherit it), non-blocking (accept from poll). */
static int
check_listen_fd (int fd, struct nxerr *err)
{
  int type = 0, acc = 0;
  socklen_t len = sizeof type, alen = sizeof acc;
  if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0
      || getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) < 0)
    return nxerr_sys (err, errno, "listen fd %d", fd);
  if (type != SOCK_SEQPACKET)
    return nxerr_set (err, EINVAL, "listen fd %d is not a SOCK_SEQPACKET socket", fd);
  if (!acc && listen (fd, 1) < 0)
    return nxerr_sys (err, errno, "listen fd %d: listen", fd);
  if (fcntl (fd, F_SETFD, FD_CLOEXEC) < 0 || fcntl (fd, F_SETFL, O_NONBLOCK) < 0)
    return nxerr_sys (err, errno, "listen fd %d", fd);
  return 0;
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
agent_main (int argc, char **argv)
{
  static struct agent a; /* large (output line buffers): not on the stack */
  struct nxerr err = { 0 };
  struct sandbox sb;
  struct opts o;
  int sigfd, code;

  ensure_std_fds ();
  /* A session of its own, so no controlling terminal: a node started from a
   * terminal would otherwise hand it (and /dev/tty, and TIOCSTI keystroke
   * injection into the operator's shell) to every workload, and a closing
   * terminal's SIGHUP would kill agents and workloads. Fails only for a
   * group leader, which the node never spawns. */
  (void) setsid ();
  log_init ("nexc-agent", LOG_INFO);
  if (parse_args (argc, argv, &o) < 0)
    return AGENT_EXIT_USAGE;
  log_set_level (o.level);
  memset (&sb, 0, sizeof sb);
  sb.userns_fd = -1;
  if (sandbox_parse (o.sandbox, &sb, &err) < 0)
    {
      log_error ("--sandbox: %s", err.msg);
      return AGENT_EXIT_USAGE;
    }
  if (sb.tier == SANDBOX_PROCESS)
    {
      sb.uid = (uid_t) o.uid;
      sb.gid = (gid_t) o.gid;
      snprintf (sb.workdir, sizeof sb.workdir, "%s", o.workdir ? o.workdir : "");
      snprintf (sb.state_dir, sizeof sb.state_dir, "%s", o.state_dir ? o.state_dir : "");
      sb.net_none = strcmp (o.network, "none") == 0;
      sb.userns = o.userns;
    }

  /* Die with the node. If it died before the prctl took effect we were
   * already reparented, and nobody would ever talk to us. */
  if (prctl (PR_SET_PDEATHSIG, SIGKILL) < 0)
    {
      log_error ("prctl(PR_SET_PDEATHSIG): %s", strerror (errno));
      return AGENT_EXIT_INTERNAL;
    }
  /* In a new pid namespace the parent lives outside it and getppid() is 0
   * whoever the parent is: there a node that died early shows as the link's
   * end-of-file instead. */
  if (sb.tier == SANDBOX_PROCESS ? getppid () != 0 : getppid () != o.parent)
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
  close_other_fds (o.fd, o.listen_fd);
  if (sandbox_setup (&sb, &err) < 0)
    {
      log_error ("sandbox: %s", err.msg);
      if (o.selftest)
        dprintf (o.fd, "fail setup: %s\n", err.msg);
      return AGENT_EXIT_INTERNAL;
    }
  if (o.selftest)
    {
      code = sb.tier == SANDBOX_PROCESS ? sandbox_selftest (&sb, o.fd) : 0;
      sandbox_cleanup (&sb);
      return code == 0 ? AGENT_EXIT_OK : AGENT_EXIT_INTERNAL;
    }
  /* Before the Hello: the Deploy then finds its process already inside. */
  if (sandbox_stem_start (&sb, &err) < 0)
    log_warn ("%s: deploys take the direct path", err.msg);
  /* The Hello means warm: a deploy must not wait for the stem's setup.
   * Before agent_init, which takes its own copy of sb. */
  stem_await (&sb.stem, STEM_AWAIT_MS);
  if (check_link_fd (o.fd, &err) < 0 || (sigfd = setup_signals (&err)) < 0
      || agent_init (&a, &sb, o.fd, sigfd, &err) < 0
      || (o.listen_fd >= 0 && check_listen_fd (o.listen_fd, &err) < 0))
    {
      log_error ("%s", err.msg);
      return AGENT_EXIT_INTERNAL;
    }
  a.listen_fd = o.listen_fd;
  code = agent_run (&a);
  agent_free (&a);
  return code;
}

/* "--zygote --fd N --parent-pid P": serve agent_main from a fork server. */
static int
zygote_main (int argc, char **argv)
{
  long fd, parent;
  ensure_std_fds ();
  /* A session of its own, so no controlling terminal: a node started from a
   * terminal would otherwise hand it (and /dev/tty, and TIOCSTI keystroke
   * injection into the operator's shell) to every workload, and a closing
   * terminal's SIGHUP would kill agents and workloads. Fails only for a
   * group leader, which the node never spawns. */
  (void) setsid ();
  log_init ("nexc-agent", LOG_INFO);
  if (argc != 6 || strcmp (argv[2], "--fd") != 0 || strcmp (argv[4], "--parent-pid") != 0
      || parse_int (argv[3], 3, 1023, &fd) < 0 || parse_int (argv[5], 1, INT_MAX, &parent) < 0)
    {
      log_error ("usage: nexc-agent --zygote --fd N --parent-pid PID");
      return AGENT_EXIT_USAGE;
    }
  close_other_fds ((int) fd, -1);
  /* argv's strings lie back to back: the area ends after the last one. */
  return zygote_run ((int) fd, (pid_t) parent, agent_main, argv[0],
                     (size_t) (argv[argc - 1] + strlen (argv[argc - 1]) - argv[0]));
}

int
main (int argc, char **argv)
{
  if (argc > 1 && strcmp (argv[1], "--zygote") == 0)
    return zygote_main (argc, argv);
  return agent_main (argc, argv);
}
