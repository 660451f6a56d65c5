/* nexc-node: command line, start-up and shutdown of the node daemon.
 *
 *   nexc-node up --config FILE [--server URL[,URL...]] [auth flags] [--state-dir DIR]
 *                [--ephemeral-identity] [--exit-on-drain] [--detach-on-exit] [--log-level L]
 *   nexc-node check-config FILE
 *   nexc-node preflight [--config FILE] [--state-dir DIR] [--server URL]
 *   nexc-node version */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <nats/nats.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/log.h"
#include "api/nexc.h"
#include "api/timefmt.h"
#include "api/xalloc.h"
#include "node/init.h"
#include "node/control/control.h"
#include "node/control/tags.h"
#include "node/bus/events.h"
#include "node/bus/subgrave.h"
#include "node/core/node.h"
#include "node/bus/logack.h"
#include "node/bus/echo.h"
#include "node/bus/natsloop.h"
#include "node/bus/logstream.h"
#include "node/bus/outbox.h"
#include "node/artifacts/artifact.h"
#include "node/control/autostart.h"
#include "node/deployments/deployments.h"
#include "node/control/metrics.h"
#include "node/agents/pool.h"
#include "node/sandbox/cgnone.h"
#include "node/sandbox/preflight.h"
#include "node/sandbox/rootns.h"
#include "node/workload/creds.h"
#include "node/workload/reattach.h"
#include "node/sandbox/sandbox.h"
#include "node/state/replay.h"
#include "node/state/statelock.h"
#include "node/control/shutdown.h"
#include "node/agents/spawner.h"
#include "node/agents/zygote.h"

#define EXIT_USAGE 2
#define EXIT_CONFIG 78

struct up_opts {
  const char *config;
  const char *servers;
  const char *creds;
  const char *nkey;
  const char *user;
  const char *password;
  const char *token;
  const char *password_file;
  const char *token_file;
  const char *tlsca;
  const char *tlscert;
  const char *tlskey;
  const char *state_dir;
  bool ephemeral;
};

static void
usage (FILE *f)
{
  fprintf (f,
           "usage: nexc-node up --config FILE [--server URL[,URL...]] [--creds FILE | --nkey "
           "SEEDFILE |\n"
           "                    --user U --password-file F | --token-file F] [--tlsca F] "
           "[--tlscert F --tlskey F]\n"
           "                    (--password P, --token T: visible to every local user; "
           "NATS_PASSWORD, NATS_TOKEN)\n"
           "                    [--state-dir DIR] [--ephemeral-identity] [--exit-on-drain]\n"
           "                    [--detach-on-exit] [--log-level error|warn|info|debug]\n"
           "       nexc-node init --config FILE [--seed-out FILE]   make an issuer key, name it "
           "in valid_issuers\n"
           "       nexc-node check-config FILE\n"
           "       nexc-node preflight [--config FILE] [--state-dir DIR] [--server URL]\n"
           "       nexc-node version          (or --version) print \"nexc-node VERSION\"\n"
           "       nexc-node help             (or --help, -h) this text\n"
           "\n"
           "example: nexc-node up --config examples/nodeconfigs/dev.json --server "
           "nats://127.0.0.1:4222\n");
}

/* ---- NATS connection ---- */

/* A file holding a secret must be the owner's alone (said on stderr). */
static bool
private_file (const char *path)
{
  struct stat st;
  if (stat (path, &st) < 0)
    {
      fprintf (stderr, "nexc-node: up: --creds %s: %s\n", path, strerror (errno));
      return false;
    }
  if (st.st_mode & 077)
    {
      fprintf (stderr,
               "nexc-node: up: --creds %s is readable by group or others (mode %04o): chmod 600 "
               "it\n",
               path, (unsigned) (st.st_mode & 07777));
      return false;
    }
  return true;
}

static void
on_disconnected (natsConnection *nc, void *closure)
{
  struct node *n = closure;
  (void) nc;
  /* Closing our own connections at the end calls this too: not news. */
  if (__atomic_load_n (&n->stopping, __ATOMIC_RELAXED))
    return;
  log_warn ("NATS connection lost; reconnecting");
}

static void
on_reconnected (natsConnection *nc, void *closure)
{
  char url[256] = "";
  struct node *n = closure;
  __atomic_add_fetch (&n->counters.nats_reconnects, 1, __ATOMIC_RELAXED);
  natsConnection_GetConnectedUrl (nc, url, sizeof url);
  log_info ("NATS reconnected to %s", url);
  logstream_kick (n);
}

/* The first connect of a node started before its server was reachable. */
static void
on_connected (natsConnection *nc, void *closure)
{
  char url[256] = "";
  struct node *n = closure;
  natsConnection_GetConnectedUrl (nc, url, sizeof url);
  log_info ("NATS connected to %s", url);
  logstream_kick (n);
}

static void
on_async_error (natsConnection *nc, natsSubscription *sub, natsStatus s, void *closure)
{
  (void) nc;
  (void) sub;
  (void) closure;
  log_warn ("NATS asynchronous error: %s", natsStatus_GetText (s));
}

static int
split_servers (const char *list, char ***out, int *count)
{
  char *copy = xstrdup (list), *save = NULL, *tok;
  int n = 0;
  *out = NULL;
  for (tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
    {
      *out = xrealloc (*out, (size_t) (n + 1) * sizeof **out);
      (*out)[n++] = xstrdup (tok);
    }
  free (copy);
  *count = n;
  return n > 0 ? 0 : -1;
}

/* Options for one of the node's two connections. Both are read and written
 * by the loop (node/bus/natsloop.h): a publish asks for a write, which the
 * loop does after its batch of events (so a log flood is one write per
 * batch) or at once for what someone waits for. SendAsap keeps nats.c's
 * flusher thread out: libnats 3.4.1's waits 1 ms before each write. */
static int
make_options (struct node *n, const struct up_opts *o, char **servers, int ns, bool control,
              natsOptions **out, struct nxerr *err)
{
  natsOptions *opts = NULL;
  natsStatus s = natsOptions_Create (&opts);
  /* A list goes through SetServers: SetURL takes one URL only (platform notes). */
  if (s == NATS_OK)
    s = natsOptions_SetServers (opts, (const char **) servers, ns);
  if (s == NATS_OK)
    s = natsOptions_SetName (opts, control ? "nexc-node" : "nexc-node-data");
  if (s == NATS_OK)
    s = natsOptions_SetSendAsap (opts, true);
  if (s == NATS_OK)
    s = natsOptions_SetMaxReconnect (opts, -1);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectWait (opts, 250);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectJitter (opts, 250, 1000);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectBufSize (opts, 16 * 1024 * 1024);
  if (s == NATS_OK)
    /* With a callback, Connect returns at once and retries behind us;
     * without one it would block (forever, with MaxReconnect -1) where no
     * signal reaches the node: wait_connected waits instead. */
    s = natsOptions_SetRetryOnFailedConnect (opts, true, on_connected, n);
  if (s == NATS_OK && natsloop_options (control ? n->natsloop : n->natsloop_data, opts, err) < 0)
    {
      natsOptions_Destroy (opts);
      return -1;
    }
  if (s == NATS_OK && control)
    s = natsOptions_SetDisconnectedCB (opts, on_disconnected, n);
  if (s == NATS_OK && control)
    s = natsOptions_SetReconnectedCB (opts, on_reconnected, n);
  if (s == NATS_OK)
    s = natsOptions_SetErrorHandler (opts, on_async_error, n);
  if (s == NATS_OK)
    {
      struct nexc_conn_opts co = { .creds = o->creds, .nkey_seed = o->nkey, .user = o->user,
                                   .password = o->password, .token = o->token,
                                   .password_file = o->password_file,
                                   .token_file = o->token_file, .tlsca = o->tlsca, .tlscert = o->tlscert, .tlskey = o->tlskey };
      if (nexc_nats_auth (opts, &co, err) < 0)
        {
          natsOptions_Destroy (opts);
          return -1;
        }
    }
  if (s != NATS_OK)
    {
      natsOptions_Destroy (opts);
      return nxerr_set (err, EINVAL, "NATS options: %s", natsStatus_GetText (s));
    }
  *out = opts;
  return 0;
}

static int
connect_one (struct node *n, const struct up_opts *o, char **servers, int ns, bool control,
             natsConnection **nc, struct nxerr *err)
{
  natsOptions *opts = NULL;
  natsStatus s;
  if (make_options (n, o, servers, ns, control, &opts, err) < 0)
    return -1;
  s = natsConnection_Connect (nc, opts);
  natsOptions_Destroy (opts);
  if (s == NATS_NOT_YET_CONNECTED)
    {
      if (control)
        log_warn ("NATS server not reachable yet; retrying in the background");
      return 0;
    }
  if (s != NATS_OK)
    return nxerr_set (err, EIO, "connect to NATS: %s", natsStatus_GetText (s));
  return 0;
}

static int
nats_connect (struct node *n, const struct up_opts *o, struct nxerr *err)
{
  char **servers = NULL;
  int ns = 0, rc;
  const char *list = o->servers ? o->servers : getenv ("NATS_URL");
  if (list == NULL || *list == '\0')
    list = "nats://127.0.0.1:4222";
  if (split_servers (list, &servers, &ns) < 0)
    return nxerr_set (err, EINVAL, "--server: empty server list");
  rc = connect_one (n, o, servers, ns, true, &n->nc, err);
  if (rc == 0)
    rc = connect_one (n, o, servers, ns, false, &n->nc_data, err);
  for (int i = 0; i < ns; i++)
    free (servers[i]);
  free (servers);
  return rc;
}

/* The node starts serving only once both connections are up (what follows
 * subscribes, asks JetStream, publishes node_started), but a stop signal
 * ends the wait: a node whose server is not there must still stop on
 * SIGTERM. 1 when stopped by a signal. */
static int
wait_connected (struct node *n, const sigset_t *set)
{
  const struct timespec tick = { 0, 100 * 1000000L };
  while (natsConnection_Status (n->nc) != NATS_CONN_STATUS_CONNECTED
         || natsConnection_Status (n->nc_data) != NATS_CONN_STATUS_CONNECTED)
    {
      int sig = sigtimedwait (set, NULL, &tick);
      if (sig == SIGINT || sig == SIGTERM || sig == SIGQUIT)
        {
          log_info ("received signal %d before NATS was reachable: stopping", sig);
          return 1;
        }
    }
  return 0;
}

/* ---- signals and timers ---- */

static void
on_signal (struct loop_source *src, uint32_t events)
{
  struct node *n = (struct node *) ((char *) src - offsetof (struct node, sigsrc));
  struct signalfd_siginfo si;
  (void) events;
  while (read (src->fd, &si, sizeof si) == sizeof si)
    {
      if (si.ssi_signo == SIGCHLD)
        pool_reap (n->pool);
      else if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM || si.ssi_signo == SIGQUIT)
        {
          log_info ("received signal %u: shutting down", si.ssi_signo);
          shutdown_begin (n);
        }
    }
}

static void
on_heartbeat (struct loop_timer *t)
{
  struct node *n = (struct node *) ((char *) t - offsetof (struct node, heartbeat));
  events_heartbeat (n);
  loop_timer_arm (n->loop, t, (uint64_t) n->cfg.heartbeat_interval_ms);
}

static int
block_signals (sigset_t *set)
{
  sigemptyset (set);
  sigaddset (set, SIGINT);
  sigaddset (set, SIGTERM);
  sigaddset (set, SIGQUIT);
  sigaddset (set, SIGCHLD);
  sigaddset (set, SIGHUP);
  /* Before nats.c starts its threads, so they inherit the mask and every
   * signal lands on our signalfd. */
  return pthread_sigmask (SIG_BLOCK, set, NULL);
}

static char *
find_agent (const char *argv0, const struct config *cfg)
{
  char self[4096];
  ssize_t r;
  char *slash;
  char path[4200];
  if (cfg->agent_path)
    return xstrdup (cfg->agent_path);
  (void) argv0;
  /* Beside us in the build tree (node/ and agent/), or in the same bin dir. */
  r = readlink ("/proc/self/exe", self, sizeof self - 1);
  if (r > 0)
    {
      self[r] = '\0';
      slash = strrchr (self, '/');
      if (slash)
        {
          *slash = '\0';
          snprintf (path, sizeof path, "%s/nexc-agent", self);
          if (access (path, X_OK) == 0)
            return xstrdup (path);
          snprintf (path, sizeof path, "%s/../agent/nexc-agent", self);
          if (access (path, X_OK) == 0)
            return realpath (path, NULL);
        }
    }
  return xstrdup ("nexc-agent");
}

/* The process tier's preflight and leftover sweep, sparing (and taking
 * back the uids of) the sandboxes whose agents answered reattach_open; in
 * tier none the cgroup of its agents, sparing the leaves of those agents. */
static int
start_sandbox (struct node *n, struct nxerr *err)
{
  cleanup_free uint32_t *kept = NULL;
  cleanup_free pid_t *kept_pids = NULL;
  size_t n_kept;
  if (n->cfg.sandbox == SANDBOX_NONE)
    {
      n_kept = reattach_kept_pids (n, &kept_pids);
      cgnone_start (n, kept_pids, n_kept);
      return 0;
    }
  n_kept = reattach_kept_uids (n, &kept);
  return sandbox_start (n, &(struct sandbox_keep){ kept, n_kept }, err);
}

/* An ordinary user's process tier runs in the node's own user namespace
 * (node/sandbox/rootns.h), entered here, before any thread exists. 0 when
 * entered or not needed, or when a prerequisite is missing (logged: the
 * preflight then refuses the start with its rows); -1 when the process
 * cannot go on. */
static int
rootless_start (struct config *cfg, struct nxerr *err)
{
  const struct rootns *r;
  int rc;
  if (cfg->sandbox != SANDBOX_PROCESS || geteuid () == 0)
    return 0;
  rc = rootns_enter (err);
  if (rc == ROOTNS_BROKEN)
    return -1;
  if (rc < 0)
    {
      log_error ("%s", err->msg);
      nxerr_clear (err);
      return 0;
    }
  r = rootns_get ();
  if (rootns_config (r, cfg, err) < 0)
    return -1;
  log_info ("rootless: uid %u (%s) is uid 0 of the node's own user namespace, where ids 1-%u "
            "are host uids %u-%u (/etc/subuid) and gids %u-%u (/etc/subgid); sandboxes take "
            "uid_range %lld-%lld; uid locks in %s",
            r->uid, r->name, rootns_inside_count (r), r->subuid.start,
            r->subuid.start + rootns_inside_count (r) - 1, r->subgid.start,
            r->subgid.start + rootns_inside_count (r) - 1, (long long) cfg->uid_start,
            (long long) (cfg->uid_start + cfg->uid_count - 1), cfg->uid_lock_dir);
  return 0;
}

/* ---- the end of a node, served or not ---- */

/* The spawning machinery and what it made: after the pools, whose agents'
 * PDEATHSIG follows the spawner's thread; the sandbox then removes the
 * node cgroup. */
static void
stop_spawning (struct node *n)
{
  zygote_stop (n);
  spawner_stop (n);
  sandbox_stop (n);
  cgnone_stop (n);
  reattach_close (n);
}

/* Both connections, then nats.c's threads; the reading threads joined,
 * what waits for a round trip can go (node/bus/subgrave.h). */
static void
close_nats (struct node *n)
{
  natsloop_pump_stop (n->natsloop_data);
  natsConnection_Destroy (n->nc_data);
  natsloop_pump_stop (n->natsloop);
  natsConnection_Destroy (n->nc);
  natsloop_free (n->natsloop_data);
  natsloop_free (n->natsloop);
  n->natsloop = n->natsloop_data = NULL;
  subgrave_free (n);
  nats_CloseAndWait (2000);
}

/* What the start made before any NATS connection. */
static void
release_start (struct node *n, int state_lock)
{
  loop_free (n->loop);
  close (n->sigsrc.fd);
  identity_wipe (&n->id);
  creds_close (n);
  strmap_free (&n->tags);
  free (n->agent_path);
  statelock_release (n->cfg.state_dir, state_lock);
  config_free (&n->cfg);
}

static int
cmd_up (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "config", required_argument, NULL, 'c' },   { "server", required_argument, NULL, 's' },
          { "creds", required_argument, NULL, 'C' },    { "nkey", required_argument, NULL, 'k' },
          { "user", required_argument, NULL, 'u' },     { "password", required_argument, NULL, 'p' },
          { "token", required_argument, NULL, 't' },    { "tlsca", required_argument, NULL, 'a' },
          { "tlscert", required_argument, NULL, 'e' },  { "tlskey", required_argument, NULL, 'y' },
          { "state-dir", required_argument, NULL, 'd' },
          { "ephemeral-identity", no_argument, NULL, 'E' },
          { "exit-on-drain", no_argument, NULL, 'X' },
          { "detach-on-exit", no_argument, NULL, 'D' },
          { "log-level", required_argument, NULL, 'l' }, { "help", no_argument, NULL, 'h' },
          { "password-file", required_argument, NULL, 'P' },
          { "token-file", required_argument, NULL, 'T' },
          { NULL, 0, NULL, 0 } };
  struct up_opts o = { 0 };
  struct node n;
  struct nxerr err = { 0 };
  sigset_t set;
  int c, state_lock = -1, stopped = 0;
  enum log_level lvl;

  memset (&n, 0, sizeof n);
  while ((c = getopt_long (argc, argv, "c:s:h", longopts, NULL)) != -1)
    {
      switch (c)
        {
        case 'c': o.config = optarg; break;
        case 's': o.servers = optarg; break;
        case 'C': o.creds = optarg; break;
        case 'k': o.nkey = optarg; break;
        case 'u': o.user = optarg; break;
        case 'p': o.password = optarg; break;
        case 't': o.token = optarg; break;
        case 'P': o.password_file = optarg; break;
        case 'T': o.token_file = optarg; break;
        case 'a': o.tlsca = optarg; break;
        case 'e': o.tlscert = optarg; break;
        case 'y': o.tlskey = optarg; break;
        case 'd': o.state_dir = optarg; break;
        case 'E': o.ephemeral = true; break;
        case 'X': n.exit_on_drain = true; break;
        case 'D': n.detach_on_exit = true; break;
        case 'l':
          if (log_level_parse (optarg, &lvl) < 0)
            {
              fprintf (stderr, "nexc-node: --log-level: unknown level \"%s\"\n", optarg);
              return EXIT_USAGE;
            }
          log_set_level (lvl);
          break;
        case 'h': usage (stdout); return 0;
        default: usage (stderr); return EXIT_USAGE;
        }
    }
  /* Secrets on the command line are in /proc/<pid>/cmdline for every user
   * of the machine: prefer a file or the environment. */
  if (o.password || o.token)
    log_warn ("--password/--token are visible to every local user (ps); use --password-file, "
              "--token-file, NATS_PASSWORD or NATS_TOKEN");
  /* The node's own NATS user: its seed is in that file. */
  if (o.creds && !private_file (o.creds))
    return EXIT_CONFIG;
  if (o.user && !o.password && !o.password_file)
    o.password = getenv ("NATS_PASSWORD");
  if (!o.token && !o.token_file)
    o.token = getenv ("NATS_TOKEN");
  if (o.config == NULL)
    {
      fprintf (stderr, "nexc-node: up: --config FILE is required\n");
      usage (stderr);
      return EXIT_USAGE;
    }
  if (n.detach_on_exit && o.ephemeral)
    {
      fprintf (stderr, "nexc-node: up: --detach-on-exit needs the journal of a state dir, which "
                       "--ephemeral-identity does not keep\n");
      return EXIT_USAGE;
    }

  config_defaults (&n.cfg);
  if (config_load (&n.cfg, o.config, &err) < 0)
    {
      log_error ("%s", err.msg);
      config_free (&n.cfg);
      return EXIT_CONFIG;
    }
  for (size_t i = 0; i < n.cfg.warnings.n; i++)
    log_warn ("config: %s", n.cfg.warnings.v[i]);
  if (o.state_dir)
    {
      free (n.cfg.state_dir);
      n.cfg.state_dir = xstrdup (o.state_dir);
      n.cfg.state_dir_set = true;
    }
  if (rootless_start (&n.cfg, &err) < 0)
    {
      log_error ("%s", err.msg);
      config_free (&n.cfg);
      return EXIT_CONFIG;
    }
  if (n.cfg.sandbox == SANDBOX_NONE)
    log_warn ("sandbox \"none\": workloads run as plain processes with the node's privileges "
              "(tag nex.unsafe=true)");
  /* The node cannot see the server's permissions. Without workload_creds
   * it gives workloads no NATS identity of their own, so on the host
   * network a workload reaches the server as any local client can: on a
   * server that lets anyone in, it may publish on $NEX.>. */
  if (n.cfg.sandbox == SANDBOX_PROCESS && n.cfg.network != SANDBOX_NET_NONE
      && n.cfg.wcreds_account == NULL)
    log_warn ("workload_creds is off and sandbox network \"host\": a workload can reach NATS "
              "as any client can (on a server without accounts: publish on $NEX.>, forged log "
              "lines, requests); set workload_creds on an operator-mode server, or use "
              "\"network\": \"none\"");
  if (n.cfg.valid_issuers.n == 0)
    log_warn ("OPEN NODE: valid_issuers is empty, so any client that can publish on $NEX.DEPLOY "
              "runs code here and any client can stop work (tag nex.open=true); "
              "`nexc-node init --config FILE` makes an issuer key and names it");
  if (n.cfg.accept_unverified_hashes)
    log_warn ("accept_unverified_hashes is on: artifacts whose JWT hash is not their sha256 are "
              "accepted");

  /* Before anything in the state dir is read: one node per state dir. */
  if (statelock_take (n.cfg.state_dir, &state_lock, &err) < 0
      || identity_load (&n.id, n.cfg.state_dir, o.ephemeral, &err) < 0)
    {
      log_error ("%s", err.msg);
      config_free (&n.cfg);
      return EXIT_CONFIG;
    }
  n.node_id = n.id.server.public_text;
  statelock_name (state_lock, n.node_id);
  if (creds_open (&n, &err) < 0)
    {
      log_error ("%s", err.msg);
      identity_wipe (&n.id);
      config_free (&n.cfg);
      return EXIT_CONFIG;
    }
  n.agent_path = find_agent (argv[0], &n.cfg);
  /* The journal of a previous run, and its agents still alive: before the
   * sandbox's leftover sweep, which must spare their sandboxes. */
  /* Then the process tier's preflight (never a silent downgrade: a missing
   * hard requirement stops the start) and the leftovers of a crashed run. */
  if ((!o.ephemeral && reattach_open (&n, &err) < 0) || start_sandbox (&n, &err) < 0)
    {
      log_error ("%s", err.msg);
      reattach_close (&n);
      identity_wipe (&n.id);
      free (n.agent_path);
      config_free (&n.cfg);
      return EXIT_CONFIG;
    }
  n.start_mono_ns = timefmt_mono_ns ();
  n.start_wall = timefmt_now ();
  node_tags_refresh (&n);

  if (block_signals (&set) != 0 || loop_new (&n.loop, &err) < 0
      || natsloop_new (n.loop, &n.natsloop, &err) < 0
      || natsloop_new (n.loop, &n.natsloop_data, &err) < 0)
    {
      log_error ("start: %s", err.msg[0] ? err.msg : "cannot block signals");
      return 1;
    }
  n.sigsrc.fd = signalfd (-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  n.sigsrc.cb = on_signal;
  if (n.sigsrc.fd < 0 || loop_add (n.loop, &n.sigsrc, EPOLLIN, &err) < 0)
    {
      log_error ("signalfd: %s", strerror (errno));
      return 1;
    }
  n.replay = replay_new ();
  /* Tokens accepted by the previous run stay refused (reattach_open made
   * the state dir). */
  if (!o.ephemeral && replay_open (n.replay, n.cfg.state_dir, (int64_t) time (NULL), &err) < 0)
    {
      log_error ("replay cache: %s", err.msg);
      return 1;
    }
  if (pool_new (&n, &n.pool, &err) < 0 || artifact_cache_new (&n, &n.cache, &err) < 0
      || shutdown_init (&n, &err) < 0)
    {
      log_error ("start: %s", err.msg);
      return 1;
    }
  nats_Open (-1);
  if (nats_connect (&n, &o, &err) < 0 || (stopped = wait_connected (&n, &set)) != 0
      || control_subscribe (&n, &err) < 0)
    {
      if (!stopped)
        log_error ("%s", err.msg);
      /* What shutdown_finish frees once the node has served. */
      pool_free (n.pool);
      artifact_cache_free (n.cache);
      replay_free (n.replay);
      stop_spawning (&n);
      close_nats (&n);
      release_start (&n, state_lock);
      return stopped ? EXIT_SUCCESS : 1;
    }
  n.api_start_mono_ns = timefmt_mono_ns ();
  if (echo_new (&n, n.natsloop_data, n.nc_data, &n.echo_data, &err) < 0)
    log_error ("%s", err.msg);
  if (outbox_start (&n, &err) < 0)
    log_error ("%s: lifecycle events are published once, not kept until confirmed", err.msg);
  if (logack_start (&n, &err) < 0)
    log_error ("%s: agents forget log lines once sent, not once confirmed", err.msg);
  if (logstream_start (&n, &err) < 0)
    log_error ("%s", err.msg);
  reattach_run (&n);
  pool_start (n.pool);
  events_node_started (&n);
  autostart_run (&n);
  if (deployments_start (&n, &err) < 0)
    log_error ("deployments: %s: off", err.msg);
  metrics_start (&n);
  loop_timer_init (&n.heartbeat, on_heartbeat);
  loop_timer_arm (n.loop, &n.heartbeat, (uint64_t) n.cfg.heartbeat_interval_ms);
  log_info ("node %s (%s) up, nexc %s, sandbox %s, pool %lld, state %s", n.node_id,
            strmap_get (&n.tags, "node_name"), NEXC_VERSION,
            n.cfg.sandbox == SANDBOX_PROCESS ? "process" : "none",
            (long long) n.cfg.machine_pool_size, n.cfg.state_dir);

  loop_run (n.loop);
  /* What follows waits for the server's answers (the deployments watcher's
   * last calls, the outbox's final flush, the drains). */
  if (natsloop_pump_start (n.natsloop, &err) < 0)
    log_error ("%s: the teardown's round trips on the control connection time out", err.msg);
  if (natsloop_pump_start (n.natsloop_data, &err) < 0)
    log_error ("%s: the teardown's round trips on the data connection time out", err.msg);
  deployments_stop (&n);
  metrics_stop (&n);
  logstream_stop (&n);
  logack_stop (&n);
  outbox_stop (&n);
  echo_free (n.echo_data);
  n.echo_data = NULL;
  stop_spawning (&n);

  /* shutdown_finish has stopped workloads, killed agents and sent node_stopped. */
  natsConnection_FlushTimeout (n.nc_data, 2000);
  natsConnection_FlushTimeout (n.nc, 2000);
  control_unsubscribe (&n);
  close_nats (&n);
  logstream_free (&n);
  release_start (&n, state_lock);
  log_info ("stopped");
  return n.exit_code;
}

/* nexc-node preflight [--config FILE] [--state-dir DIR] [--server URL[,URL...]] */
static int
cmd_preflight (int argc, char **argv)
{
  static const struct option longopts[]
      = { { "config", required_argument, NULL, 'c' }, { "state-dir", required_argument, NULL, 'd' },
          { "server", required_argument, NULL, 's' }, { "help", no_argument, NULL, 'h' },
          { NULL, 0, NULL, 0 } };
  const char *config = NULL, *state_dir = NULL, *servers = NULL, *config_error = NULL;
  struct config cfg;
  struct preflight pf;
  struct preflight_opts o;
  struct nxerr err = { 0 }, rerr = { 0 };
  char cgname[64], *agent, *abs;
  bool ready;
  int c;
  while ((c = getopt_long (argc, argv, "c:d:s:h", longopts, NULL)) != -1)
    switch (c)
      {
      case 'c': config = optarg; break;
      case 'd': state_dir = optarg; break;
      case 's': servers = optarg; break;
      case 'h':
        printf ("usage: nexc-node preflight [--config FILE] [--state-dir DIR] [--server URL]\n");
        return 0;
      default: usage (stderr); return EXIT_USAGE;
      }
  /* A config that up would refuse is a row of the table (the packaged one
   * is refused until init): the other checks run on what was read. */
  config_defaults (&cfg);
  if (config && config_load (&cfg, config, &err) < 0)
    config_error = err.msg;
  if (state_dir)
    {
      free (cfg.state_dir);
      cfg.state_dir = xstrdup (state_dir);
      cfg.state_dir_set = true;
    }
  /* As up would: the rows then say what a rootless node has. */
  if (rootless_start (&cfg, &rerr) < 0)
    {
      fprintf (stderr, "nexc-node: preflight: %s\n", rerr.msg);
      config_free (&cfg);
      return 1;
    }
  if (servers == NULL)
    servers = getenv ("NATS_URL");
  if (servers == NULL || *servers == '\0')
    servers = "nats://127.0.0.1:4222";
  agent = find_agent (argv[0], &cfg);
  sandbox_mkdirs (cfg.state_dir, &err);
  abs = realpath (cfg.state_dir, NULL);
  /* A cgroup of its own, so a node running meanwhile is not disturbed. */
  snprintf (cgname, sizeof cgname, "nexc-preflight-%d", (int) getpid ());
  o = (struct preflight_opts){ .cfg = &cfg, .config_error = config_error,
                               .state_dir = abs ? abs : cfg.state_dir,
                               .agent_path = agent, .servers = servers, .cgroup_name = cgname };
  preflight_run (&o, &pf);
  uidrange_free (&pf.uids);
  if (pf.cg.created)
    cgroup_teardown (&pf.cg);
  preflight_print (&pf, &cfg, stdout);
  ready = preflight_ready (&pf);
  free (abs);
  free (agent);
  config_free (&cfg);
  return ready ? 0 : 1;
}

static int
cmd_check_config (int argc, char **argv)
{
  struct config cfg;
  struct nxerr err = { 0 };
  cleanup_buf struct buf out = BUF_INIT;
  if (argc < 2)
    {
      fprintf (stderr, "nexc-node: check-config: FILE is required\n");
      return EXIT_USAGE;
    }
  config_defaults (&cfg);
  if (config_load (&cfg, argv[1], &err) < 0)
    {
      fprintf (stderr, "nexc-node: %s\n", err.msg);
      config_free (&cfg);
      return EXIT_CONFIG;
    }
  for (size_t i = 0; i < cfg.warnings.n; i++)
    fprintf (stderr, "nexc-node: warn: config: %s\n", cfg.warnings.v[i]);
  config_dump (&cfg, &out);
  printf ("%s\n", out.data);
  config_free (&cfg);
  return 0;
}

int
main (int argc, char **argv)
{
  log_init ("nexc-node", LOG_INFO);
  if (argc < 2)
    {
      usage (stderr);
      return EXIT_USAGE;
    }
  if (strcmp (argv[1], "up") == 0)
    return cmd_up (argc - 1, argv + 1);
  if (strcmp (argv[1], "check-config") == 0)
    return cmd_check_config (argc - 1, argv + 1);
  if (strcmp (argv[1], "init") == 0)
    return init_main (argc - 1, argv + 1);
  if (strcmp (argv[1], "preflight") == 0)
    return cmd_preflight (argc - 1, argv + 1);
  if (strcmp (argv[1], "version") == 0 || strcmp (argv[1], "--version") == 0)
    {
      printf ("nexc-node %s\n", NEXC_VERSION);
      return 0;
    }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0 || strcmp (argv[1], "help") == 0)
    {
      usage (stdout);
      return 0;
    }
  fprintf (stderr, "nexc-node: unknown command \"%s\"\n", argv[1]);
  usage (stderr);
  return EXIT_USAGE;
}
