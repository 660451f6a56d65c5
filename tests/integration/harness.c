/* harness: real nats-server and nexc-node processes for integration tests.
 *
 * Every child we start is recorded in a small static table; an atexit
 * handler and handlers for the terminating signals kill what is still in it,
 * so a failing test (cmocka longjmps out of it, or abort()s) leaves no
 * nats-server behind. When setpriv(1) is installed, children are also
 * started with a parent-death signal, which covers the test being SIGKILLed
 * (ctest timeout) or dying in a sanitizer report (which skips atexit). The
 * parent-death signal follows the spawning *thread*: call the harness from
 * the test's main thread. Temp dirs left by such hard deaths are swept by
 * the next harness_start_nats (each records its owner pid).
 * NEXC_IT_KEEP=1 in the environment keeps temp dirs for inspection. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"
#include "api/nexc.h"
#include "cgsweep.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <stdbool.h>
#include <unistd.h>

#include <jansson.h>

#include "api/nkeys.h"
#include "api/objstore.h"

extern char **environ;

#define MAX_CHILDREN 64
#define MAX_TMPDIRS 16
#define NATS_READY_MS 5000
/* How long a started node has to answer PING. Not a timing check (speed is
 * the benchmark's): a bound for a hang. A node exiting instead is seen at
 * once. 10 s was too short for a node restarted after SIGKILL on a loaded
 * machine (3 it_test_uidalloc at once under ASan: its previous run's warm
 * agents stopped, up to 2 s each, and its uid block taken back, up to 3 s,
 * before it connects). */
#define NODE_READY_MS 30000
#define STOP_WAIT_MS 10000
#define LOG_DUMP_MAX (64 * 1024)

/* NEXC_IT_ONLY=PATTERN runs only the tests of a binary whose names match
 * (cmocka's filter, * and ? wildcards): to repeat one test of a group. */
__attribute__ ((constructor)) static void
only_filter (void)
{
  const char *p = getenv ("NEXC_IT_ONLY");
  if (p != NULL && *p != '\0')
    cmocka_set_test_filter (p);
}

/* ---- the table of what we started ------------------------------------- */

static volatile pid_t children[MAX_CHILDREN];
static char tmpdirs[MAX_TMPDIRS][256];
static int cleanup_installed;

static void
kill_children_now (void)
{
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i] > 0)
      kill (children[i], SIGKILL);
}

static int
rm_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st;
  (void) flag;
  (void) ftw;
  remove (path);
  return 0;
}

static void
remove_tree (const char *dir)
{
  if (dir[0] == '\0' || getenv ("NEXC_IT_KEEP") != NULL)
    return;
  nftw (dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
atexit_cleanup (void)
{
  kill_children_now ();
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i] > 0)
      {
        waitpid (children[i], NULL, 0);
        children[i] = 0;
      }
  for (int i = 0; i < MAX_TMPDIRS; i++)
    if (tmpdirs[i][0])
      {
        remove_tree (tmpdirs[i]);
        tmpdirs[i][0] = '\0';
      }
  cgsweep_run ();
}

/* Only async-signal-safe work here: kill, then die of the same signal. */
static void
fatal_signal (int sig)
{
  kill_children_now ();
  signal (sig, SIG_DFL);
  raise (sig);
}

static void
install_cleanup (void)
{
  static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT };
  if (cleanup_installed)
    return;
  cleanup_installed = 1;
  atexit (atexit_cleanup);
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
    {
      struct sigaction sa;
      memset (&sa, 0, sizeof sa);
      sa.sa_handler = fatal_signal;
      sigemptyset (&sa.sa_mask);
      sa.sa_flags = SA_RESETHAND;
      sigaction (sigs[i], &sa, NULL);
    }
}

static void
track_child (pid_t pid)
{
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i] == 0)
      {
        children[i] = pid;
        return;
      }
  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
  fail_msg ("harness: more than %d children", MAX_CHILDREN);
}

static void
untrack_child (pid_t pid)
{
  for (int i = 0; i < MAX_CHILDREN; i++)
    if (children[i] == pid)
      children[i] = 0;
}

static void
track_tmpdir (const char *dir, int add)
{
  for (int i = 0; i < MAX_TMPDIRS; i++)
    {
      if (add && tmpdirs[i][0] == '\0')
        {
          snprintf (tmpdirs[i], sizeof tmpdirs[i], "%s", dir);
          return;
        }
      if (!add && strcmp (tmpdirs[i], dir) == 0)
        tmpdirs[i][0] = '\0';
    }
}

/* ---- small helpers ---------------------------------------------------- */

static uint64_t
now_ms (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static void
sleep_ms (int ms)
{
  struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
  while (nanosleep (&ts, &ts) < 0 && errno == EINTR)
    ;
}

static int
free_port (void)
{
  struct sockaddr_in sa;
  socklen_t sl = sizeof sa;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int port;
  if (fd < 0)
    fail_msg ("harness: socket: %s", strerror (errno));
  memset (&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0
      || getsockname (fd, (struct sockaddr *) &sa, &sl) < 0)
    {
      int e = errno;
      close (fd);
      fail_msg ("harness: bind port 0: %s", strerror (e));
    }
  port = ntohs (sa.sin_port);
  close (fd);
  return port;
}

/* A connected TCP socket to 127.0.0.1:port, or -1. */
static int
tcp_connect (int port)
{
  struct sockaddr_in sa;
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  memset (&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons ((uint16_t) port);
  sa.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      close (fd);
      return -1;
    }
  return fd;
}

/* Has pid exited? Reaps it and stores its status if so. */
static int
exited (pid_t pid, int *status)
{
  int st = 0;
  pid_t r = waitpid (pid, &st, WNOHANG);
  if (r == pid)
    {
      untrack_child (pid);
      if (status)
        *status = st;
      return 1;
    }
  return r < 0 && errno == ECHILD;
}

static int
exit_code (int st)
{
  if (WIFEXITED (st))
    return WEXITSTATUS (st);
  if (WIFSIGNALED (st))
    return 128 + WTERMSIG (st);
  return -1;
}

static void
kill_and_reap (pid_t *pid)
{
  if (*pid <= 0)
    return;
  kill (*pid, SIGKILL);
  while (waitpid (*pid, NULL, 0) < 0 && errno == EINTR)
    ;
  untrack_child (*pid);
  *pid = 0;
}

static void
dump_file (const char *what, const char *path)
{
  char buf[4096];
  ssize_t n;
  off_t size;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    {
      fprintf (stderr, "--- %s: %s: %s\n", what, path, strerror (errno));
      return;
    }
  size = lseek (fd, 0, SEEK_END);
  lseek (fd, size > LOG_DUMP_MAX ? size - LOG_DUMP_MAX : 0, SEEK_SET);
  fprintf (stderr, "--- %s (%s)%s ---\n", what, path, size > LOG_DUMP_MAX ? ", tail" : "");
  fflush (stderr);
  while ((n = read (fd, buf, sizeof buf)) > 0)
    if (write (STDERR_FILENO, buf, (size_t) n) < 0)
      break;
  fprintf (stderr, "--- end of %s ---\n", what);
  close (fd);
}

/* Start argv with stdout and stderr appended to log_path; no stdin. The child
 * gets default signal dispositions (nats_Open ignores SIGPIPE here) and an
 * empty mask, and with setpriv a parent-death SIGKILL; as_uid > 0: it runs
 * as that uid, with its primary group and no other (setpriv needed). */
static pid_t
spawn_logged_as (char *const argv[], const char *log_path, uid_t as_uid, gid_t as_gid)
{
  static const char setpriv[] = "/usr/bin/setpriv";
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  sigset_t all, none;
  char *wrapped[72], reuid[32], regid[32];
  char *const *use = argv;
  pid_t pid;
  int r, n, k = 0;

  install_cleanup ();
  if (access (setpriv, X_OK) == 0)
    {
      wrapped[k++] = (char *) setpriv;
      if (as_uid > 0)
        {
          snprintf (reuid, sizeof reuid, "--reuid=%u", (unsigned) as_uid);
          snprintf (regid, sizeof regid, "--regid=%u", (unsigned) as_gid);
          wrapped[k++] = reuid;
          wrapped[k++] = regid;
          wrapped[k++] = (char *) "--clear-groups";
        }
      wrapped[k++] = (char *) "--pdeathsig";
      wrapped[k++] = (char *) "KILL";
      wrapped[k++] = (char *) "--";
      for (n = 0; argv[n] && n < 58; n++)
        wrapped[k + n] = argv[n];
      wrapped[k + n] = NULL;
      use = wrapped;
    }
  else if (as_uid > 0)
    fail_msg ("harness: %s is needed to run a process as uid %u", setpriv, (unsigned) as_uid);
  posix_spawn_file_actions_init (&fa);
  posix_spawn_file_actions_addopen (&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen (&fa, STDOUT_FILENO, log_path,
                                    O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2 (&fa, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_init (&attr);
  sigfillset (&all);
  sigemptyset (&none);
  posix_spawnattr_setsigdefault (&attr, &all);
  posix_spawnattr_setsigmask (&attr, &none);
  posix_spawnattr_setflags (&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  r = posix_spawnp (&pid, use[0], &fa, &attr, use, environ);
  posix_spawn_file_actions_destroy (&fa);
  posix_spawnattr_destroy (&attr);
  if (r != 0)
    fail_msg ("harness: cannot start %s: %s", argv[0], strerror (r));
  track_child (pid);
  return pid;
}

static pid_t
spawn_logged (char *const argv[], const char *log_path)
{
  return spawn_logged_as (argv, log_path, 0, 0);
}

static void write_file (const char *path, const char *data);

/* ---- nats-server ------------------------------------------------------ */

/* Start nats-server on h's ports; 0 when it accepts connections, -1 when it
 * died (ports taken, most likely), fails the test on a timeout. */
static bool
log_says (const char *path, const char *needle)
{
  FILE *f = fopen (path, "r");
  char line[4096];
  bool found = false;
  while (f && !found && fgets (line, sizeof line, f))
    found = strstr (line, needle) != NULL;
  if (f)
    fclose (f);
  return found;
}

static int
launch_nats (struct harness *h)
{
  char port[16], mport[16], log[320];
  char *argv[] = { (char *) "nats-server", (char *) "-a", (char *) "127.0.0.1", (char *) "-p", port,
                   (char *) "-m", mport, (char *) "-js", (char *) "-sd", h->store_dir, NULL };
  char *cargv[] = { (char *) "nats-server", (char *) "-c", h->nats_conf, NULL };
  uint64_t deadline;
  snprintf (port, sizeof port, "%d", h->nats_port);
  snprintf (mport, sizeof mport, "%d", h->monitor_port);
  snprintf (log, sizeof log, "%s/nats.log", h->tmpdir);
  h->nats_pid = spawn_logged (h->nats_conf[0] ? cargv : argv, log);
  deadline = now_ms () + NATS_READY_MS;
  while (now_ms () < deadline)
    {
      /* Ours, not whoever took the port between free_port and our bind (a
       * test running beside us): our own log says it is listening, and the
       * port answers. Else a lost race connects to another test's server
       * ("Authentication Violation" in operator mode). */
      int fd = log_says (log, "Server is ready") ? tcp_connect (h->nats_port) : -1;
      if (fd >= 0)
        {
          close (fd);
          return 0;
        }
      if (exited (h->nats_pid, NULL))
        {
          h->nats_pid = 0;
          return -1;
        }
      sleep_ms (5);
    }
  dump_file ("nats-server log", log);
  kill_and_reap (&h->nats_pid);
  fail_msg ("harness: nats-server did not accept connections on port %d within %d ms",
            h->nats_port, NATS_READY_MS);
  return -1;
}

/* Temp dirs of test processes that died hard (SIGKILL, abort, sanitizer
 * exit: no atexit) are removed by the next test: each dir names its owner. */
static void
sweep_stale_tmpdirs (void)
{
  static int swept;
  DIR *d;
  struct dirent *e;
  if (swept++ || (d = opendir ("/tmp")) == NULL)
    return;
  while ((e = readdir (d)) != NULL)
    {
      char path[300], owner[32];
      ssize_t n;
      long pid;
      int fd;
      if (strncmp (e->d_name, "nexc-it-", 8) != 0)
        continue;
      snprintf (path, sizeof path, "/tmp/%s/owner", e->d_name);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      n = read (fd, owner, sizeof owner - 1);
      close (fd);
      if (n <= 0)
        continue;
      owner[n] = '\0';
      pid = strtol (owner, NULL, 10);
      if (pid > 0 && kill ((pid_t) pid, 0) < 0 && errno == ESRCH)
        {
          snprintf (path, sizeof path, "/tmp/%s", e->d_name);
          remove_tree (path);
        }
    }
  closedir (d);
}

/* A fresh harness in a temp dir of its own (tracked for cleanup, its
 * owner's pid written for the stale-dir sweep), the server's store and log
 * paths set. */
static void
begin_tmpdir (struct harness *h, char log[320])
{
  char owner[300], pid[32];
  memset (h, 0, sizeof *h);
  install_cleanup ();
  sweep_stale_tmpdirs ();
  snprintf (h->tmpdir, sizeof h->tmpdir, "/tmp/nexc-it-XXXXXX");
  if (mkdtemp (h->tmpdir) == NULL)
    fail_msg ("harness: mkdtemp: %s", strerror (errno));
  track_tmpdir (h->tmpdir, 1);
  snprintf (owner, sizeof owner, "%s/owner", h->tmpdir);
  snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());
  write_file (owner, pid);
  snprintf (h->store_dir, sizeof h->store_dir, "%s/js", h->tmpdir);
  snprintf (log, 320, "%s/nats.log", h->tmpdir);
}

void
harness_start_nats (struct harness *h)
{
  char log[320];
  begin_tmpdir (h, log);
  /* Another test may grab a port between our probe and the server's bind:
   * try a few pairs. */
  for (int attempt = 0; attempt < 5; attempt++)
    {
      h->nats_port = free_port ();
      do
        h->monitor_port = free_port ();
      while (h->monitor_port == h->nats_port);
      if (launch_nats (h) == 0)
        {
          snprintf (h->nats_url, sizeof h->nats_url, "nats://127.0.0.1:%d", h->nats_port);
          return;
        }
    }
  dump_file ("nats-server log", log);
  fail_msg ("harness: nats-server keeps exiting at start (see log above)");
}

void
harness_start_nats_conf (struct harness *h, const char *extra_conf)
{
  char log[320];
  begin_tmpdir (h, log);
  snprintf (h->nats_conf, sizeof h->nats_conf, "%s/nats.conf", h->tmpdir);
  for (int attempt = 0; attempt < 5; attempt++)
    {
      size_t cap = strlen (extra_conf) + 1024;
      char *conf = malloc (cap);
      h->nats_port = free_port ();
      do
        h->monitor_port = free_port ();
      while (h->monitor_port == h->nats_port);
      snprintf (conf, cap,
                "listen: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\njetstream: { store_dir: \"%s\" }\n%s\n",
                h->nats_port, h->monitor_port, h->store_dir, extra_conf);
      write_file (h->nats_conf, conf);
      free (conf);
      if (launch_nats (h) == 0)
        {
          snprintf (h->nats_url, sizeof h->nats_url, "nats://127.0.0.1:%d", h->nats_port);
          return;
        }
    }
  dump_file ("nats-server log", log);
  fail_msg ("harness: nats-server keeps exiting at start (see log above)");
}

static void
new_tmpdir (struct harness *h)
{
  char owner[300], pid[32];
  snprintf (h->tmpdir, sizeof h->tmpdir, "/tmp/nexc-it-XXXXXX");
  if (mkdtemp (h->tmpdir) == NULL)
    fail_msg ("harness: mkdtemp: %s", strerror (errno));
  track_tmpdir (h->tmpdir, 1);
  snprintf (owner, sizeof owner, "%s/owner", h->tmpdir);
  snprintf (pid, sizeof pid, "%ld\n", (long) getpid ());
  write_file (owner, pid);
}

/* Member i of the n in h, its config naming the others' routes. */
static int
launch_member (struct harness *h, int n, int i)
{
  char conf[2048], routes[1024];
  int o = 0;
  routes[0] = '\0';
  for (int j = 0; j < n; j++)
    if (j != i)
      o += snprintf (routes + o, sizeof routes - (size_t) o, "%snats://127.0.0.1:%d",
                     o ? ", " : "", h[j].cluster_port);
  snprintf (conf, sizeof conf,
            "server_name: s%d\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n"
            "jetstream { store_dir: \"%s\" }\n"
            "cluster { name: nexc, listen: 127.0.0.1:%d, routes: [%s] }\n",
            i + 1, h[i].nats_port, h[i].monitor_port, h[i].store_dir, h[i].cluster_port, routes);
  snprintf (h[i].nats_conf, sizeof h[i].nats_conf, "%s/nats.conf", h[i].tmpdir);
  write_file (h[i].nats_conf, conf);
  return launch_nats (&h[i]);
}

void
harness_start_cluster (struct harness *h, int n)
{
  install_cleanup ();
  sweep_stale_tmpdirs ();
  if (n < 1 || n > 8)
    fail_msg ("harness: cluster of %d servers", n);
  for (int i = 0; i < n; i++)
    {
      memset (&h[i], 0, sizeof h[i]);
      new_tmpdir (&h[i]);
      snprintf (h[i].store_dir, sizeof h[i].store_dir, "%s/js", h[i].tmpdir);
    }
  /* A member that lost one of its ports to a test running beside us exits:
   * every member's routes name the others' ports, so all start again on
   * new ones. */
  for (int attempt = 0;; attempt++)
    {
      int up = 0;
      for (int i = 0; i < n; i++)
        {
          h[i].nats_port = free_port ();
          h[i].monitor_port = free_port ();
          h[i].cluster_port = free_port ();
          snprintf (h[i].nats_url, sizeof h[i].nats_url, "nats://127.0.0.1:%d", h[i].nats_port);
        }
      while (up < n && launch_member (h, n, up) == 0)
        up++;
      if (up == n)
        break;
      for (int i = 0; i < up; i++)
        kill_and_reap (&h[i].nats_pid);
      if (attempt == 4)
        fail_msg ("harness: cluster member %d did not start (5 tries)", up + 1);
    }
  /* JetStream needs a meta leader before streams can be created. */
  for (int t = 0; t < 100; t++)
    {
      char *body = harness_http_get (&h[0], "/jsz");
      bool ready = body && strstr (body, "\"leader\"");
      free (body);
      if (ready)
        return;
      sleep_ms (100);
    }
  fail_msg ("harness: the JetStream cluster elected no meta leader in 10 s");
}


void
harness_share_nats (struct harness *h, const struct harness *with)
{
  memset (h, 0, sizeof *h);
  install_cleanup ();
  new_tmpdir (h);
  h->nats_port = with->nats_port;
  h->monitor_port = with->monitor_port;
  snprintf (h->nats_url, sizeof h->nats_url, "%s", with->nats_url);
}

void
harness_restart_nats (struct harness *h)
{
  char log[320];
  kill_and_reap (&h->nats_pid);
  /* The listener may linger for a moment: retry on the same ports. */
  for (int attempt = 0; attempt < 50; attempt++)
    {
      if (launch_nats (h) == 0)
        return;
      sleep_ms (100);
    }
  snprintf (log, sizeof log, "%s/nats.log", h->tmpdir);
  dump_file ("nats-server log", log);
  fail_msg ("harness: nats-server did not restart on port %d", h->nats_port);
}

void
harness_restart_nats_clean (struct harness *h)
{
  if (h->nats_pid > 0)
    {
      kill (h->nats_pid, SIGTERM);
      for (int i = 0; i < 100; i++)
        {
          pid_t r = waitpid (h->nats_pid, NULL, WNOHANG);
          if (r == h->nats_pid || (r < 0 && errno != EINTR))
            {
              untrack_child (h->nats_pid);
              h->nats_pid = 0;
              break;
            }
          sleep_ms (50);
        }
    }
  harness_restart_nats (h); /* SIGKILL if it is still there after 5 s */
}

void
harness_stop_nats (struct harness *h)
{
  kill_and_reap (&h->nats_pid);
}

natsConnection *
harness_connect (struct harness *h)
{
  natsOptions *o = NULL;
  natsConnection *nc = NULL;
  natsStatus s;
  s = natsOptions_Create (&o);
  if (s == NATS_OK)
    s = natsOptions_SetURL (o, h->nats_url);
  if (s == NATS_OK)
    s = natsOptions_SetSendAsap (o, true);
  if (s == NATS_OK)
    s = natsOptions_SetTimeout (o, 2000);
  if (s == NATS_OK)
    s = natsOptions_SetAllowReconnect (o, true);
  if (s == NATS_OK)
    s = natsOptions_SetMaxReconnect (o, -1);
  if (s == NATS_OK)
    s = natsOptions_SetReconnectWait (o, 100);
  if (s == NATS_OK)
    s = natsOptions_SetName (o, "nexc-it");
  if (s == NATS_OK && h->client_creds[0])
    s = natsOptions_SetUserCredentialsFromFiles (o, h->client_creds, NULL);
  if (s == NATS_OK && h->tls_ca[0])
    s = natsOptions_SetSecure (o, true);
  if (s == NATS_OK && h->tls_ca[0])
    s = natsOptions_LoadCATrustedCertificates (o, h->tls_ca);
  /* A server on a loaded machine can refuse a handshake it found too slow
   * (its auth timeout; nats.c reports it as an authentication failure) with
   * creds it accepts a moment later: a few tries, each said, before the
   * failure is the test's. */
  for (int tries = 1; s == NATS_OK; tries++)
    {
      s = natsConnection_Connect (&nc, o);
      if (s == NATS_OK || tries == 3
          || (s != NATS_CONNECTION_AUTH_FAILED && s != NATS_NO_SERVER && s != NATS_TIMEOUT))
        break;
      fprintf (stderr, "harness: connect to %s: %s, trying again\n", h->nats_url,
               natsStatus_GetText (s));
      sleep_ms (300);
      s = NATS_OK;
    }
  natsOptions_Destroy (o);
  if (s != NATS_OK)
    fail_msg ("harness: connect to %s: %s", h->nats_url, natsStatus_GetText (s));
  return nc;
}

void
harness_client (struct harness *h, natsConnection **nc, struct nexc_client **c,
                natsSubscription **events, natsSubscription **logs)
{
  struct nxerr err = { 0 };
  *nc = harness_connect (h);
  if (nexc_client_wrap (c, *nc, &err) < 0)
    fail_msg ("harness: client: %s", err.msg);
  (*c)->timeout_ms = 5000;
  if (natsConnection_SubscribeSync (events, *nc, "$NEX.events.default.*") != NATS_OK
      || natsConnection_SubscribeSync (logs, *nc, "$NEX.logs.default.>") != NATS_OK)
    fail_msg ("harness: client: subscribe to events and logs");
  natsSubscription_SetPendingLimits (*logs, -1, -1);
}

/* ---- nexc-node -------------------------------------------------------- */

const char *
harness_bin (const char *rel)
{
  static char bufs[4][512];
  static int next;
  char *b = bufs[next++ % 4];
  snprintf (b, sizeof bufs[0], "%s/%s", NEXC_BUILD_DIR, rel);
  return b;
}

void
harness_dump_node_log (struct harness *h)
{
  if (h->node_log[0])
    dump_file ("nexc-node log", h->node_log);
}

static void
write_file (const char *path, const char *data)
{
  size_t len = strlen (data), off = 0;
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    fail_msg ("harness: open %s: %s", path, strerror (errno));
  while (off < len)
    {
      ssize_t n = write (fd, data + off, len - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          close (fd);
          fail_msg ("harness: write %s: %s", path, strerror (e));
        }
      off += (size_t) n;
    }
  close (fd);
}

/* Copy data.<key> of a PING reply into out. */
static int
ping_field (json_t *root, const char *key, char *out, size_t n)
{
  json_t *v = json_object_get (json_object_get (root, "data"), key);
  if (!json_is_string (v) || json_string_length (v) >= n)
    return -1;
  memcpy (out, json_string_value (v), json_string_length (v) + 1);
  return 0;
}

/* The node's environment for h->slow_msg_us (on: us > 0; 0: back as it
 * was): tests/slow_msg.so preloaded, which makes each message nats.c reads
 * wait us microseconds (tests/integration/shims/slow_msg.c). ASan wants
 * its runtime first among the libraries, and a preload comes before it:
 * its link-order check is turned off for that node only. */
/* name back to saved (NULL: unset), saved freed. */
static void
env_put_back (const char *name, char **saved)
{
  if (*saved)
    setenv (name, *saved, 1);
  else
    unsetenv (name);
  free (*saved);
  *saved = NULL;
}

static void
slow_msg_env (int us)
{
  static char *asan_was, *preload_was;
  char v[512];
  if (us <= 0)
    {
      env_put_back ("LD_PRELOAD", &preload_was);
      env_put_back ("ASAN_OPTIONS", &asan_was);
      unsetenv ("NEXC_TEST_SLOW_MSG_US");
      return;
    }
  const char *a = getenv ("ASAN_OPTIONS");
  const char *pre = getenv ("LD_PRELOAD");
  preload_was = pre ? strdup (pre) : NULL;
  asan_was = a ? strdup (a) : NULL;
  snprintf (v, sizeof v, "%s%sverify_asan_link_order=0", a ? a : "", a && *a ? ":" : "");
  setenv ("ASAN_OPTIONS", v, 1);
  setenv ("LD_PRELOAD", harness_bin ("tests/slow_msg.so"), 1);
  snprintf (v, sizeof v, "%d", us);
  setenv ("NEXC_TEST_SLOW_MSG_US", v, 1);
}

void
harness_start_node (struct harness *h, const char *config_json, const char *const *extra_args)
{
  char *argv[64];
  natsInbox *inbox = NULL;
  natsConnection *nc;
  natsSubscription *sub = NULL;
  uint64_t deadline;
  int n = 0, st = 0;
  char *reply = NULL;

  snprintf (h->node_config, sizeof h->node_config, "%s/node.json", h->tmpdir);
  snprintf (h->node_state_dir, sizeof h->node_state_dir, "%s/state", h->tmpdir);
  snprintf (h->node_log, sizeof h->node_log, "%s/node.log", h->tmpdir);
  write_file (h->node_config, config_json ? config_json : "{}");
  if (mkdir (h->node_state_dir, 0700) < 0 && errno != EEXIST)
    fail_msg ("harness: mkdir %s: %s", h->node_state_dir, strerror (errno));
  /* A node of another user: it reaches its config and state dir, nothing
   * else of the temp dir (the log is opened here). */
  if (h->run_as_uid > 0
      && (chmod (h->tmpdir, 0711) < 0 || chmod (h->node_config, 0644) < 0
          || chown (h->node_state_dir, h->run_as_uid, h->run_as_gid) < 0))
    fail_msg ("harness: giving %s to uid %u: %s", h->node_state_dir, (unsigned) h->run_as_uid,
              strerror (errno));

  argv[n++] = (char *) harness_bin ("node/nexc-node");
  argv[n++] = (char *) "up";
  argv[n++] = (char *) "--config";
  argv[n++] = h->node_config;
  argv[n++] = (char *) "--server";
  argv[n++] = h->nats_url;
  argv[n++] = (char *) "--state-dir";
  argv[n++] = h->node_state_dir;
  for (int i = 0; extra_args && extra_args[i]; i++)
    {
      if (n >= 63)
        fail_msg ("harness: too many node arguments");
      argv[n++] = (char *) extra_args[i];
    }
  argv[n] = NULL;
  if (access (argv[0], X_OK) != 0)
    fail_msg ("harness: %s: %s", argv[0], strerror (errno));
  if (h->slow_msg_us > 0)
    slow_msg_env (h->slow_msg_us);
  h->node_pid = spawn_logged_as (argv, h->node_log, h->run_as_uid, h->run_as_gid);
  if (h->slow_msg_us > 0)
    slow_msg_env (0);

  /* Ready when it answers PING on its own subject: on a cluster several
   * nodes answer the broadcast, so learn the id from the identity file the
   * node writes at start (unless started with --ephemeral-identity). */
  nc = harness_connect (h);
  if (natsInbox_Create (&inbox) != NATS_OK
      || natsConnection_SubscribeSync (&sub, nc, inbox) != NATS_OK)
    fail_msg ("harness: cannot subscribe to a reply inbox");
  deadline = now_ms () + NODE_READY_MS;
  char ping_subject[128] = "$NEX.PING";
  while (reply == NULL && now_ms () < deadline)
    {
      natsMsg *m = NULL;
      if (exited (h->node_pid, &st))
        {
          h->node_pid = 0;
          natsSubscription_Destroy (sub);
          natsInbox_Destroy (inbox);
          natsConnection_Destroy (nc);
          harness_dump_node_log (h);
          fail_msg ("harness: nexc-node exited (status %d) before answering PING", exit_code (st));
        }
      if (strcmp (ping_subject, "$NEX.PING") == 0)
        {
          char seedpath[400], seed[128] = "";
          struct nkey_pair kp;
          struct nxerr e = { 0 };
          FILE *f;
          snprintf (seedpath, sizeof seedpath, "%s/node.nk", h->node_state_dir);
          f = fopen (seedpath, "r");
          if (f && fgets (seed, sizeof seed, f))
            {
              seed[strcspn (seed, "\r\n")] = '\0';
              if (nkey_pair_from_seed (seed, &kp, &e) == 0)
                snprintf (ping_subject, sizeof ping_subject, "$NEX.PING.%s", kp.public_text);
              nkey_pair_wipe (&kp);
            }
          if (f)
            fclose (f);
        }
      /* The broadcast only when the node keeps no identity file (ephemeral):
       * otherwise another node could answer first. */
      if (strcmp (ping_subject, "$NEX.PING") == 0 && now_ms () + NODE_READY_MS - deadline < 2000)
        {
          sleep_ms (20);
          continue;
        }
      natsConnection_PublishRequest (nc, ping_subject, inbox, NULL, 0);
      if (natsSubscription_NextMsg (&m, sub, 200) == NATS_OK)
        {
          reply = strndup (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m));
          natsMsg_Destroy (m);
        }
    }
  natsSubscription_Destroy (sub);
  natsInbox_Destroy (inbox);
  natsConnection_Destroy (nc);
  if (reply == NULL)
    {
      harness_dump_node_log (h);
      fail_msg ("harness: nexc-node did not answer $NEX.PING within %d ms", NODE_READY_MS);
    }
  {
    json_error_t jerr;
    json_t *root = json_loads (reply, 0, &jerr);
    int bad = root == NULL || ping_field (root, "node_id", h->node_id, sizeof h->node_id) < 0;
    if (!bad && ping_field (root, "target_xkey", h->node_xkey, sizeof h->node_xkey) < 0)
      h->node_xkey[0] = '\0';
    if (root)
      json_decref (root);
    if (bad)
      {
        harness_dump_node_log (h);
        fprintf (stderr, "PING reply: %s\n", reply);
        free (reply);
        fail_msg ("harness: PING reply without data.node_id");
      }
    free (reply);
    cgsweep_remember (h->node_id, h->node_pid);
  }
}

int
harness_stop_node (struct harness *h, int sig)
{
  uint64_t deadline;
  int st = 0;
  if (h->node_pid <= 0)
    fail_msg ("harness: no node running");
  kill (h->node_pid, sig);
  deadline = now_ms () + STOP_WAIT_MS;
  while (!exited (h->node_pid, &st))
    {
      if (now_ms () >= deadline)
        {
          kill_and_reap (&h->node_pid);
          harness_dump_node_log (h);
          fail_msg ("harness: nexc-node still running %d ms after signal %d", STOP_WAIT_MS, sig);
        }
      sleep_ms (5);
    }
  h->node_pid = 0;
  /* Neither a clean exit nor the signal's own death: a crash, or a
   * sanitizer's report at exit. Its log says which. */
  if (exit_code (st) != 0 && exit_code (st) != 128 + sig)
    {
      fprintf (stderr, "harness: nexc-node exited with %d after signal %d (128+n: killed by "
                       "signal n)\n",
               exit_code (st), sig);
      harness_dump_node_log (h);
    }
  return exit_code (st);
}

void
harness_stop_all (struct harness *h)
{
  /* SIGTERM first: the node stops its workloads. A SIGKILLed node leaves
   * them running for a later node to reattach (node/reattach.h). */
  if (h->node_pid > 0)
    {
      int st, gone = 0;
      uint64_t deadline = now_ms () + STOP_WAIT_MS;
      kill (h->node_pid, SIGTERM);
      while (!(gone = exited (h->node_pid, &st)) && now_ms () < deadline)
        sleep_ms (5);
      if (gone)
        h->node_pid = 0;
    }
  kill_and_reap (&h->node_pid);
  kill_and_reap (&h->nats_pid);
  if (h->tmpdir[0])
    {
      remove_tree (h->tmpdir);
      track_tmpdir (h->tmpdir, 0);
      h->tmpdir[0] = '\0';
    }
}

/* ---- clients ---------------------------------------------------------- */

char *
harness_request (natsConnection *nc, const char *subject, const char *payload, size_t len,
                 int timeout_ms)
{
  natsMsg *m = NULL;
  char *out;
  if (natsConnection_Request (&m, nc, subject, payload, (int) len, timeout_ms) != NATS_OK)
    return NULL;
  out = malloc ((size_t) natsMsg_GetDataLength (m) + 1);
  if (out)
    {
      memcpy (out, natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m));
      out[natsMsg_GetDataLength (m)] = '\0';
    }
  natsMsg_Destroy (m);
  return out;
}

char *
harness_http_get (struct harness *h, const char *path)
{
  char req[1024];
  char *resp = NULL, *body;
  size_t len = 0, cap = 0;
  int fd, n, status = 0;
  uint64_t deadline = now_ms () + 5000;

  fd = tcp_connect (h->monitor_port);
  if (fd < 0)
    return NULL;
  n = snprintf (req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1:%d\r\n\r\n", path,
                h->monitor_port);
  if (n < 0 || (size_t) n >= sizeof req || write (fd, req, (size_t) n) != n)
    {
      close (fd);
      return NULL;
    }
  for (;;)
    {
      struct pollfd p = { fd, POLLIN, 0 };
      ssize_t r;
      int left = (int) (deadline - now_ms ());
      if (left <= 0 || poll (&p, 1, left) <= 0)
        break;
      if (cap - len < 4096)
        {
          cap = cap ? cap * 2 : 16384;
          resp = realloc (resp, cap);
          if (resp == NULL)
            break;
        }
      r = read (fd, resp + len, cap - len - 1);
      if (r <= 0)
        break;
      len += (size_t) r;
    }
  close (fd);
  if (resp == NULL)
    return NULL;
  resp[len] = '\0';
  body = strstr (resp, "\r\n\r\n");
  if (body == NULL || sscanf (resp, "HTTP/%*d.%*d %d", &status) != 1 || status != 200)
    {
      free (resp);
      return NULL;
    }
  body += 4;
  memmove (resp, body, len - (size_t) (body - resp) + 1);
  return resp;
}

int
harness_count_procs (const char *needle)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;
  int count = 0;
  pid_t self = getpid ();
  if (d == NULL)
    fail_msg ("harness: opendir /proc: %s", strerror (errno));
  while ((e = readdir (d)) != NULL)
    {
      char path[64], cmd[8192];
      char *end;
      long pid = strtol (e->d_name, &end, 10);
      ssize_t n;
      int fd;
      if (*end != '\0' || pid <= 0 || pid == self)
        continue;
      snprintf (path, sizeof path, "/proc/%ld/cmdline", pid);
      fd = open (path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      n = read (fd, cmd, sizeof cmd - 1);
      close (fd);
      if (n <= 0)
        continue;
      for (ssize_t i = 0; i < n; i++)
        if (cmd[i] == '\0')
          cmd[i] = ' ';
      cmd[n] = '\0';
      if (strstr (cmd, needle) != NULL)
        count++;
    }
  closedir (d);
  return count;
}

void
harness_stream_create (natsConnection *nc, const char *name, const char *subject)
{
  jsCtx *js = NULL;
  jsStreamConfig cfg;
  jsStreamInfo *si = NULL;
  jsErrCode jerr = 0;
  const char *subjects[] = { subject };
  natsStatus s;
  if (natsConnection_JetStream (&js, nc, NULL) != NATS_OK)
    fail_msg ("harness: JetStream context");
  jsStreamConfig_Init (&cfg);
  cfg.Name = name;
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.Storage = js_FileStorage;
  s = js_AddStream (&si, js, &cfg, NULL, &jerr);
  jsStreamInfo_Destroy (si);
  jsCtx_Destroy (js);
  if (s != NATS_OK)
    fail_msg ("harness: stream %s: %s (%d)", name, natsStatus_GetText (s), (int) jerr);
}

struct data_cb {
  void (*cb) (const char *data, int len, void *arg);
  void *arg;
};

static void
data_only (natsMsg *m, void *arg)
{
  struct data_cb *d = arg;
  d->cb (natsMsg_GetData (m), natsMsg_GetDataLength (m), d->arg);
}

int
harness_stream_read (natsConnection *nc, const char *name, const char *subject,
                     void (*cb) (const char *data, int len, void *arg), void *arg)
{
  struct data_cb d = { cb, arg };
  return harness_stream_read_msgs (nc, name, subject, data_only, &d);
}

int
harness_stream_read_msgs (natsConnection *nc, const char *name, const char *subject,
                          void (*cb) (natsMsg *m, void *arg), void *arg)
{
  jsCtx *js = NULL;
  jsStreamInfo *si = NULL;
  jsSubOptions so;
  jsErrCode jerr = 0;
  natsSubscription *sub = NULL;
  uint64_t want, got;
  if (natsConnection_JetStream (&js, nc, NULL) != NATS_OK
      || js_GetStreamInfo (&si, js, name, NULL, &jerr) != NATS_OK)
    fail_msg ("harness: stream %s: info (%d)", name, (int) jerr);
  want = si->State.Msgs;
  jsStreamInfo_Destroy (si);
  jsSubOptions_Init (&so);
  so.Stream = name;
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverAll;
  if (js_SubscribeSync (&sub, js, subject, NULL, &so, &jerr) != NATS_OK)
    fail_msg ("harness: stream %s: subscribe (%d)", name, (int) jerr);
  for (got = 0; got < want; got++)
    {
      natsMsg *m = NULL;
      if (natsSubscription_NextMsg (&m, sub, 5000) != NATS_OK)
        fail_msg ("harness: stream %s: read %llu of %llu messages", name,
                  (unsigned long long) got, (unsigned long long) want);
      cb (m, arg);
      natsMsg_Destroy (m);
    }
  natsSubscription_Destroy (sub);
  jsCtx_Destroy (js);
  return (int) got;
}

pid_t
harness_find_proc (const char *argv0, pid_t *ppid)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;
  pid_t found = 0;
  while (d != NULL && found == 0 && (e = readdir (d)) != NULL)
    {
      char p[300], buf[512], comm[64], st;
      int pid, pp, fd;
      ssize_t n;
      FILE *fp;
      if (e->d_name[0] < '1' || e->d_name[0] > '9')
        continue;
      snprintf (p, sizeof p, "/proc/%s/cmdline", e->d_name);
      fd = open (p, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        continue;
      n = read (fd, buf, sizeof buf - 1);
      close (fd);
      if (n <= 0)
        continue;
      buf[n] = '\0';
      if (strcmp (buf, argv0) != 0)
        continue;
      found = (pid_t) atoi (e->d_name);
      if (ppid == NULL)
        continue;
      *ppid = 0;
      snprintf (p, sizeof p, "/proc/%s/stat", e->d_name);
      fp = fopen (p, "r");
      if (fp != NULL && fscanf (fp, "%d %63s %c %d", &pid, comm, &st, &pp) == 4)
        *ppid = (pid_t) pp;
      if (fp != NULL)
        fclose (fp);
    }
  if (d)
    closedir (d);
  return found;
}

int
harness_kill_procs (const char *argv0)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;
  int n = 0;
  while (d != NULL && (e = readdir (d)) != NULL)
    {
      char p[300], buf[512];
      ssize_t got;
      int fd;
      if (e->d_name[0] < '1' || e->d_name[0] > '9')
        continue;
      snprintf (p, sizeof p, "/proc/%s/cmdline", e->d_name);
      if ((fd = open (p, O_RDONLY | O_CLOEXEC)) < 0)
        continue;
      got = read (fd, buf, sizeof buf - 1);
      close (fd);
      if (got <= 0)
        continue;
      buf[got] = '\0';
      if (strcmp (buf, argv0) == 0 && kill ((pid_t) atoi (e->d_name), SIGKILL) == 0)
        n++;
    }
  if (d)
    closedir (d);
  return n;
}

bool
harness_node_log_has (struct harness *h, const char *needle)
{
  return log_says (h->node_log, needle);
}

int
harness_node_log_count (const struct harness *h, const char *needle)
{
  FILE *f = fopen (h->node_log, "re");
  char line[4096];
  int n = 0;
  while (f && fgets (line, sizeof line, f))
    n += strstr (line, needle) != NULL;
  if (f)
    fclose (f);
  return n;
}

static void *
flooder (void *arg)
{
  struct harness_flood *fl = arg;
  for (uint64_t round = 0; !atomic_load (&fl->stop); round++)
    {
      fl->sent += (uint64_t) fl->publish (fl->nc, round, fl->arg);
      natsConnection_FlushTimeout (fl->nc, 1000);
      usleep ((useconds_t) fl->every_us);
    }
  return NULL;
}

void
harness_flood_start (struct harness_flood *fl, struct harness *h)
{
  fl->sent = 0;
  atomic_store (&fl->stop, false);
  fl->nc = harness_connect (h);
  if (pthread_create (&fl->thread, NULL, flooder, fl) != 0)
    fail_msg ("harness: cannot start a flood thread");
  fl->running = true;
}

void
harness_flood_stop (struct harness_flood *fl)
{
  if (!fl->running)
    return;
  atomic_store (&fl->stop, true);
  pthread_join (fl->thread, NULL);
  natsConnection_Destroy (fl->nc);
  fl->nc = NULL;
  fl->running = false;
}

int
harness_children (pid_t ppid, const char *comm, pid_t *out, int max)
{
  DIR *d = opendir ("/proc");
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir (d)) != NULL)
    {
      char p[300], c[64] = "", st;
      int pid, pp;
      FILE *f;
      if (e->d_name[0] < '1' || e->d_name[0] > '9')
        continue;
      snprintf (p, sizeof p, "/proc/%s/stat", e->d_name);
      if ((f = fopen (p, "r")) == NULL)
        continue;
      /* comm is at most 15 characters, never holding ')' for ours */
      if (fscanf (f, "%d (%63[^)]) %c %d", &pid, c, &st, &pp) == 4 && pp == ppid && st != 'Z'
          && (comm == NULL || strcmp (c, comm) == 0))
        {
          if (out && n < max)
            out[n] = pid;
          n++;
        }
      fclose (f);
    }
  if (d)
    closedir (d);
  return n;
}

bool
harness_process_tier_ok (void)
{
  char cmd[1024], out[8192] = "";
  char dir[] = "/tmp/nexc-preflight-XXXXXX";
  size_t n = 0;
  FILE *p;
  if (geteuid () != 0 || mkdtemp (dir) == NULL)
    return false;
  snprintf (cmd, sizeof cmd,
            "%s preflight --state-dir %s --server nats://127.0.0.1:1 2>&1; rm -rf %s",
            harness_bin ("node/nexc-node"), dir, dir);
  p = popen (cmd, "r");
  if (p == NULL)
    return false;
  while (n < sizeof out - 1)
    {
      size_t r = fread (out + n, 1, sizeof out - 1 - n, p);
      if (r == 0)
        break;
      n += r;
    }
  out[n] = '\0';
  pclose (p);
  return strstr (out, "nexc-node up refuses to start") == NULL;
}

void
harness_upload (natsConnection *nc, const char *bucket, const char *key, const char *path,
                char hex[65])
{
  struct nxerr err = { 0 };
  struct objstore_info info, got;
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail_msg ("harness: open %s: %s", path, strerror (errno));
  memset (&info, 0, sizeof info);
  memset (&got, 0, sizeof got);
  if (objstore_put_file (nc, bucket, key, fd, NULL, NULL, NULL, &info, &err) < 0)
    fail_msg ("harness: upload %s: %s", path, err.msg);
  close (fd);
  /* The stored digest is base64url; the reader gives the hex. */
  if (objstore_get_info (nc, bucket, key, NULL, &got, &err) < 0
      || objstore_read (nc, &got, NULL, NULL, NULL, hex, &err) < 0)
    fail_msg ("harness: read back %s/%s: %s", bucket, key, err.msg);
  objstore_info_free (&got);
  objstore_info_free (&info);
}

/* ---- preflight tables -------------------------------------------------- */

const char *
harness_pf_row (const char *table, const char *name)
{
  static char line[1024];
  char want[64];
  const char *p;
  snprintf (want, sizeof want, "\n  %-18s ", name);
  p = strstr (table, want);
  if (p == NULL)
    fail_msg ("no \"%s\" row in:\n%s", name, table);
  p += 3;
  snprintf (line, sizeof line, "%.*s", (int) strcspn (p, "\n"), p);
  return line;
}

void
harness_pf_expect (const char *table, const char *name, const char *status, const char *detail)
{
  const char *line = harness_pf_row (table, name);
  char want[256];
  snprintf (want, sizeof want, "%-18s %-9s ", name, status);
  if (strncmp (line, want, strlen (want)) != 0 || (detail && strstr (line, detail) == NULL))
    fail_msg ("preflight row \"%s\", expected %s%s%s", line, status, detail ? " with " : "",
              detail ? detail : "");
}

json_t *
harness_wait_event (struct harness *h, natsSubscription *events, const char *type, const char *id,
                    int timeout_ms)
{
  uint64_t deadline = now_ms () + (uint64_t) timeout_ms;
  while (now_ms () < deadline)
    {
      natsMsg *m = NULL;
      json_error_t e;
      json_t *j;
      if (natsSubscription_NextMsg (&m, events, 100) != NATS_OK)
        continue;
      j = json_loadb (natsMsg_GetData (m), (size_t) natsMsg_GetDataLength (m), 0, &e);
      if (j == NULL)
        fail_msg ("event not JSON (%s): %.*s", e.text, natsMsg_GetDataLength (m),
                  natsMsg_GetData (m));
      natsMsg_Destroy (m);
      {
        const char *t = json_string_value (json_object_get (j, "type"));
        const char *src = json_string_value (json_object_get (j, "source"));
        if (t && src && strcmp (t, type) == 0 && strcmp (src, id) == 0)
          return j;
      }
      json_decref (j);
    }
  harness_dump_node_log (h);
  fail_msg ("no %s event for %s within %d ms", type, id, timeout_ms);
  return NULL;
}

void
harness_proc_status (pid_t pid, const char *key, char *out, size_t cap)
{
  char path[64], line[512];
  size_t l = strlen (key);
  FILE *fp;
  snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
  out[0] = '\0';
  fp = fopen (path, "r");
  while (fp && fgets (line, sizeof line, fp))
    if (strncmp (line, key, l) == 0 && line[l] == ':')
      {
        char *v = line + l + 1;
        v += strspn (v, " \t");
        snprintf (out, cap, "%.*s", (int) strcspn (v, "\n"), v);
        break;
      }
  if (fp)
    fclose (fp);
}
